package store

import (
	"context"
	"time"
)

// SQLite copies its write-ahead log back into the database file in
// checkpoints. By default the transaction that commits the 1,000th page
// does it, inside the write gate, so every writer queued behind it waits
// for the copy and its fsync. The checkpointer runs them in the background
// instead (PASSIVE: they never block a writer, and writers never wait for
// them); a transaction still checkpoints on its own once the log holds
// walAutoCheckpoint pages, should the background fall behind.
const (
	checkpointEvery   = 500 * time.Millisecond
	walAutoCheckpoint = 8000 // pages (32 MiB at 4 KiB): the safety net
)

// checkpointer is the background checkpoint goroutine of a SQLite store.
type checkpointer struct {
	stop chan struct{}
	done chan struct{}
}

// startCheckpointer starts the background checkpoints (SQLite only).
func (s *Store) startCheckpointer() {
	if s.dialect != DialectSQLite {
		return
	}
	c := &checkpointer{stop: make(chan struct{}), done: make(chan struct{})}
	s.ckpt = c
	go func() {
		defer close(c.done)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				s.checkpoint()
			}
		}
	}()
}

// checkpoint copies what it can of the log into the database file. A
// failure is left to the next tick (and to the safety net).
func (s *Store) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*checkpointEvery)
	defer cancel()
	var busy, frames, copied int64
	_ = s.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
}

func (s *Store) stopCheckpointer() {
	if s.ckpt != nil {
		close(s.ckpt.stop)
		<-s.ckpt.done
		s.ckpt = nil
	}
}
