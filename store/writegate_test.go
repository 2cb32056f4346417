package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crmhub/hub/store/storetest"
)

// Writers of one process take turns at the gate: many at once all land,
// record by record, and none fails or waits out busy_timeout.
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
	end2 := make(chan error, 1)
	go func() { end2 <- s.SetCursor(ctx, "src", "order", "2") }()
	select {
	case err := <-end2:
		if err != nil {
			t.Fatalf("SetCursor after the gate opened: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the gate stayed closed after the transaction ended")
	}
	if v, _, _ := s.GetCursor(ctx, "src", "order"); v != "2" {
		t.Errorf("cursor = %q, want 2", v)
	}
}
