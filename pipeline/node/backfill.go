package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// BackfillJob is `hub backfill`'s work: a source's intake (publishing to
// the configured brokers, or a running hub's embedded broker) and its
// connector, started. Close releases them.
type BackfillJob struct {
	pipeline.Backfill
	closers []func() error
}

// Close releases the connector, the bus and the state store.
func (j *BackfillJob) Close() error {
	var errs []error
	for i := len(j.closers) - 1; i >= 0; i-- {
		errs = append(errs, j.closers[i]())
	}
	return errors.Join(errs...)
}

// OpenBackfill prepares the backfill of source: the source's connector
// must read its entity (a pull source, or a push source whose connector
// can also be read from). It starts the connector, retrying until it
// answers or ctx ends.
func OpenBackfill(ctx context.Context, cfg *config.Config, kinds *connectors.Registry, log *slog.Logger, source string) (job *BackfillJob, err error) {
	plan, err := Build(cfg, kinds)
	if err != nil {
		return nil, err
	}
	sp, ok := plan.Sources[source]
	if !ok {
		return nil, fmt.Errorf("no source %q in the config (sources: %v)", source, sorted(plan.Sources))
	}
	conn := plan.Connectors[sp.Config.Connector]
	reader, ok := conn.(connectors.Reader)
	if !ok || !readsEntity(reader, sp.Config.Entity) {
		return nil, fmt.Errorf("source %s: connector %s cannot be read from for %s, so it cannot be backfilled (a shop connector needs its api settings)",
			source, sp.Config.Connector, sp.Config.Entity)
	}
	job = &BackfillJob{}
	defer func() {
		if err != nil {
			_ = job.Close()
		}
	}()
	st, err := store.Open(ctx, cfg.State.DSN.Reveal())
	if err != nil {
		return nil, fmt.Errorf("open state store (state.dsn): %w", err)
	}
	job.closers = append(job.closers, st.Close)
	w, err := openWriter(ctx, cfg, log, sp.Config.Entity, job)
	if err != nil {
		return nil, err
	}
	if err := startConn(ctx, conn, log); err != nil {
		return nil, err
	}
	job.closers = append(job.closers, conn.Close)
	metrics := pipeline.NewMetrics(prometheus.NewRegistry())
	job.Intake = &pipeline.Intake{Name: source, System: sp.Config.Connector, Entity: sp.Config.Entity,
		Plan: sp.Plan, Refs: sp.Config.Refs, Store: st, Writer: w, Metrics: metrics, Log: log.With("source", source),
		DLQ: &pipeline.DeadLetters{Store: st, Metrics: metrics, Log: log}, Policy: Policies(cfg)[sp.Config.Entity],
		NewerOnly: true, MaxMessageBytes: maxMessageBytes(cfg.Kafka.Producer.BatchBytes)}
	job.Conn = reader
	job.BatchSize = sp.Config.BatchSize
	return job, nil
}

func readsEntity(r connectors.Reader, entity string) bool {
	for _, rs := range r.Reads() {
		if rs.Entity == entity {
			return true
		}
	}
	return false
}

// openWriter opens a writer of the entity's topic on the configured
// brokers, or on a running hub's embedded broker.
func openWriter(ctx context.Context, cfg *config.Config, log *slog.Logger, entity string, job *BackfillJob) (*bus.Writer, error) {
	brokers := cfg.Kafka.Brokers
	if cfg.Kafka.UseEmbedded() {
		brokers = []string{cfg.Kafka.Embedded.Addr}
	}
	bs, err := bus.New(busConfig(cfg, brokers), log)
	if err != nil {
		return nil, err
	}
	job.closers = append(job.closers, bs.Close)
	if err := bs.Ping(ctx); err != nil {
		return nil, fmt.Errorf("reach kafka at %v (is the hub running?): %w", brokers, err)
	}
	w := bs.NewWriter(cfg.Kafka.TopicPrefix + "." + entity)
	job.closers = append(job.closers, w.Close)
	return w, nil
}

// startConn starts a connector, trying again with backoff while its
// system does not answer (a refused credential is final).
func startConn(ctx context.Context, conn connectors.Connector, log *slog.Logger) error {
	wait := time.Second
	for {
		err := conn.Start(ctx)
		if err == nil {
			return nil
		}
		if kind, _ := connectors.Classify(err); kind == connectors.KindPermanent || ctx.Err() != nil {
			return fmt.Errorf("start connector %s: %w", conn.Name(), err)
		}
		log.Warn("connector did not start; retrying", "connector", conn.Name(), "err", err, "wait", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}
