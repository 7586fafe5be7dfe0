// Package storetest holds the conformance suite that every store back end
// must pass, and helpers that give tests a fresh, migrated database.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/postgres"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// PostgresURLEnv names the environment variable that points the tests at a
// PostgreSQL server. When it is set, a test that cannot reach the server
// fails; when it is unset, PostgreSQL tests are skipped.
const PostgresURLEnv = "TOOLGATE_TEST_POSTGRES_URL"

// NewSQLite returns a migrated store on a new SQLite file in t.TempDir(),
// closed when the test ends.
func NewSQLite(t testing.TB) *store.Store {
	t.Helper()
	return OpenSQLite(t, filepath.Join(t.TempDir(), "toolgate.db"))
}

// OpenSQLite opens and migrates the SQLite file at path, closing it when
// the test ends.
func OpenSQLite(t testing.TB, path string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx, discardLogger()); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return s
}

// NewPostgresURL creates an empty database on the server named by
// TOOLGATE_TEST_POSTGRES_URL, drops it when the test ends, and returns its
// URL. It skips the test when the variable is unset and fails it when the
// server cannot be reached.
func NewPostgresURL(t testing.TB) string {
	t.Helper()
	return createPostgresDatabase(t, "")
}

// NewMigratedPostgresURL is NewPostgresURL for a database that already has
// the current schema. It copies a template database made once per schema
// version, which is much faster than migrating every test's database.
func NewMigratedPostgresURL(t testing.TB) string {
	t.Helper()
	return createPostgresDatabase(t, migratedTemplate(t))
}

func postgresBaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		t.Skipf("%s is not set; set it to a postgres:// URL to run the PostgreSQL tests", PostgresURLEnv)
	}
	return base
}

func withDatabase(t testing.TB, base, name string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresURLEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// createPostgresDatabase creates a database, copied from template when it
// is not empty, and drops it when the test ends.
func createPostgresDatabase(t testing.TB, template string) string {
	t.Helper()
	base := postgresBaseURL(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL from %s: %v", PostgresURLEnv, err)
	}
	defer admin.Close(ctx)

	var b [6]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		t.Fatal(err)
	}
	name := "toolgate_test_" + hex.EncodeToString(b[:])
	stmt := "CREATE DATABASE " + name
	if template != "" {
		stmt += " TEMPLATE " + template
	}
	if _, err := admin.Exec(ctx, stmt); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return withDatabase(t, base, name)
}

// templateLockID serialises test processes creating the template database.
const templateLockID = 0x746f6f6c74706c

// migratedTemplate returns the name of a database holding the current
// schema, creating it the first time. It is named after the schema
// fingerprint and kept between runs, so each schema version costs one
// migration on a machine.
func migratedTemplate(t testing.TB) string {
	t.Helper()
	base := postgresBaseURL(t)
	name := "toolgate_template_" + store.SchemaFingerprint()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL from %s: %v", PostgresURLEnv, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockID); err != nil {
		t.Fatalf("lock template creation: %v", err)
	}
	defer admin.Exec(ctx, "SELECT pg_advisory_unlock($1)", templateLockID)

	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatalf("look up template database: %v", err)
	}
	if exists {
		return name
	}
	// Build under a temporary name and rename when complete, so that a
	// process killed midway never leaves a half-migrated template.
	building := name + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		t.Fatalf("drop stale template: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		t.Fatalf("create template database: %v", err)
	}
	s, err := postgres.Open(ctx, withDatabase(t, base, building))
	if err != nil {
		t.Fatalf("open template database: %v", err)
	}
	err = s.Migrate(ctx, discardLogger())
	s.Close()
	if err != nil {
		t.Fatalf("migrate template database: %v", err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		t.Fatalf("rename template database: %v", err)
	}
	dropOldTemplates(t, admin, name)
	return name
}

// NewPostgres returns a migrated store on a new PostgreSQL database (see
// NewPostgresURL), closed when the test ends.
func NewPostgres(t testing.TB) *store.Store {
	t.Helper()
	return OpenPostgres(t, NewMigratedPostgresURL(t))
}

// OpenPostgres opens and migrates the PostgreSQL database at url, closing
// it when the test ends.
func OpenPostgres(t testing.TB, url string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx, discardLogger()); err != nil {
		t.Fatalf("migrate postgres: %v", err)
	}
	return s
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// dropOldTemplates removes templates of earlier schema versions, so a
// development machine keeps one.
func dropOldTemplates(t testing.TB, admin *pgx.Conn, keep string) {
	ctx := context.Background()
	rows, err := admin.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'toolgate_template_%' AND datname <> $1", keep)
	if err != nil {
		t.Logf("list old template databases: %v", err)
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Logf("list old template databases: %v", err)
		return
	}
	for _, old := range names {
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{old}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("drop old template database %s: %v", old, err)
		}
	}
}
