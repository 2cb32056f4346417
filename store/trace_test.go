package store

import (
	"context"
	"testing"
	"time"
)

func TestTraceFindsTheJourneyByAnyID(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		if _, err := s.LinkMany(ctx, "order", "crm", map[string]string{"O-1": "hub-1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordWritten(ctx, "order", "erp", []Written{{HubID: "hub-1", ExternalID: "SO-9", Hash: "h"}}); err != nil {
			t.Fatal(err)
		}
		events := []TraceEvent{
			{Entity: "order", HubID: "hub-1", System: "crm", ExternalID: "O-1", Event: TracePublished, Version: "2026-01-01T00:00:00Z"},
			{Entity: "order", HubID: "hub-1", System: "erp", ExternalID: "SO-9", Event: TraceWritten},
			{Entity: "order", HubID: "hub-1", System: "crm", Event: TraceSuppressed, Detail: "echo"},
			{Entity: "order", HubID: "hub-2", System: "crm", ExternalID: "O-2", Event: TracePublished},
		}
		if err := s.AppendTrace(ctx, events); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddDeadLetter(ctx, DeadLetter{Connector: "erp", Entity: "order", RecordKey: "hub-1", HubID: "hub-1", Error: "boom"}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"O-1", "SO-9", "hub-1"} {
			got, err := s.Trace(ctx, id, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].HubID != "hub-1" || len(got[0].Events) != 3 || len(got[0].Links) != 2 || len(got[0].DeadLetters) != 1 {
				t.Fatalf("Trace(%s) = %+v; want hub-1 with 3 events, 2 links, 1 dead letter", id, got)
			}
			if got[0].Events[0].Event != TracePublished || got[0].Events[1].ExternalID != "SO-9" {
				t.Errorf("Trace(%s) events out of order: %+v", id, got[0].Events)
			}
		}
		if got, err := s.Trace(ctx, "nobody", ""); err != nil || len(got) != 0 {
			t.Errorf("Trace(unknown) = %v, %v; want nothing", got, err)
		}
		if got, _ := s.Trace(ctx, "O-1", "customer"); len(got) != 0 {
			t.Errorf("Trace with another entity found %v", got)
		}
		n, err := s.PruneTrace(ctx, time.Now().Add(time.Hour))
		if err != nil || n != 4 {
			t.Errorf("PruneTrace = %d, %v; want 4", n, err)
		}
	})
}

func TestRecordsSaveIsRevisionGuarded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		stale, err := s.SaveRecords(ctx, "customer", []StoredRecord{{HubID: "h1", Data: `{"a":1}`, Hash: "x"}})
		if err != nil || len(stale) != 0 {
			t.Fatalf("first save: %v %v", stale, err)
		}
		// A second writer that also saw no record loses.
		if stale, _ := s.SaveRecords(ctx, "customer", []StoredRecord{{HubID: "h1", Data: `{"a":2}`}}); len(stale) != 1 {
			t.Fatalf("concurrent insert not refused: %v", stale)
		}
		got, err := s.LoadRecords(ctx, "customer", []string{"h1", "h2"})
		if err != nil || len(got) != 1 || got["h1"].Rev != 1 || got["h1"].Data != `{"a":1}` {
			t.Fatalf("load = %+v, %v", got, err)
		}
		r := got["h1"]
		r.Data, r.Hash = `{"a":3}`, "y"
		if stale, _ := s.SaveRecords(ctx, "customer", []StoredRecord{r}); len(stale) != 0 {
			t.Fatal("update at the right revision refused")
		}
		if stale, _ := s.SaveRecords(ctx, "customer", []StoredRecord{r}); len(stale) != 1 {
			t.Fatal("update at an old revision accepted")
		}
		if err := s.MarkPublished(ctx, "customer", map[string]string{"h1": "y"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.LoadRecords(ctx, "customer", []string{"h1"}); got["h1"].PubHash != "y" || got["h1"].Rev != 2 {
			t.Errorf("after MarkPublished: %+v", got["h1"])
		}

		if err := s.PutMatchKeys(ctx, "customer", []MatchKey{{HubID: "h1", Rule: "email", Value: "a@x.com"},
			{HubID: "h2", Rule: "email", Value: "a@x.com"}, {HubID: "h1", Rule: "phone", Value: "+4930"}}); err != nil {
			t.Fatal(err)
		}
		m, err := s.FindMatches(ctx, "customer", "email", []string{"a@x.com", "b@x.com"})
		if err != nil || len(m["a@x.com"]) != 2 || len(m["b@x.com"]) != 0 {
			t.Errorf("FindMatches = %v, %v", m, err)
		}
		keys, err := s.MatchKeysOf(ctx, "customer", []string{"h1"})
		if err != nil || keys["h1"]["phone"] != "+4930" || keys["h1"]["email"] != "a@x.com" {
			t.Errorf("MatchKeysOf = %v, %v", keys, err)
		}
		if err := s.PutMatchKeys(ctx, "customer", []MatchKey{{HubID: "h1", Rule: "phone"}}); err != nil {
			t.Fatal(err)
		}
		if keys, _ := s.MatchKeysOf(ctx, "customer", []string{"h1"}); len(keys["h1"]) != 1 {
			t.Errorf("empty value did not delete the key: %v", keys)
		}
	})
}
