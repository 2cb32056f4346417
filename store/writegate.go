package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
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
//
// Behind the gate, every write runs on one connection of its own, the
// writer (writeConn): SQLite empties a connection's page cache whenever
// another connection has written since its last transaction, so writes
// spread over the pool each started cold and read their B-tree pages
// back from the log and the file. On the writer they find them cached
// (`hub bench kafka` 10 % faster, BenchmarkConcurrentSyncBatch 5-7 %).
// Reads stay on the pool, which must allow a connection besides the
// writer's (Open sets no limit).
type writeGate chan struct{}

// execQueryer is what a write behind the gate runs on: the writer on
// SQLite, the pool on PostgreSQL.
type execQueryer interface {
	sqlx.ExecerContext
	sqlx.QueryerContext
}

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
	case <-ctx.Done():
		return nil, fmt.Errorf("store: wait to write: %w", ctx.Err())
	}
	unlock := func() { <-s.gate }
	if s.writer == nil {
		if err := s.openWriter(ctx); err != nil {
			unlock()
			return nil, err
		}
	}
	return unlock, nil
}

// openWriter takes the writer's connection from the pool (behind the gate).
func (s *Store) openWriter(ctx context.Context) error {
	c, err := s.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("store: open the writer's connection: %w", err)
	}
	s.writer = c
	return nil
}

// writeConn is the connection for a write behind the gate (lockWrites):
// the writer on SQLite, the pool on PostgreSQL.
func (s *Store) writeConn() execQueryer {
	if s.writer != nil {
		return s.writer
	}
	return s.db
}

// dropWriter lets the writer's connection go if err says it has failed
// (behind the gate), and says whether it did: the next write opens
// another.
func (s *Store) dropWriter(err error) bool {
	if s.writer == nil || !(errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)) {
		return false
	}
	_ = s.writer.Close()
	s.writer = nil
	return true
}

// closeWriter gives the writer's connection back to the pool (Close). A
// write still running keeps it until it ends, then gives it back.
func (s *Store) closeWriter() {
	if s.gate == nil {
		return
	}
	closeIt := func() {
		if s.writer != nil {
			_ = s.writer.Close()
			s.writer = nil
		}
		<-s.gate
	}
	select {
	case s.gate <- struct{}{}:
		closeIt()
	default:
		go func() {
			s.gate <- struct{}{}
			closeIt()
		}()
	}
}

// withWriter runs fn on the connection for a write behind the gate
// (writeConn), and once more on a new one if the writer's had failed (the
// statement did not run then).
func (s *Store) withWriter(ctx context.Context, fn func(execQueryer) error) error {
	err := fn(s.writeConn())
	if s.dropWriter(err) {
		if err = s.openWriter(ctx); err == nil {
			err = fn(s.writeConn())
		}
	}
	return err
}

// beginWrite begins a write transaction behind the gate. end rolls it back
// unless it was committed, then opens the gate: defer it.
func (s *Store) beginWrite(ctx context.Context) (tx *sqlx.Tx, end func(), err error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, nil, err
	}
	tx, err = s.beginOn(ctx)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return tx, func() {
		_ = tx.Rollback() // after Commit it does nothing
		unlock()
	}, nil
}

// beginOn begins a transaction on the writer (behind the gate), on a new
// one if the writer's connection had failed; on the pool without a gate.
//
// On the writer it is begun without ctx's end: database/sql rolls a
// transaction whose context ended back in a goroutine of its own, later,
// and meanwhile end() would open the gate, and the next write would run on
// the same connection inside the transaction left open, to be undone by
// that late rollback (TestCancelledWriteEndsBeforeTheNext). Its statements
// still take ctx, and end() rolls it back before opening the gate.
func (s *Store) beginOn(ctx context.Context) (*sqlx.Tx, error) {
	if s.writer == nil {
		return s.db.BeginTxx(ctx, nil)
	}
	var tx *sqlx.Tx
	err := s.withWriter(ctx, func(execQueryer) error {
		var err error
		tx, err = s.writer.BeginTxx(context.WithoutCancel(ctx), nil)
		return err
	})
	return tx, err
}

// insertReturning runs one insert that returns a row (its id) on its own,
// behind the gate, and scans the row into dest.
func (s *Store) insertReturning(ctx context.Context, query string, args []any, dest ...any) error {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return s.withWriter(ctx, func(c execQueryer) error {
		return c.QueryRowxContext(ctx, query, args...).Scan(dest...)
	})
}

// execWrite runs one writing statement on its own, behind the gate.
func (s *Store) execWrite(ctx context.Context, query string, args ...any) (sql.Result, error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var res sql.Result
	err = s.withWriter(ctx, func(c execQueryer) error {
		res, err = c.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}
