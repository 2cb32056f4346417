package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// writeGate queues this process's SQLite write transactions in Go.
//
// SQLite lets one connection write at a time. Without the gate, a
// connection that finds the write lock taken sleeps in SQLite's busy
// handler (1, 2, 5, 10 ... 100 ms, whatever the lock's holder does
// meanwhile) and tries again: with sources, sink workers and the trace
// journal writing at once, the write lock often sat free while writers
// slept. The gate hands the lock over the moment the holder commits, and a
// writer waits at it without holding a connection.
//
// Every write of this package passes the gate: transactions through
// beginWrite, single statements through execWrite, or lockWrites around a
// statement that returns rows (INSERT ... RETURNING). Only the migrations
// at Open, before anyone else can write, do not.
// Another process on the same file (a `hub` command beside `hub run`)
// still waits on busy_timeout. PostgreSQL has no gate: its writers do not
// exclude each other.
type writeGate chan struct{}

func newWriteGate(dialect string) writeGate {
	if dialect != DialectSQLite {
		return nil
	}
	return make(writeGate, 1)
}

// lockWrites waits for the gate (or for ctx) and returns the function that
// opens it again; it must be called once the transaction has committed or
// rolled back.
func (s *Store) lockWrites(ctx context.Context) (func(), error) {
	if s.gate == nil {
		return func() {}, nil
	}
	select {
	case s.gate <- struct{}{}:
		return func() { <-s.gate }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("store: wait to write: %w", ctx.Err())
	}
}

// beginWrite begins a write transaction behind the gate. end rolls it back
// unless it was committed, then opens the gate: defer it.
func (s *Store) beginWrite(ctx context.Context) (tx *sqlx.Tx, end func(), err error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, nil, err
	}
	tx, err = s.db.BeginTxx(ctx, nil)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return tx, func() {
		_ = tx.Rollback() // after Commit it does nothing
		unlock()
	}, nil
}

// execWrite runs one writing statement on its own, behind the gate.
func (s *Store) execWrite(ctx context.Context, query string, args ...any) (sql.Result, error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.db.ExecContext(ctx, query, args...)
}
