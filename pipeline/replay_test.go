package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/store"
)

// TestReplayNeverRevivesADeletedRecord: an order the target refused is
// dead-lettered; the order is then deleted in its system. The delete
// reaches the sink ("a record the target never had") and closes the dead
// letter as superseded; a replay of it is refused as superseded and the
// target never holds the deleted order. A dead letter of an older version
// is closed the same way when a newer version is written.
func TestReplayNeverRevivesADeletedRecord(t *testing.T) {
	h := newHarness(t)
	h.orderOut = strings.Replace(orderOut, `reject: {expr: 'total == "666.00"', type: bool}`, `reject: {expr: 'total == "666.00" || total == "777.00"', type: bool}`, 1)
	ctx := context.Background()
	h.src.add("customer", customer(1, "C1"), customer(2, "C2"))
	h.src.add("order", order(1, 1, "666.00"), order(2, 2, "777.00"))
	stop := h.start()
	defer stop()
	eventually(t, 30*time.Second, "2 dead letters", func() (bool, string) {
		n, _ := h.store.CountDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen})
		return n == 2, fmt.Sprint(n)
	})
	// Order 1 is deleted in its system; order 2 is changed to a total the
	// target takes.
	h.src.add("order", connectors.Record{Entity: "order", Key: "1", Op: connectors.OpDelete, Version: time.Unix(5000, 0)})
	fixed := order(2, 2, "20.00")
	fixed.Version = time.Unix(5000, 0)
	h.src.add("order", fixed)
	eventually(t, 30*time.Second, "both dead letters closed as superseded", func() (bool, string) {
		n, _ := h.store.CountDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusSuperseded})
		o, _ := h.sink.snapshot("order")
		return n == 2 && len(o) == 1, fmt.Sprintf("%d superseded, %d orders", n, len(o))
	})
	dls, err := h.store.ListDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusSuperseded})
	if err != nil {
		t.Fatal(err)
	}
	rp := &Replayer{Store: h.store, Bus: h.bus, Prefix: h.prefix, Sources: h.sources, DLQ: h.dlq, Log: h.log}
	for _, d := range dls {
		if _, err := rp.Replay(ctx, d.ID, "tester"); !errors.Is(err, ErrNotOpen) {
			t.Errorf("replay of superseded dead letter %d = %v, want ErrNotOpen", d.ID, err)
		}
	}
	// Reopened by hand (or raced by the delete): the replay itself still
	// refuses to bring the deleted order back.
	for _, d := range dls {
		if err := h.store.MarkDeadLetter(ctx, d.ID, store.StatusOpen); err != nil {
			t.Fatal(err)
		}
		_, err := rp.Replay(ctx, d.ID, "tester")
		if !errors.Is(err, ErrSuperseded) {
			t.Errorf("replay of dead letter %d after the record changed = %v, want ErrSuperseded", d.ID, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	orders, _ := h.sink.snapshot("order")
	if len(orders) != 1 {
		t.Fatalf("target holds %d orders, want only order 2", len(orders))
	}
	for _, row := range orders {
		if row.Get("TOTAL").Str() != "20.00" {
			t.Errorf("order 2 = %v, want total 20.00 (the newer version)", row)
		}
	}
	if n, _ := h.store.CountDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusSuperseded}); n != 2 {
		t.Errorf("%d dead letters superseded, want 2", n)
	}
}

// TestRefWaitCountsAcrossRestarts: an order waits for a customer that
// never comes; the hub restarts in the middle of its retry.ref_wait. The
// wait counts from the first attempt, not from the restart: the order is
// dead-lettered when the wait is over, however often the hub restarts.
func TestRefWaitCountsAcrossRestarts(t *testing.T) {
	h := newHarness(t)
	h.refWait = 3 * time.Second
	ctx := context.Background()
	h.src.add("order", order(1, 99, "1.00")) // customer 99 never comes
	stop := h.start()
	time.Sleep(2 * time.Second)
	stop()
	if n, _ := h.store.CountDeadLetters(ctx, store.DeadLetterFilter{}); n != 0 {
		t.Fatalf("dead-lettered after 2s of a 3s wait")
	}
	restarted := time.Now()
	stop = h.start()
	defer stop()
	eventually(t, 10*time.Second, "the order dead-lettered", func() (bool, string) {
		n, _ := h.store.CountDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen})
		return n == 1, fmt.Sprint(n)
	})
	if took := time.Since(restarted); took > 2500*time.Millisecond {
		t.Errorf("dead-lettered %s after the restart: the wait started again at the restart", took.Round(time.Millisecond))
	}
	dls, _ := h.store.ListDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen})
	if len(dls) != 1 || !strings.Contains(dls[0].Error, "retry.ref_wait") {
		t.Errorf("dead letters = %+v", dls)
	}
}
