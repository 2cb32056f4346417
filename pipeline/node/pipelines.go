package node

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/server"
)

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

// stop cancels the group and waits for it.
func (g *runGroup) stop() {
	if g.cancel != nil {
		g.cancel()
	}
	g.wg.Wait()
}

// stopWithin cancels the group and waits at most d; then it calls abandon
// (which must make the goroutines give up) and waits at most grace more.
// It reports whether every goroutine returned.
func (g *runGroup) stopWithin(d, grace time.Duration, abandon func()) bool {
	if g.cancel != nil {
		g.cancel()
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	}
	abandon()
	select {
	case <-done:
		return true
	case <-time.After(grace):
		return false
	}
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

// startPipelines starts the connectors (each on its own, retrying until
// its system answers), then the sinks, then the sources; runners wait for
// their connector.
func (n *Node) startPipelines(ctx context.Context) error {
	if err := n.startConnectors(ctx); err != nil {
		return err
	}
	cfg := n.cfg
	dlqTopic := n.bus.NewWriter(n.topic("dlq"))
	n.closers = append(n.closers, dlqTopic)
	n.dlq = &pipeline.DeadLetters{Store: n.store, Topic: dlqTopic, Metrics: n.metrics, Log: n.log.With("component", "dlq")}
	if cfg.Trace.Enabled {
		n.journal = &pipeline.Journal{Store: n.store, Log: n.log.With("component", "trace"), Metrics: n.metrics}
		n.closers = append(n.closers, n.journal) // after the runners stop, before the store closes
	}
	n.controls = &pipeline.Controls{Store: n.store, Log: n.log.With("component", "controls")}
	if err := n.controls.Refresh(ctx); err != nil {
		return fmt.Errorf("read the operators' controls: %w", err)
	}
	n.supervisors.start(n.supCtx, n.controls.Run)
	n.startSinks(ctx)
	n.startSources(ctx)
	n.startStreams(ctx)
	n.startViews(ctx)
	n.startReconcile(ctx)
	return nil
}

func (n *Node) topic(entity string) string { return n.cfg.Kafka.TopicPrefix + "." + entity }

// startConnectors supervises every connector: one system down at start
// delays only its own runners.
func (n *Node) startConnectors(ctx context.Context) error {
	names := sorted(n.plan.Connectors)
	n.health = pipeline.NewHealth(n.reg, n.log.With("component", "health"), names)
	var withMetrics connectorMetrics
	n.supCtx, n.supervisors.cancel = context.WithCancel(context.WithoutCancel(ctx))
	supCtx := n.supCtx
	for _, name := range names {
		conn := n.plan.Connectors[name]
		if c, ok := conn.(prometheus.Collector); ok {
			withMetrics = append(withMetrics, c)
		}
		n.supervisors.start(supCtx, func(ctx context.Context) { n.health.Supervise(ctx, conn, n.cfg.Hub.CheckInterval) })
	}
	if len(withMetrics) > 0 {
		if err := n.reg.Register(withMetrics); err != nil {
			return fmt.Errorf("register the connectors' metrics: %w", err)
		}
	}
	return nil
}

// connectorChecks are the readiness checks of the connectors.
func (n *Node) connectorChecks() []server.Check {
	var out []server.Check
	for _, name := range sorted(n.plan.Connectors) {
		out = append(out, server.Check{Name: "connector " + name, Fn: func(context.Context) error { return n.health.Check(name) }})
	}
	return out
}

// sinkReaderOptions are the options of a sink worker's consumer: its
// fetch of one partition brings at most kafka.consumer.fetch_bytes.
func sinkReaderOptions(cfg *config.Config) bus.ReaderOptions {
	return bus.ReaderOptions{MaxBytes: int(cfg.Kafka.Consumer.FetchBytes)}
}

// startSinks starts each sink entity's workers. Each sink entity has its
// own consumer group, so an order waiting for its customer never holds up
// the customers it waits for.
func (n *Node) startSinks(ctx context.Context) {
	cfg := n.cfg
	policies := Policies(cfg)
	var sinkCtx context.Context
	sinkCtx, n.sinks.cancel = context.WithCancel(context.WithoutCancel(ctx))
	n.abandon, n.abandonWrites = context.WithCancel(context.WithoutCancel(ctx))
	for _, name := range sorted(n.plan.Sinks) {
		sc := cfg.Sinks[name]
		conn := n.plan.Connectors[sc.Connector].(connectors.Writer)
		for _, entity := range sorted(n.plan.Sinks[name]) {
			for w := 0; w < sc.Workers; w++ {
				reader := n.bus.NewReader("hub.sink."+name+"."+entity, []string{n.topic(entity)}, sinkReaderOptions(cfg))
				n.closers = append(n.closers, reader)
				s := &pipeline.Sink{
					Name: name, System: sc.Connector, Entity: entity, Conn: conn, Plan: n.plan.Sinks[name][entity],
					Holds: holds(cfg, sc.Connector), Appends: appends(conn, entity), NoStamps: !sc.Stamped(),
					Reader: reader, Store: n.store, DLQ: n.dlq, Metrics: n.metrics,
					Journal: n.journal, Policy: policies[entity],
					Log:           n.log.With("sink", name, "entity", entity, "worker", w),
					BatchSize:     sc.BatchSize,
					Retry:         retryPolicy(sc.Retry),
					Health:        n.health,
					Abandon:       n.abandon,
					IgnoreDeletes: sc.Entities[entity].Deletes == config.DeletesIgnore,
					Controls:      n.controls,
				}
				n.metrics.InitSink(sc.Connector, name, entity)
				n.sinkRunners = append(n.sinkRunners, s)
				n.sinks.start(sinkCtx, func(ctx context.Context) { _ = s.Run(ctx) })
			}
		}
	}
}

// appends tells whether w writes entity to an append-only log.
func appends(w connectors.Writer, entity string) bool {
	for _, spec := range w.Writes() {
		if spec.Entity == entity {
			return spec.Log
		}
	}
	return false
}

// holds is the entities whose ids in a connector's system the crosswalk
// records: the ones a sink with stamps writes to it or a source reads
// from it. A reference to another entity is not waited for.
func holds(cfg *config.Config, connector string) map[string]bool {
	u := usesOf(cfg, connector)
	out := make(map[string]bool, len(u.read)+len(u.stamped))
	for _, set := range []map[string]bool{u.read, u.stamped} {
		for entity := range set {
			out[entity] = true
		}
	}
	return out
}

// uses is what a config does with one connector's entities, each a set:
// read by a source, referenced by a source's refs, written by a sink,
// written by a sink with stamps.
type uses struct {
	read, referenced, written, stamped map[string]bool
}

func usesOf(cfg *config.Config, connector string) uses {
	u := uses{read: map[string]bool{}, referenced: map[string]bool{}, written: map[string]bool{}, stamped: map[string]bool{}}
	for _, src := range cfg.Sources {
		if src.Connector == connector {
			u.read[src.Entity] = true
			for entity := range src.Refs {
				u.referenced[entity] = true
			}
		}
	}
	for _, sc := range cfg.Sinks {
		if sc.Connector == connector {
			for entity := range sc.Entities {
				u.written[entity] = true
				if sc.Stamped() {
					u.stamped[entity] = true
				}
			}
		}
	}
	return u
}

// startSources starts the pull sources and the trace journal's pruning,
// and prepares the intakes of the push sources (their routes are mounted
// with the HTTP server: mountRoutes).
func (n *Node) startSources(ctx context.Context) {
	cfg := n.cfg
	n.intakes = map[string]*pipeline.Intake{}
	n.pushes = map[string]*pipeline.Push{}
	n.pulls = map[string]*pipeline.Source{}
	var srcCtx context.Context
	srcCtx, n.sources.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if n.journal != nil {
		n.sources.start(srcCtx, func(ctx context.Context) {
			n.journal.Prune(ctx, cfg.Trace.Retention, cfg.Trace.PruneInterval)
		})
	}
	for _, name := range sorted(n.plan.Sources) {
		sp := n.plan.Sources[name]
		in := n.intake(name, sp)
		n.intakes[name] = in
		n.metrics.InitSource(sp.Config.Connector, name, sp.Config.Entity)
		if sp.Config.Mode == config.SourcePush {
			n.addPush(sp.Config.Connector, in)
			continue
		}
		s := &pipeline.Source{
			Intake:   *in,
			Conn:     n.plan.Connectors[sp.Config.Connector].(connectors.Reader),
			Interval: sp.Config.Interval, BatchSize: sp.Config.BatchSize,
			Health:   n.health,
			Owner:    &pipeline.Owner{Store: n.store, Holder: n.holder(), TTL: cfg.Hub.LeaseTTL},
			Controls: n.controls,
		}
		n.pulls[name] = s
		n.intakes[name] = &s.Intake
		n.sources.start(srcCtx, func(ctx context.Context) { _ = s.Run(ctx) })
	}
}

// intake is the intake of one source, with its own topic writer.
func (n *Node) intake(name string, sp SourcePlan) *pipeline.Intake {
	w := n.bus.NewWriter(n.topic(sp.Config.Entity))
	n.closers = append(n.closers, w)
	return &pipeline.Intake{
		Name: name, System: sp.Config.Connector, Entity: sp.Config.Entity,
		Plan: sp.Plan, Live: new(pipeline.LivePlan), Refs: sp.Config.Refs,
		Store: n.store, Writer: w, DLQ: n.dlq, Metrics: n.metrics,
		Journal: n.journal, Policy: Policies(n.cfg)[sp.Config.Entity],
		Log:             n.log.With("source", name),
		NewerOnly:       sp.Config.Mode == config.SourcePush || n.pushed(sp.Config.Connector, sp.Config.Entity),
		MaxMessageBytes: maxMessageBytes(n.cfg.Kafka.Producer.BatchBytes),
	}
}

// pushed reports whether connector also receives entity pushed: then a
// pull source of it takes only newer versions too, so that a poll that
// read a record just before a webhook brought a newer version of it does
// not publish the older one after the newer.
func (n *Node) pushed(connector, entity string) bool {
	p, ok := n.plan.Connectors[connector].(connectors.Pusher)
	if !ok {
		return false
	}
	for _, rs := range p.Pushes() {
		if rs.Entity == entity {
			return true
		}
	}
	return false
}

// addPush adds a push source's intake to its connector's Push.
func (n *Node) addPush(connector string, in *pipeline.Intake) {
	p, ok := n.pushes[connector]
	if !ok {
		p = &pipeline.Push{System: connector, Intakes: map[string]*pipeline.Intake{}, Controls: n.controls, Health: n.health}
		n.pushes[connector] = p
	}
	p.Intakes[in.Entity] = in
}

// startViews starts the read models; each follows its topics from where
// its snapshot stands (or from the start).
func (n *Node) startViews(ctx context.Context) {
	n.views = map[string]*pipeline.ViewRunner{}
	var vctx context.Context
	vctx, n.viewGroup.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, name := range n.plan.Views {
		v := &pipeline.ViewRunner{Name: name, View: n.plan.Connectors[name].(connectors.View), Bus: n.bus,
			Prefix: n.cfg.Kafka.TopicPrefix, Log: n.log.With("view", name), Health: n.health}
		n.views[name] = v
		n.viewGroup.start(vctx, func(ctx context.Context) { _ = v.Run(ctx) })
	}
}

// startStreams runs the streams of push sources whose connector receives
// over a connection of its own (connectors.Streamer), supervised: a failed
// stream opens its circuit and is started again with backoff.
func (n *Node) startStreams(ctx context.Context) {
	var sctx context.Context
	sctx, n.streams.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, name := range sorted(n.pushes) {
		st, ok := n.plan.Connectors[name].(connectors.Streamer)
		if !ok {
			continue
		}
		push := n.pushes[name]
		n.streams.start(sctx, func(ctx context.Context) { n.health.Stream(ctx, name, st, push) })
	}
}

// mountRoutes mounts the routes of the pushers (their webhooks, public:
// they carry their own credentials, answered 503 until the connector has
// started; behind the API's tokens where a route names roles) and of the
// views (behind the API's tokens unless public).
func (n *Node) mountRoutes() error {
	n.mounted = map[string]string{}
	for _, name := range sorted(n.pushes) {
		pusher := n.plan.Connectors[name].(connectors.Pusher)
		for _, rt := range pusher.Routes(n.pushes[name]) {
			if err := pipeline.CheckRoute("pusher", rt.Pattern); err != nil {
				return fmt.Errorf("connector %s: %w", name, err)
			}
			if err := n.mount(name, rt, len(rt.Roles) == 0); err != nil {
				return err
			}
		}
	}
	for _, name := range n.plan.Views {
		for _, rt := range n.plan.Connectors[name].(connectors.View).Routes() {
			if err := pipeline.CheckRoute("view", rt.Pattern); err != nil {
				return fmt.Errorf("connector %s: %w", name, err)
			}
			if err := n.mount(name, rt, rt.Public); err != nil {
				return err
			}
		}
	}
	return nil
}

// mount mounts one route of connector name, gated on the connector having
// started, public or behind the API's tokens with the roles it names.
func (n *Node) mount(name string, rt connectors.Route, public bool) error {
	// The mux panics on a pattern registered twice: two connectors of one
	// kind whose routes carry no name (two screen-pop views).
	if other, ok := n.mounted[rt.Pattern]; ok {
		return fmt.Errorf("connector %s: route %q is connector %s's already (configure one connector of the kind)", name, rt.Pattern, other)
	}
	n.mounted[rt.Pattern] = name
	h := n.health.Gate(name, rt.Handler)
	if public {
		if rt.PlainErrors {
			h = server.PlainErrors(h)
		}
		n.http.Handle(rt.Pattern, h)
		return nil
	}
	access, err := routeAccess(rt)
	if err != nil {
		return fmt.Errorf("connector %s: %w", name, err)
	}
	n.http.HandleAccess(rt.Pattern, access, h)
	return nil
}

// routeAccess turns a route's roles into the server's access rule: the
// least ranked role named (viewer when none is), and the roles outside
// the ranking by name.
func routeAccess(rt connectors.Route) (server.Access, error) {
	a := server.Access{Plain: rt.PlainErrors}
	if len(rt.Roles) == 0 {
		a.Role = server.RoleViewer
		return a, nil
	}
	rank := map[string]int{server.RoleViewer: 1, server.RoleOperator: 2, server.RoleAdmin: 3}
	for _, r := range rt.Roles {
		switch {
		case rank[r] > 0:
			if a.Role == "" || rank[r] < rank[a.Role] {
				a.Role = r
			}
		case r == server.RoleCallCenter:
			a.Also = append(a.Also, r)
		default:
			return a, fmt.Errorf("route %q admits role %q (roles: %v)", rt.Pattern, r, server.Roles())
		}
	}
	return a, nil
}

// maxMessageBytes is the largest envelope a source may publish: the
// producer's batch limit (a larger message is refused by the writer, and
// by the broker's message.max.bytes) less room for the record's framing.
func maxMessageBytes(batchBytes int64) int {
	if batchBytes <= 0 || batchBytes > bus.MaxBatchBytes {
		batchBytes = bus.MaxBatchBytes
	}
	return int(batchBytes) - 1024
}

// holder names this process in leases: the node id and the process id, so
// that two processes on one host are two holders.
func (n *Node) holder() string {
	return n.cfg.Hub.NodeID + "/" + strconv.Itoa(os.Getpid())
}
