// Package storetest gives tests fresh, isolated state-store databases: a
// SQLite file in the test's temp dir, or a PostgreSQL schema of its own that
// is dropped when the test ends. Any package's tests may use it; it imports
// only the PostgreSQL driver, not the hub's packages.
//
// PostgreSQL comes from the environment variable HUB_TEST_POSTGRES_DSN (for
// example postgres://postgres@127.0.0.1:5432/test?sslmode=disable). Without it
// the PostgreSQL tests are skipped, unless HUB_REQUIRE_SERVICES=1, when they
// fail instead (CI sets it so that a missing database cannot pass silently).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Environment variables read by this package.
const (
	EnvPostgresDSN     = "HUB_TEST_POSTGRES_DSN"
	EnvRequireServices = "HUB_REQUIRE_SERVICES"
)

// Engine names a state-store engine and how to get a fresh DSN for it.
type Engine struct {
	Name string // "sqlite" or "postgres", as store.Store.Dialect reports
	DSN  func(testing.TB) string
}

// Engines returns every engine, for table-driven tests:
//
//	for _, e := range storetest.Engines() {
//		t.Run(e.Name, func(t *testing.T) { dsn := e.DSN(t); ... })
//	}
func Engines() []Engine {
	return []Engine{
		{Name: "sqlite", DSN: SQLiteDSN},
		{Name: "postgres", DSN: PostgresDSN},
	}
}

// SQLiteDSN returns a DSN for a new SQLite database file in t.TempDir().
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "hub.db")
}

// Unavailable skips t with reason, or fails it when HUB_REQUIRE_SERVICES=1.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(EnvRequireServices) == "1" {
		t.Fatalf("%s (required: %s=1)", reason, EnvRequireServices)
	}
	t.Skip(reason)
}

// PostgresDSN returns a DSN for a new, empty PostgreSQL schema of this test
// alone: the DSN sets search_path to it, so tests can run in parallel. The
// schema and everything in it is dropped when the test ends.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresDSN)
	if base == "" {
		Unavailable(t, "PostgreSQL tests need "+EnvPostgresDSN+", e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", EnvPostgresDSN, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		Unavailable(t, "PostgreSQL at "+EnvPostgresDSN+" does not answer: "+err.Error())
		return ""
	}
	schema := "hubtest_" + randomHex(t, 8)
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatalf("storetest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	return withSearchPath(t, base, schema)
}

// withSearchPath adds search_path=schema to a postgres:// URL.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("storetest: %s must be a postgres:// URL, got %q", EnvPostgresDSN, dsn)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("storetest: random: %v", err)
	}
	return hex.EncodeToString(b)
}
