package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOwnerOneAtATime: two nodes guard one runner with a lease: it runs in
// one of them at a time; when the holder dies (stops renewing without
// releasing), the other takes over once the lease expires.
func TestOwnerOneAtATime(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var running, maxRunning atomic.Int32
	var runs sync.Map // holder -> runs
	fn := func(holder string) func(context.Context) {
		return func(ctx context.Context) {
			n := running.Add(1)
			for {
				m := maxRunning.Load()
				if n <= m || maxRunning.CompareAndSwap(m, n) {
					break
				}
			}
			v, _ := runs.LoadOrStore(holder, new(atomic.Int32))
			v.(*atomic.Int32).Add(1)
			<-ctx.Done()
			running.Add(-1)
		}
	}
	// A node that died holding the lease: it never renews nor releases.
	if ok, err := h.store.AcquireLease(ctx, "source/crm-orders", "dead/1", 1500*time.Millisecond); !ok || err != nil {
		t.Fatalf("seed lease: %v %v", ok, err)
	}
	a := &Owner{Store: h.store, Holder: "a/1", TTL: 1500 * time.Millisecond}
	b := &Owner{Store: h.store, Holder: "b/2", TTL: 1500 * time.Millisecond}
	actx, stopA := context.WithCancel(ctx)
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	var wg sync.WaitGroup
	var standbyA atomic.Bool
	wg.Add(2)
	go func() { defer wg.Done(); a.Run(actx, "source/crm-orders", standbyA.Store, fn("a")) }()
	time.Sleep(300 * time.Millisecond)
	if !standbyA.Load() || running.Load() != 0 {
		t.Fatalf("a runs while a dead node's lease holds (standby %v, running %d)", standbyA.Load(), running.Load())
	}
	go func() { defer wg.Done(); b.Run(bctx, "source/crm-orders", nil, fn("b")) }()
	eventually(t, 5*time.Second, "one owner after the dead node's lease expired", func() (bool, string) {
		return running.Load() == 1, ""
	})
	time.Sleep(time.Second) // renewals
	first := "a"
	if v, ok := runs.Load("b"); ok && v.(*atomic.Int32).Load() > 0 {
		first = "b"
	}
	// The owner stops (its node stops): the other takes over.
	if first == "a" {
		stopA()
	} else {
		stopB()
	}
	eventually(t, 5*time.Second, "the other node takes over", func() (bool, string) {
		other := "b"
		if first == "b" {
			other = "a"
		}
		v, ok := runs.Load(other)
		return ok && v.(*atomic.Int32).Load() > 0 && running.Load() == 1, ""
	})
	stopA()
	stopB()
	wg.Wait()
	if m := maxRunning.Load(); m != 1 {
		t.Errorf("at most %d ran at once, want 1", m)
	}
}
