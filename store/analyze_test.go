package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/crmhub/hub/store/storetest"
)

// TestAnalyzeAsTheCrosswalkGrows: on PostgreSQL, the store keeps the
// crosswalk's statistics current as it grows, so that a lookup by hub id
// in one system goes through the hub id index rather than every link of
// the system (what stale statistics chose: a sync slowed down with every
// batch).
func TestAnalyzeAsTheCrosswalkGrows(t *testing.T) {
	s := openStore(t, storetest.PostgresDSN(t))
	ctx := context.Background()
	const n = 6000
	var hubs []string
	for b := range n / 1000 {
		links := map[string]string{}
		var ws []Written
		for i := range 1000 {
			ext, hub := fmt.Sprintf("SO-%d", b*1000+i), fmt.Sprintf("h-%06d", b*1000+i)
			links[ext] = hub
			ws = append(ws, Written{HubID: hub, ExternalID: "E" + ext, Hash: "x"})
			hubs = append(hubs, hub)
		}
		if _, err := s.LinkMany(ctx, "order", "crm", links); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordWritten(ctx, "order", "erp", ws); err != nil {
			t.Fatal(err)
		}
	}
	s.stopAnalyzer()
	var tuples float64
	if err := s.db.GetContext(ctx, &tuples, "SELECT reltuples FROM pg_class WHERE oid = to_regclass('xref')"); err != nil {
		t.Fatal(err)
	}
	// Analyzed each time it doubled: at least half of what it holds.
	if tuples < 0.5*2*n || tuples > 2*n {
		t.Fatalf("xref's statistics say %.0f rows, it holds %d", tuples, 2*n)
	}
	q, args := inQuery("EXPLAIN SELECT hub_id, external_id FROM xref WHERE entity = ? AND system = ? AND hub_id IN (%s)", hubs[:50], "order", "erp")
	var plan []string
	if err := s.db.SelectContext(ctx, &plan, s.rebind(q), args...); err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "xref_hub") {
		t.Fatalf("a lookup of 50 hub ids in one system does not use the hub id index:\n%.300s", text)
	}
}
