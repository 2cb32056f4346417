package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crmhub/hub/store/storetest"
)

// Writers of one process take turns at the gate: many at once all land,
// record by record, and none fails. (TestWritersWaitAtTheGate shows where
// they wait.)
func TestConcurrentWritersAllLand(t *testing.T) {
	s := openStore(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	const writers, batches, batch = 6, 5, 200
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				links := map[string]string{}
				for i := range batch {
					links[fmt.Sprintf("W%d-%d-%d", w, b, i)] = uuid.Must(uuid.NewV7()).String()
				}
				if _, err := s.LinkMany(ctx, "order", "crm", links); err != nil {
					errs <- err
					return
				}
				ws := make([]Written, 0, batch)
				for ext, hub := range links {
					ws = append(ws, Written{HubID: hub, ExternalID: "E" + ext, Hash: "h" + ext})
				}
				if _, err := s.RecordWritten(ctx, "order", "erp", ws); err != nil {
					errs <- err
					return
				}
				if err := s.SetCursor(ctx, fmt.Sprintf("src%d", w), "order", fmt.Sprint(b)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a writer failed: %v", err)
	}
	for _, system := range []string{"crm", "erp"} {
		var n int
		if err := s.DB().GetContext(ctx, &n, "SELECT COUNT(*) FROM xref WHERE system = ?", system); err != nil {
			t.Fatal(err)
		}
		if n != writers*batches*batch {
			t.Errorf("%s links: %d, want %d", system, n, writers*batches*batch)
		}
	}
	for w := range writers {
		if v, ok, err := s.GetCursor(ctx, fmt.Sprintf("src%d", w), "order"); err != nil || !ok || v != fmt.Sprint(batches-1) {
			t.Errorf("cursor of src%d = %q, %v, %v; want %d", w, v, ok, err, batches-1)
		}
	}
}

// A writer waiting at the gate gives up when its context ends, and the
// gate still works afterwards.
func TestWriteWaitEndsWithContext(t *testing.T) {
	s := openStore(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.SetCursor(short, "src", "order", "1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SetCursor while another transaction writes: %v, want the context's deadline", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("gave up after %s, not at the context's end", waited)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	end()
	// A gate left closed would hold this one until its deadline.
	bounded, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := s.SetCursor(bounded, "src", "order", "2"); err != nil {
		t.Fatalf("SetCursor after the gate opened (the gate stayed closed?): %v", err)
	}
	if v, _, _ := s.GetCursor(ctx, "src", "order"); v != "2" {
		t.Errorf("cursor = %q, want 2", v)
	}
}

// Writers wait at the gate, not in SQLite: while one transaction writes,
// every other kind of write (a statement, a transaction, an INSERT that
// returns its id, an UPDATE that returns rows) waits without taking a
// connection from the pool, where it would sleep in SQLite's busy handler,
// and each lands once the transaction ends.
func TestWritersWaitAtTheGate(t *testing.T) {
	s := openStore(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	if _, err := s.AddDeadLetter(ctx, DeadLetter{Connector: "erp", Entity: "order", RecordKey: "SO-1", Stage: "write"}); err != nil {
		t.Fatal(err)
	}
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	writes := map[string]func() error{
		"cursor": func() error { return s.SetCursor(ctx, "src", "order", "1") },
		"links": func() error {
			_, err := s.LinkMany(ctx, "order", "crm", map[string]string{"SO-9": "hub-9"})
			return err
		},
		"dead letter": func() error {
			_, err := s.AddDeadLetter(ctx, DeadLetter{Connector: "shop", Entity: "order", RecordKey: "7", Stage: "map_in"})
			return err
		},
		"supersede": func() error {
			ids, err := s.SupersedeDeadLetters(ctx, "erp", "order", []string{"SO-1"}, []string{"write"})
			if err == nil && len(ids) != 1 {
				err = fmt.Errorf("superseded %v, want the one open dead letter", ids)
			}
			return err
		},
		"recon run": func() error {
			_, err := s.StartReconRun(ctx, "nightly")
			return err
		},
	}
	errs := make(chan error, len(writes))
	for name, w := range writes {
		go func() {
			if err := w(); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				return
			}
			errs <- nil
		}()
	}
	time.Sleep(300 * time.Millisecond) // long enough for all of them to be waiting
	if inUse := s.DB().Stats().InUse; inUse != 1 {
		t.Errorf("%d connections in use while one transaction writes; want 1: the others should wait at the gate", inUse)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	end()
	for range writes {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a writer still waits after the transaction ended")
		}
	}
}

// Every write behind the gate runs on the writer's one connection, whatever
// the pool handed out meanwhile: a temporary table (each connection sees
// only its own) made by one write is there for the next ones, whether a
// transaction, a single statement or an insert returning rows.
func TestWritesRunOnTheWriter(t *testing.T) {
	s := openStore(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	if _, err := s.execWrite(ctx, "CREATE TEMP TABLE writer_mark (n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	// Connections of the pool taken and given back, for the reads to go
	// elsewhere than the last write.
	for range 3 {
		conns := make([]*sql.Conn, 3)
		for i := range conns {
			c, err := s.db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = c
		}
		for _, c := range conns {
			c.Close()
		}
		if _, err := s.LookupLinks(ctx, "order", "crm", []string{"x"}); err != nil {
			t.Fatal(err)
		}
		tx, end, err := s.beginWrite(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO writer_mark (n) VALUES (1)"); err != nil {
			t.Fatalf("a transaction ran on another connection than the write before it: %v", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		end()
		if _, err := s.execWrite(ctx, "INSERT INTO writer_mark (n) VALUES (2)"); err != nil {
			t.Fatalf("a single statement ran on another connection: %v", err)
		}
		if _, err := s.StartReconRun(ctx, "job"); err != nil {
			t.Fatal(err)
		}
		unlock, err := s.lockWrites(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = s.writeConn().QueryRowxContext(ctx, "SELECT COUNT(*) FROM writer_mark").Scan(&n)
		unlock()
		if err != nil {
			t.Fatalf("the writer's connection lost its temporary table: %v", err)
		}
	}
}

// A writer's connection that has failed is replaced: the next write opens
// another and lands.
func TestWriterReplacedAfterItFails(t *testing.T) {
	s := openStore(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	if _, err := s.LinkMany(ctx, "order", "crm", map[string]string{"1": "hub-1"}); err != nil {
		t.Fatal(err)
	}
	old := s.writer
	if old == nil {
		t.Fatal("no writer's connection after a write")
	}
	old.Close() // given back to the pool: using it now fails with sql.ErrConnDone
	if _, err := s.LinkMany(ctx, "order", "crm", map[string]string{"2": "hub-2"}); err != nil {
		t.Fatalf("a write after the writer's connection failed: %v", err)
	}
	if s.writer == nil || s.writer == old {
		t.Errorf("the failed connection was not replaced")
	}
	got, err := s.LookupLinks(ctx, "order", "crm", []string{"1", "2"})
	if err != nil || got["1"].HubID != "hub-1" || got["2"].HubID != "hub-2" {
		t.Errorf("links = %v, %v; want both", got, err)
	}
	// The same for a single statement that returns rows.
	s.writer.Close()
	if _, err := s.StartReconRun(ctx, "job"); err != nil {
		t.Errorf("an insert returning its id after the writer's connection failed: %v", err)
	}
}

// A write whose context ends while it runs is rolled back before the next
// write begins on the writer's connection: the next write is never taken
// into the abandoned transaction (and undone by its late rollback), nor
// refused for a transaction still open.
func TestCancelledWriteEndsBeforeTheNext(t *testing.T) {
	s := openStore(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	if _, err := s.execWrite(ctx, "CREATE TABLE after_cancel (n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	const rounds = 2000
	for i := range rounds {
		wctx, cancel := context.WithCancel(ctx)
		tx, end, err := s.beginWrite(wctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(wctx, "INSERT INTO after_cancel (n) VALUES (?)", -1); err != nil {
			t.Fatal(err)
		}
		cancel()
		end()
		if _, err := s.execWrite(ctx, "INSERT INTO after_cancel (n) VALUES (?)", i); err != nil {
			t.Fatalf("round %d: the write after a cancelled one failed: %v", i, err)
		}
	}
	var kept, abandoned int
	if err := s.DB().GetContext(ctx, &kept, "SELECT COUNT(*) FROM after_cancel WHERE n >= 0"); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().GetContext(ctx, &abandoned, "SELECT COUNT(*) FROM after_cancel WHERE n < 0"); err != nil {
		t.Fatal(err)
	}
	if kept != rounds || abandoned != 0 {
		t.Errorf("rows kept %d of %d written, %d of the cancelled transactions' kept (want 0)", kept, rounds, abandoned)
	}
}
