package pipeline

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/crmhub/hub/mapping"
)

// The settings a config reload may change while a runner runs. Each
// runner keeps them behind an atomic pointer: a reload stores new ones,
// the runner reads them where it uses them, and the fields it was built
// with are the settings until the first reload.

// SinkSettings are a sink entity's changeable settings.
type SinkSettings struct {
	Plan          *mapping.Plan
	BatchSize     int
	Retry         RetryPolicy
	IgnoreDeletes bool
}

// Reconfigure makes the sink use st from its next use of each setting on.
func (s *Sink) Reconfigure(st SinkSettings) { s.live.Store(&st) }

func (s *Sink) settings() SinkSettings {
	if st := s.live.Load(); st != nil {
		return *st
	}
	return SinkSettings{Plan: s.Plan, BatchSize: s.BatchSize, Retry: s.Retry, IgnoreDeletes: s.IgnoreDeletes}
}

func (s *Sink) plan() *mapping.Plan { return s.settings().Plan }
func (s *Sink) retry() RetryPolicy  { return s.settings().Retry }

// SourceSettings are a pull source's changeable settings.
type SourceSettings struct {
	Interval  time.Duration
	BatchSize int
}

// Reconfigure makes the source use st from its next read on.
func (s *Source) Reconfigure(st SourceSettings) { s.live.Store(&st) }

func (s *Source) settings() SourceSettings {
	if st := s.live.Load(); st != nil {
		return *st
	}
	return SourceSettings{Interval: s.Interval, BatchSize: s.BatchSize}
}

// LivePlan holds the mapping a config reload gave an intake. Copies of
// the intake (a replay's) share it, so they map with the newest mapping.
type LivePlan struct{ atomic.Pointer[mapping.Plan] }

// SetPlan makes the intake map records with p from the next batch on. The
// intake must have been built with a LivePlan.
func (in *Intake) SetPlan(p *mapping.Plan) error {
	if in.Live == nil {
		return fmt.Errorf("source %s: built without a LivePlan, its mapping cannot change while it runs", in.Name)
	}
	in.Live.Store(p)
	return nil
}

func (in *Intake) plan() *mapping.Plan {
	if in.Live != nil {
		if p := in.Live.Load(); p != nil {
			return p
		}
	}
	return in.Plan
}
