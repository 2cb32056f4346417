package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmhub/hub/store"
)

func withHealth(h *harness) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	h.health = NewHealth(reg, h.log, []string{"erp"})
	h.health.started("erp")
	return reg
}

// TestUnavailableTargetOpensCircuit: a fault of the whole target (its table
// renamed) pauses the sink with its circuit open, shows in the health check
// (the readiness of /readyz) and in hub_connector_up, and dead-letters
// nothing; once the target is back, the waiting records arrive, once.
func TestUnavailableTargetOpensCircuit(t *testing.T) {
	h := newHarness(t)
	reg := withHealth(h)
	h.sink.set(func(m *memSink) { m.unavailable = errors.New(`relation "erp_customers" does not exist`) })
	for i := 1; i <= 20; i++ {
		h.src.add("customer", customer(i, fmt.Sprintf("C%d", i)))
	}
	stop := h.start()
	defer stop()
	eventually(t, 10*time.Second, "the circuit open", func() (bool, string) {
		err := h.health.Check("erp")
		return err != nil && strings.Contains(err.Error(), "sink erp/customer: circuit open") &&
			strings.Contains(err.Error(), "erp_customers"), fmt.Sprint(err)
	})
	if up := testutil.ToFloat64(h.health.up.WithLabelValues("erp")); up != 0 {
		t.Errorf("hub_connector_up{connector=erp} = %v while the circuit is open", up)
	}
	time.Sleep(time.Second) // a few more tries
	if n, _ := h.store.CountDeadLetters(context.Background(), store.DeadLetterFilter{}); n != 0 {
		t.Fatalf("%d dead letters for a fault of the whole target", n)
	}
	h.sink.set(func(m *memSink) { m.unavailable = nil })
	eventually(t, 30*time.Second, "all 20 customers", func() (bool, string) {
		c, _ := h.sink.snapshot("customer")
		return len(c) == 20, fmt.Sprint(len(c))
	})
	if err := h.health.Check("erp"); err != nil {
		t.Errorf("health after recovery: %v", err)
	}
	if _, w := h.sink.snapshot("customer"); w != 20 {
		t.Errorf("%d writes, want 20", w)
	}
	if n, err := testutil.GatherAndCount(reg, "hub_connector_up"); err != nil || n != 1 {
		t.Errorf("hub_connector_up series = %d (%v)", n, err)
	}
	if up := testutil.ToFloat64(h.health.up.WithLabelValues("erp")); up != 1 {
		t.Errorf("hub_connector_up{connector=erp} = %v after recovery", up)
	}
}

// TestPoisonRecordFoundOneByOne: one record that makes every batch it is in
// fail with a passing error (the target times out on it) while the target
// answers: after the retry policy the batch is written record by record,
// only that record is dead-lettered, and the others arrive.
func TestPoisonRecordFoundOneByOne(t *testing.T) {
	h := newHarness(t)
	withHealth(h)
	h.sink.set(func(m *memSink) { m.poison = "Poison" })
	for i := 1; i <= 10; i++ {
		name := fmt.Sprintf("C%d", i)
		if i == 4 {
			name = "Poison"
		}
		h.src.add("customer", customer(i, name))
	}
	stop := h.start()
	defer stop()
	eventually(t, 30*time.Second, "9 customers and a dead letter", func() (bool, string) {
		c, _ := h.sink.snapshot("customer")
		n, _ := h.store.CountDeadLetters(context.Background(), store.DeadLetterFilter{Status: store.StatusOpen})
		return len(c) == 9 && n == 1, fmt.Sprintf("%d customers, %d dead letters", len(c), n)
	})
	dls, err := h.store.ListDeadLetters(context.Background(), store.DeadLetterFilter{Status: store.StatusOpen})
	if err != nil {
		t.Fatal(err)
	}
	if d := dls[0]; d.Kind != store.KindRetriesExhausted || !strings.Contains(d.Error, "read timeout") || !strings.Contains(d.Error, "answered its probe") {
		t.Errorf("dead letter = %+v", d)
	}
	if err := h.health.Check("erp"); err != nil {
		t.Errorf("a bad record opened the circuit: %v", err)
	}
}

// TestStartRetriedUntilTheSystemAnswers: a connector that cannot start is
// tried again with backoff; its runners wait; the health check says why.
func TestStartRetriedUntilTheSystemAnswers(t *testing.T) {
	h := newHarness(t)
	hl := NewHealth(prometheus.NewRegistry(), h.log, []string{"erp"})
	c := &flakyStart{fails: 2}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); hl.Supervise(ctx, c, 0) }()
	if err := hl.Check("erp"); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("check before the start: %v", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if !hl.wait(wctx, "erp") {
		t.Fatal("the connector never started")
	}
	if c.starts != 3 {
		t.Errorf("%d starts, want 3", c.starts)
	}
	if err := hl.Check("erp"); err != nil {
		t.Errorf("check after the start: %v", err)
	}
	<-done
}

type flakyStart struct {
	fails, starts int
}

func (f *flakyStart) Name() string { return "erp" }
func (f *flakyStart) Start(context.Context) error {
	f.starts++
	if f.starts <= f.fails {
		return errors.New("dial tcp 127.0.0.1:1: connection refused")
	}
	return nil
}
func (f *flakyStart) Check(context.Context) error { return nil }
func (f *flakyStart) Close() error                { return nil }
