package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmhub/hub/store"
	"github.com/crmhub/hub/store/storetest"
)

// An order created in the CRM and written to the ERP: tracing its CRM id,
// its ERP id or its hub id prints the same journey.
func TestTraceSameJourneyByAnyID(t *testing.T) {
	h := newHarness(t)
	h.src.add("customer", customer(1, "Ada"))
	h.src.add("order", order(5001, 1, "99.50"))
	stop := h.start()
	eventually(t, 20*time.Second, "the order in the ERP", func() (bool, string) {
		o, _ := h.sink.snapshot("order")
		return len(o) == 1, fmt.Sprint(len(o))
	})
	// The same order read again: the journal says it was suppressed.
	h.src.add("order", order(5001, 1, "99.50"))
	time.Sleep(300 * time.Millisecond)
	stop()

	ctx := context.Background()
	hub, ok, err := h.store.LookupHubID(ctx, "order", "crm", "5001")
	if err != nil || !ok {
		t.Fatalf("hub id: %v %v", ok, err)
	}
	erpID, _, ok, err := h.store.LookupExternal(ctx, "order", hub, "erp")
	if err != nil || !ok {
		t.Fatalf("erp id: %v %v", ok, err)
	}
	var outs []string
	for _, id := range []string{"5001", erpID, hub} {
		recs, err := h.store.Trace(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := FormatTrace(&b, id, recs); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b.String())
	}
	for i, id := range []string{erpID, hub} {
		if outs[i+1] != outs[0] {
			t.Errorf("trace by %s differs from trace by the CRM id:\n%s\nvs\n%s", id, outs[i+1], outs[0])
		}
	}
	out := outs[0]
	t.Log("\n" + out)
	for _, want := range []string{
		"order " + hub,
		"id in crm          5001",
		"id in erp          " + erpID,
		"published     crm        id 5001",
		"written       erp        id " + erpID,
		"suppressed    crm        id 5001",
		"unchanged",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if strings.Index(out, "published") > strings.Index(out, "written") {
		t.Error("journey out of order: written before published")
	}
}

// The journal's queue is bounded in events: while the state store cannot
// take them, Append neither blocks nor grows the queue; what does not fit
// is dropped and counted, and what was queued is written once the store
// answers.
func TestJournalQueueBounded(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Another connection holds the write lock: the journal's first write
	// waits on it.
	lock, err := st.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	j := &Journal{Store: st, Metrics: m, MaxQueued: 100}
	start := time.Now()
	for i := range 30 {
		var evs []store.TraceEvent
		for k := range 10 {
			evs = append(evs, store.TraceEvent{Entity: "order", HubID: fmt.Sprintf("h%d-%d", i, k), Event: store.TracePublished})
		}
		j.Append(ctx, evs)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Append waited %s for a locked store", d)
	}
	if j.Dropped() != 200 || testutil.ToFloat64(m.TraceDropped) != 200 || testutil.ToFloat64(m.TraceQueued) != 100 {
		t.Fatalf("dropped %d (metric %v), queued metric %v; want 200 dropped, 100 queued",
			j.Dropped(), testutil.ToFloat64(m.TraceDropped), testutil.ToFloat64(m.TraceQueued))
	}
	if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := st.TraceEventCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 100 || testutil.ToFloat64(m.TraceQueued) != 0 {
		t.Fatalf("%d events written, %v still queued; want the 100 queued written", n, testutil.ToFloat64(m.TraceQueued))
	}
}
