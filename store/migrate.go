package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migrations live in migrations/NNNN_name.sql, one file per schema version,
// numbered from 1 without gaps. A file is written once for both engines; the
// few types that differ are written as tokens replaced per dialect. A
// version that only one engine needs (a PostgreSQL storage setting) is
// NNNN_name.postgres.sql (or .sqlite.sql): the other engine records it as
// applied and runs nothing.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string // with tokens still in it
	only    string // the one dialect it is for; "" for both
}

var dialectTokens = map[string]*strings.Replacer{
	DialectSQLite: strings.NewReplacer(
		"{{ID}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{TIME}}", "TEXT",
		"{{BYTES}}", "BLOB",
		"{{WITHOUT_ROWID}}", " WITHOUT ROWID",
		"{{DEAD_LETTER_STATUSES}}", sqliteDeadLetterStatuses,
	),
	DialectPostgres: strings.NewReplacer(
		"{{ID}}", "BIGSERIAL PRIMARY KEY",
		"{{TIME}}", "TIMESTAMPTZ",
		"{{BYTES}}", "BYTEA",
		"{{WITHOUT_ROWID}}", "",
		"{{DEAD_LETTER_STATUSES}}", `ALTER TABLE dead_letters DROP CONSTRAINT IF EXISTS dead_letters_status_check;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_status_check CHECK (status IN ('open', 'replayed', 'discarded', 'superseded'));`,
	),
}

// sqliteDeadLetterStatuses rebuilds dead_letters with the status check of
// migration 0006: SQLite cannot change a table's constraint in place. Ids
// are kept (AUTOINCREMENT goes on after the largest).
const sqliteDeadLetterStatuses = `CREATE TABLE dead_letters_0006 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    connector       TEXT NOT NULL,
    entity          TEXT NOT NULL DEFAULT '',
    record_key      TEXT NOT NULL DEFAULT '',
    hub_id          TEXT NOT NULL DEFAULT '',
    stage           TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    occurrences     INTEGER NOT NULL DEFAULT 1,
    first_seen      TEXT NOT NULL,
    last_seen       TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    payload         BLOB,
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded', 'superseded')),
    topic           TEXT NOT NULL DEFAULT '',
    kafka_partition INTEGER,
    kafka_offset    BIGINT,
    trace_id        TEXT NOT NULL DEFAULT '',
    version         TEXT NOT NULL DEFAULT ''
);
INSERT INTO dead_letters_0006 (id, connector, entity, record_key, hub_id, stage, kind, error, attempts, occurrences,
    first_seen, last_seen, updated_at, payload, status, topic, kafka_partition, kafka_offset, trace_id, version)
SELECT id, connector, entity, record_key, hub_id, stage, kind, error, attempts, occurrences,
    first_seen, last_seen, updated_at, payload, status, topic, kafka_partition, kafka_offset, trace_id, version
FROM dead_letters;
DROP TABLE dead_letters;
ALTER TABLE dead_letters_0006 RENAME TO dead_letters;
CREATE INDEX dead_letters_status ON dead_letters (status, id);
CREATE INDEX dead_letters_connector ON dead_letters (connector, status, id);
CREATE UNIQUE INDEX dead_letters_open_record ON dead_letters (connector, entity, record_key)
    WHERE status = 'open' AND record_key <> '';`

// loadMigrations reads the embedded migrations, sorted by version.
func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("store: list migrations: %w", err)
	}
	var ms []migration
	for _, f := range files {
		base := path.Base(f)
		stem := strings.TrimSuffix(base, ".sql")
		var only string
		for d := range dialectTokens {
			if cut, ok := strings.CutSuffix(stem, "."+d); ok {
				stem, only = cut, d
			}
		}
		num, name, ok := strings.Cut(stem, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || strings.Contains(name, ".") {
			return nil, fmt.Errorf("store: migration file %s: want NNNN_name.sql, or NNNN_name.postgres.sql or .sqlite.sql for one engine", base)
		}
		body, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body), only: only})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migrations must be numbered 1, 2, 3... without gaps or duplicates; found version %d at position %d", m.version, i+1)
		}
	}
	return ms, nil
}

// sqlFor returns the migration's SQL for dialect.
func (m migration) sqlFor(dialect string) (string, error) {
	if m.only != "" && m.only != dialect {
		return "", nil
	}
	q := dialectTokens[dialect].Replace(m.sql)
	if i := strings.Index(q, "{{"); i >= 0 {
		end := min(len(q), i+20)
		return "", fmt.Errorf("store: migration %04d_%s: unknown token near %q", m.version, m.name, q[i:end])
	}
	return q, nil
}

// migrationLockKey is the first key of the PostgreSQL advisory lock taken while
// migrating; the second is a hash of the current schema, so that stores in
// different schemas of one database do not wait for each other.
const migrationLockKey = 0x637268 // "crh"

// migrate applies pending migrations in one transaction. Concurrent hub
// processes serialize on an advisory lock (PostgreSQL) or on the database
// write lock taken by BEGIN IMMEDIATE (SQLite); the one that comes second finds
// nothing left to do.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	latest := len(ms)

	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op

	timeType := "TEXT"
	if s.dialect == DialectPostgres {
		timeType = "TIMESTAMPTZ"
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", migrationLockKey); err != nil {
			return fmt.Errorf("store: migrate: take advisory lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at `+timeType+` NOT NULL
)`); err != nil {
		return fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	var current sql.NullInt64
	if err := tx.GetContext(ctx, &current, "SELECT MAX(version) FROM schema_migrations"); err != nil {
		return fmt.Errorf("store: migrate: read schema version: %w", err)
	}
	if int(current.Int64) > latest {
		return fmt.Errorf("%w: database is at version %d, this hub knows up to %d; run a newer hub (or restore a matching backup)",
			ErrSchemaTooNew, current.Int64, latest)
	}
	for _, m := range ms[current.Int64:] {
		q, err := m.sqlFor(s.dialect)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: migrate %s to version %d (%s): %w", s.dialect, m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
			m.version, m.name, s.tv(s.now())); err != nil {
			return fmt.Errorf("store: migrate: record version %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
}

// SchemaVersion returns the highest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.GetContext(ctx, &v, "SELECT MAX(version) FROM schema_migrations"); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return int(v.Int64), nil
}
