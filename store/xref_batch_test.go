package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/crmhub/hub/store/storetest"
)

func TestXrefBatch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		ctx := context.Background()
		// 2,000 keys: more than one chunk of parameters.
		links := map[string]string{}
		var exts []string
		for i := range 2000 {
			ext := fmt.Sprintf("c%d", i)
			links[ext] = fmt.Sprintf("h%d", i)
			exts = append(exts, ext)
		}
		if _, err := s.Link(ctx, "customer", "crm", "c7", "winner"); err != nil {
			t.Fatal(err)
		}
		// c7 is already linked to "winner": it keeps it, the rest get the
		// proposed ids.
		linked, err := s.LinkMany(ctx, "customer", "crm", links)
		if err != nil {
			t.Fatal(err)
		}
		if len(linked) != 2000 || linked["c7"] != "winner" || linked["c8"] != "h8" {
			t.Fatalf("linked %d, c7=%q c8=%q", len(linked), linked["c7"], linked["c8"])
		}
		got, err := s.LookupHubIDs(ctx, "customer", "crm", append(exts, "nope", "c1"))
		if err != nil || len(got) != 2000 || got["c1999"] != "h1999" {
			t.Fatalf("LookupHubIDs = %d entries, %v", len(got), err)
		}

		ws := []Written{
			{HubID: "h1", ExternalID: "E1", Hash: "x1", Version: "v1"}, // new link in erp
			{HubID: "h2", ExternalID: "E2", Hash: "x2", Version: "v2"},
			{HubID: "h3", Hash: "x3"}, // no erp id: nothing to stamp
		}
		l, err := s.RecordWritten(ctx, "customer", "erp", ws)
		conflicts := l.Conflicts
		if err != nil || len(conflicts) != 0 {
			t.Fatalf("RecordWritten = %v, %v", conflicts, err)
		}
		// h1 written again under another erp id: a conflict, left untouched.
		l, err = s.RecordWritten(ctx, "customer", "erp", []Written{{HubID: "h1", ExternalID: "E1-other", Hash: "y"}})
		conflicts = l.Conflicts
		if err != nil || len(conflicts) != 1 || len(l.Merged) != 0 {
			t.Fatalf("conflicting RecordWritten = %v, %v", conflicts, err)
		}
		ext, err := s.LookupExternals(ctx, "customer", "erp", []string{"h1", "h2", "h3"})
		if err != nil {
			t.Fatal(err)
		}
		if len(ext) != 2 || ext["h1"] != (XrefEntry{ExternalID: "E1", LastHash: "x1", Version: "v1"}) || ext["h2"] != (XrefEntry{ExternalID: "E2", LastHash: "x2", Version: "v2"}) {
			t.Errorf("LookupExternals = %+v", ext)
		}
		// The multi-row path: new links, a restamp and a conflict at once.
		l, err = s.RecordWritten(ctx, "customer", "erp", []Written{
			{HubID: "h1", ExternalID: "E1", Hash: "x1b"},       // restamp
			{HubID: "h4", ExternalID: "E4", Hash: "x4"},        // new link
			{HubID: "h2", ExternalID: "E2-other", Hash: "bad"}, // conflict
		})
		conflicts = l.Conflicts
		if err != nil || len(conflicts) != 1 || conflicts[0].HubID != "h2" {
			t.Fatalf("bulk RecordWritten = %v, %v", conflicts, err)
		}
		ext, err = s.LookupExternals(ctx, "customer", "erp", []string{"h1", "h2", "h4"})
		if err != nil || ext["h1"] != (XrefEntry{ExternalID: "E1", LastHash: "x1b"}) || ext["h4"] != (XrefEntry{ExternalID: "E4", LastHash: "x4"}) || ext["h2"] != (XrefEntry{ExternalID: "E2", LastHash: "x2", Version: "v2"}) {
			t.Errorf("after bulk RecordWritten: %+v %v", ext, err)
		}
		// Stamping a known record without an external id updates its hash.
		if _, err := s.RecordWritten(ctx, "customer", "erp", []Written{{HubID: "h2", Hash: "x2b"}}); err != nil {
			t.Fatal(err)
		}
		if _, h, _, _ := s.LookupExternal(ctx, "customer", "h2", "erp"); h != "x2b" {
			t.Errorf("hash after restamp = %q", h)
		}
	})
}

// TestMergeHubIDs: a source saw a record first as a reference by its
// native key (the invoice's sale S-1) and minted hub id "ref" for it; a
// sink then wrote the CRM's order "crm-o" to that system and got S-1 back.
// Both are one record: the link moves to "crm-o", and "ref" answers as an
// alias. A hub id other systems know too is never merged: that is a
// conflict for an operator.
func TestMergeHubIDs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		ctx := context.Background()
		if _, err := s.LinkMany(ctx, "order", "erp", map[string]string{"S-1": "ref", "S-2": "known"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LinkMany(ctx, "order", "crm", map[string]string{"41": "crm-o", "42": "crm-p", "43": "known"}); err != nil {
			t.Fatal(err)
		}
		l, err := s.RecordWritten(ctx, "order", "erp", []Written{
			{HubID: "crm-o", ExternalID: "S-1", Hash: "h1", Version: "v1"}, // merges "ref"
			{HubID: "crm-p", ExternalID: "S-2", Hash: "h2"},                // "known" is in the CRM too: conflict
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Merged) != 1 || l.Merged[0] != (Merge{Alias: "ref", HubID: "crm-o", System: "erp", ExternalID: "S-1"}) {
			t.Errorf("merged = %+v", l.Merged)
		}
		if len(l.Conflicts) != 1 || l.Conflicts[0].HubID != "crm-p" {
			t.Errorf("conflicts = %+v", l.Conflicts)
		}
		if hub, _, _ := s.LookupHubID(ctx, "order", "erp", "S-1"); hub != "crm-o" {
			t.Errorf("S-1 is linked to %q, want crm-o", hub)
		}
		if hub, _, _ := s.LookupHubID(ctx, "order", "erp", "S-2"); hub != "known" {
			t.Errorf("S-2 is linked to %q, want known (untouched)", hub)
		}
		// Records published under the alias still resolve, in both lookups.
		ext, err := s.LookupExternals(ctx, "order", "crm", []string{"ref", "crm-o", "nope"})
		if err != nil || len(ext) != 2 || ext["ref"].ExternalID != "41" || ext["crm-o"].ExternalID != "41" {
			t.Errorf("LookupExternals via alias = %+v, %v", ext, err)
		}
		if e, h, ok, err := s.LookupExternal(ctx, "order", "ref", "erp"); err != nil || !ok || e != "S-1" || h != "h1" {
			t.Errorf("LookupExternal via alias = %q %q %v %v", e, h, ok, err)
		}
		// A second merge into the first one's target collapses the chain.
		if _, err := s.LinkMany(ctx, "order", "shop", map[string]string{"#9": "shop-o"}); err != nil {
			t.Fatal(err)
		}
		if l, err := s.RecordWritten(ctx, "order", "shop", []Written{{HubID: "crm-o", ExternalID: "#9"}}); err != nil || len(l.Merged) != 1 {
			t.Fatalf("second merge: %+v %v", l, err)
		}
		al, err := s.ResolveAliases(ctx, "order", []string{"ref", "shop-o", "crm-o"})
		if err != nil || len(al) != 2 || al["ref"] != "crm-o" || al["shop-o"] != "crm-o" {
			t.Errorf("aliases = %v, %v", al, err)
		}
	})
}

// TestXrefConditionalStamp: a stamp based on a version the link no longer
// has leaves the newer stamp alone; fields and version round-trip.
func TestXrefConditionalStamp(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		ctx := context.Background()
		if _, err := s.RecordWritten(ctx, "customer", "erp", []Written{
			{HubID: "h1", ExternalID: "E1", Hash: "read1", Version: "v1", Fields: `{"name":"a"}`},
			{HubID: "h2", ExternalID: "E2", Hash: "read2", Version: "v1", Fields: `{"name":"b"}`},
		}); err != nil {
			t.Fatal(err)
		}
		// The source restamps h2 with a newer read before the sink's stamp.
		if _, err := s.RecordWritten(ctx, "customer", "erp", []Written{
			{HubID: "h2", ExternalID: "E2", Hash: "read2b", Version: "v2", Fields: `{"name":"c"}`},
		}); err != nil {
			t.Fatal(err)
		}
		// The sink wrote both on the strength of v1, plus a new record.
		l, err := s.RecordWritten(ctx, "customer", "erp", []Written{
			{HubID: "h1", ExternalID: "E1", Hash: "hub1", Version: "v1", Fields: `{"name":"x"}`, IfVersion: "v1"},
			{HubID: "h2", ExternalID: "E2", Hash: "hub2", Version: "v1", Fields: `{"name":"y"}`, IfVersion: "v1"},
			{HubID: "h3", ExternalID: "E3", Hash: "hub3", Version: "v0", Fields: `{"name":"z"}`},
		})
		if err != nil || len(l.Conflicts) != 0 {
			t.Fatalf("RecordWritten = %+v, %v", l, err)
		}
		got, err := s.LookupExternals(ctx, "customer", "erp", []string{"h1", "h2", "h3"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]XrefEntry{
			"h1": {ExternalID: "E1", LastHash: "hub1", Version: "v1", Fields: `{"name":"x"}`},
			"h2": {ExternalID: "E2", LastHash: "read2b", Version: "v2", Fields: `{"name":"c"}`}, // newer: kept
			"h3": {ExternalID: "E3", LastHash: "hub3", Version: "v0", Fields: `{"name":"z"}`},
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("%s = %+v, want %+v", id, got[id], w)
			}
		}
		links, err := s.LookupLinks(ctx, "customer", "erp", []string{"E1", "E2"})
		if err != nil {
			t.Fatal(err)
		}
		if l := links["E2"]; l.HubID != "h2" || l.Version != "v2" || l.Fields != `{"name":"c"}` {
			t.Errorf("LookupLinks E2 = %+v", l)
		}
	})
}

// TestLinkManyConcurrentNoDeadlock: two writers linking the same new
// external ids at once (a customers source, and an orders source linking
// the customers its orders reference) take the rows' locks in one order,
// so PostgreSQL finds no deadlock between them (seen in a 500,000-order
// `hub bench sync` with the PostgreSQL state store, retried) and both get
// the same hub id for each external id.
func TestLinkManyConcurrentNoDeadlock(t *testing.T) {
	s := openStore(t, storetest.PostgresDSN(t))
	ctx := context.Background()
	const rounds, keys = 30, 300
	for r := range rounds {
		got := make([]map[string]string, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for w := range 2 {
			links := make(map[string]string, keys)
			for i := range keys {
				links[fmt.Sprintf("C-%d-%d", r, i)] = fmt.Sprintf("hub-%d-%d-%d", w, r, i)
			}
			wg.Go(func() { got[w], errs[w] = s.LinkMany(ctx, "customer", "crm", links) })
		}
		wg.Wait()
		for w, err := range errs {
			if err != nil {
				t.Fatalf("round %d, writer %d: %v", r, w, err)
			}
		}
		for i := range keys {
			ext := fmt.Sprintf("C-%d-%d", r, i)
			if got[0][ext] == "" || got[0][ext] != got[1][ext] {
				t.Fatalf("round %d: %s linked to %q and %q", r, ext, got[0][ext], got[1][ext])
			}
		}
	}
}
