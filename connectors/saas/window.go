package saas

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
)

// Clock is the time a Window reads and how it waits; the zero Clock is
// the real one.
type Clock struct {
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c Clock) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Clock) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Window is a rolling-window quota: at most Limit units in any Per. A
// Take that does not fit waits until enough of the window has rolled
// past, so the vendor's own limit is never hit. It is kept in memory: a
// restarted hub starts with an empty window, so give the connector a
// limit below the vendor's when other clients share the quota. It is safe
// for concurrent use.
type Window struct {
	name  string
	limit int
	per   time.Duration
	clock Clock

	mu      sync.Mutex
	spent   []spend // oldest first
	used    int     // the units in spent
	total   int64   // every unit taken
	waiting time.Duration
}

type spend struct {
	at    time.Time
	units int
}

// NewWindow returns a window of limit units per per; name says what it
// counts in errors and metrics ("credits", "calls /cgi/crm/v2/data/query").
func NewWindow(name string, limit int, per time.Duration, clock Clock) *Window {
	return &Window{name: name, limit: limit, per: per, clock: clock}
}

// roll drops what has left the window at now.
func (w *Window) roll(now time.Time) {
	i := 0
	for ; i < len(w.spent) && now.Sub(w.spent[i].at) >= w.per; i++ {
		w.used -= w.spent[i].units
	}
	w.spent = w.spent[i:]
}

// Take takes n units, waiting while they do not fit. A call larger than
// the whole limit is an error (Permanent: it can never fit). It returns
// ctx's error (Retryable) when ctx ends first.
func (w *Window) Take(ctx context.Context, n int) error {
	if w == nil || n <= 0 {
		return nil
	}
	if w.limit <= 0 {
		w.mu.Lock()
		w.total += int64(n)
		w.mu.Unlock()
		return nil
	}
	if n > w.limit {
		return connectors.Permanent(fmt.Errorf("a call of %d %s is more than the whole quota of %d per %s", n, w.name, w.limit, w.per))
	}
	for {
		w.mu.Lock()
		now := w.clock.now()
		w.roll(now)
		if w.used+n <= w.limit {
			w.spent = append(w.spent, spend{at: now, units: n})
			w.used += n
			w.total += int64(n)
			w.mu.Unlock()
			return nil
		}
		// Wait until enough of the oldest spends have left the window.
		free, wait := w.limit-w.used, time.Duration(0)
		for _, s := range w.spent {
			free += s.units
			wait = s.at.Add(w.per).Sub(now)
			if free >= n {
				break
			}
		}
		wait = max(wait, time.Millisecond)
		w.waiting += wait
		w.mu.Unlock()
		if err := w.clock.sleep(ctx, wait); err != nil {
			return connectors.Retryable(fmt.Errorf("wait %s for %d %s of the quota (%d per %s): %w", wait.Round(time.Millisecond), n, w.name, w.limit, w.per, err), wait)
		}
	}
}

// Wait waits until n units fit, without taking them; Add takes them
// after the call succeeded. For what counts only when it works (Zoho
// counts the access tokens it minted, not the attempts refused), by a
// single caller at a time.
func (w *Window) Wait(ctx context.Context, n int) error {
	if w == nil || w.limit <= 0 || n <= 0 {
		return nil
	}
	if err := w.Take(ctx, n); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spent = w.spent[:len(w.spent)-1]
	w.used -= n
	w.total -= int64(n)
	return nil
}

// Add takes n units at once, whether they fit or not.
func (w *Window) Add(n int) {
	if w == nil || n <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spent = append(w.spent, spend{at: w.clock.now(), units: n})
	w.used += n
	w.total += int64(n)
}

// State is what a window holds now.
type State struct {
	Limit int
	Used  int   // units in the window now
	Total int64 // units taken since the window was made
	// Waited is the time calls were told to wait for the window.
	Waited time.Duration
}

// State returns the window's state.
func (w *Window) State() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(w.clock.now())
	return State{Limit: w.limit, Used: w.used, Total: w.total, Waited: w.waiting}
}

// Slots limits calls in flight. The zero value (or a nil *Slots) limits
// nothing.
type Slots struct{ ch chan struct{} }

// NewSlots returns a limit of n calls in flight (n <= 0: none).
func NewSlots(n int) *Slots {
	if n <= 0 {
		return &Slots{}
	}
	return &Slots{ch: make(chan struct{}, n)}
}

// Acquire waits for a slot; release it with the returned func.
func (s *Slots) Acquire(ctx context.Context) (func(), error) {
	if s == nil || s.ch == nil {
		return func() {}, nil
	}
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch }, nil
	case <-ctx.Done():
		return nil, connectors.Retryable(fmt.Errorf("wait for a free call slot: %w", ctx.Err()), 0)
	}
}

var (
	descQuotaLimit  = prometheus.NewDesc("hub_saas_quota_limit", "The units a SaaS connector's quota window allows.", []string{"connector", "quota"}, nil)
	descQuotaUsed   = prometheus.NewDesc("hub_saas_quota_used", "The units spent in the quota window now.", []string{"connector", "quota"}, nil)
	descQuotaSpent  = prometheus.NewDesc("hub_saas_quota_spent_total", "Units of the quota spent (Zoho: credits; Fxiaoke: calls).", []string{"connector", "quota"}, nil)
	descQuotaWaited = prometheus.NewDesc("hub_saas_quota_wait_seconds_total", "Time calls were held back to stay within the quota.", []string{"connector", "quota"}, nil)
)

// DescribeWindows sends the windows' metric descriptions.
func DescribeWindows(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQuotaLimit, descQuotaUsed, descQuotaSpent, descQuotaWaited} {
		ch <- d
	}
}

// CollectWindow sends w's metrics under connector and quota.
func CollectWindow(ch chan<- prometheus.Metric, connector, quota string, w *Window) {
	if w == nil {
		return
	}
	s := w.State()
	if s.Limit > 0 {
		ch <- prometheus.MustNewConstMetric(descQuotaLimit, prometheus.GaugeValue, float64(s.Limit), connector, quota)
		ch <- prometheus.MustNewConstMetric(descQuotaUsed, prometheus.GaugeValue, float64(s.Used), connector, quota)
	}
	ch <- prometheus.MustNewConstMetric(descQuotaSpent, prometheus.CounterValue, float64(s.Total), connector, quota)
	ch <- prometheus.MustNewConstMetric(descQuotaWaited, prometheus.CounterValue, s.Waited.Seconds(), connector, quota)
}
