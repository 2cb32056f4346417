package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/store/storetest"
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
		if left, err := s.TraceEventCount(ctx); err != nil || left != 0 {
			t.Errorf("after pruning everything %d events are left (%v)", left, err)
		}
		if got, _ := s.Trace(ctx, "hub-1", ""); len(got) != 1 || len(got[0].Events) != 0 {
			t.Errorf("after pruning, Trace(hub-1) = %+v; want its links and dead letter without events", got)
		}
	})
}

// The journal writes each call's events grouped by kind and connector; a
// record's journey still reads in the order the events were appended,
// across calls, with each event's own time and text as given, events
// from before migration 0010 (trace_events) first. Pruning takes whole
// groups older than the cut and counts their events.
func TestTraceJournalKeepsOrderAndText(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if _, err := s.DB().ExecContext(ctx, s.rebind(`INSERT INTO trace_events (at, entity, hub_id, system, connector, external_id, event)
VALUES (?, 'order', 'hub-1', 'crm', 'crm-orders', 'O-1', 'published')`), s.tv(old)); err != nil {
			t.Fatal(err)
		}
		odd := "quote \" back\\slash\nnew line\ttab \x01 ünï"
		early := time.Date(2026, 6, 1, 0, 0, 0, 123456000, time.UTC)
		first := []TraceEvent{
			{Entity: "order", HubID: "hub-1", System: "crm", Connector: "crm-orders", ExternalID: "O-1", Event: TracePublished, Detail: "update"},
			{Entity: "order", HubID: "hub-2", System: "crm", Connector: "crm-orders", ExternalID: "O-2", Event: TracePublished},
			{Entity: "order", HubID: "hub-1", System: "erp", Connector: "erp", Event: TraceFailed, Detail: odd, At: early},
			{Entity: "order", HubID: "hub-1", System: "crm", Connector: "crm-orders", Event: TraceSuppressed, Detail: "echo"},
			{Entity: "order", HubID: "hub-1", System: "crm", Connector: "crm-orders", ExternalID: "O-1", Event: TracePublished, Detail: "again"},
		}
		second := []TraceEvent{
			{Entity: "order", HubID: "hub-1", System: "erp", Connector: "erp", ExternalID: "SO-1", Event: TraceWritten, Hash: "h1"},
		}
		for _, evs := range [][]TraceEvent{first, second} {
			if err := s.AppendTrace(ctx, evs); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Trace(ctx, "hub-1", "")
		if err != nil || len(got) != 1 {
			t.Fatalf("Trace(hub-1) = %+v, %v", got, err)
		}
		var journey []string
		for _, e := range got[0].Events {
			journey = append(journey, e.Event+"/"+e.Detail)
		}
		want := []string{"published/", "published/update", "failed/" + odd, "suppressed/echo", "published/again", "written/"}
		if strings.Join(journey, " | ") != strings.Join(want, " | ") {
			t.Fatalf("journey\n %q\nwant\n %q", journey, want)
		}
		evs := got[0].Events
		if !evs[0].At.Equal(old) || !evs[2].At.Equal(early) || evs[5].ExternalID != "SO-1" || evs[5].Hash != "h1" || evs[5].Connector != "erp" || evs[5].System != "erp" {
			t.Errorf("events lost their fields: %+v", evs)
		}
		if evs[1].At.Before(time.Now().Add(-time.Minute)) {
			t.Errorf("an event without a time got %s, want about now", evs[1].At)
		}
		for i := 1; i < len(evs); i++ {
			if i > 1 && evs[i].ID <= evs[i-1].ID {
				t.Errorf("event ids do not follow the journey: %d then %d", evs[i-1].ID, evs[i].ID)
			}
		}
		if n, err := s.TraceEventCount(ctx); err != nil || n != 7 {
			t.Errorf("TraceEventCount = %d, %v; want 7", n, err)
		}
		// Only the old event is before the cut: the groups of June are not.
		if n, err := s.PruneTrace(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)); err != nil || n != 1 {
			t.Errorf("PruneTrace(March) = %d, %v; want 1", n, err)
		}
		if got, _ := s.Trace(ctx, "hub-2", ""); len(got) != 1 || len(got[0].Events) != 1 {
			t.Errorf("Trace(hub-2) = %+v; want its one event", got)
		}
		// Pruning the groups takes their keys, found through the bodies.
		if n, err := s.PruneTrace(ctx, time.Now().Add(time.Hour)); err != nil || n != 6 {
			t.Errorf("PruneTrace(now) = %d, %v; want 6", n, err)
		}
		var keys int
		if err := s.DB().GetContext(ctx, &keys, "SELECT COUNT(*) FROM trace_keys"); err != nil || keys != 0 {
			t.Errorf("trace_keys holds %d rows after the prune (%v), want 0", keys, err)
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

// TestPruneTraceInChunks: a backlog of more groups than one prune
// transaction takes is pruned whole, keys and all.
func TestPruneTraceInChunks(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		const groups = 2*pruneChunk + 7
		for i := range groups {
			ev := TraceEvent{Entity: "order", HubID: fmt.Sprintf("hub-%d", i%50), System: "crm", Connector: "crm-orders", Event: TracePublished}
			if err := s.AppendTrace(ctx, []TraceEvent{ev}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.PruneTrace(ctx, time.Now().Add(time.Hour)); err != nil || n != groups {
			t.Fatalf("PruneTrace = %d, %v; want %d", n, err, groups)
		}
		var keys, left int
		if err := s.DB().GetContext(ctx, &keys, "SELECT COUNT(*) FROM trace_keys"); err != nil || keys != 0 {
			t.Errorf("trace_keys holds %d rows after the prune (%v), want 0", keys, err)
		}
		if err := s.DB().GetContext(ctx, &left, "SELECT COUNT(*) FROM trace_batches"); err != nil || left != 0 {
			t.Errorf("trace_batches holds %d rows after the prune (%v), want 0", left, err)
		}
	})
}

// TestTraceBodyCompressedWithLZ4: on PostgreSQL 14 and later, a trace
// group's body is compressed with lz4 (migration 0012), not pglz, and reads
// back whole.
func TestTraceBodyCompressedWithLZ4(t *testing.T) {
	s := openStore(t, storetest.PostgresDSN(t))
	ctx := context.Background()
	var version int
	if err := s.db.GetContext(ctx, &version, "SELECT current_setting('server_version_num')::int"); err != nil {
		t.Fatal(err)
	}
	if version < 140000 {
		t.Skipf("PostgreSQL %d has no lz4 compression of columns", version)
	}
	const n = 500 // a body of some 60 KB: compressed when stored
	events := make([]TraceEvent, n)
	for i := range events {
		events[i] = TraceEvent{Entity: "order", HubID: fmt.Sprintf("019ae0c4-0000-7000-8000-%012d", i), System: "crm", Connector: "crm-orders",
			ExternalID: fmt.Sprintf("SO-%d", i), Event: TracePublished, Hash: fmt.Sprintf("%016x", i), Detail: "upsert"}
	}
	if err := s.AppendTrace(ctx, events); err != nil {
		t.Fatal(err)
	}
	var methods []string
	if err := s.db.SelectContext(ctx, &methods, "SELECT coalesce(pg_column_compression(body), 'none') FROM trace_batches"); err != nil {
		t.Fatal(err)
	}
	if len(methods) != 1 || methods[0] != "lz4" {
		t.Fatalf("trace group bodies compressed with %v, want [lz4]", methods)
	}
	last := events[n-1]
	if _, err := s.LinkMany(ctx, "order", "crm", map[string]string{last.ExternalID: last.HubID}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Trace(ctx, last.ExternalID, "order")
	if err != nil || len(got) != 1 || len(got[0].Events) != 1 || got[0].Events[0].Hash != last.Hash || got[0].Events[0].Detail != last.Detail {
		t.Fatalf("the last record's journey: %+v, %v", got, err)
	}
}
