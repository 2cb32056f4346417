package store

import (
	"context"
	"fmt"
	"testing"
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
		conflicts, err := s.RecordWritten(ctx, "customer", "erp", ws)
		if err != nil || len(conflicts) != 0 {
			t.Fatalf("RecordWritten = %v, %v", conflicts, err)
		}
		// h1 written again under another erp id: a conflict, left untouched.
		conflicts, err = s.RecordWritten(ctx, "customer", "erp", []Written{{HubID: "h1", ExternalID: "E1-other", Hash: "y"}})
		if err != nil || len(conflicts) != 1 {
			t.Fatalf("conflicting RecordWritten = %v, %v", conflicts, err)
		}
		ext, err := s.LookupExternals(ctx, "customer", "erp", []string{"h1", "h2", "h3"})
		if err != nil {
			t.Fatal(err)
		}
		if len(ext) != 2 || ext["h1"] != (XrefEntry{"E1", "x1"}) || ext["h2"] != (XrefEntry{"E2", "x2"}) {
			t.Errorf("LookupExternals = %+v", ext)
		}
		// The multi-row path: new links, a restamp and a conflict at once.
		conflicts, err = s.RecordWritten(ctx, "customer", "erp", []Written{
			{HubID: "h1", ExternalID: "E1", Hash: "x1b"},       // restamp
			{HubID: "h4", ExternalID: "E4", Hash: "x4"},        // new link
			{HubID: "h2", ExternalID: "E2-other", Hash: "bad"}, // conflict
		})
		if err != nil || len(conflicts) != 1 || conflicts[0].HubID != "h2" {
			t.Fatalf("bulk RecordWritten = %v, %v", conflicts, err)
		}
		ext, err = s.LookupExternals(ctx, "customer", "erp", []string{"h1", "h2", "h4"})
		if err != nil || ext["h1"] != (XrefEntry{"E1", "x1b"}) || ext["h4"] != (XrefEntry{"E4", "x4"}) || ext["h2"] != (XrefEntry{"E2", "x2"}) {
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
