package pipeline

import (
	"sync"
	"time"
)

// Runner states, in the order they win: an operator's pause first, then
// a connector that has not started, an open circuit, a node standing by.
const (
	StateRunning  = "running"
	StatePaused   = "paused"
	StateStarting = "starting"     // the connector has not started yet
	StateCircuit  = "circuit_open" // paused on a fault of its whole system
	StateStandby  = "standby"      // another node reads the source
)

// RunnerStatus is what a node says of one runner (a source, a push
// source, or one entity of a sink) to `hub status` and the API.
type RunnerStatus struct {
	Runner    string `json:"runner"` // "source crm-orders", "sink erp/order"
	Kind      string `json:"kind"`   // source, push, sink
	Name      string `json:"name"`
	Connector string `json:"connector"`
	Entity    string `json:"entity"`
	State     string `json:"state"`
	Reason    string `json:"reason,omitempty"`
	// Records are the records published (sources) or written (sinks) by
	// this node since it started.
	Records     int64      `json:"records"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// LagRecords and LagSeconds (sinks): records not yet consumed, and the
	// age of the last one consumed while some wait.
	LagRecords *int64   `json:"lag_records,omitempty"`
	LagSeconds *float64 `json:"lag_seconds,omitempty"`
	// FreshnessSeconds (sources): the age of the newest record version
	// published.
	FreshnessSeconds *float64 `json:"freshness_seconds,omitempty"`
}

// stats are a runner's own counters.
type stats struct {
	mu       sync.Mutex
	records  int64
	lastOK   time.Time
	newest   time.Time // newest record version handled
	lastSeen time.Time // Kafka time of the last record consumed (sinks)
}

func (s *stats) add(n int, newest time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records += int64(n)
	s.lastOK = time.Now()
	if newest.After(s.newest) {
		s.newest = newest
	}
}

func (s *stats) consumed(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSeen = at
}

// fill copies the counters into st.
func (s *stats) fill(st *RunnerStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Records = s.records
	if !s.lastOK.IsZero() {
		t := s.lastOK.UTC()
		st.LastSuccess = &t
	}
}

// state works out a runner's state from the controls and the health.
func state(c *Controls, h *Health, connector, runner string, standby bool) (string, string) {
	if ctl, paused := c.Paused(runner); paused {
		why := "paused by " + orWho(ctl.Actor)
		if ctl.Reason != "" {
			why += ": " + ctl.Reason
		}
		return StatePaused, why
	}
	if h != nil {
		if started, why := h.startState(connector); !started {
			return StateStarting, why
		}
		if open, why := h.circuitOf(connector, runner); open {
			return StateCircuit, why
		}
	}
	if standby {
		return StateStandby, "another node reads this source"
	}
	return StateRunning, ""
}

func orWho(actor string) string {
	if actor == "" {
		return "an operator"
	}
	return actor
}

// Status reports the source.
func (s *Source) Status() RunnerStatus {
	st := RunnerStatus{Runner: s.runner(), Kind: "source", Name: s.Name, Connector: s.System, Entity: s.Entity}
	st.State, st.Reason = state(s.Controls, s.Health, s.System, s.runner(), s.Standby())
	s.stats.fill(&st)
	s.stats.mu.Lock()
	if !s.stats.newest.IsZero() {
		f := time.Since(s.stats.newest).Seconds()
		st.FreshnessSeconds = &f
	}
	s.stats.mu.Unlock()
	return st
}

// Status reports one worker of the sink; the node adds up the workers of
// one sink entity (Combine).
func (s *Sink) Status() RunnerStatus {
	st := RunnerStatus{Runner: s.runner(), Kind: "sink", Name: s.Name, Connector: s.System, Entity: s.Entity}
	st.State, st.Reason = state(s.Controls, s.Health, s.System, s.runner(), false)
	s.stats.fill(&st)
	lag := s.Reader.Lag()
	st.LagRecords = &lag
	secs := 0.0
	s.stats.mu.Lock()
	if lag > 0 && !s.stats.lastSeen.IsZero() {
		secs = time.Since(s.stats.lastSeen).Seconds()
	}
	s.stats.mu.Unlock()
	st.LagSeconds = &secs
	return st
}

// Combine adds up the statuses of the workers of one sink entity.
func Combine(parts []RunnerStatus) RunnerStatus {
	if len(parts) == 0 {
		return RunnerStatus{}
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out.Records += p.Records
		if p.LastSuccess != nil && (out.LastSuccess == nil || p.LastSuccess.After(*out.LastSuccess)) {
			out.LastSuccess = p.LastSuccess
		}
		if p.LagRecords != nil {
			sum := *p.LagRecords
			if out.LagRecords != nil {
				sum += *out.LagRecords
			}
			out.LagRecords = &sum
		}
		if p.LagSeconds != nil && (out.LagSeconds == nil || *p.LagSeconds > *out.LagSeconds) {
			out.LagSeconds = p.LagSeconds
		}
	}
	return out
}

// NodeStatus is what one hub node reports of itself: its connectors, its
// runners and the leases (which node reads which source).
type NodeStatus struct {
	Node       string            `json:"node"`
	Connectors []ConnectorStatus `json:"connectors"`
	Runners    []RunnerStatus    `json:"runners"`
	Leases     []LeaseStatus     `json:"leases"`
}

// LeaseStatus is one lease as the state store holds it.
type LeaseStatus struct {
	Name      string    `json:"name"`
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Cursor is a pull source's stored position, in words.
type Cursor struct {
	Source string `json:"source"`
	Entity string `json:"entity"`
	Value  string `json:"value"` // as stored ("" for the beginning)
	Words  string `json:"words"`
}

// ReloadResult is what a config reload did: the changes it applied and
// the ones it refused, each with the reason. Nothing is half-applied to
// one runner: a source or sink with a refused change keeps all its old
// settings.
type ReloadResult struct {
	Applied []string `json:"applied"`
	Refused []string `json:"refused"`
}
