package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/bus"
)

// Plan is a config turned into components: connectors built (not started)
// and mappings compiled. Building it connects to nothing, so `hub
// validate` uses it too.
type Plan struct {
	Connectors map[string]connectors.Connector
	Sources    map[string]SourcePlan
	Sinks      map[string]map[string]*mapping.Plan // sink -> entity -> plan
}

// SourcePlan is one source with its compiled mapping.
type SourcePlan struct {
	Config config.SourceConfig
	Plan   *mapping.Plan
}

// Build checks everything a config names beyond its own keys: connector
// settings (by their kind), mapping files, and that each connector can do
// what a source or sink asks of it. It reports every problem at once.
func Build(cfg *config.Config, kinds *connectors.Registry) (*Plan, error) {
	p := &Plan{Connectors: map[string]connectors.Connector{}, Sources: map[string]SourcePlan{}, Sinks: map[string]map[string]*mapping.Plan{}}
	var errs []string
	fail := func(err error) { errs = append(errs, err.Error()) }

	for _, name := range sorted(cfg.Connectors) {
		cc := cfg.Connectors[name]
		conn, err := kinds.New(cc.Kind, connectors.Params{
			Name:   name,
			Decode: func(into any) error { return cfg.DecodeConnector(name, into) },
			Where:  cfg.Where,
			Dir:    cfg.Dir(),
		})
		if err != nil {
			fail(fmt.Errorf("%s: %w", where(cfg, "connectors."+name), err))
			continue
		}
		p.Connectors[name] = conn
	}
	load := func(key, path, entity, direction string) *mapping.Plan {
		mp, err := mapping.Load(path)
		if err != nil {
			fail(fmt.Errorf("%s: mapping %s:\n%s", key, path, err))
			return nil
		}
		if mp.Entity != entity || mp.Direction != direction {
			fail(fmt.Errorf("%s: %s: mapping %s maps %s %q, but %s needs %s %q", where(cfg, key), key, path,
				mp.Entity, mp.Direction, key, entity, direction))
			return nil
		}
		return mp
	}
	for _, name := range sorted(cfg.Sources) {
		sc, key := cfg.Sources[name], "sources."+name
		if conn, ok := p.Connectors[sc.Connector]; ok {
			if src, ok := conn.(connectors.Source); !ok {
				fail(fmt.Errorf("%s: connector %s cannot be a source", where(cfg, key+".connector"), sc.Connector))
			} else if !contains(src.Entities(), sc.Entity) {
				fail(fmt.Errorf("%s: connector %s has no %s configured (it has: %s)", where(cfg, key+".entity"),
					sc.Connector, sc.Entity, strings.Join(src.Entities(), ", ")))
			}
		}
		if mp := load(key+".mapping", sc.Mapping, sc.Entity, "in"); mp != nil {
			p.Sources[name] = SourcePlan{Config: sc, Plan: mp}
		}
	}
	for _, name := range sorted(cfg.Sinks) {
		sc, key := cfg.Sinks[name], "sinks."+name
		var sink connectors.Sink
		if conn, ok := p.Connectors[sc.Connector]; ok {
			if s, ok := conn.(connectors.Sink); ok {
				sink = s
			} else {
				fail(fmt.Errorf("%s: connector %s cannot be a sink", where(cfg, key+".connector"), sc.Connector))
			}
		}
		p.Sinks[name] = map[string]*mapping.Plan{}
		for _, entity := range sorted(sc.Entities) {
			ekey := key + ".entities." + entity
			if sink != nil && !contains(sink.Entities(), entity) {
				fail(fmt.Errorf("%s: connector %s has no %s configured", where(cfg, ekey), sc.Connector, entity))
			}
			if mp := load(ekey+".mapping", sc.Entities[entity].Mapping, entity, "out"); mp != nil {
				p.Sinks[name][entity] = mp
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return p, nil
}

func where(cfg *config.Config, key string) string {
	if w := cfg.Where(key); w != "" {
		return w + ": " + key
	}
	return key
}

func sorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runGroup runs goroutines under one cancel.
type runGroup struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// start runs fn(ctx); ctx must come from the group's cancel.
func (g *runGroup) start(ctx context.Context, fn func(context.Context)) {
	g.wg.Add(1)
	go func() { defer g.wg.Done(); fn(ctx) }()
}

func (g *runGroup) stop() {
	if g.cancel != nil {
		g.cancel()
	}
	g.wg.Wait()
}

// startPipelines starts connectors, then sinks, then sources.
func (n *Node) startPipelines(ctx context.Context) error {
	cfg := n.cfg
	for _, name := range sorted(n.plan.Connectors) {
		if err := n.plan.Connectors[name].Start(ctx); err != nil {
			return fmt.Errorf("start connector %s: %w", name, err)
		}
	}
	topic := func(entity string) string { return cfg.Kafka.TopicPrefix + "." + entity }
	dlqTopic := n.bus.NewWriter(topic("dlq"))
	n.closers = append(n.closers, dlqTopic)
	n.dlq = &pipeline.DeadLetters{Store: n.store, Topic: dlqTopic, Metrics: n.metrics, Log: n.log.With("component", "dlq")}
	policies := Policies(cfg)
	if cfg.Trace.Enabled {
		n.journal = &pipeline.Journal{Store: n.store, Log: n.log.With("component", "trace")}
		n.closers = append(n.closers, n.journal) // after the runners stop, before the store closes
	}

	// Each sink entity has its own consumer group, so an order waiting for
	// its customer never holds up the customers it waits for.
	var sinkCtx context.Context
	sinkCtx, n.sinks.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, name := range sorted(n.plan.Sinks) {
		sc := cfg.Sinks[name]
		conn := n.plan.Connectors[sc.Connector].(connectors.Sink)
		for _, entity := range sorted(n.plan.Sinks[name]) {
			for w := 0; w < sc.Workers; w++ {
				reader := n.bus.NewReader("hub.sink."+name+"."+entity, []string{topic(entity)}, bus.ReaderOptions{})
				n.closers = append(n.closers, reader)
				s := &pipeline.Sink{
					Name: name, System: sc.Connector, Entity: entity, Conn: conn, Plan: n.plan.Sinks[name][entity],
					Reader: reader, Store: n.store, DLQ: n.dlq, Metrics: n.metrics,
					Journal: n.journal, Policy: policies[entity],
					Log:       n.log.With("sink", name, "entity", entity, "worker", w),
					BatchSize: sc.BatchSize,
					Retry:     pipeline.RetryPolicy{MaxAttempts: sc.Retry.MaxAttempts, Initial: sc.Retry.Initial, Max: sc.Retry.Max, RefWait: sc.Retry.RefWait},
				}
				n.sinks.start(sinkCtx, func(ctx context.Context) { _ = s.Run(ctx) })
			}
		}
	}
	n.sourceRunners = map[string]*pipeline.Source{}
	var srcCtx context.Context
	srcCtx, n.sources.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if n.journal != nil {
		n.sources.start(srcCtx, func(ctx context.Context) {
			n.journal.Prune(ctx, cfg.Trace.Retention, cfg.Trace.PruneInterval)
		})
	}
	for _, name := range sorted(n.plan.Sources) {
		sp := n.plan.Sources[name]
		w := n.bus.NewWriter(topic(sp.Config.Entity))
		n.closers = append(n.closers, w)
		s := &pipeline.Source{
			Name: name, System: sp.Config.Connector, Entity: sp.Config.Entity,
			Conn: n.plan.Connectors[sp.Config.Connector].(connectors.Source), Plan: sp.Plan, Refs: sp.Config.Refs,
			Store: n.store, Writer: w, DLQ: n.dlq, Metrics: n.metrics,
			Journal: n.journal, Policy: policies[sp.Config.Entity],
			Log:      n.log.With("source", name),
			Interval: sp.Config.Interval, BatchSize: sp.Config.BatchSize,
		}
		n.sourceRunners[name] = s
		n.sources.start(srcCtx, func(ctx context.Context) { _ = s.Run(ctx) })
	}
	return nil
}

// Policies builds the two-way policy of each entity that needs one: an
// entity configured under entities, or read by sources of two or more
// connectors (merged with the newest-wins policy).
func Policies(cfg *config.Config) map[string]*pipeline.Policy {
	systems := map[string]map[string]bool{}
	for _, sc := range cfg.Sources {
		if systems[sc.Entity] == nil {
			systems[sc.Entity] = map[string]bool{}
		}
		systems[sc.Entity][sc.Connector] = true
	}
	out := map[string]*pipeline.Policy{}
	for entity, sys := range systems {
		if len(sys) > 1 {
			out[entity] = &pipeline.Policy{Merge: true, Conflict: pipeline.ConflictNewest}
		}
	}
	for entity, ec := range cfg.Entities {
		p := out[entity]
		if p == nil {
			p = &pipeline.Policy{Conflict: pipeline.ConflictNewest}
			out[entity] = p
		}
		if len(ec.Owners) > 0 || ec.Conflict != "" {
			p.Merge = true
		}
		p.Owners = ec.Owners
		if ec.Conflict != "" {
			p.Conflict = ec.Conflict
		}
		for _, f := range ec.Match {
			p.Match = append(p.Match, pipeline.MatchRule{Field: f, Normalize: pipeline.NormalizeKind(f), CountryCode: ec.PhoneCountryCode})
		}
	}
	return out
}
