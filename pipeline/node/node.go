// Package node owns the lifecycle of one hub process: it starts the state
// store, the embedded broker (when no brokers are configured), the Kafka bus
// and the HTTP server in order, reports readiness, and on shutdown stops
// intake, flushes writers, commits offsets and closes everything in reverse
// order within the configured timeout.
//
// It is the one place that maps config structs onto each component's own
// plain config; components never import config themselves.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/crmhub/hub/canonical"
	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/console"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/api"
	"github.com/crmhub/hub/pipeline/broker"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/server"
	"github.com/crmhub/hub/store"
)

// Node is one running hub process.
type Node struct {
	cfg     *config.Config
	log     *slog.Logger
	version string

	reg    *prometheus.Registry
	store  *store.Store
	broker *broker.Broker
	bus    *bus.Bus
	http   *server.Server

	kinds   *connectors.Registry
	plan    *Plan
	metrics *pipeline.Metrics
	dlq     *pipeline.DeadLetters
	journal *pipeline.Journal // nil when trace.enabled is false
	health  *pipeline.Health
	closers []io.Closer // writers and readers, closed after the runners stop

	supervisors, sources, streams, sinks, viewGroup runGroup
	reconGroup                                      runGroup
	recon                                           *pipeline.ReconScheduler
	reconCtx                                        context.Context
	intakes                                         map[string]*pipeline.Intake
	pushes                                          map[string]*pipeline.Push // by connector
	pulls                                           map[string]*pipeline.Source
	sinkRunners                                     []*pipeline.Sink
	controls                                        *pipeline.Controls
	supCtx                                          context.Context // the supervisors' (connectors, controls)
	views                                           map[string]*pipeline.ViewRunner
	mounted                                         map[string]string // route pattern -> connector
	// abandon is done when sink writes still hanging on a system must
	// give up (late in a stop); abandonWrites makes it so.
	abandon       context.Context
	abandonWrites context.CancelFunc

	// Reload (reload.go): how to read the config again, the log level to
	// set, the config as applied so far and its mapping files' digests.
	reloadMu   sync.Mutex
	loadConfig ConfigLoader
	level      *slog.LevelVar
	live       *config.Config
	digests    digests

	lock  *dirLock // on hub.data_dir
	ready chan struct{}
}

// New prepares a node; nothing starts until Run. kinds holds the connector
// kinds the binary ships.
func New(cfg *config.Config, log *slog.Logger, version string, kinds *connectors.Registry) *Node {
	return &Node{cfg: cfg, log: log, version: version, kinds: kinds, ready: make(chan struct{})}
}

// Ready is closed once every component has started.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// HTTPAddr is the bound HTTP address once Ready.
func (n *Node) HTTPAddr() string { return n.http.Addr() }

// BrokerAddrs are the Kafka bootstrap addresses in use once Ready.
func (n *Node) BrokerAddrs() []string {
	if n.broker != nil {
		return n.broker.Addrs()
	}
	return n.cfg.Kafka.Brokers
}

// Run starts the node and blocks until ctx is cancelled, then shuts down
// gracefully. It returns an error if a component fails to start or the
// shutdown does not finish within hub.shutdown_timeout.
func (n *Node) Run(ctx context.Context) (err error) {
	started := time.Now()
	defer func() {
		if cerr := n.shutdown(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := n.start(ctx); err != nil {
		return err
	}
	n.log.Info("hub ready", "http", n.http.Addr(), "kafka", n.BrokerAddrs(),
		"embedded_broker", n.broker != nil, "startup", time.Since(started).Round(time.Millisecond))
	close(n.ready)
	<-ctx.Done()
	n.log.Info("shutting down", "timeout", n.cfg.Hub.ShutdownTimeout)
	return nil
}

func (n *Node) start(ctx context.Context) error {
	cfg := n.cfg
	plan, err := BuildLogged(cfg, n.kinds, n.log)
	if err != nil {
		return err
	}
	n.plan = plan
	n.live, n.digests = cfg, planDigests(plan)
	for _, w := range plan.Warnings {
		n.log.Warn("config: " + w.String())
	}
	if n.lock, err = lockDataDir(cfg.Hub.DataDir); err != nil {
		return err
	}
	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newBuildInfo(n.version),
	)

	st, err := store.Open(ctx, cfg.State.DSN.Reveal())
	if err != nil {
		return fmt.Errorf("start state store (state.dsn): %w", err)
	}
	n.store = st

	brokers := cfg.Kafka.Brokers
	if cfg.Kafka.UseEmbedded() {
		b, err := broker.Start(ctx, broker.Config{
			Addr:           cfg.Kafka.Embedded.Addr,
			DataDir:        cfg.Kafka.Embedded.DataDir,
			Partitions:     cfg.Kafka.Partitions,
			Retention:      cfg.Kafka.Embedded.Retention,
			RetentionBytes: cfg.Kafka.Embedded.RetentionBytes,
			SyncWrites:     cfg.Kafka.Embedded.SyncWrites,
			// With kafka.sasl set the hub's own client authenticates, and
			// the embedded broker requires that same user of everyone.
			SASL: broker.SASL{Mechanism: cfg.Kafka.SASL.Mechanism, User: cfg.Kafka.SASL.Username, Password: cfg.Kafka.SASL.Password.Reveal()},
		}, n.log.With("component", "broker"))
		if err != nil {
			return fmt.Errorf("start embedded broker (kafka.embedded): %w", err)
		}
		n.broker = b
		brokers = b.Addrs()
	}

	bs, err := bus.New(busConfig(cfg, brokers), n.log.With("component", "bus"))
	if err != nil {
		return fmt.Errorf("start kafka bus: %w", err)
	}
	n.bus = bs
	if err := bs.Ping(ctx); err != nil {
		return fmt.Errorf("reach kafka at %v: %w", brokers, err)
	}
	if err := bs.EnsureTopics(ctx, n.topics()...); err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	n.reg.MustRegister(bs.Collectors()...)
	n.metrics = pipeline.NewMetrics(n.reg)
	if err := n.startPipelines(ctx); err != nil {
		return err
	}
	n.reg.MustRegister(newCollector(n))

	n.http = server.New(server.Config{
		Addr:              cfg.HTTP.Addr,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxBodyBytes:      cfg.HTTP.MaxBodyBytes,
		Tokens:            tokens(cfg),
		Users:             users(cfg),
		Login: server.LoginPolicy{MaxFailures: cfg.API.Login.MaxFailures, Lockout: cfg.API.Login.Lockout,
			SessionTTL: cfg.API.Login.SessionIdle},
		TLSCertFile:   cfg.HTTP.TLSCertFile,
		TLSKeyFile:    cfg.HTTP.TLSKeyFile,
		SecureCookies: cfg.HTTP.SecureCookies,
		Audit:         n.auditHTTP,
	}, n.log.With("component", "http"), n.reg,
		append([]server.Check{
			{Name: "broker", Fn: bs.Ping},
			{Name: "state", Fn: st.Ping},
		}, n.connectorChecks()...)...,
	)
	(&api.API{Store: st, Replayer: n.Replayer(), Views: n.views, Ops: n, Recon: n}).Register(n.http)
	if err := n.registerConsole(); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if err := n.mountRoutes(); err != nil {
		return err
	}
	return n.http.Start()
}

// topics are the entity topics plus the dead-letter topic.
func (n *Node) topics() []bus.TopicSpec {
	k := n.cfg.Kafka
	var specs []bus.TopicSpec
	for _, e := range append(canonical.Entities(), "dlq") {
		specs = append(specs, bus.TopicSpec{
			Name:              k.TopicPrefix + "." + e,
			Partitions:        k.Partitions,
			ReplicationFactor: k.ReplicationFactor,
		})
	}
	return specs
}

func busConfig(cfg *config.Config, brokers []string) bus.Config {
	k := cfg.Kafka
	return bus.Config{
		Brokers:  brokers,
		ClientID: k.ClientID,
		TLS: bus.TLSConfig{
			Enabled:            k.TLS.Enabled,
			CAFile:             k.TLS.CAFile,
			CertFile:           k.TLS.CertFile,
			KeyFile:            k.TLS.KeyFile,
			ServerName:         k.TLS.ServerName,
			InsecureSkipVerify: k.TLS.InsecureSkipVerify,
		},
		SASL: bus.SASLConfig{
			Mechanism: k.SASL.Mechanism,
			Username:  k.SASL.Username,
			Password:  k.SASL.Password.Reveal(),
		},
		BatchSize:    k.Producer.BatchSize,
		BatchBytes:   k.Producer.BatchBytes,
		BatchTimeout: k.Producer.BatchTimeout,
		DialTimeout:  k.DialTimeout,
	}
}

// shutdown stops components in reverse order of start, bounded by
// hub.shutdown_timeout whatever a system does. Each step runs even if an
// earlier one failed.
func (n *Node) shutdown() error {
	timeout := n.cfg.Hub.ShutdownTimeout
	start := time.Now()
	at := func(frac float64) time.Duration { // time left until frac of the timeout
		return max(time.Until(start.Add(time.Duration(frac*float64(timeout)))), 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	// Webhooks and the API stop first (a push in flight finishes its
	// publish); then intake (sources); then sinks finish their batch and
	// commit. A sink write hanging on its system is abandoned late in the
	// stop: its batch is not committed and comes again after a restart.
	// Then writers and readers close, and only then the bus, the broker and
	// the store.
	if n.http != nil {
		n.http.Drain()
		hctx, hcancel := context.WithTimeout(ctx, at(0.2))
		if err := n.http.Shutdown(hctx); err != nil {
			errs = append(errs, err)
		}
		hcancel()
	}
	n.streams.stop()
	n.stopPushes(at(0.3))
	n.reconGroup.stop() // runs in progress are cancelled and recorded as failed
	if !n.sources.stopWithin(at(0.4), 0, func() {}) {
		errs = append(errs, errors.New("sources did not stop in time"))
	}
	abandon := func() {
		n.log.Warn("abandoning sink writes still in progress; their batches are not committed and come again after a restart")
		if n.abandonWrites != nil {
			n.abandonWrites()
		}
	}
	if !n.sinks.stopWithin(at(0.7), at(0.9), abandon) {
		errs = append(errs, errors.New("sinks did not stop in time"))
	}
	n.viewGroup.stop()
	n.supervisors.stop()
	// Closing waits for calls in flight (a connector's database pool waits
	// for its queries, one of them the abandoned write): bounded too.
	closed := make(chan []error, 1)
	go func() { closed <- n.closeClients() }()
	select {
	case cerrs := <-closed:
		errs = append(errs, cerrs...)
	case <-ctx.Done():
		n.log.Warn("closing the connectors and Kafka clients did not finish within hub.shutdown_timeout; stopping without them")
	}
	if n.broker != nil {
		if err := n.broker.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close embedded broker: %w", err))
		}
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close state store: %w", err))
		}
	}
	if err := n.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("release the data folder: %w", err))
	}
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("shutdown took longer than hub.shutdown_timeout (%s)", n.cfg.Hub.ShutdownTimeout))
	}
	if len(errs) == 0 {
		n.log.Info("stopped cleanly")
	}
	return errors.Join(errs...)
}

// stopPushes refuses pushed records from now on and waits, at most d,
// for the batches still running (a handler the HTTP server stopped
// waiting for, a batch whose senders have all gone and that winds down),
// so that none runs against closed clients.
func (n *Node) stopPushes(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for name, p := range n.pushes {
		if !p.Stop(ctx) {
			n.log.Warn("a batch of pushed records still ran when the stop went on", "connector", name)
		}
	}
}

// closeClients closes the Kafka readers and writers, the connectors and
// the bus, each even if one before it failed.
func (n *Node) closeClients() []error {
	var errs []error
	for _, c := range n.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.plan != nil {
		for _, c := range n.plan.Connectors {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close connector %s: %w", c.Name(), err))
			}
		}
	}
	if n.bus != nil {
		if err := n.bus.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close bus: %w", err))
		}
	}
	return errs
}

func newBuildInfo(version string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "hub_build_info",
		Help:        "Always 1; the version label says which hub build runs.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	g.Set(1)
	return g
}

func tokens(cfg *config.Config) []server.Token {
	out := make([]server.Token, len(cfg.API.Tokens))
	for i, t := range cfg.API.Tokens {
		out[i] = server.Token{Name: t.Name, Role: t.Role, Secret: t.Token.Reveal(), Digest: t.TokenSHA256}
	}
	return out
}

func users(cfg *config.Config) []server.User {
	out := make([]server.User, len(cfg.API.Users))
	for i, u := range cfg.API.Users {
		out[i] = server.User{Name: u.Name, Role: u.Role, PasswordHash: u.PasswordHash.Reveal(), TOTPSecret: u.TOTPSecret.Reveal()}
	}
	return out
}

// auditHTTP writes the server's audit events (logins, refusals, every
// state-changing request) to the audit log: detail says from where and
// how it ended.
func (n *Node) auditHTTP(ctx context.Context, e server.AuditEvent) {
	detail := "from " + e.Remote + ": " + e.Outcome
	if err := n.store.AppendAudit(ctx, e.Actor, e.Action, e.Subject, detail); err != nil {
		n.log.Error("audit log", "action", e.Action, "actor", e.Actor, "err", err)
	}
}

// registerConsole mounts the operations console and starts sampling the
// runners' counters for its charts.
func (n *Node) registerConsole() error {
	maps := map[string]string{}
	for name, s := range n.cfg.Sources {
		if s.Mapping != "" {
			maps["source "+name] = s.Mapping
		}
	}
	for name, s := range n.cfg.Sinks {
		for e, ec := range s.Entities {
			if ec.Mapping != "" {
				maps["sink "+name+"/"+e] = ec.Mapping
			}
		}
	}
	sampler := &console.Sampler{Status: n.Status, Store: n.store}
	c := &console.Console{Store: n.store, Replayer: n.Replayer(), Ops: n, Recon: n, Log: n.log.With("component", "console"),
		Mappings: maps, Sampler: sampler}
	if err := c.Register(n.http); err != nil {
		return err
	}
	n.supervisors.start(n.supCtx, sampler.Run)
	return nil
}

// Replayer re-injects dead letters through this node's bus and sources.
func (n *Node) Replayer() *pipeline.Replayer {
	return &pipeline.Replayer{Store: n.store, Bus: n.bus, Prefix: n.cfg.Kafka.TopicPrefix,
		Sources: n.intakes, DLQ: n.dlq, Log: n.log.With("component", "replay")}
}

// Tools are what the operator commands (hub dlq) need without running the
// pipelines: the state store and, for replays, the bus and the sources'
// mappings. Close releases them.
type Tools struct {
	Store    *store.Store
	Replayer *pipeline.Replayer
	closers  []func() error
}

// Close releases the tools.
func (t *Tools) Close() error {
	var errs []error
	for i := len(t.closers) - 1; i >= 0; i-- {
		errs = append(errs, t.closers[i]())
	}
	return errors.Join(errs...)
}

// OpenTools opens the state store and, when withBus is true, a bus client
// to the configured brokers (the embedded broker of a running hub when none
// are configured) for replays.
func OpenTools(ctx context.Context, cfg *config.Config, kinds *connectors.Registry, log *slog.Logger, withBus bool) (*Tools, error) {
	st, err := store.Open(ctx, cfg.State.DSN.Reveal())
	if err != nil {
		return nil, fmt.Errorf("open state store (state.dsn): %w", err)
	}
	t := &Tools{Store: st, closers: []func() error{st.Close},
		Replayer: &pipeline.Replayer{Store: st, Log: log}} // discards need no bus
	if !withBus {
		return t, nil
	}
	plan, err := Build(cfg, kinds)
	if err != nil {
		t.Close()
		return nil, err
	}
	brokers := cfg.Kafka.Brokers
	if cfg.Kafka.UseEmbedded() {
		brokers = []string{cfg.Kafka.Embedded.Addr}
	}
	bs, err := bus.New(busConfig(cfg, brokers), log)
	if err != nil {
		t.Close()
		return nil, err
	}
	t.closers = append(t.closers, bs.Close)
	if err := bs.Ping(ctx); err != nil {
		t.Close()
		return nil, fmt.Errorf("reach kafka at %v (is the hub running?): %w", brokers, err)
	}
	metrics := pipeline.NewMetrics(prometheus.NewRegistry())
	dlq := &pipeline.DeadLetters{Store: st, Metrics: metrics, Log: log}
	sources := map[string]*pipeline.Intake{}
	policies := Policies(cfg)
	for name, sp := range plan.Sources {
		sources[name] = &pipeline.Intake{Name: name, System: sp.Config.Connector, Entity: sp.Config.Entity,
			Plan: sp.Plan, Refs: sp.Config.Refs, Store: st, DLQ: dlq, Metrics: metrics, Log: log,
			Policy: policies[sp.Config.Entity]}
	}
	t.Replayer = &pipeline.Replayer{Store: st, Bus: bs, Prefix: cfg.Kafka.TopicPrefix, Sources: sources, DLQ: dlq, Log: log}
	return t, nil
}
