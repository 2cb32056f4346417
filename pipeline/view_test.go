package pipeline

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
)

// memView is a read model of customer names that keeps its positions, as
// a view with a snapshot would.
type memView struct {
	mu      sync.Mutex
	names   map[string]string // hub id -> name
	pos     connectors.Positions
	applied int // changes applied since the last reset
}

func newMemView() *memView {
	return &memView{names: map[string]string{}, pos: connectors.Positions{}}
}

func (v *memView) Follows() []string { return []string{"customer"} }

func (v *memView) Resume(context.Context) (connectors.Positions, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := connectors.Positions{}
	for t, ps := range v.pos {
		out[t] = map[int]int64{}
		for p, o := range ps {
			out[t][p] = o
		}
	}
	return out, nil
}

func (v *memView) Apply(_ context.Context, changes []connectors.Change, at connectors.Positions) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range changes {
		v.names[c.HubID] = c.Data.Get("name").Str()
		v.applied++
	}
	for t, ps := range at {
		if v.pos[t] == nil {
			v.pos[t] = map[int]int64{}
		}
		for p, o := range ps {
			v.pos[t][p] = o
		}
	}
	return nil
}

func (v *memView) Reset(context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.names, v.pos, v.applied = map[string]string{}, connectors.Positions{}, 0
	return nil
}

func (v *memView) Routes() []connectors.Route { return nil }

func (v *memView) state() (int, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.names), v.applied
}

// TestViewFollowsResumesRebuilds: a view gets every record of its topics
// (every partition), resumes from its own positions after a restart
// without applying old records again, and a rebuild reads everything again
// from the start.
func TestViewFollowsResumesRebuilds(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := newIntake(h, "customer", customerIn, nil)
	in.Writer = h.bus.NewWriter(h.prefix + ".customer")
	defer in.Writer.Close()
	in.DLQ = &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}
	publish := func(from, to int) {
		t.Helper()
		var recs []connectors.Record
		for i := from; i <= to; i++ {
			recs = append(recs, customer(i, fmt.Sprint("C", i)))
		}
		if err := in.publishRecords(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	view := newMemView()
	run := func() (*ViewRunner, func()) {
		vr := &ViewRunner{Name: "pop", View: view, Bus: h.bus, Prefix: h.prefix, Log: h.log, BatchSize: 7}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = vr.Run(rctx) }()
		return vr, func() { cancel(); <-done }
	}
	publish(1, 40)
	_, stop := run()
	eventually(t, 20*time.Second, "40 customers in the view", func() (bool, string) {
		n, _ := view.state()
		return n == 40, fmt.Sprint(n)
	})
	stop()
	_, appliedBefore := view.state()

	publish(41, 50)
	vr, stop := run()
	defer stop()
	eventually(t, 20*time.Second, "50 customers after the restart", func() (bool, string) {
		n, _ := view.state()
		return n == 50, fmt.Sprint(n)
	})
	if _, applied := view.state(); applied != appliedBefore+10 {
		t.Errorf("applied %d changes after the restart, want only the 10 new ones", applied-appliedBefore)
	}

	if err := vr.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the rebuilt view", func() (bool, string) {
		n, applied := view.state()
		return n == 50 && applied == 50, fmt.Sprintf("%d names from %d changes", n, applied)
	})
}
