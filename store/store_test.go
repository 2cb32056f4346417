package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/store/storetest"
)

// forEachEngine runs fn as a parallel subtest per engine with a fresh DSN.
func forEachEngine(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, e.DSN(t))
		})
	}
}

func openStore(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func latestVersion(t *testing.T) int {
	t.Helper()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// fakeClock is a settable clock for Store.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestParseDSN(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		dsn, dialect, path, err string
	}{
		{dsn: "", err: "empty DSN"},
		{dsn: "   ", err: "empty DSN"},
		{dsn: "postgres://u@h:5432/db?sslmode=disable", dialect: DialectPostgres},
		{dsn: "postgresql://u@h/db", dialect: DialectPostgres},
		{dsn: "sqlite:" + dir + "/a/hub.db", dialect: DialectSQLite, path: dir + "/a/hub.db"},
		{dsn: "sqlite://" + dir + "/b/hub.db", dialect: DialectSQLite, path: dir + "/b/hub.db"},
		{dsn: dir + "/c/hub.db", dialect: DialectSQLite, path: dir + "/c/hub.db"},
		{dsn: "sqlite:" + dir + "/d.db?_pragma=cache_size(-2000)", dialect: DialectSQLite, path: dir + "/d.db"},
		{dsn: "mysql://root@localhost/test", err: `unsupported DSN scheme "mysql"`},
		{dsn: "host=localhost dbname=test", err: "keyword/value"},
		{dsn: ":memory:", err: "plain database file"},
		{dsn: "sqlite::memory:", err: "plain database file"},
		{dsn: "file:x.db?mode=memory", err: "plain database file"},
		{dsn: "sqlite:", err: "no file path"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			dialect, driverDSN, err := parseDSN(tt.dsn)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseDSN(%q) error = %v, want it to contain %q", tt.dsn, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseDSN(%q): %v", tt.dsn, err)
			}
			if dialect != tt.dialect {
				t.Errorf("dialect = %q, want %q", dialect, tt.dialect)
			}
			if tt.path == "" {
				return
			}
			if !strings.HasPrefix(driverDSN, tt.path+"?") {
				t.Errorf("driver DSN %q does not start with %q", driverDSN, tt.path+"?")
			}
			for _, want := range []string{"busy_timeout", "journal_mode%28WAL%29", "foreign_keys", "_txlock=immediate"} {
				if !strings.Contains(driverDSN, want) {
					t.Errorf("driver DSN %q lacks %q", driverDSN, want)
				}
			}
			if _, err := os.Stat(filepath.Dir(tt.path)); err != nil {
				t.Errorf("parent directory not created: %v", err)
			}
		})
	}
}

func TestOpenSQLiteSettings(t *testing.T) {
	s := openStore(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000", "synchronous": "1", "temp_store": "2"} {
		var got string
		if err := s.DB().GetContext(ctx, &got, "PRAGMA "+pragma); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

func TestMigrations(t *testing.T) {
	latest := latestVersion(t)
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		if got, err := s.SchemaVersion(ctx); err != nil || got != latest {
			t.Fatalf("SchemaVersion = %d, %v; want %d", got, err, latest)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		// Re-opening applies nothing twice.
		s2 := openStore(t, dsn)
		var rows int
		if err := s2.DB().GetContext(ctx, &rows, "SELECT COUNT(*) FROM schema_migrations"); err != nil {
			t.Fatal(err)
		}
		if rows != latest {
			t.Fatalf("schema_migrations has %d rows after re-open, want %d", rows, latest)
		}
		var applied time.Time
		if err := s2.DB().QueryRowxContext(ctx, "SELECT applied_at FROM schema_migrations WHERE version = 1").Scan(timeCol{&applied}); err != nil {
			t.Fatal(err)
		}
		if applied.Location() != time.UTC || time.Since(applied) > time.Minute || time.Since(applied) < 0 {
			t.Errorf("applied_at = %v, want a recent UTC time", applied)
		}
	})
}

func TestConcurrentOpen(t *testing.T) {
	latest := latestVersion(t)
	forEachEngine(t, func(t *testing.T, dsn string) {
		const n = 4
		stores := make([]*Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = Open(context.Background(), dsn) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Errorf("Open #%d: %v", i, errs[i])
				continue
			}
			defer stores[i].Close()
		}
		if t.Failed() {
			return
		}
		var rows int
		if err := stores[0].DB().GetContext(context.Background(), &rows, "SELECT COUNT(*) FROM schema_migrations"); err != nil {
			t.Fatal(err)
		}
		if rows != latest {
			t.Fatalf("schema_migrations has %d rows, want %d", rows, latest)
		}
	})
}

func TestRefuseNewerSchema(t *testing.T) {
	latest := latestVersion(t)
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		if _, err := s.DB().ExecContext(ctx, s.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
			latest+1, "from_the_future", s.tv(time.Now())); err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err := Open(ctx, dsn)
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("Open of a newer schema: err = %v, want ErrSchemaTooNew", err)
		}
		want := fmt.Sprintf("version %d, this hub knows up to %d", latest+1, latest)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	})
}

func TestMigrationSQLHasNoUnknownTokens(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for d := range dialectTokens {
			if _, err := m.sqlFor(d); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestMigrationForOneEngine: a NNNN_name.postgres.sql migration runs on
// PostgreSQL only; SQLite records its version and runs nothing.
func TestMigrationForOneEngine(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var pgOnly int
	for _, m := range ms {
		if m.only == "" {
			continue
		}
		if m.only != DialectPostgres || strings.Contains(m.name, ".") {
			t.Errorf("migration %04d: only %q, name %q", m.version, m.only, m.name)
		}
		pgOnly++
		if q, err := m.sqlFor(DialectSQLite); err != nil || q != "" {
			t.Errorf("migration %04d_%s on SQLite: %q, %v; want nothing", m.version, m.name, q, err)
		}
		if q, err := m.sqlFor(DialectPostgres); err != nil || !strings.Contains(q, "ALTER TABLE") {
			t.Errorf("migration %04d_%s on PostgreSQL: %q, %v", m.version, m.name, q, err)
		}
	}
	if pgOnly != 3 {
		t.Errorf("%d migrations for PostgreSQL only, want 3 (0011-0013)", pgOnly)
	}
}

func TestSupersedeDeadLetters(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, e.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			add := func(connector, key, stage string) int64 {
				id, err := s.AddDeadLetter(ctx, DeadLetter{Connector: connector, Entity: "order", RecordKey: key, Stage: stage, Error: "boom"})
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			a, b, c, d := add("crm-orders", "1", "map_in"), add("crm-orders", "2", "map_in"), add("crm-orders", "3", "match"), add("erp", "1", "write")
			got, err := s.SupersedeDeadLetters(ctx, "crm-orders", "order", []string{"1", "3", "9"}, []string{"map_in", "prepare"})
			if err != nil || len(got) != 1 || got[0] != a {
				t.Fatalf("superseded %v (%v), want only %d", got, err, a)
			}
			for id, want := range map[int64]string{a: StatusSuperseded, b: StatusOpen, c: StatusOpen, d: StatusOpen} {
				dl, err := s.GetDeadLetter(ctx, id)
				if err != nil || dl.Status != want {
					t.Errorf("dead letter %d: %s (%v), want %s", id, dl.Status, err, want)
				}
			}
			// A superseded dead letter no longer blocks a new one for the key.
			if id := add("crm-orders", "1", "map_in"); id == a {
				t.Errorf("a new failure of record 1 folded into the superseded dead letter")
			}
		})
	}
}

func TestRefWaits(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, e.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			w1, err := s.WaitsSince(ctx, "erp", "order", []string{"h1"})
			if err != nil || w1["h1"].IsZero() {
				t.Fatalf("first WaitsSince = %v (%v)", w1, err)
			}
			first := w1["h1"]
			time.Sleep(5 * time.Millisecond)
			w2, err := s.WaitsSince(ctx, "erp", "order", []string{"h1", "h2"})
			if err != nil || !w2["h1"].Equal(first) || !w2["h2"].After(first) {
				t.Fatalf("second WaitsSince = %v (%v), want h1 at its first start %v and h2 new", w2, err, first)
			}
			if err := s.EndWaits(ctx, "erp", "order", []string{"h1"}); err != nil {
				t.Fatal(err)
			}
			w3, err := s.WaitsSince(ctx, "erp", "order", []string{"h1"})
			if err != nil || !w3["h1"].After(first) {
				t.Fatalf("a wait after the end = %v (%v), want a new start after %v", w3, err, first)
			}
		})
	}
}

func TestDeadLetterFilters(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, e.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			old := time.Now().Add(-2 * time.Hour)
			for _, dl := range []DeadLetter{
				{Connector: "crm-orders", Entity: "order", RecordKey: "1", Stage: "map_in", Error: "total: \"12,50\" is not a decimal", FirstSeen: old},
				{Connector: "crm-orders", Entity: "order", RecordKey: "2", Stage: "map_in", Error: "currency: required, 100% missing"},
				{Connector: "erp", Entity: "order", RecordKey: "h3", Stage: "write", Error: "Duplicate KEY on total"},
			} {
				if _, err := s.AddDeadLetter(ctx, dl); err != nil {
					t.Fatal(err)
				}
			}
			count := func(f DeadLetterFilter) int {
				n, err := s.CountDeadLetters(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			for _, tt := range []struct {
				name string
				f    DeadLetterFilter
				want int
			}{
				{"error text, any case", DeadLetterFilter{ErrorContains: "TOTAL"}, 2},
				{"a literal percent sign", DeadLetterFilter{ErrorContains: "100%"}, 1},
				{"an underscore is no wildcard", DeadLetterFilter{ErrorContains: "map_in"}, 0},
				{"stage", DeadLetterFilter{Stage: "map_in"}, 2},
				{"older than an hour", DeadLetterFilter{Before: time.Now().Add(-time.Hour)}, 1},
				{"together", DeadLetterFilter{Connector: "crm-orders", ErrorContains: "total", Before: time.Now().Add(-time.Hour)}, 1},
			} {
				if got := count(tt.f); got != tt.want {
					t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
				}
			}
		})
	}
}

// TestIsSQLiteBusy: a write refused because another connection holds the
// write lock is told as busy (Open retries those); other errors are not.
func TestIsSQLiteBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "busy.db")
	holder, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := holder.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK") //nolint:errcheck
	_, busy := other.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	if busy == nil || !isSQLiteBusy(fmt.Errorf("wrapped: %w", busy)) {
		t.Fatalf("write under another connection's exclusive lock: err %v, isSQLiteBusy false", busy)
	}
	_, syntax := holder.ExecContext(ctx, "SELEC 1")
	if syntax == nil || isSQLiteBusy(syntax) {
		t.Fatalf("syntax error %v told as busy", syntax)
	}
}

// TestConnectionsAreKept checks that the pool keeps the connections that
// concurrent callers (sources, sink workers, the trace journal) use at
// once, instead of closing every one beyond two on its return and opening
// it again for the next call.
func TestConnectionsAreKept(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		const callers, rounds = 8, 40
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for c := range callers {
			wg.Go(func() {
				for r := range rounds {
					ext := fmt.Sprintf("C%d-R%d", c, r)
					if _, err := s.LinkMany(ctx, "order", "crm", map[string]string{ext: fmt.Sprintf("hub-%d-%d", c, r)}); err != nil {
						errs <- fmt.Errorf("LinkMany %s: %w", ext, err)
						return
					}
					if _, err := s.LookupLinks(ctx, "order", "crm", []string{ext}); err != nil {
						errs <- fmt.Errorf("LookupLinks %s: %w", ext, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		st := s.DB().Stats()
		if st.MaxIdleClosed != 0 {
			t.Errorf("the pool closed %d connections on their return (open %d, idle %d): every call beyond two pays a new connection", st.MaxIdleClosed, st.OpenConnections, st.Idle)
		}
		if st.OpenConnections < 2 {
			t.Errorf("open connections = %d after %d concurrent callers, want several kept", st.OpenConnections, callers)
		}
	})
}
