package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/crmhub/hub/connectors"
)

// Push takes the records a system pushes (webhooks) into the hub: it is
// the connectors.Ingest a Pusher's routes hand records to. Each entity
// goes through the intake of the source configured for it, like a pull
// source's batches, and Ingest returns only once every record is durable:
// published to Kafka, or filed as a dead letter. Records of one entity are
// taken one batch at a time, so that two deliveries of one new record
// never mint two hub ids; the calls that arrive while a batch is being
// taken are grouped into the next one (group commit), so concurrent
// webhooks share one pass through the state store and one Kafka write.
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

	mu       sync.Mutex
	groups   map[string]*group
	stopping bool // Stop was called: new calls are refused
}

var _ connectors.Ingest = (*Push)(nil)

// group is one entity's queue of calls (group commit): one batch runs at
// a time, and the calls that arrive while it runs form the next one.
// Each caller is answered once its own batch ends. The batch after it is
// led by a goroutine of its own: a caller that went on taking batch after
// batch kept its own sender waiting for as long as deliveries kept coming,
// hundreds of milliseconds to seconds under a steady load.
type group struct {
	// take prepares and publishes one batch's records.
	take func(ctx context.Context, recs []connectors.Record) ([]connectors.IngestResult, error)
	log  *slog.Logger // where a batch that panicked is told; nil: nowhere

	mu      sync.Mutex
	pending []*call
	running bool
	closed  bool  // the hub is stopping: calls are refused (ErrStopping)
	stats   stats // what the entity's source published, for its status
}

// call is one Ingest waiting for its batch.
type call struct {
	ctx  context.Context
	recs []connectors.Record
	res  []connectors.IngestResult
	err  error
	done chan struct{}
}

func (p *Push) group(entity string, in *Intake) *group {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.groups == nil {
		p.groups = map[string]*group{}
	}
	g, ok := p.groups[entity]
	if !ok {
		g = &group{log: in.Log, closed: p.stopping}
		g.take = func(ctx context.Context, recs []connectors.Record) ([]connectors.IngestResult, error) {
			return p.take(ctx, g, in, entity, recs)
		}
		p.groups[entity] = g
	}
	return g
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
	return p.group(entity, in).do(ctx, recs)
}

// do queues recs for the next batch, leads it when no batch runs, and
// waits for its outcome.
func (g *group) do(ctx context.Context, recs []connectors.Record) ([]connectors.IngestResult, error) {
	c := &call{ctx: ctx, recs: recs, done: make(chan struct{})}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, ErrStopping
	}
	g.pending = append(g.pending, c)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		g.lead()
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		// The batch may still publish the records: at least once, and the
		// sender's retry is taken as unchanged.
		return nil, ctx.Err()
	}
}

// lead takes the calls queued so far as one batch, then hands the calls
// queued meanwhile to a goroutine that leads them, or ends the run.
func (g *group) lead() {
	g.mu.Lock()
	batch := g.pending
	g.pending = nil
	g.mu.Unlock()
	g.commit(batch)
	g.mu.Lock()
	more := len(g.pending) > 0
	g.running = more
	g.mu.Unlock()
	if more {
		go g.lead()
	}
}

// commit takes the records of calls as one batch and answers each call.
// The batch runs until every caller has given up.
func (g *group) commit(calls []*call) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(calls[0].ctx))
	var left sync.WaitGroup
	left.Add(len(calls))
	stops := make([]func() bool, len(calls))
	for i, c := range calls {
		stops[i] = context.AfterFunc(c.ctx, left.Done)
	}
	go func() { left.Wait(); cancel() }()
	defer func() {
		for _, stop := range stops {
			if stop() {
				left.Done() // the caller's context did not end: count it out
			}
		}
		cancel()
	}()
	var recs []connectors.Record
	for _, c := range calls {
		recs = append(recs, c.recs...)
	}
	res, err := g.takeSafely(ctx, recs)
	for _, c := range calls {
		if err != nil {
			c.err = err
		} else {
			c.res, res = res[:len(c.recs):len(c.recs)], res[len(c.recs):]
		}
		close(c.done)
	}
}

// takeSafely is take, with a panic turned into an error for the batch's
// callers (their senders try again) and logged with its stack: a batch may
// run on a goroutine of its own, where a panic would end the process.
func (g *group) takeSafely(ctx context.Context, recs []connectors.Record) (res []connectors.IngestResult, err error) {
	failed := func(msg string, args ...any) {
		if g.log != nil {
			g.log.Error(msg, append([]any{"records", len(recs)}, args...)...)
		}
		res, err = nil, errBatchFailed
	}
	defer func() {
		if v := recover(); v != nil {
			failed("taking a batch of pushed records panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	res, err = g.take(ctx, recs)
	if err == nil && len(res) != len(recs) {
		failed("a batch of pushed records gave a result count that is not its records'", "results", len(res))
	}
	return res, err
}

// errBatchFailed is what the callers of a batch that failed inside the hub
// are told: not the panic or the miscount, which the log has.
var errBatchFailed = errors.New("an internal error stopped the batch (the hub's log says which)")

// Stop refuses the calls that come from now on (ErrStopping: their
// senders try again later) and waits for the batches that run, until ctx
// ends; it reports whether none runs. The node calls it once webhooks and streams have stopped, before
// the Kafka clients and the store close: a handler the HTTP server's
// shutdown gave up waiting for may still call, and a batch whose callers
// have all gone is still winding down.
func (p *Push) Stop(ctx context.Context) bool {
	p.mu.Lock()
	p.stopping = true
	for _, g := range p.groups {
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
	}
	p.mu.Unlock()
	return p.wait(ctx)
}

// wait waits until no batch of pushed records runs, or ctx ends, and
// reports whether none runs.
func (p *Push) wait(ctx context.Context) bool {
	for !p.idle() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

func (p *Push) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.groups {
		g.mu.Lock()
		running := g.running
		g.mu.Unlock()
		if running {
			return false
		}
	}
	return true
}

// take prepares and publishes one batch.
func (p *Push) take(ctx context.Context, g *group, in *Intake, entity string, recs []connectors.Record) ([]connectors.IngestResult, error) {
	parts, err := in.prepareAll(ctx, recs, nil, p.Attempts)
	if err != nil {
		return nil, fmt.Errorf("take %d %s records from %s: %w", len(recs), entity, p.System, err)
	}
	if err := in.publish(ctx, parts); err != nil {
		return nil, fmt.Errorf("publish %d %s records from %s: %w", len(recs), entity, p.System, err)
	}
	g.stats.add(published(parts))
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

// ErrStopping says the hub is stopping: the sender should try again.
var ErrStopping = errors.New("the hub is stopping")

// Status reports each push source.
func (p *Push) Status() []RunnerStatus {
	var out []RunnerStatus
	for _, in := range p.Intakes {
		st := RunnerStatus{Runner: "source " + in.Name, Kind: "push", Name: in.Name, Connector: p.System, Entity: in.Entity}
		st.State, st.Reason = state(p.Controls, p.Health, p.System, st.Runner, false)
		p.group(in.Entity, in).stats.fill(&st)
		out = append(out, st)
	}
	return out
}
