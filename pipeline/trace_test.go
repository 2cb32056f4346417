package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
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
