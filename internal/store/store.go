package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Sentinel errors returned by every method. Callers compare with errors.Is.
var (
	// ErrNotFound means the row does not exist (or, for flows, has expired or
	// was already consumed).
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists means a row with the same key exists.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict means a compare-and-swap lost: the row changed since it
	// was read.
	ErrConflict = errors.New("store: conflict")
)

// Dialect holds what differs between the supported databases. Everything
// else is shared SQL.
type Dialect interface {
	// Name is "sqlite" or "postgres", as goose names them.
	Name() string
	// IsUniqueViolation reports whether err is a unique or primary key
	// violation.
	IsUniqueViolation(err error) bool
	// KeyIDExpr returns a SQL expression that extracts the key id from a
	// sealed value in column (format "tg1:<kid>:<data>").
	KeyIDExpr(column string) string
	// ForUpdate returns the clause that locks rows read inside a
	// transaction (" FOR UPDATE"), or "" where transactions already hold a
	// write lock from their start, as SQLite's do when opened immediate.
	ForUpdate() string
}

// Store is the persistence layer shared by every Toolgate component. It is
// safe for concurrent use by many goroutines and by many processes sharing
// the same database.
type Store struct {
	db      *sql.DB
	dialect Dialect
}

// New wraps an open database. Callers normally use the sqlite or postgres
// subpackage, which open the database with the right settings and run
// migrations.
func New(db *sql.DB, dialect Dialect) *Store {
	return &Store{db: db, dialect: dialect}
}

// DB returns the underlying database, for migrations and tests.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns the database dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping checks that the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// inTx runs fn inside one transaction, committing when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// mapErr turns driver errors into the package's sentinels.
func (s *Store) mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	case s.dialect.IsUniqueViolation(err):
		return fmt.Errorf("store: %s: %w", op, ErrAlreadyExists)
	default:
		return fmt.Errorf("store: %s: %w", op, err)
	}
}

// requireOne returns ErrNotFound when an UPDATE or DELETE touched no row.
func requireOne(op string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	return nil
}
