package node

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/api"
	"github.com/crmhub/hub/store"
)

// Ops are the operations on a config's runners that need no running node:
// pause and resume (kept in the state store, obeyed by every node) and a
// source's cursor. The node serves them through its API; `hub pause`,
// `hub resume` and `hub cursor` use them directly.
type Ops struct {
	Plan     *Plan
	Store    *store.Store
	Controls *pipeline.Controls
	// Online is set in a running node: a cursor is then set only while
	// its source is paused. Offline (the CLI), a source no node reads (no
	// live lease) will do too.
	Online bool
}

// Cursor is a pull source's stored position, in words.
type Cursor = pipeline.Cursor

// Runners lists the names of the runners an operator can pause: "source
// <name>" and "sink <name>/<entity>".
func (o *Ops) Runners() []string {
	var out []string
	for name := range o.Plan.Sources {
		out = append(out, "source "+name)
	}
	for name, ents := range o.Plan.Sinks {
		for e := range ents {
			out = append(out, "sink "+name+"/"+e)
		}
	}
	sort.Strings(out)
	return out
}

// Pause pauses (or resumes) a runner on every node: a source by "source
// NAME", a sink's entities by "sink NAME" or one of them by "sink
// NAME/ENTITY". It returns the runners it changed.
func (o *Ops) Pause(ctx context.Context, runner string, paused bool, actor, reason string) ([]string, error) {
	targets := matchRunners(o.Runners(), runner)
	if len(targets) == 0 {
		return nil, fmt.Errorf("no runner %q (runners: %s): %w", runner, strings.Join(o.Runners(), ", "), api.ErrNoRunner)
	}
	action := "resume"
	if paused {
		action = "pause"
	}
	for _, r := range targets {
		if err := o.Store.SetPaused(ctx, r, paused, actor, reason); err != nil {
			return nil, err
		}
		if err := o.Store.AppendAudit(ctx, actor, action, r, reason); err != nil {
			return nil, err
		}
	}
	return targets, o.Controls.Refresh(ctx)
}

// matchRunners finds the runners a name means: itself, or every entity of
// "sink NAME".
func matchRunners(all []string, name string) []string {
	var out []string
	for _, r := range all {
		if r == name || strings.HasPrefix(r, name+"/") {
			out = append(out, r)
		}
	}
	return out
}

// CursorOf reads a pull source's stored cursor.
func (o *Ops) CursorOf(ctx context.Context, source string) (Cursor, error) {
	done, err := o.open(ctx, source)
	if err != nil {
		return Cursor{}, err
	}
	defer done()
	return cursorOf(ctx, o.Plan, o.Store, source)
}

// open starts the source's connector when no node runs here (its cursor
// codec may read the system); the returned func closes it again.
func (o *Ops) open(ctx context.Context, source string) (func(), error) {
	sp, ok := o.Plan.Sources[source]
	if o.Online || !ok {
		return func() {}, nil
	}
	conn := o.Plan.Connectors[sp.Config.Connector]
	if _, ok := conn.(connectors.CursorCodec); !ok {
		return func() {}, nil
	}
	if err := conn.Start(ctx); err != nil {
		return nil, fmt.Errorf("connect to %s to read source %s's position: %w", sp.Config.Connector, source, err)
	}
	return func() { _ = conn.Close() }, nil
}

// SetCursor moves a pull source's cursor to the beginning (since nil) or
// to the changes at or after since, audited as actor. The source must not
// be reading: paused, or (offline) read by no node.
func (o *Ops) SetCursor(ctx context.Context, source string, since *time.Time, actor string) (Cursor, error) {
	if err := o.Controls.Refresh(ctx); err != nil {
		return Cursor{}, err
	}
	if _, paused := o.Controls.Paused("source " + source); !paused {
		holder, err := o.leaseHolder(ctx, "source/"+source)
		if err != nil {
			return Cursor{}, err
		}
		if o.Online || holder != "" {
			who := "this node"
			if holder != "" {
				who = "node " + holder
			}
			return Cursor{}, fmt.Errorf("source %s is being read by %s: pause it first (hub pause source %s), set the cursor, then resume it: %w",
				source, who, source, api.ErrNotPaused)
		}
	}
	done, err := o.open(ctx, source)
	if err != nil {
		return Cursor{}, err
	}
	defer done()
	return setCursor(ctx, o.Plan, o.Store, source, since, actor)
}

// leaseHolder is who holds a live lease, or "".
func (o *Ops) leaseHolder(ctx context.Context, name string) (string, error) {
	leases, err := o.Store.ListLeases(ctx)
	if err != nil {
		return "", err
	}
	for _, l := range leases {
		if l.Name == name && l.ExpiresAt.After(time.Now()) {
			return l.Holder, nil
		}
	}
	return "", nil
}

// Status reports this node: its connectors, its runners (the workers of
// one sink entity added up) and the leases of the state store.
func (n *Node) Status(ctx context.Context) (pipeline.NodeStatus, error) {
	st := pipeline.NodeStatus{Node: n.holder(), Connectors: n.health.Connectors(sorted(n.plan.Connectors))}
	st.Runners = n.runnerStatuses()
	for i, r := range st.Runners {
		if r.Kind != "sink" {
			continue
		}
		// From the broker: right for a paused sink too, which fetches
		// nothing (and so learns no high watermarks).
		if lag, err := n.bus.GroupLag(ctx, "hub.sink."+r.Name+"."+r.Entity, n.topic(r.Entity)); err == nil {
			st.Runners[i].LagRecords = &lag
		}
	}
	leases, err := n.store.ListLeases(ctx)
	if err != nil {
		return st, err
	}
	for _, l := range leases {
		st.Leases = append(st.Leases, pipeline.LeaseStatus{Name: l.Name, Holder: l.Holder, ExpiresAt: l.ExpiresAt})
	}
	return st, nil
}

// runnerStatuses reports every runner of this node from its own counters
// (the workers of one sink entity added up), without asking the broker.
func (n *Node) runnerStatuses() []pipeline.RunnerStatus {
	var out []pipeline.RunnerStatus
	for _, name := range sorted(n.pulls) {
		out = append(out, n.pulls[name].Status())
	}
	for _, name := range sorted(n.pushes) {
		out = append(out, n.pushes[name].Status()...)
	}
	bySink := map[string][]pipeline.RunnerStatus{}
	for _, s := range n.sinkRunners {
		r := s.Status()
		bySink[r.Runner] = append(bySink[r.Runner], r)
	}
	for _, name := range sorted(bySink) {
		out = append(out, pipeline.Combine(bySink[name]))
	}
	return out
}

// The node's operations, for its API.

// Pause pauses or resumes runners (see Ops.Pause).
func (n *Node) Pause(ctx context.Context, runner string, paused bool, actor, reason string) ([]string, error) {
	return n.ops().Pause(ctx, runner, paused, actor, reason)
}

// CursorOf reads a source's cursor (see Ops.CursorOf).
func (n *Node) CursorOf(ctx context.Context, source string) (Cursor, error) {
	return n.ops().CursorOf(ctx, source)
}

// SetCursor moves a paused source's cursor (see Ops.SetCursor).
func (n *Node) SetCursor(ctx context.Context, source string, since *time.Time, actor string) (Cursor, error) {
	return n.ops().SetCursor(ctx, source, since, actor)
}

func (n *Node) ops() *Ops {
	return &Ops{Plan: n.plan, Store: n.store, Controls: n.controls, Online: true}
}

// OpenOps opens what the operations commands need without a running
// node: the plan (connectors built, not started) and the state store.
// Close releases them.
func OpenOps(ctx context.Context, cfg *config.Config, kinds *connectors.Registry, log *slog.Logger) (*Ops, func() error, error) {
	plan, err := Build(cfg, kinds)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, cfg.State.DSN.Reveal())
	if err != nil {
		return nil, nil, fmt.Errorf("open state store (state.dsn): %w", err)
	}
	return &Ops{Plan: plan, Store: st, Controls: &pipeline.Controls{Store: st, Log: log}}, st.Close, nil
}
