package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/crmhub/hub/connectors"
)

// Push takes the records a system pushes (webhooks) into the hub: it is
// the connectors.Ingest a Pusher's routes hand records to. Each entity
// goes through the intake of the source configured for it, like a pull
// source's batches, and Ingest returns only once every record is durable:
// published to Kafka, or filed as a dead letter. Records of one entity are
// taken one call at a time, so that two deliveries of one new record
// never mint two hub ids.
type Push struct {
	System  string
	Intakes map[string]*Intake // by entity
	// Attempts is how often a batch is prepared whole before its records
	// are prepared one by one; default 5.
	Attempts int
	// Controls, when set, pause a push source on an operator's word: its
	// deliveries are refused (ErrPaused), and senders try again later.
	Controls *Controls
	Health   *Health

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	stats map[string]*stats // by entity
}

var _ connectors.Ingest = (*Push)(nil)

func (p *Push) lock(entity string) (*sync.Mutex, *stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.locks == nil {
		p.locks, p.stats = map[string]*sync.Mutex{}, map[string]*stats{}
	}
	l, ok := p.locks[entity]
	if !ok {
		l = &sync.Mutex{}
		p.locks[entity] = l
		p.stats[entity] = &stats{}
	}
	return l, p.stats[entity]
}

// Ingest maps, identifies, merges and publishes recs; see connectors.Ingest.
func (p *Push) Ingest(ctx context.Context, entity string, recs []connectors.Record) ([]connectors.IngestResult, error) {
	in, ok := p.Intakes[entity]
	if !ok {
		return nil, fmt.Errorf("no source takes %s records from %s (configure one under sources)", entity, p.System)
	}
	if ctl, paused := p.Controls.Paused("source " + in.Name); paused {
		return nil, fmt.Errorf("source %s is paused by %s: %w", in.Name, orWho(ctl.Actor), ErrPaused)
	}
	for i := range recs {
		if recs[i].Op == "" {
			recs[i].Op = connectors.OpUpsert
		}
	}
	l, st := p.lock(entity)
	l.Lock()
	defer l.Unlock()
	parts, err := in.prepareAll(ctx, recs, p.Attempts)
	if err != nil {
		return nil, fmt.Errorf("take %d %s records from %s: %w", len(recs), entity, p.System, err)
	}
	if err := in.publish(ctx, parts); err != nil {
		return nil, fmt.Errorf("publish %d %s records from %s: %w", len(recs), entity, p.System, err)
	}
	st.add(published(parts))
	out := make([]connectors.IngestResult, 0, len(recs))
	for _, pt := range parts {
		for i := range pt.recs {
			out = append(out, ingestResult(pt.prep, i))
		}
	}
	return out, nil
}

// ingestResult says what became of record i of a published part.
func ingestResult(p prep, i int) connectors.IngestResult {
	if why, bad := p.bad[i]; bad {
		return connectors.IngestResult{Outcome: connectors.IngestRejected, Reason: why.Error()}
	}
	if env := p.envs[i]; env != nil {
		return connectors.IngestResult{Outcome: connectors.IngestPublished, HubID: env.ID}
	}
	return connectors.IngestResult{Outcome: connectors.IngestUnchanged, Reason: "the hub already holds this content or a newer version"}
}

// CheckRoute refuses a route pattern a pusher or view may not mount:
// pushers under /webhooks/, views under /api/v1/.
func CheckRoute(kind, pattern string) error {
	path := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		path = p
	}
	prefix := "/api/v1/"
	if kind == "pusher" {
		prefix = "/webhooks/"
	}
	if !strings.HasPrefix(path, prefix) {
		return fmt.Errorf("route %q of a %s must be under %s", pattern, kind, prefix)
	}
	return nil
}

// ErrPaused says a push source is paused: its sender should try again.
var ErrPaused = errors.New("paused")

// Status reports each push source.
func (p *Push) Status() []RunnerStatus {
	var out []RunnerStatus
	for _, in := range p.Intakes {
		st := RunnerStatus{Runner: "source " + in.Name, Kind: "push", Name: in.Name, Connector: p.System, Entity: in.Entity}
		st.State, st.Reason = state(p.Controls, p.Health, p.System, st.Runner, false)
		_, counted := p.lock(in.Entity)
		counted.fill(&st)
		out = append(out, st)
	}
	return out
}
