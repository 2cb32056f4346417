package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// produce writes n records keyed k0..k(n-1) to topic.
func produce(t *testing.T, ctx context.Context, bs *Bus, topic string, n int) []string {
	t.Helper()
	w := bs.NewWriter(topic)
	defer w.Close()
	var keys []string
	var msgs []Message
	for i := range n {
		k := fmt.Sprintf("k%03d", i)
		keys = append(keys, k)
		msgs = append(msgs, Message{Key: []byte(k), Value: []byte(k)})
	}
	if err := w.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	return keys
}

// consume fetches, commits and records batches until ctx ends.
type consumer struct {
	mu  sync.Mutex
	got []string
}

func (c *consumer) run(ctx context.Context, r *Reader) {
	for ctx.Err() == nil {
		msgs, err := r.FetchBatch(ctx, 50, 20*time.Millisecond)
		if err != nil {
			continue
		}
		if err := r.Commit(ctx, msgs...); err != nil {
			continue // revoked: read again by the next owner
		}
		c.mu.Lock()
		for _, m := range msgs {
			c.got = append(c.got, string(m.Key))
		}
		c.mu.Unlock()
	}
}

// waitUntil polls cond every 50ms for up to d and fails with its last
// state when it never holds.
func waitUntil(t *testing.T, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *consumer) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// TestRebalanceWaitsForHeldRecords: a member that holds fetched records
// keeps their partitions through a rebalance until it commits them; the
// member that joins meanwhile never gets them, and in the end every
// record was committed exactly once, by one member. (With kafka-go's own
// group reader the joining member read the held records from the last
// commit while the first was still writing them: both wrote them.)
func TestRebalanceWaitsForHeldRecords(t *testing.T) {
	br := startBroker(t)
	bs := newBus(t, Config{Brokers: br.Addrs()})
	ctx := testCtx(t, 60*time.Second)
	ensure(t, ctx, bs, TopicSpec{Name: "sales", Partitions: 4})
	keys := produce(t, ctx, bs, "sales", 200)

	a := bs.NewReader("erp", []string{"sales"}, fastReader)
	held, err := a.FetchBatch(ctx, 40, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	revoked := a.Revoked(held)

	b := bs.NewReader("erp", []string{"sales"}, fastReader)
	var second consumer
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	go second.run(bctx, b)

	select {
	case <-revoked:
	case <-time.After(20 * time.Second):
		t.Fatal("the group never rebalanced after a second member joined")
	}
	// The first member still holds its batch: nobody else may read it.
	time.Sleep(1500 * time.Millisecond)
	if got := second.keys(); len(got) > 0 {
		t.Fatalf("the joining member got %d records while the first held its batch: %v", len(got), got)
	}
	if err := a.Commit(ctx, held...); err != nil {
		t.Fatalf("commit of the held batch during the rebalance: %v", err)
	}
	var first consumer
	for _, m := range held {
		first.got = append(first.got, string(m.Key))
	}
	actx, stopA := context.WithCancel(ctx)
	defer stopA()
	go first.run(actx, a)

	var all []string
	waitUntil(t, 30*time.Second, func() (bool, string) {
		all = append(first.keys(), second.keys()...)
		return len(all) >= len(keys), fmt.Sprintf("only %d of %d records committed", len(all), len(keys))
	})
	slices.Sort(all)
	if !slices.Equal(all, keys) {
		t.Fatalf("records committed: %d, want each of %d exactly once", len(all), len(keys))
	}
	for _, k := range second.keys() {
		for _, m := range held {
			if string(m.Key) == k {
				t.Fatalf("%s was held and committed by the first member, then read by the second", k)
			}
		}
	}
	if len(second.keys()) == 0 {
		t.Fatal("the second member got no partition after the rebalance")
	}
}

// TestCommitAfterTheGroupMovedOn: a member that holds its batch past the
// rebalance timeout loses its partitions; its commit then fails with
// ErrRevoked (not a retryable error), and the other member reads the
// batch again.
func TestCommitAfterTheGroupMovedOn(t *testing.T) {
	br := startBroker(t)
	bs := newBus(t, Config{Brokers: br.Addrs()})
	ctx := testCtx(t, 60*time.Second)
	ensure(t, ctx, bs, TopicSpec{Name: "sales", Partitions: 2})
	keys := produce(t, ctx, bs, "sales", 20)
	opts := fastReader
	opts.RebalanceTimeout = 2 * time.Second

	a := bs.NewReader("erp", []string{"sales"}, opts)
	held, err := a.FetchBatch(ctx, 100, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	b := bs.NewReader("erp", []string{"sales"}, opts)
	var second consumer
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	go second.run(bctx, b)
	<-a.Revoked(held)
	waitUntil(t, 20*time.Second, func() (bool, string) {
		return len(second.keys()) > 0, "the second member never got a partition"
	})
	err = a.Commit(ctx, held...)
	if !errors.Is(err, ErrRevoked) {
		t.Fatalf("commit after the group moved on: %v, want ErrRevoked", err)
	}
	_ = a.Close()
	waitUntil(t, 20*time.Second, func() (bool, string) {
		got := second.keys()
		slices.Sort(got)
		return slices.Equal(got, keys), fmt.Sprintf("the second member committed %d of %d records", len(got), len(keys))
	})
}
