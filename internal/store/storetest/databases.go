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
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		t.Skipf("%s is not set; set it to a postgres:// URL to run the PostgreSQL tests", PostgresURLEnv)
	}
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
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
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

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresURLEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewPostgres returns a migrated store on a new PostgreSQL database (see
// NewPostgresURL), closed when the test ends.
func NewPostgres(t testing.TB) *store.Store {
	t.Helper()
	return OpenPostgres(t, NewPostgresURL(t))
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
