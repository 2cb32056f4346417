package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// ReconTools are what `hub reconcile` needs outside a running hub: the
// state store, the jobs with their connectors (started on first use), and
// a bus to publish repairs on when asked for. Close releases them.
type ReconTools struct {
	pipeline.Reconciler
	Jobs    map[string]pipeline.ReconJob
	conns   map[string]connectors.Connector
	started map[string]bool
	log     *slog.Logger
	closers []func() error
}

// OpenReconcile builds the config's jobs and opens the state store; with
// repairs it also reaches Kafka (the configured brokers, or the running
// hub's embedded broker) to publish them.
func OpenReconcile(ctx context.Context, cfg *config.Config, kinds *connectors.Registry, log *slog.Logger, repairs bool) (t *ReconTools, err error) {
	plan, err := BuildLogged(cfg, kinds, log)
	if err != nil {
		return nil, err
	}
	t = &ReconTools{Jobs: plan.Recon, conns: plan.Connectors, started: map[string]bool{}, log: log}
	defer func() {
		if err != nil {
			_ = t.Close()
		}
	}()
	st, err := store.Open(ctx, cfg.State.DSN.Reveal())
	if err != nil {
		return nil, fmt.Errorf("open state store (state.dsn): %w", err)
	}
	t.closers = append(t.closers, st.Close)
	t.Reconciler = pipeline.Reconciler{Store: st, Prefix: cfg.Kafka.TopicPrefix, Log: log,
		Metrics: pipeline.NewMetrics(prometheus.NewRegistry()), TempDir: reconTempDir(cfg)}
	if repairs {
		brokers := cfg.Kafka.Brokers
		if cfg.Kafka.UseEmbedded() {
			brokers = []string{cfg.Kafka.Embedded.Addr}
		}
		bs, err := bus.New(busConfig(cfg, brokers), log)
		if err != nil {
			return nil, err
		}
		t.closers = append(t.closers, bs.Close)
		if err := bs.Ping(ctx); err != nil {
			return nil, fmt.Errorf("reach kafka at %v to publish repairs (is the hub running? --report-only compares without): %w", brokers, err)
		}
		t.Bus = bs
	}
	return t, nil
}

// reconTempDir is where the engine spills: under hub.data_dir.
func reconTempDir(cfg *config.Config) string {
	dir := filepath.Join(cfg.Hub.DataDir, "reconcile")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ""
	}
	return dir
}

// Job returns a job with its two connectors started.
func (t *ReconTools) Job(ctx context.Context, name string) (pipeline.ReconJob, error) {
	rj, ok := t.Jobs[name]
	if !ok {
		return rj, fmt.Errorf("no reconciliation job %q in the config (jobs: %v)", name, sorted(t.Jobs))
	}
	for _, c := range []string{rj.Job.Left, rj.Job.Right} {
		if t.started[c] {
			continue
		}
		conn := t.conns[c]
		if err := startConn(ctx, conn, t.log); err != nil {
			return rj, err
		}
		t.started[c] = true
		t.closers = append(t.closers, conn.Close)
	}
	return rj, nil
}

// Close releases the connectors, the bus and the store.
func (t *ReconTools) Close() error {
	var errs []error
	for i := len(t.closers) - 1; i >= 0; i-- {
		errs = append(errs, t.closers[i]())
	}
	return errors.Join(errs...)
}
