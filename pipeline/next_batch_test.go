package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestChangedInTheNextBatchLinkedOnce: each order here is new in one
// batch and changed in the next, while the first batch's links and
// stamps are pending (linkFresh) and its publishing not yet settled. Each
// order must end with one hub id, once in the target with its newest
// total, and stamped with its newest version, so that reading the newest
// versions again publishes nothing.
func TestChangedInTheNextBatchLinkedOnce(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 20; i++ {
		h.src.add("customer", customer(i, fmt.Sprintf("Customer %d", i)))
	}
	const orders = 400 // batches of 50: orders 25k+1..25k+25 first new, then changed
	for k := 0; k < orders/25; k++ {
		for i := k*25 + 1; i <= k*25+25; i++ {
			h.src.add("order", order(i, i%20+1, fmt.Sprintf("%d.10", i)))
		}
		if k > 0 {
			for i := (k-1)*25 + 1; i <= k*25; i++ {
				o := order(i, i%20+1, fmt.Sprintf("%d.20", i))
				o.Version = o.Version.Add(time.Hour)
				h.src.add("order", o)
			}
		}
	}
	for i := orders - 24; i <= orders; i++ { // the last 25 changed too
		o := order(i, i%20+1, fmt.Sprintf("%d.20", i))
		o.Version = o.Version.Add(time.Hour)
		h.src.add("order", o)
	}
	stop := h.start()
	defer stop()
	eventually(t, 60*time.Second, "every order's newest total in the target", func() (bool, string) {
		rows, _ := h.sink.snapshot("order")
		newest := 0
		for _, r := range rows {
			if strings.HasSuffix(r.Get("TOTAL").Str(), ".20") {
				newest++
			}
		}
		return len(rows) == orders && newest == orders, fmt.Sprintf("%d orders, %d at their newest total", len(rows), newest)
	})
	rows, _ := h.sink.snapshot("order")
	if len(rows) != orders {
		t.Fatalf("the target holds %d orders, want %d: one per hub id", len(rows), orders)
	}
	keys := make([]string, orders)
	for i := range keys {
		keys[i] = strconv.Itoa(i + 1)
	}
	links, err := h.store.LookupHubIDs(context.Background(), "order", "crm", keys)
	if err != nil {
		t.Fatal(err)
	}
	hubs := map[string]bool{}
	for _, hub := range links {
		hubs[hub] = true
	}
	if len(links) != orders || len(hubs) != orders {
		t.Fatalf("%d orders linked to %d hub ids, want %d and %d", len(links), len(hubs), orders, orders)
	}
	unchanged := h.m.Suppressed.WithLabelValues("crm", "order", "unchanged")
	before := testutil.ToFloat64(unchanged)
	for i := 1; i <= orders; i++ { // the newest versions, read again
		o := order(i, i%20+1, fmt.Sprintf("%d.20", i))
		o.Version = o.Version.Add(time.Hour)
		h.src.add("order", o)
	}
	eventually(t, 30*time.Second, "the newest versions read again taken for unchanged", func() (bool, string) {
		n := testutil.ToFloat64(unchanged) - before
		return n == orders, fmt.Sprintf("%.0f of %d suppressed as unchanged", n, orders)
	})
}
