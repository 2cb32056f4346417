package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/store"
)

// TestUnstampedSinkWritesEveryVersionAndRecordsNothing: a sink with
// `stamps: false` writes each order at once although its customer never
// reaches the target, records nothing of the target in the crosswalk,
// writes the same versions again when they are delivered again (where a
// stamped sink skips them: TestSyncOrdersWithCustomersExactlyOnce), and
// writes a delete of a record it holds no stamp of.
func TestUnstampedSinkWritesEveryVersionAndRecordsNothing(t *testing.T) {
	h := newHarness(t)
	h.noStamps = true
	h.orderOut = strings.Replace(orderOut, `CUSTOMER_NO: {from: customer.id, transform: [{xref: customer}]}`, `CUSTOMER_HUB: {from: customer.id}`, 1)
	ctx := context.Background()
	for i := 1; i <= 30; i++ {
		h.src.add("order", order(i, 100+i, fmt.Sprintf("%d.25", i)))
	}
	stop := h.start()
	eventually(t, 30*time.Second, "30 orders written with no customer anywhere", func() (bool, string) {
		o, n := h.sink.snapshot("order")
		return len(o) == 30 && n == 30, fmt.Sprintf("%d orders in %d writes", len(o), n)
	})
	// The source's cursor stored past them, or the next start reads and
	// publishes them again (its stamps taken back): more writes below.
	eventually(t, 30*time.Second, "the order source's cursor stored at 30", func() (bool, string) {
		c, _, err := h.store.GetCursor(ctx, "crm-order", "order")
		return err == nil && c == "30", fmt.Sprintf("cursor %q (%v)", c, err)
	})
	stop()
	orders, _ := h.sink.snapshot("order")
	hubs := make([]string, 31)
	for i := 1; i <= 30; i++ {
		hub, ok, err := h.store.LookupHubID(ctx, "order", "crm", strconv.Itoa(i))
		if err != nil || !ok {
			t.Fatalf("order %d has no hub id: %v", i, err)
		}
		hubs[i] = hub
		row, ok := orders["T-"+hub]
		if !ok {
			t.Fatalf("order %d (hub id %s) is not in the target", i, hub)
		}
		if got, want := row.Get("TOTAL").Str(), fmt.Sprintf("%d.25", i); got != want {
			t.Errorf("order %d total %q, want %q", i, got, want)
		}
		custHub, ok, _ := h.store.LookupHubID(ctx, "customer", "crm", strconv.Itoa(100+i))
		if got := row.Get("CUSTOMER_HUB").Str(); !ok || got != custHub {
			t.Errorf("order %d customer hub id %q, want %q (known %v)", i, got, custHub, ok)
		}
		if ext, _, ok, err := h.store.LookupExternal(ctx, "order", hub, "erp"); err != nil || ok {
			t.Errorf("order %d: the crosswalk holds %q in erp (err %v); a sink without stamps records nothing", i, ext, err)
		}
	}
	if n, err := h.store.CountDeadLetters(ctx, store.DeadLetterFilter{}); err != nil || n != 0 {
		t.Fatalf("dead letters: %d (%v), want none", n, err)
	}

	// Delivered again (a new consumer group reads the topic from its
	// start, as after offsets were reset or a crash before the commit):
	// written again, every one.
	h.group = "sink.erp.again"
	h.src.add("order", connectors.Record{Entity: "order", Key: "7", Op: connectors.OpDelete, Version: time.Unix(9000, 0)})
	stop = h.start()
	// 60 writes: the 29 other orders again and the delete (order 7's
	// upsert is dropped when its delete comes in the same batch), or 61.
	eventually(t, 30*time.Second, "29 orders written again and order 7 deleted", func() (bool, string) {
		o, n := h.sink.snapshot("order")
		return n >= 60 && len(o) == 29, fmt.Sprintf("%d orders after %d writes", len(o), n)
	})
	stop()
	orders, writes := h.sink.snapshot("order")
	if _, ok := orders["T-"+hubs[7]]; ok || writes > 61 {
		t.Errorf("order 7 still in the target (%v), or %d writes: want it deleted after 60 or 61 writes", ok, writes)
	}
	for i := 1; i <= 30; i++ {
		if _, ok := orders["T-"+hubs[i]]; !ok && i != 7 {
			t.Errorf("order %d is gone from the target", i)
		}
	}
}
