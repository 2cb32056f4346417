package bus

import (
	"context"
	"testing"
	"time"
)

// TestCloseDuringRebalance: the readers of one group, closed while the
// group rebalances (as a node closes its sink workers' readers at a
// stop), are all closed within a few seconds, far below
// hub.shutdown_timeout. A member whose JoinGroup is pending waits for the
// broker's answer, which kfake gives only at the rebalance timeout (30 s)
// when the others leave instead of rejoining: each close waits at most
// closeBudget, then the member leaves in the background, and Bus.Close
// closes its readers all at once. (CI once took 35 s here, before the
// budget.)
func TestCloseDuringRebalance(t *testing.T) {
	for _, stagger := range []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond, 600 * time.Millisecond} {
		t.Run(stagger.String(), func(t *testing.T) { closeDuringRebalance(t, stagger) })
	}
}

func closeDuringRebalance(t *testing.T, stagger time.Duration) {
	const members = 8
	br := startBroker(t)
	bs := newBus(t, Config{Brokers: br.Addrs()})
	ctx := testCtx(t, 60*time.Second)
	ensure(t, ctx, bs, TopicSpec{Name: "orders", Partitions: 6})
	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	for range members {
		r := bs.NewReader("sink", []string{"orders"}, fastReader)
		go func() {
			for fetchCtx.Err() == nil {
				if _, err := r.FetchBatch(fetchCtx, 10, 50*time.Millisecond); err != nil && fetchCtx.Err() == nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
		time.Sleep(stagger) // the next joins while the group settles
	}
	start := time.Now()
	if err := bs.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	took := time.Since(start)
	t.Logf("closed %d readers in %s", members, took.Round(time.Millisecond))
	if took > 8*time.Second {
		t.Fatalf("closing %d readers of a rebalancing group took %s", members, took.Round(time.Millisecond))
	}
}
