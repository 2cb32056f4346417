package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// The trace journal's own file.
//
// On SQLite the journal (trace_batches and trace_keys, trace.go) lives in
// a database file of its own beside the state store's: hub.db's journal is
// hub.db-trace. SQLite lets one connection write a file at a time, and the
// journal's appends (a group's body and a key per record, written for
// every batch a source publishes or a sink writes) held the state store's
// write gate for a fifth of a `hub bench kafka` run, while sources waited
// there to link records and sinks to stamp them. In a file of its own the
// journal has its own write lock, gate, writer's connection, log and
// checkpoints: it is written while the crosswalk is.
//
// The state store's own trace tables keep the groups written before the
// journal had its file; they are read and pruned with the file's, and no
// longer written. The file's ids go on after theirs (continueIDs), so that
// a group's id orders it among all groups, in whichever file it is.
//
// The two files are not written in one transaction; they never were: the
// journal was always appended in a transaction of its own, after what it
// tells of had been committed. A lost or deleted journal file loses the
// journal only (it is made again, empty, at the next Open).
//
// PostgreSQL has no write lock to share, and keeps the journal in the
// state store's schema.

// journalSuffix names the journal's file after the state store's.
const journalSuffix = "-trace"

// openJournal opens (creating it if need be) the trace journal's file
// beside the SQLite store s, whose driver DSN is driverDSN, with the same
// settings.
func (s *Store) openJournal(ctx context.Context, driverDSN string) error {
	path, query, _ := strings.Cut(driverDSN, "?")
	path += journalSuffix
	j, err := connect(ctx, DialectSQLite, path+"?"+query, path)
	if err != nil {
		return fmt.Errorf("store: open the trace journal: %w", err)
	}
	if err := j.migrate(ctx, journalMigrations); err != nil {
		j.Close()
		return fmt.Errorf("store: trace journal %s: %w (the file holds the trace journal only: moved aside, it is made again, empty)", path, err)
	}
	if err := j.continueIDs(ctx, s.db); err != nil {
		j.Close()
		return fmt.Errorf("store: trace journal %s: %w", path, err)
	}
	j.startCheckpointer()
	s.journal = j
	return nil
}

// continueIDs makes the journal file's next group id follow every id the
// state store has numbered a group with (the groups written before the
// file existed, or by an older hub since: an upgrade that ran both, a
// hub.db restored from a backup). It runs at every Open; ids only ever
// move forward.
func (s *Store) continueIDs(ctx context.Context, state *sqlx.DB) error {
	var last int64
	if err := state.GetContext(ctx, &last, `SELECT MAX(COALESCE((SELECT MAX(id) FROM trace_batches), 0),
    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'trace_batches'), 0))`); err != nil {
		return fmt.Errorf("read the state store's last trace group: %w", err)
	}
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("number trace groups after %d: %w", last, err)
	}
	defer end()
	if _, err := tx.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) SELECT 'trace_batches', 0
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'trace_batches')`); err != nil {
		return fmt.Errorf("number trace groups after %d: %w", last, err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'trace_batches'", last); err != nil {
		return fmt.Errorf("number trace groups after %d: %w", last, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("number trace groups after %d: commit: %w", last, err)
	}
	return nil
}

// traceWriter is the store the journal is appended to: the journal's file
// on SQLite, the store itself on PostgreSQL.
func (s *Store) traceWriter() *Store {
	if s.journal != nil {
		return s.journal
	}
	return s
}

// traceStores are the stores that hold trace groups, oldest first: the
// state store, then the journal's file (SQLite).
func (s *Store) traceStores() []*Store {
	if s.journal != nil {
		return []*Store{s, s.journal}
	}
	return []*Store{s}
}
