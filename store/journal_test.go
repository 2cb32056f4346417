package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTraceJournalFileOfItsOwn: on SQLite the journal is written to
// hub.db-trace, with a write lock of its own: an append goes through while
// the state store's write gate is held. Groups a hub wrote before the file
// existed (in hub.db) are still traced, in order before the file's, with
// ids the file's go on from, and are counted and pruned with them.
func TestTraceJournalFileOfItsOwn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")

	// A store as an older hub left it: its groups in hub.db, no file
	// beside it.
	s, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if s.journal == nil {
		t.Fatal("a SQLite store opened without its journal's file")
	}
	file := s.journal
	s.journal = nil // appends go to hub.db, as before the journal's file
	for _, ev := range []TraceEvent{
		{Entity: "order", HubID: "hub-1", System: "crm", Connector: "crm-orders", ExternalID: "O-1", Event: TracePublished, Detail: "old 1"},
		{Entity: "order", HubID: "hub-1", System: "erp", Connector: "erp", ExternalID: "SO-1", Event: TraceWritten, Detail: "old 2"},
	} {
		if err := s.AppendTrace(ctx, []TraceEvent{ev}); err != nil {
			t.Fatal(err)
		}
	}
	s.journal = file
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + journalSuffix + "*")
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}

	s = openStore(t, "sqlite:"+path)
	if _, err := os.Stat(path + "-trace"); err != nil {
		t.Fatalf("the journal's file: %v", err)
	}
	// The state store's gate is held (a long write): the journal is
	// appended all the same.
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = s.AppendTrace(short, []TraceEvent{
		{Entity: "order", HubID: "hub-1", System: "crm", Connector: "crm-orders", ExternalID: "O-1", Event: TracePublished, Detail: "new 1"},
		{Entity: "order", HubID: "hub-2", System: "crm", Connector: "crm-orders", ExternalID: "O-2", Event: TracePublished, Detail: "new 2"},
	})
	cancel()
	unlock()
	if err != nil {
		t.Fatalf("AppendTrace while the state store's gate is held: %v", err)
	}
	count := func(db *Store, table string) int {
		t.Helper()
		var n int
		if err := db.db.GetContext(ctx, &n, "SELECT COUNT(*) FROM "+table); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if state, journal := count(s, "trace_batches"), count(s.journal, "trace_batches"); state != 2 || journal != 1 {
		t.Errorf("groups: %d in hub.db, %d in hub.db-trace; want the 2 old ones and the new one", state, journal)
	}

	got, err := s.Trace(ctx, "hub-1", "")
	if err != nil || len(got) != 1 {
		t.Fatalf("Trace(hub-1) = %+v, %v", got, err)
	}
	var journey []string
	for i, e := range got[0].Events {
		journey = append(journey, e.Detail)
		if i > 0 && e.ID <= got[0].Events[i-1].ID {
			t.Errorf("event ids do not follow the journey: %d then %d", got[0].Events[i-1].ID, e.ID)
		}
	}
	if want := "old 1, old 2, new 1"; strings.Join(journey, ", ") != want {
		t.Errorf("journey %q; want %s", journey, want)
	}
	if got, err := s.Trace(ctx, "hub-2", ""); err != nil || len(got) != 1 || len(got[0].Events) != 1 {
		t.Errorf("Trace(hub-2) = %+v, %v; want its one event, found in the journal's file", got, err)
	}
	if n, err := s.TraceEventCount(ctx); err != nil || n != 4 {
		t.Errorf("TraceEventCount = %d, %v; want 4 (2 in each file)", n, err)
	}
	if n, err := s.PruneTrace(ctx, time.Now().Add(time.Hour)); err != nil || n != 4 {
		t.Errorf("PruneTrace = %d, %v; want 4", n, err)
	}
	for _, st := range []*Store{s, s.journal} {
		if b, k := count(st, "trace_batches"), count(st, "trace_keys"); b != 0 || k != 0 {
			t.Errorf("after the prune: %d groups and %d keys left", b, k)
		}
	}
}

// TestTraceJournalIDsGoOnAfterAnOlderHub: groups an older hub appended to
// hub.db after the journal's file was made (an upgrade that ran both, a
// hub.db restored from a backup) are numbered past at the next Open, so
// that the file's next group still comes after them in a journey.
func TestTraceJournalIDsGoOnAfterAnOlderHub(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := Open(ctx, "sqlite:"+path) // the file is made, numbering from 0
	if err != nil {
		t.Fatal(err)
	}
	file := s.journal
	s.journal = nil // an older hub: it appends to hub.db
	for _, d := range []string{"old 1", "old 2"} {
		if err := s.AppendTrace(ctx, []TraceEvent{{Entity: "order", HubID: "hub-1", System: "crm", Event: TracePublished, Detail: d}}); err != nil {
			t.Fatal(err)
		}
	}
	s.journal = file
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, "sqlite:"+path) // the file is kept
	if err := s.AppendTrace(ctx, []TraceEvent{{Entity: "order", HubID: "hub-1", System: "erp", Event: TraceWritten, Detail: "new 1"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Trace(ctx, "hub-1", "")
	if err != nil || len(got) != 1 {
		t.Fatalf("Trace(hub-1) = %+v, %v", got, err)
	}
	var journey []string
	for i, e := range got[0].Events {
		journey = append(journey, e.Detail)
		if i > 0 && e.ID <= got[0].Events[i-1].ID {
			t.Errorf("event ids do not follow the journey: %d then %d", got[0].Events[i-1].ID, e.ID)
		}
	}
	if want := "old 1, old 2, new 1"; strings.Join(journey, ", ") != want {
		t.Errorf("journey %q; want %s", journey, want)
	}
}
