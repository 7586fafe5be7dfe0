// Package sqlite opens Toolgate's store on an embedded SQLite database
// (modernc.org/sqlite, no cgo).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/toolgate/toolgate/internal/store"
)

// busyTimeoutMillis is how long a statement waits for another connection's
// write lock before failing with SQLITE_BUSY.
const busyTimeoutMillis = 10000

// Open opens (creating if needed) the SQLite database at path with WAL
// journaling, a busy timeout, foreign keys on and immediate transactions,
// and returns a store. It does not migrate; call Store.Migrate.
func Open(ctx context.Context, path string) (*store.Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + strings.ReplaceAll(path, "?", "%3F") + "?" + q.Encode()
	if path == ":memory:" {
		return nil, errors.New("sqlite: in-memory databases are not supported: each connection would see its own; use a temporary file")
	}

	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return store.New(db, dialect{}), nil
}

type dialect struct{}

var _ store.Dialect = dialect{}

func (dialect) Name() string { return "sqlite" }

func (dialect) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func (dialect) KeyIDExpr(column string) string {
	return fmt.Sprintf("substr(%[1]s, 5, instr(substr(%[1]s, 5), ':') - 1)", column)
}

func (dialect) ForUpdate() string { return "" }
