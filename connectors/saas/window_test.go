package saas

import (
	"context"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
)

// TestWindow: units fit until the limit, then a Take waits for the
// oldest to roll out of the window; a Take larger than the limit never
// fits; Wait and Add count only what succeeded.
func TestWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var waits []time.Duration
	clock := Clock{Now: func() time.Time { return now }, Sleep: func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		now = now.Add(d)
		return nil
	}}
	w := NewWindow("calls", 3, 20*time.Second, clock)
	for i := range 3 {
		if err := w.Take(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Duration(i+1) * time.Second) // at 0s, 1s, 3s
	}
	if err := w.Take(context.Background(), 2); err != nil { // at 6s: waits for 0s and 1s to leave
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] != 15*time.Second {
		t.Fatalf("waits %v, want one of 15s (until the spend at 1s leaves the 20s window)", waits)
	}
	if s := w.State(); s.Used != 3 || s.Total != 5 {
		t.Fatalf("state %+v, want 3 used, 5 taken", s)
	}
	if err := w.Take(context.Background(), 4); err == nil {
		t.Fatal("a take over the whole limit fitted")
	} else if k, _ := connectors.Classify(err); k != connectors.KindPermanent {
		t.Fatalf("a take over the whole limit: %v", k)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clock.Sleep = nil
	w2 := NewWindow("credits", 1, time.Hour, Clock{Now: clock.Now})
	w2.Add(1)
	if err := w2.Wait(ctx, 1); err == nil {
		t.Fatal("a wait past a cancelled context returned no error")
	}
	if s := w2.State(); s.Used != 1 || s.Total != 1 {
		t.Fatalf("a failed wait changed the window: %+v", s)
	}
}
