package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
)

// Health is what a node knows of each connector: whether it has started
// (and why not), whether its system answers its probe, and the open
// circuits of the runners that use it. A runner opens its circuit when it
// meets a fault that hits every record the same way (a missing table,
// credentials refused, a system that keeps failing): it pauses and retries
// with backoff instead of filling the dead-letter store, and closes the
// circuit at its first success. Readiness (/readyz) and the metrics
// hub_connector_up and hub_circuit_open report it.
//
// A nil *Health reports nothing and never waits.
type Health struct {
	log      *slog.Logger
	up       *prometheus.GaugeVec
	circuits *prometheus.GaugeVec

	mu    sync.Mutex
	conns map[string]*connHealth
}

type connHealth struct {
	ready    chan struct{} // closed once started
	started  bool
	startErr error
	circuits map[string]circuit // runner -> why it is open
}

type circuit struct {
	reason string
	since  time.Time
}

// NewHealth tracks the named connectors; reg receives the gauges.
func NewHealth(reg prometheus.Registerer, log *slog.Logger, names []string) *Health {
	h := &Health{
		log: log,
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hub_connector_up",
			Help: "1 when the connector has started and none of its runners has an open circuit, else 0.",
		}, []string{"connector"}),
		circuits: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hub_circuit_open",
			Help: "1 while a runner (a source, or a sink of one entity) is paused on a fault of its whole system.",
		}, []string{"connector", "runner"}),
		conns: map[string]*connHealth{},
	}
	for _, n := range names {
		h.conns[n] = &connHealth{ready: make(chan struct{}), circuits: map[string]circuit{}}
		h.up.WithLabelValues(n).Set(0)
	}
	reg.MustRegister(h.up, h.circuits)
	return h
}

func (h *Health) conn(name string) *connHealth {
	c, ok := h.conns[name]
	if !ok {
		c = &connHealth{ready: make(chan struct{}), circuits: map[string]circuit{}}
		h.conns[name] = c
	}
	return c
}

// setUp updates the gauge; h.mu is held.
func (h *Health) setUp(name string, c *connHealth) {
	v := 0.0
	if c.started && len(c.circuits) == 0 {
		v = 1
	}
	h.up.WithLabelValues(name).Set(v)
}

// Supervise starts conn, trying again with backoff (up to a minute
// apart) until it starts or ctx ends, then probes it every interval: a
// failed probe opens the connector's "check" circuit until one succeeds.
// It returns when ctx ends; runners wait for the start (wait).
func (h *Health) Supervise(ctx context.Context, conn connectors.Connector, interval time.Duration) {
	name := conn.Name()
	b := newBackoff(500*time.Millisecond, time.Minute)
	for attempt := 1; ; attempt++ {
		err := conn.Start(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		wait := b.NextBackOff()
		h.startFailed(name, err, attempt, wait)
		if !sleep(ctx, wait) {
			return
		}
	}
	h.started(name)
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, min(interval, 10*time.Second))
		err := conn.Check(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			h.open(name, "check", err)
		default:
			h.close(name, "check")
		}
	}
}

func (h *Health) startFailed(name string, err error, attempt int, wait time.Duration) {
	h.mu.Lock()
	h.conn(name).startErr = err
	h.mu.Unlock()
	h.log.Warn("connector did not start; retrying", "connector", name, "attempt", attempt, "wait", wait.Round(time.Millisecond), "err", err)
}

func (h *Health) started(name string) {
	h.mu.Lock()
	c := h.conn(name)
	if !c.started {
		c.started, c.startErr = true, nil
		close(c.ready)
	}
	h.setUp(name, c)
	h.mu.Unlock()
	h.log.Info("connector started", "connector", name)
}

// wait blocks until connector name has started; false when ctx ended first.
func (h *Health) wait(ctx context.Context, name string) bool {
	if h == nil {
		return true
	}
	h.mu.Lock()
	ready := h.conn(name).ready
	h.mu.Unlock()
	select {
	case <-ready:
		return true
	case <-ctx.Done():
		return false
	}
}

// open opens runner's circuit on connector name with the reason err.
func (h *Health) open(name, runner string, err error) {
	if h == nil {
		return
	}
	reason := err.Error()
	h.mu.Lock()
	c := h.conn(name)
	cur, was := c.circuits[runner]
	if !was || cur.reason != reason {
		since := time.Now()
		if was {
			since = cur.since
		}
		c.circuits[runner] = circuit{reason: reason, since: since}
	}
	h.setUp(name, c)
	h.circuits.WithLabelValues(name, runner).Set(1)
	h.mu.Unlock()
	if !was {
		h.log.Warn("circuit open: paused until the system recovers", "connector", name, "runner", runner, "reason", reason)
	}
}

// close closes runner's circuit on connector name, if it was open.
func (h *Health) close(name, runner string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	c := h.conn(name)
	cur, was := c.circuits[runner]
	if was {
		delete(c.circuits, runner)
		h.setUp(name, c)
		h.circuits.WithLabelValues(name, runner).Set(0)
	}
	h.mu.Unlock()
	if was {
		h.log.Info("circuit closed: running again", "connector", name, "runner", runner, "was_open", time.Since(cur.since).Round(time.Second))
	}
}

// Check is connector name's readiness: nil when it has started and no
// circuit is open, else an error that names each reason.
func (h *Health) Check(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.conn(name)
	if !c.started {
		if c.startErr != nil {
			return fmt.Errorf("not started: %w", c.startErr)
		}
		return fmt.Errorf("not started yet")
	}
	if len(c.circuits) == 0 {
		return nil
	}
	runners := make([]string, 0, len(c.circuits))
	for r := range c.circuits {
		runners = append(runners, r)
	}
	sort.Strings(runners)
	parts := make([]string, len(runners))
	for i, r := range runners {
		cur := c.circuits[r]
		parts[i] = fmt.Sprintf("%s: circuit open since %s: %s", r, cur.since.UTC().Format(time.RFC3339), cur.reason)
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

// Gate answers 503 with Retry-After on a pusher's routes until its
// connector has started, so a sender tries again rather than lose a
// delivery.
func (h *Health) Gate(connector string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h != nil && !h.isStarted(connector) {
			w.Header().Set("Retry-After", "5")
			http.Error(w, connector+" is starting; try again shortly", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Health) isStarted(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conn(name).started
}

// Stream runs a push source's stream (connectors.Streamer) once its
// connector has started, until ctx ends: a stream that fails opens the
// connector's "stream" circuit and is started again with backoff; one that
// has run for a while starts the backoff afresh.
func (h *Health) Stream(ctx context.Context, name string, st connectors.Streamer, in connectors.Ingest) {
	if !h.wait(ctx, name) {
		return
	}
	b := newBackoff(time.Second, time.Minute)
	for ctx.Err() == nil {
		began := time.Now()
		err := st.Stream(ctx, streamIngest{h: h, name: name, in: in})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("stream ended")
		}
		if time.Since(began) > time.Minute {
			b.Reset()
		}
		h.open(name, "stream", err)
		wait := b.NextBackOff()
		h.log.Warn("stream failed; starting it again", "connector", name, "wait", wait.Round(time.Millisecond), "err", err)
		if !sleep(ctx, wait) {
			return
		}
	}
}

// streamIngest closes a stream's circuit at the first record it takes.
type streamIngest struct {
	h    *Health
	name string
	in   connectors.Ingest
}

func (s streamIngest) Ingest(ctx context.Context, entity string, recs []connectors.Record) ([]connectors.IngestResult, error) {
	res, err := s.in.Ingest(ctx, entity, recs)
	if err == nil {
		s.h.close(s.name, "stream")
	}
	return res, err
}

// startState says whether connector name has started, and if not why.
func (h *Health) startState(name string) (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.conn(name)
	switch {
	case c.started:
		return true, ""
	case c.startErr != nil:
		return false, "the connector has not started: " + c.startErr.Error()
	}
	return false, "the connector is starting"
}

// circuitOf says whether runner's circuit on connector name is open, and
// why.
func (h *Health) circuitOf(name, runner string) (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.conn(name)
	cur, open := c.circuits[runner]
	if !open {
		if chk, down := c.circuits["check"]; down {
			return true, "the system does not answer its probe since " + chk.since.UTC().Format(time.RFC3339) + ": " + chk.reason
		}
		return false, ""
	}
	return true, "since " + cur.since.UTC().Format(time.RFC3339) + ": " + cur.reason
}

// ConnectorStatus is what a node says of one connector.
type ConnectorStatus struct {
	Name   string `json:"name"`
	Up     bool   `json:"up"`
	Reason string `json:"reason,omitempty"`
}

// Connectors reports every connector it tracks, by name.
func (h *Health) Connectors(names []string) []ConnectorStatus {
	out := make([]ConnectorStatus, 0, len(names))
	for _, n := range names {
		st := ConnectorStatus{Name: n, Up: true}
		if err := h.Check(n); err != nil {
			st.Up, st.Reason = false, err.Error()
		}
		out = append(out, st)
	}
	return out
}
