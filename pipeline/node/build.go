package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
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
// what a source or sink asks of it. It reports every problem at once, as
// config.Problems naming the full key and the config file's line.
//
// `hub validate` also runs it on a config that has problems of its own
// (config.Inspect), so it skips what config validation already reports: a
// connector without a kind, references to connectors that are not there,
// sources and sinks without a mapping file.
func Build(cfg *config.Config, kinds *connectors.Registry) (*Plan, error) {
	p := &Plan{Connectors: map[string]connectors.Connector{}, Sources: map[string]SourcePlan{}, Sinks: map[string]map[string]*mapping.Plan{}}
	var probs config.Problems
	fail := func(key, format string, args ...any) {
		probs = append(probs, cfg.ProblemAt(key, fmt.Sprintf(format, args...)))
	}

	for _, name := range sorted(cfg.Connectors) {
		cc, key := cfg.Connectors[name], "connectors."+name
		if cc.Kind == "" {
			continue // config validation reports it
		}
		if !contains(kinds.Kinds(), cc.Kind) {
			fail(key+".kind", "unknown connector kind %q (known: %s)", cc.Kind, strings.Join(kinds.Kinds(), ", "))
			continue
		}
		conn, err := kinds.New(cc.Kind, connectors.Params{
			Name:   name,
			Decode: func(into any) error { return cfg.DecodeConnector(name, into) },
			Dir:    cfg.Dir(),
		})
		if err != nil {
			probs = append(probs, connectorProblems(cfg, name, cc.Kind, err)...)
			continue
		}
		p.Connectors[name] = conn
	}
	load := func(key, path, entity, direction string) *mapping.Plan {
		if path == "" {
			return nil // config validation reports it
		}
		mp, err := mapping.Load(path)
		if err != nil {
			var mps mapping.Problems
			if !errors.As(err, &mps) {
				fail(key, "mapping %s: %v", path, err)
				return nil
			}
			for _, m := range mps {
				fail(key, "%s", m.String())
			}
			return nil
		}
		if mp.Entity != entity || mp.Direction != direction {
			fail(key, "mapping %s maps %s %q, but this needs %s %q", path, mp.Entity, mp.Direction, entity, direction)
			return nil
		}
		return mp
	}
	for _, name := range sorted(cfg.Sources) {
		sc, key := cfg.Sources[name], "sources."+name
		if conn, ok := p.Connectors[sc.Connector]; ok {
			if src, ok := conn.(connectors.Reader); !ok {
				fail(key+".connector", "connector %s cannot be a source", sc.Connector)
			} else if reads := readEntities(src.Reads()); !contains(reads, sc.Entity) {
				fail(key+".entity", "connector %s reads no %s (it reads: %s)", sc.Connector, sc.Entity, strings.Join(reads, ", "))
			}
		}
		if mp := load(key+".mapping", sc.Mapping, sc.Entity, "in"); mp != nil {
			p.Sources[name] = SourcePlan{Config: sc, Plan: mp}
		}
	}
	for _, name := range sorted(cfg.Sinks) {
		sc, key := cfg.Sinks[name], "sinks."+name
		var sink connectors.Writer
		if conn, ok := p.Connectors[sc.Connector]; ok {
			if s, ok := conn.(connectors.Writer); ok {
				sink = s
			} else {
				fail(key+".connector", "connector %s cannot be a sink", sc.Connector)
			}
		}
		p.Sinks[name] = map[string]*mapping.Plan{}
		for _, entity := range sorted(sc.Entities) {
			ekey := key + ".entities." + entity
			if sink != nil {
				if writes := writeEntities(sink.Writes()); !contains(writes, entity) {
					fail(ekey, "connector %s writes no %s (it writes: %s)", sc.Connector, entity, strings.Join(writes, ", "))
				}
			}
			if mp := load(ekey+".mapping", sc.Entities[entity].Mapping, entity, "out"); mp != nil {
				p.Sinks[name][entity] = mp
			}
		}
	}
	if len(probs) > 0 {
		return nil, config.Combine(nil, probs)
	}
	return p, nil
}

// connectorProblems turns the error of a connector's constructor into
// problems that name the full key (connectors.crm.driver) and its line, or
// the line of the nearest parent key the file sets. Decoding problems
// arrive as config.Problems, already located; the constructor's own checks
// as connectors.FieldErrors, keyed relative to the settings block.
func connectorProblems(cfg *config.Config, name, kind string, err error) config.Problems {
	if ps, ok := config.ErrProblems(err); ok {
		return ps
	}
	prefix := "connectors." + name
	fes, ok := connectors.AsFieldErrors(err)
	if !ok {
		inner := err
		if u := errors.Unwrap(err); u != nil {
			inner = u // without the registry's "connector NAME (KIND): "
		}
		return config.Problems{cfg.ProblemAt(prefix, kind+": "+inner.Error())}
	}
	out := make(config.Problems, 0, len(fes))
	for _, fe := range fes {
		if fe.Key == "" {
			out = append(out, cfg.ProblemAt(prefix, kind+": "+fe.Msg))
			continue
		}
		out = append(out, cfg.ProblemAt(prefix+"."+fe.Key, fe.Msg))
	}
	return out
}

func readEntities(specs []connectors.ReadSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Entity
	}
	return out
}

func writeEntities(specs []connectors.WriteSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Entity
	}
	return out
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

// connectorMetrics exports the metrics connectors keep themselves (the ERP
// clients' calls, retries, call time, budget) on /metrics. Connectors of
// one kind describe the same metrics, told apart by their connector label,
// so they are collected together, unchecked (Describe sends nothing): a
// registry refuses two collectors with the same descriptions.
type connectorMetrics []prometheus.Collector

func (connectorMetrics) Describe(chan<- *prometheus.Desc) {}

func (cs connectorMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}

// startPipelines starts connectors, then sinks, then sources.
func (n *Node) startPipelines(ctx context.Context) error {
	cfg := n.cfg
	var withMetrics connectorMetrics
	for _, name := range sorted(n.plan.Connectors) {
		conn := n.plan.Connectors[name]
		if err := conn.Start(ctx); err != nil {
			return fmt.Errorf("start connector %s: %w", name, err)
		}
		if c, ok := conn.(prometheus.Collector); ok {
			withMetrics = append(withMetrics, c)
		}
	}
	if len(withMetrics) > 0 {
		if err := n.reg.Register(withMetrics); err != nil {
			return fmt.Errorf("register the connectors' metrics: %w", err)
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
		conn := n.plan.Connectors[sc.Connector].(connectors.Writer)
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
			Conn: n.plan.Connectors[sp.Config.Connector].(connectors.Reader), Plan: sp.Plan, Refs: sp.Config.Refs,
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
