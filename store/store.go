package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/crmhub/hub/internal/redact"
)

// Dialects returned by Store.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Errors callers can test with errors.Is.
var (
	// ErrNotFound: the row asked for (dead letter, xref link, recon run) does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: the write would break an invariant, for example linking a
	// second external id of one system to a hub id that already has one.
	ErrConflict = errors.New("store: conflict")
	// ErrLeaseLost: a write fenced by a lease (Fence) found another holder
	// has it, or that it expired; nothing was written.
	ErrLeaseLost = errors.New("store: lease lost")
	// ErrSchemaTooNew: the database was migrated by a newer hub binary.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
)

// sqliteBusyTimeout is how long a SQLite connection waits for a lock held by
// another connection or process before failing with SQLITE_BUSY.
const sqliteBusyTimeout = 10 * time.Second

// Idle connections the pool keeps, and for how long. database/sql keeps
// two by default, but a running hub uses the store from its sources, sink
// workers, trace journal and API at once: every connection beyond two was
// closed as soon as it was put back and opened again a moment later (146
// times in a 100,000-order hub bench sync), and each new one paid for
// its setup again (a SQLite file opened, its schema read, the batch
// statements prepared, a cold page cache; a PostgreSQL backend started).
// Keeping them cost 10% of the hub's CPU in that bench. A connection idle
// for maxIdleTime is closed, so a burst does not hold its connections.
const (
	maxIdleConns = 16
	maxIdleTime  = 5 * time.Minute
)

// Store is the hub's state store. It is safe for concurrent use.
type Store struct {
	db      *sqlx.DB
	dialect string
	now     func() time.Time // UTC clock; replaced in tests
	// analyzer keeps PostgreSQL's statistics of growing tables current
	// (nil on SQLite).
	analyzer *analyzer
	stmts    stmtCache     // the batch calls' prepared statements (stmts.go)
	gate     writeGate     // SQLite's write transactions, one at a time (writegate.go)
	writer   *sqlx.Conn    // the connection they run on, taken and used behind the gate
	ckpt     *checkpointer // SQLite's checkpoints in the background (checkpoint.go)
}

// Open connects to the state store described by dsn, applies any pending
// migrations and returns a ready store.
//
// Accepted DSNs:
//   - "postgres://..." or "postgresql://...": PostgreSQL through pgx. Any pgx
//     connection parameter may be given, e.g. "?sslmode=disable&search_path=hub".
//   - "sqlite:PATH", "sqlite://PATH" or a plain file PATH: SQLite. The parent
//     directory is created. Extra modernc.org/sqlite parameters may follow
//     "?" (e.g. "?_pragma=cache_size(-20000)"). In-memory databases are refused:
//     each pooled connection would see its own empty database.
//
// The empty DSN and other URL schemes are refused.
func Open(ctx context.Context, dsn string) (*Store, error) {
	dialect, driverDSN, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	var db *sqlx.DB
	switch dialect {
	case DialectPostgres:
		db, err = sqlx.Open("pgx", driverDSN)
	default:
		var raw *sql.DB
		raw, err = sql.Open("sqlite", driverDSN)
		if err == nil {
			// "sqlite3" tells sqlx to keep '?' placeholders.
			db = sqlx.NewDb(raw, "sqlite3")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(maxIdleTime)
	s := &Store{db: db, dialect: dialect, gate: newWriteGate(dialect), now: func() time.Time { return time.Now().UTC() }}
	if err := s.ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s (%s): %w", dialect, redactDSN(dsn), err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	s.startAnalyzer(ctx)
	s.startCheckpointer()
	return s, nil
}

// ping opens the first connection. On SQLite, setting up a connection
// (switching a fresh file to WAL, or recovering a WAL another process left)
// can fail with SQLITE_BUSY without waiting on busy_timeout, when another
// connection does the same at that moment (hubs and commands opening one
// store together); it is retried with a short backoff for as long as
// busy_timeout would have waited.
func (s *Store) ping(ctx context.Context) error {
	err := s.db.PingContext(ctx)
	if s.dialect != DialectSQLite {
		return err
	}
	deadline := time.Now().Add(sqliteBusyTimeout)
	for wait := 5 * time.Millisecond; isSQLiteBusy(err) && time.Now().Before(deadline); wait = min(2*wait, 250*time.Millisecond) {
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		err = s.db.PingContext(ctx)
	}
	return err
}

// isSQLiteBusy tells SQLITE_BUSY and its extended codes (BUSY_RECOVERY,
// BUSY_SNAPSHOT, ...).
func isSQLiteBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// parseDSN tells the dialect of dsn and returns what to hand to the driver.
func parseDSN(dsn string) (dialect, driverDSN string, err error) {
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return "", "", errors.New("store: empty DSN: want a file path, sqlite:PATH or a postgres:// URL")
	}
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return DialectPostgres, dsn, nil
	case strings.HasPrefix(lower, "sqlite:"):
		dsn = dsn[len("sqlite:"):]
		dsn = strings.TrimPrefix(dsn, "//")
	default:
		if m := schemeRE.FindStringSubmatch(dsn); m != nil {
			return "", "", fmt.Errorf("store: unsupported DSN scheme %q: want a file path, sqlite:PATH or a postgres:// URL", m[1])
		}
		if strings.Contains(lower, "dbname=") || strings.Contains(lower, "host=") {
			return "", "", errors.New("store: keyword/value PostgreSQL DSNs are not supported: use a postgres:// URL")
		}
	}
	path, query, _ := strings.Cut(dsn, "?")
	if path == "" {
		return "", "", errors.New("store: SQLite DSN has no file path")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(query, "mode=memory") {
		return "", "", fmt.Errorf("store: SQLite DSN %q: only a plain database file path is supported (no :memory: or file: URIs)", dsn)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", fmt.Errorf("store: create directory for SQLite database: %w", err)
		}
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return "", "", fmt.Errorf("store: SQLite DSN parameters %q: %w", query, err)
	}
	// The caller's _pragma values are added to ours (the driver applies
	// busy_timeout first, then the rest in name order). BEGIN IMMEDIATE takes the write lock at the
	// start of a transaction, so that concurrent writers wait on busy_timeout
	// instead of failing when a read transaction upgrades.
	// temp_store(MEMORY) keeps statement journals in memory: a multi-row
	// statement inside a transaction (the batch upserts) saves the pages
	// it changes so that it can be undone alone, and SQLite writes more
	// than 64 KiB of them to a temporary file otherwise (pwrite was 3 % of
	// the hub's CPU in `hub bench sync`).
	pragmas := []string{
		fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()),
		"journal_mode(WAL)",
		"foreign_keys(1)",
		"synchronous(NORMAL)",
		"temp_store(MEMORY)",
		fmt.Sprintf("wal_autocheckpoint(%d)", walAutoCheckpoint),
	}
	params["_pragma"] = append(pragmas, params["_pragma"]...)
	if params.Get("_txlock") == "" {
		params.Set("_txlock", "immediate")
	}
	return DialectSQLite, path + "?" + params.Encode(), nil
}

// redactDSN hides every secret of a DSN for error messages.
func redactDSN(dsn string) string { return redact.DSN(dsn) }

// Ping checks that the database answers; meant for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.dialect, err)
	}
	return nil
}

// Close closes the database connections.
func (s *Store) Close() error {
	s.stopCheckpointer()
	s.stopAnalyzer()
	s.closeStmts()
	s.closeWriter()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// DB returns the underlying connection pool, for queries this package does
// not offer. Use DB().Rebind for placeholders.
func (s *Store) DB() *sqlx.DB { return s.db }

// Dialect returns DialectSQLite or DialectPostgres.
func (s *Store) Dialect() string { return s.dialect }

// sqliteTimeFormat is how instants are stored in SQLite TEXT columns: UTC,
// fixed width, so that text order is time order.
const sqliteTimeFormat = "2006-01-02T15:04:05.000000Z"

// tv converts t to the value stored for it: UTC, truncated to microseconds
// (PostgreSQL's precision) on both engines.
func (s *Store) tv(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if s.dialect == DialectSQLite {
		return t.Format(sqliteTimeFormat)
	}
	return t
}

// timeCol scans a stored instant (TIMESTAMPTZ or TEXT) into a UTC time.Time;
// NULL gives the zero time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = v.UTC()
	case string:
		return c.parse(v)
	case []byte:
		return c.parse(string(v))
	default:
		return fmt.Errorf("store: cannot scan %T as a time", src)
	}
	return nil
}

func (c timeCol) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("store: stored time %q: %w", v, err)
	}
	*c.t = t.UTC()
	return nil
}

// rebind turns '?' placeholders into the dialect's.
func (s *Store) rebind(q string) string { return s.db.Rebind(q) }
