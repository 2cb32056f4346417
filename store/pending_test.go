package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/hub/store/storetest"
)

// LinkStamped links new external ids with their stamps and files them as
// pending; an id another writer linked first keeps that link and stamp.
// SettlePending confirms a batch (its stamps stay); TakeBack takes back
// named stamps; ClearPending takes back what is still pending for the
// system and entity, whichever source filed it.
func TestPendingStamps(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		ctx := context.Background()
		if _, err := s.RecordWritten(ctx, "order", "crm", []Written{{HubID: "other", ExternalID: "o1", Hash: "theirs", Version: "v0"}}); err != nil {
			t.Fatal(err)
		}
		batch := func(from, to int) []Written {
			var ws []Written
			for i := from; i <= to; i++ {
				ws = append(ws, Written{HubID: fmt.Sprintf("h%d", i), ExternalID: fmt.Sprintf("o%d", i), Hash: fmt.Sprintf("x%d", i), Version: "v1"})
			}
			return ws
		}
		// o1 was linked by another writer; o5 has no stamp (not published).
		first := batch(1, 4)
		first = append(first, Written{HubID: "h5", ExternalID: "o5"})
		linked, id1, err := s.LinkStamped(ctx, Fence{}, "crm-orders", "order", "crm", first)
		if err != nil || id1 == 0 {
			t.Fatalf("LinkStamped = %v, id %d, %v", linked, id1, err)
		}
		if linked["o1"] != "other" || linked["o2"] != "h2" || linked["o5"] != "h5" || len(linked) != 5 {
			t.Fatalf("linked = %v, want o1 -> other (the first writer's), the rest as proposed", linked)
		}
		_, id2, err := s.LinkStamped(ctx, Fence{}, "crm-orders", "order", "crm", batch(6, 7))
		if err != nil || id2 == 0 || id2 == id1 {
			t.Fatalf("second LinkStamped: id %d (first %d), %v", id2, id1, err)
		}
		_, id3, err := s.LinkStamped(ctx, Fence{}, "crm-orders-webhook", "order", "crm", batch(8, 8))
		if err != nil || id3 == 0 {
			t.Fatalf("third LinkStamped: id %d, %v", id3, err)
		}
		hashes := func() map[string]string {
			t.Helper()
			links, err := s.LookupLinks(ctx, "order", "crm", []string{"o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8"})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for ext, l := range links {
				out[ext] = l.LastHash
			}
			return out
		}
		want := map[string]string{"o1": "theirs", "o2": "x2", "o3": "x3", "o4": "x4", "o5": "", "o6": "x6", "o7": "x7", "o8": "x8"}
		if got := hashes(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("stamps after linking = %v, want %v", got, want)
		}
		// The first batch is published; h3's stamp is taken back by name.
		if err := s.SettlePending(ctx, []int64{id1}); err != nil {
			t.Fatal(err)
		}
		if err := s.TakeBack(ctx, "order", "crm", []string{"h3"}); err != nil {
			t.Fatal(err)
		}
		want["o3"] = ""
		if got := hashes(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("stamps after settling the first batch = %v, want %v", got, want)
		}
		// A restart: the second and third batches were never settled.
		n, err := s.ClearPending(ctx, "order", "crm")
		if err != nil || n != 3 {
			t.Fatalf("ClearPending = %d, %v; want 3 stamps taken back", n, err)
		}
		want["o6"], want["o7"], want["o8"] = "", "", ""
		if got := hashes(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("stamps after clearing = %v, want %v (the settled batch's kept)", got, want)
		}
		if n, err := s.ClearPending(ctx, "order", "crm"); err != nil || n != 0 {
			t.Fatalf("ClearPending again = %d, %v; want nothing left", n, err)
		}
		// A batch whose links another writer all made first stamps
		// nothing and files no row.
		if _, id, err := s.LinkStamped(ctx, Fence{}, "crm-orders", "order", "crm", batch(2, 2)); err != nil || id != 0 {
			t.Fatalf("LinkStamped of known links: id %d, %v; want 0", id, err)
		}
	})
}

// A fenced LinkStamped writes only while its holder has the lease: after
// another node took it over, or once it expired, it links and stamps
// nothing and says the lease is lost.
func TestLinkStampedFencedByLease(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		ctx := context.Background()
		ws := []Written{{HubID: "h1", ExternalID: "o1", Hash: "x1", Version: "v1"}}
		if ok, err := s.AcquireLease(ctx, "source/crm-orders", "node-b", time.Minute); err != nil || !ok {
			t.Fatalf("node-b acquires: %v %v", ok, err)
		}
		_, _, err := s.LinkStamped(ctx, Fence{Lease: "source/crm-orders", Holder: "node-a"}, "crm-orders", "order", "crm", ws)
		if !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("node-a without the lease: err %v, want ErrLeaseLost", err)
		}
		if links, err := s.LookupLinks(ctx, "order", "crm", []string{"o1"}); err != nil || len(links) != 0 {
			t.Fatalf("node-a's refused write left links %v (%v)", links, err)
		}
		// The holder writes.
		linked, id, err := s.LinkStamped(ctx, Fence{Lease: "source/crm-orders", Holder: "node-b"}, "crm-orders", "order", "crm", ws)
		if err != nil || id == 0 || linked["o1"] != "h1" {
			t.Fatalf("node-b with the lease: %v, id %d, %v", linked, id, err)
		}
		// An expired lease fences its own holder out too.
		if ok, err := s.AcquireLease(ctx, "source/crm-customers", "node-a", time.Millisecond); err != nil || !ok {
			t.Fatalf("node-a acquires: %v %v", ok, err)
		}
		time.Sleep(20 * time.Millisecond)
		ws2 := []Written{{HubID: "h2", ExternalID: "c2", Hash: "x2", Version: "v1"}}
		if _, _, err := s.LinkStamped(ctx, Fence{Lease: "source/crm-customers", Holder: "node-a"}, "crm-customers", "customer", "crm", ws2); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("node-a with an expired lease: err %v, want ErrLeaseLost", err)
		}
		if links, err := s.LookupLinks(ctx, "customer", "crm", []string{"c2"}); err != nil || len(links) != 0 {
			t.Fatalf("node-a's refused write (expired lease) left links %v (%v)", links, err)
		}
	})
}

// On PostgreSQL a fenced write holds its lease's row until it commits: a
// node taking the lease over once it expired (node-a stalled inside its
// transaction) waits for that commit, so the take-back it runs after the
// takeover sees the stamps node-a filed. Two stores on one database, as
// two hub nodes.
func TestFenceHoldsTheLeaseUntilCommit(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	a, b := openStore(t, dsn), openStore(t, dsn)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	if ok, err := a.AcquireLease(ctx, "source/crm-orders", "node-a", ttl); err != nil || !ok {
		t.Fatalf("node-a acquires: %v %v", ok, err)
	}
	filed := make(chan struct{})
	var committing time.Time
	done := make(chan error, 1)
	go func() {
		_, err := a.link(ctx, "order", "crm", map[string]string{"o1": "h1"},
			map[string]Written{"h1": {HubID: "h1", ExternalID: "o1", Hash: "x1", Version: "v1"}},
			func(tx *sql.Tx, stamped []string) error {
				if _, err := a.filePending(ctx, tx, Fence{Lease: "source/crm-orders", Holder: "node-a"}, "crm-orders", "order", "crm", stamped); err != nil {
					return err
				}
				close(filed)
				time.Sleep(3 * ttl) // node-a stalls in its transaction; its lease expires
				committing = time.Now()
				return nil
			})
		done <- err
	}()
	<-filed
	time.Sleep(ttl + 100*time.Millisecond)
	ok, err := b.AcquireLease(ctx, "source/crm-orders", "node-b", time.Minute)
	acquired := time.Now()
	if aerr := <-done; aerr != nil {
		t.Fatalf("node-a's fenced write: %v", aerr)
	}
	if err != nil || !ok {
		t.Fatalf("node-b takes the expired lease: %v %v", ok, err)
	}
	if acquired.Before(committing) {
		t.Fatalf("node-b took the lease %s before node-a's fenced write committed", committing.Sub(acquired))
	}
	if n, err := b.ClearPending(ctx, "order", "crm"); err != nil || n != 1 {
		t.Fatalf("node-b's take-back = %d, %v; want node-a's one stamp", n, err)
	}
	if links, err := b.LookupLinks(ctx, "order", "crm", []string{"o1"}); err != nil || links["o1"].LastHash != "" {
		t.Fatalf("o1 after the take-back: %+v (%v), want linked without a stamp", links, err)
	}
}
