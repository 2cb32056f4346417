package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestCursor(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		if v, ok, err := s.GetCursor(ctx, "crm", "customer"); err != nil || ok || v != "" {
			t.Fatalf("GetCursor of a new source = %q, %v, %v; want \"\", false, nil", v, ok, err)
		}
		for _, want := range []string{"", "2026-11-22T10:00:00Z|42", `{"lsn":"0/16B3748"}`} {
			if err := s.SetCursor(ctx, "crm", "customer", want); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.GetCursor(ctx, "crm", "customer"); err != nil || !ok || v != want {
				t.Fatalf("GetCursor = %q, %v, %v; want %q, true, nil", v, ok, err, want)
			}
		}
		if err := s.SetCursor(ctx, "crm", "order", "7"); err != nil {
			t.Fatal(err)
		}
		if v, _, _ := s.GetCursor(ctx, "crm", "customer"); v != `{"lsn":"0/16B3748"}` {
			t.Errorf("cursor of another entity changed customer's: %q", v)
		}
		if err := s.SetCursor(ctx, "", "order", "7"); err == nil {
			t.Error("SetCursor with no source: want an error")
		}
		// The cursor survives a restart.
		s.Close()
		s = openStore(t, dsn)
		if v, ok, err := s.GetCursor(ctx, "crm", "order"); err != nil || !ok || v != "7" {
			t.Fatalf("GetCursor after re-open = %q, %v, %v", v, ok, err)
		}
	})
}

func TestXref(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		if _, ok, err := s.LookupHubID(ctx, "customer", "crm", "C1"); err != nil || ok {
			t.Fatalf("LookupHubID of unknown id: ok=%v err=%v", ok, err)
		}
		if _, _, ok, err := s.LookupExternal(ctx, "customer", "H1", "erp"); err != nil || ok {
			t.Fatalf("LookupExternal of unknown id: ok=%v err=%v", ok, err)
		}

		got, err := s.Link(ctx, "customer", "crm", "C1", "H1")
		if err != nil || got != "H1" {
			t.Fatalf("Link = %q, %v; want H1", got, err)
		}
		// Idempotent, and a second creator gets the first one's hub id.
		for _, hub := range []string{"H1", "H-other"} {
			if got, err := s.Link(ctx, "customer", "crm", "C1", hub); err != nil || got != "H1" {
				t.Fatalf("Link(C1, %s) again = %q, %v; want H1", hub, got, err)
			}
		}
		if _, err := s.Link(ctx, "customer", "erp", "E1", "H1"); err != nil {
			t.Fatal(err)
		}
		// The same external id in another entity or system is another record.
		if got, err := s.Link(ctx, "order", "crm", "C1", "H2"); err != nil || got != "H2" {
			t.Fatalf("Link of order C1 = %q, %v; want H2", got, err)
		}
		// A hub id has one external id per system.
		if _, err := s.Link(ctx, "customer", "erp", "E2", "H1"); !errors.Is(err, ErrConflict) {
			t.Fatalf("Link of a second erp id to H1: err = %v, want ErrConflict", err)
		}
		if _, err := s.Link(ctx, "customer", "erp", "", "H1"); err == nil {
			t.Fatal("Link with empty external id: want an error")
		}

		if hub, ok, err := s.LookupHubID(ctx, "customer", "erp", "E1"); err != nil || !ok || hub != "H1" {
			t.Fatalf("LookupHubID(erp E1) = %q, %v, %v", hub, ok, err)
		}
		if ext, hash, ok, err := s.LookupExternal(ctx, "customer", "H1", "erp"); err != nil || !ok || ext != "E1" || hash != "" {
			t.Fatalf("LookupExternal(H1, erp) = %q, %q, %v, %v", ext, hash, ok, err)
		}
		if err := s.SetLastHash(ctx, "customer", "erp", "H1", "sha256:abc"); err != nil {
			t.Fatal(err)
		}
		if _, hash, _, _ := s.LookupExternal(ctx, "customer", "H1", "erp"); hash != "sha256:abc" {
			t.Fatalf("last hash = %q, want sha256:abc", hash)
		}
		if _, hash, _, _ := s.LookupExternal(ctx, "customer", "H1", "crm"); hash != "" {
			t.Fatalf("last hash of crm changed too: %q", hash)
		}
		if err := s.SetLastWritten(ctx, "customer", "erp", "H1", "sha256:def", "2026-11-22T10:00:00Z"); err != nil {
			t.Fatal(err)
		}
		var version string
		if err := s.DB().GetContext(ctx, &version, s.rebind("SELECT version FROM xref WHERE hub_id = ? AND system = ?"), "H1", "erp"); err != nil || version != "2026-11-22T10:00:00Z" {
			t.Fatalf("version = %q, %v", version, err)
		}
		if err := s.SetLastHash(ctx, "customer", "erp", "H-missing", "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetLastHash of an unlinked record: err = %v, want ErrNotFound", err)
		}
	})
}

func TestXrefLinkRace(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		for round := range 3 {
			ext := fmt.Sprintf("820982911946154508-%d", round)
			const n = 10
			got := make([]string, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					got[i], errs[i] = s.Link(ctx, "order", "shop", ext, fmt.Sprintf("hub-%d-%d", round, i))
				})
			}
			close(start)
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("round %d: Link #%d: %v", round, i, errs[i])
				}
				if got[i] != got[0] {
					t.Fatalf("round %d: Link #%d got hub id %q, #0 got %q: want one hub id", round, i, got[i], got[0])
				}
			}
			var rows int
			if err := s.DB().GetContext(ctx, &rows, s.rebind("SELECT COUNT(*) FROM xref WHERE external_id = ?"), ext); err != nil || rows != 1 {
				t.Fatalf("round %d: %d xref rows, %v; want 1", round, rows, err)
			}
		}
	})
}

func TestDeadLetters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		seen := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
		first := DeadLetter{
			Connector: "erp", Entity: "order", RecordKey: "SO-1", HubID: "H1", Stage: "write",
			Kind: KindPermanent, Error: "erp: create sale SO-1: 422 missing party", Attempts: 1,
			LastSeen: seen, Payload: []byte{0, 1, 2, 0xff, '{'}, Topic: "hub.order", Partition: 3, Offset: 0, TraceID: "t1",
		}
		id1, err := s.AddDeadLetter(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		id2, err := s.AddDeadLetter(ctx, DeadLetter{Connector: "erp", Entity: "order", RecordKey: "SO-2", Kind: KindRetriesExhausted, Attempts: 8})
		if err != nil {
			t.Fatal(err)
		}
		id3, err := s.AddDeadLetter(ctx, DeadLetter{Connector: "shop", Entity: "customer", RecordKey: "", Stage: "map_in", Error: "bad json"})
		if err != nil {
			t.Fatal(err)
		}
		// No record key: never folded.
		id4, err := s.AddDeadLetter(ctx, DeadLetter{Connector: "shop", Entity: "customer", Stage: "map_in", Error: "bad json"})
		if err != nil {
			t.Fatal(err)
		}
		if len(map[int64]bool{id1: true, id2: true, id3: true, id4: true}) != 4 {
			t.Fatalf("ids not distinct: %d %d %d %d", id1, id2, id3, id4)
		}

		got, err := s.GetDeadLetter(ctx, id1)
		if err != nil {
			t.Fatal(err)
		}
		wantSeen := seen.UTC().Truncate(time.Microsecond)
		if got.Connector != "erp" || got.RecordKey != "SO-1" || got.HubID != "H1" || got.Stage != "write" ||
			got.Kind != KindPermanent || got.Error != first.Error || got.Attempts != 1 || got.Occurrences != 1 ||
			got.Status != StatusOpen || got.Topic != "hub.order" || got.Partition != 3 || got.Offset != 0 ||
			got.TraceID != "t1" || string(got.Payload) != string(first.Payload) ||
			!got.LastSeen.Equal(wantSeen) || !got.FirstSeen.Equal(wantSeen) || got.LastSeen.Location() != time.UTC {
			t.Fatalf("GetDeadLetter = %+v", got)
		}
		if got, _ := s.GetDeadLetter(ctx, id3); got.Kind != KindPermanent || got.Payload != nil || got.Topic != "" {
			t.Errorf("defaults: kind %q payload %v topic %q", got.Kind, got.Payload, got.Topic)
		}

		// The same record failing again folds into the open dead letter.
		again := first
		again.Error, again.Attempts, again.LastSeen, again.Offset, again.HubID = "still missing", 2, seen.Add(time.Minute), 17, ""
		if id, err := s.AddDeadLetter(ctx, again); err != nil || id != id1 {
			t.Fatalf("AddDeadLetter of a repeat = %d, %v; want %d", id, err, id1)
		}
		got, _ = s.GetDeadLetter(ctx, id1)
		if got.Error != "still missing" || got.Attempts != 3 || got.Occurrences != 2 || got.Offset != 17 ||
			got.HubID != "H1" || !got.FirstSeen.Equal(wantSeen) || !got.LastSeen.Equal(wantSeen.Add(time.Minute)) {
			t.Fatalf("folded dead letter = %+v", got)
		}

		list := func(f DeadLetterFilter) []int64 {
			t.Helper()
			dls, err := s.ListDeadLetters(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, dl := range dls {
				if (dl.Payload != nil) != (f.Payload && dl.ID == id1) {
					t.Errorf("payload of %d loaded = %v with Payload=%v", dl.ID, dl.Payload != nil, f.Payload)
				}
				ids = append(ids, dl.ID)
			}
			n, err := s.CountDeadLetters(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if f.Limit == 0 && f.Offset == 0 && n != len(ids) {
				t.Errorf("CountDeadLetters(%+v) = %d, list has %d", f, n, len(ids))
			}
			return ids
		}
		eq := func(got []int64, want ...int64) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("ids = %v, want %v", got, want)
			}
		}
		eq(list(DeadLetterFilter{}), id1, id2, id3, id4)
		eq(list(DeadLetterFilter{Status: StatusOpen, Connector: "erp"}), id1, id2)
		eq(list(DeadLetterFilter{Entity: "customer"}), id3, id4)
		eq(list(DeadLetterFilter{Limit: 2, Offset: 1}), id2, id3)
		eq(list(DeadLetterFilter{Connector: "erp", Payload: true}), id1, id2)

		if err := s.MarkDeadLetter(ctx, id1, StatusReplayed); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkDeadLetter(ctx, id3, StatusDiscarded); err != nil {
			t.Fatal(err)
		}
		eq(list(DeadLetterFilter{Status: StatusOpen}), id2, id4)
		eq(list(DeadLetterFilter{Status: StatusReplayed}), id1)

		// After a replay the record may fail again: a new open dead letter.
		id5, err := s.AddDeadLetter(ctx, first)
		if err != nil || id5 == id1 {
			t.Fatalf("AddDeadLetter after replay = %d, %v; want a new id", id5, err)
		}
		if err := s.MarkDeadLetter(ctx, id1, StatusOpen); !errors.Is(err, ErrConflict) {
			t.Fatalf("reopening a replayed dead letter while another is open: err = %v, want ErrConflict", err)
		}
		if err := s.MarkDeadLetter(ctx, id3, StatusOpen); err != nil {
			t.Fatalf("reopening a discarded dead letter: %v", err)
		}
		if err := s.MarkDeadLetter(ctx, 999999, StatusDiscarded); !errors.Is(err, ErrNotFound) {
			t.Fatalf("MarkDeadLetter of unknown id: err = %v, want ErrNotFound", err)
		}
		if err := s.MarkDeadLetter(ctx, id2, "deleted"); err == nil {
			t.Fatal("MarkDeadLetter with unknown status: want an error")
		}
		if _, err := s.GetDeadLetter(ctx, 999999); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetDeadLetter of unknown id: err = %v, want ErrNotFound", err)
		}
		if _, err := s.AddDeadLetter(ctx, DeadLetter{Entity: "order"}); err == nil {
			t.Fatal("AddDeadLetter without connector: want an error")
		}
	})
}

func TestLeases(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		clock := &fakeClock{t: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)}
		s.now = clock.now
		acquire := func(holder string, want bool) {
			t.Helper()
			got, err := s.AcquireLease(ctx, "recon.nightly", holder, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("AcquireLease by %s = %v, want %v", holder, got, want)
			}
		}
		acquire("node-a", true)
		acquire("node-b", false)
		clock.add(50 * time.Second)
		acquire("node-a", true) // renews until 1m50s
		clock.add(50 * time.Second)
		acquire("node-b", false) // a's renewed lease still runs
		clock.add(11 * time.Second)
		acquire("node-b", true) // a's lease expired
		acquire("node-a", false)

		leases, err := s.ListLeases(ctx)
		if err != nil || len(leases) != 1 || leases[0].Holder != "node-b" ||
			!leases[0].ExpiresAt.Equal(clock.now().Add(time.Minute)) || !leases[0].AcquiredAt.Equal(clock.now()) {
			t.Fatalf("ListLeases = %+v, %v", leases, err)
		}

		if err := s.ReleaseLease(ctx, "recon.nightly", "node-a"); err != nil { // not a's: no effect
			t.Fatal(err)
		}
		acquire("node-a", false)
		if err := s.ReleaseLease(ctx, "recon.nightly", "node-b"); err != nil {
			t.Fatal(err)
		}
		acquire("node-a", true)
		if _, err := s.AcquireLease(ctx, "x", "node-a", 0); err == nil {
			t.Fatal("AcquireLease with zero ttl: want an error")
		}

		// Many nodes at once on a free lease: exactly one wins.
		const n = 8
		wins := make(chan string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				holder := fmt.Sprintf("node-%d", i)
				ok, err := s.AcquireLease(ctx, "source.crm", holder, time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins <- holder
				}
			})
		}
		wg.Wait()
		close(wins)
		if len(wins) != 1 {
			t.Fatalf("%d nodes acquired one lease, want 1", len(wins))
		}
	})
}

func TestAuditAndReconRuns(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		if err := s.AppendAudit(ctx, "alice", "dlq.replay", "dead_letter:1", `{"ok":true}`); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(ctx, "scheduler", "recon.start", "job:nightly", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(ctx, "", "x", "", ""); err == nil {
			t.Fatal("AppendAudit without actor: want an error")
		}
		entries, err := s.ListAudit(ctx, 10)
		if err != nil || len(entries) != 2 || entries[0].Actor != "scheduler" || entries[1].Detail != `{"ok":true}` ||
			time.Since(entries[0].At) > time.Minute {
			t.Fatalf("ListAudit = %+v, %v", entries, err)
		}

		id, err := s.StartReconRun(ctx, "nightly")
		if err != nil {
			t.Fatal(err)
		}
		run, err := s.GetReconRun(ctx, id)
		if err != nil || run.Status != ReconRunning || !run.FinishedAt.IsZero() || string(run.Summary) != "{}" {
			t.Fatalf("GetReconRun while running = %+v, %v", run, err)
		}
		if err := s.FinishReconRun(ctx, id, ReconDiffs, json.RawMessage(`{"missing":2}`), json.RawMessage(`{"rows":[1,2]}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishReconRun(ctx, id, ReconDiffs, json.RawMessage(`{`), nil); err == nil {
			t.Fatal("FinishReconRun with invalid JSON: want an error")
		}
		run, err = s.GetReconRun(ctx, id)
		if err != nil || run.Status != ReconDiffs || run.FinishedAt.Before(run.StartedAt) || run.FinishedAt.IsZero() ||
			string(run.Summary) != `{"missing":2}` || string(run.Report) != `{"rows":[1,2]}` {
			t.Fatalf("GetReconRun = %+v, %v", run, err)
		}
		if _, err := s.StartReconRun(ctx, "quarter-hour"); err != nil {
			t.Fatal(err)
		}
		runs, err := s.ListReconRuns(ctx, "nightly", 0)
		if err != nil || len(runs) != 1 || runs[0].ID != id || runs[0].Report != nil || string(runs[0].Summary) != `{"missing":2}` {
			t.Fatalf("ListReconRuns(nightly) = %+v, %v", runs, err)
		}
		if runs, _ := s.ListReconRuns(ctx, "", 0); len(runs) != 2 || runs[0].Job != "quarter-hour" {
			t.Fatalf("ListReconRuns() = %+v", runs)
		}
		if _, err := s.GetReconRun(ctx, 424242); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetReconRun of unknown id: err = %v, want ErrNotFound", err)
		}
	})
}
