package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/crmhub/hub/store/storetest"
)

// BenchmarkSyncBatch is what the state store does for one pipeline batch
// of new orders synced from one system to another, as `hub bench sync`
// drives it: the source looks its keys up and links the new ones with
// their stamps, then confirms the stamps once published (stamped; before
// 2026-12-07 it linked them, then stamped each once published:
// linked-then-stamped); the sink looks the hub ids up in the target,
// stamps what it wrote; the trace journal takes a published and a written
// event per order. Each iteration is one batch on a store that keeps
// growing, so a long run shows whether the cost per order stays flat.
//
//	go test ./store -run '^$' -bench SyncBatch -benchtime 100x -count 5
func BenchmarkSyncBatch(b *testing.B) {
	for _, e := range storetest.Engines() {
		for _, stamped := range []bool{false, true} {
			name := e.Name + "/linked-then-stamped"
			if stamped {
				name = e.Name + "/stamped"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				s, err := Open(ctx, e.DSN(b))
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				const batch = 2000
				b.ResetTimer()
				for i := range b.N {
					if err := syncBatch(ctx, s, i, batch, stamped); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/order")
			})
		}
	}
}

// BenchmarkConcurrentSyncBatch is BenchmarkSyncBatch from four goroutines
// at once, as a hub's sources, sink workers and trace journal write: with
// the write gate, and without it, when a writer that finds SQLite's lock
// taken sleeps in its busy handler.
//
//	go test ./store -run '^$' -bench ConcurrentSyncBatch -benchtime 40x
func BenchmarkConcurrentSyncBatch(b *testing.B) {
	for _, gated := range []bool{true, false} {
		b.Run(fmt.Sprintf("gate=%v", gated), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, storetest.SQLiteDSN(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if !gated {
				s.gate = nil
			}
			const writers, batch = 4, 500
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range b.N {
						if err := syncBatch(ctx, s, i*writers+w, batch, true); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*writers*batch), "ns/order")
		})
	}
}

func syncBatch(ctx context.Context, s *Store, n, batch int, stamped bool) error {
	exts := make([]string, batch)
	fresh := make(map[string]string, batch)
	src := make([]Written, 0, batch)
	for i := range exts {
		exts[i] = fmt.Sprintf("SO-%d", n*batch+i)
		fresh[exts[i]] = uuid.Must(uuid.NewV7()).String()
		src = append(src, Written{HubID: fresh[exts[i]], ExternalID: exts[i], Hash: "h" + exts[i], Version: "2026-12-03T10:00:00Z"})
	}
	if _, err := s.LookupLinks(ctx, "order", "crm", exts); err != nil {
		return err
	}
	var linked map[string]string
	var pending int64
	var err error
	if stamped {
		linked, pending, err = s.LinkStamped(ctx, Fence{}, "crm-orders", "order", "crm", src)
	} else {
		linked, err = s.LinkMany(ctx, "order", "crm", fresh)
	}
	if err != nil {
		return err
	}
	hubs := make([]string, 0, batch)
	for _, ext := range exts {
		hubs = append(hubs, linked[ext])
	}
	if stamped {
		err = s.SettlePending(ctx, []int64{pending})
	} else {
		_, err = s.RecordWritten(ctx, "order", "crm", src)
	}
	if err != nil {
		return err
	}
	if _, err := s.LookupExternals(ctx, "order", "erp", hubs); err != nil {
		return err
	}
	dst := make([]Written, 0, batch)
	events := make([]TraceEvent, 0, 2*batch)
	for i, hub := range hubs {
		dst = append(dst, Written{HubID: hub, ExternalID: "E" + exts[i], Hash: "e" + exts[i]})
		events = append(events,
			TraceEvent{Entity: "order", HubID: hub, System: "crm", Connector: "crm-orders", ExternalID: exts[i], Event: TracePublished, Hash: "h" + exts[i]},
			TraceEvent{Entity: "order", HubID: hub, System: "erp", Connector: "erp", ExternalID: "E" + exts[i], Event: TraceWritten, Hash: "e" + exts[i]})
	}
	if _, err := s.RecordWritten(ctx, "order", "erp", dst); err != nil {
		return err
	}
	if err := s.AppendTrace(ctx, events); err != nil {
		return err
	}
	return nil
}
