// Package postgres opens Toolgate's store on PostgreSQL through pgx, for
// deployments with several replicas.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/toolgate/toolgate/internal/store"
)

// Open connects to the PostgreSQL database at url (postgres://…) and
// returns a store. It does not migrate; call Store.Migrate.
func Open(ctx context.Context, url string) (*store.Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// The URL may carry a password, so the message does not repeat it.
		return nil, errors.New("postgres: invalid database URL: expected postgres://user@host:port/dbname")
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	return store.New(db, dialect{}), nil
}

type dialect struct{}

var _ store.Dialect = dialect{}

func (dialect) Name() string { return "postgres" }

func (dialect) IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

func (dialect) KeyIDExpr(column string) string {
	return fmt.Sprintf("split_part(%s, ':', 2)", column)
}

func (dialect) ForUpdate() string { return " FOR UPDATE" }
