package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// HeaderReplayFor marks a record re-injected from the dead-letter store for
// one sink only; other sinks skip it.
const HeaderReplayFor = "hub-replay-for"

// RetryPolicy bounds retries of one record's transient failures.
type RetryPolicy struct {
	MaxAttempts int
	Initial     time.Duration
	Max         time.Duration
	// RefWait bounds how long a record waits for a record it references
	// to reach the target; waiting is not an attempt. Zero waits forever.
	RefWait time.Duration
}

// Sink runs one entity of one configured sink: it consumes the entity topic
// in its own consumer group, writes each record to the connector and commits
// the offsets only when every record of the batch is written, suppressed or
// dead-lettered. Its steps, in data-flow order and each in its own file:
// decode and keep the newest of each record (sink_batch.go), prepare
// (echoes, no-ops, references, map out: sink_prepare.go), write
// (sink_write.go), and on failure wait, retry or dead-letter
// (sink_fail.go).
type Sink struct {
	Name   string // the sink's config name; dead letters are filed under it
	System string // the connector's name: the xref system written to
	Entity string
	Conn   connectors.Writer
	Plan   *mapping.Plan
	// Holds names the entities the system can hold (a sink writes them
	// to it, or a source reads them from it): a reference to one of them
	// waits until the system holds the record; a reference to another
	// (an analytics topic that takes orders only) cannot, and is left
	// unresolved. nil: every reference waits.
	Holds map[string]bool
	// Appends is true when the writer appends to a log (WriteSpec.Log): a
	// two-way record goes with its own version, not the target's version
	// it was based on, since no write there overwrites another.
	Appends bool
	// NoStamps leaves the crosswalk alone (`stamps: false`, for a log
	// nothing reads back): nothing is recorded of what the sink writes,
	// so every version delivered is written, deletes included, and no
	// record's id in the target is looked up.
	NoStamps  bool
	Reader    *bus.Reader
	Store     *store.Store
	DLQ       *DeadLetters
	Metrics   *Metrics
	Log       *slog.Logger
	BatchSize int
	Retry     RetryPolicy
	// Journal records each record's journey; nil traces nothing.
	Journal *Journal
	// Policy, for a two-way entity, names the fields this system owns:
	// they are never written to it.
	Policy *Policy
	// Health gates the sink on its connector being started and keeps its
	// circuit; nil runs at once and reports nothing.
	Health *Health
	// Controls, when set, pause the sink on an operator's word (after the
	// batch in progress).
	Controls *Controls
	// IgnoreDeletes drops deletes (traced) instead of writing them: for a
	// target that cannot apply them.
	IgnoreDeletes bool
	// Abandon, when done, makes a write still hanging on the system give
	// up (late in a stop: the batch is not committed and comes again after
	// a restart). nil: writes finish however long they take.
	Abandon context.Context

	live    atomic.Pointer[SinkSettings] // set by a config reload (Reconfigure)
	events  []store.TraceEvent           // the batch's journal, appended once per batch
	settled []string                     // hub ids of the batch that are done (written, suppressed, skipped)
	waited  bool                         // a record of the batch waited for a reference (its wait is stored)
	written int                          // records of the batch written
	revoked <-chan struct{}              // closed when the group rebalances after the batch was fetched
	stats   stats
}

// runner is the sink's name in health reports.
func (s *Sink) runner() string { return "sink " + s.Name + "/" + s.Entity }

// Run consumes until ctx ends. A batch in progress when ctx ends is not
// committed: it is delivered again after a restart, and idempotent writes
// make the redelivery harmless.
func (s *Sink) Run(ctx context.Context) error {
	if !s.Health.wait(ctx, s.System) {
		return nil // stopping before the connector came up
	}
	s.Log.Info("sink started", "group", s.Reader.Group())
	for ctx.Err() == nil {
		if !s.Controls.waitUnpaused(ctx, s.runner(), s.Log) {
			break
		}
		msgs, err := s.Reader.FetchBatch(ctx, s.settings().BatchSize, 5*time.Millisecond)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.Log.Warn("sink fetch failed; retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		// Paused while this fetch waited: the batch waits too (fetched,
		// not committed) until the sink is resumed.
		if !s.Controls.waitUnpaused(ctx, s.runner(), s.Log) {
			break
		}
		start := time.Now()
		err = s.process(ctx, msgs)
		s.Journal.Append(ctx, s.events)
		s.events = s.events[:0]
		if errors.Is(err, errRevoked) {
			s.leave(msgs)
			continue
		}
		if err != nil {
			break // stopping before the batch was done: no commit
		}
		if err := s.commit(ctx, msgs); err != nil {
			if errors.Is(err, bus.ErrRevoked) {
				s.leave(msgs)
				continue
			}
			break
		}
		s.stats.add(s.written, time.Time{})
		s.stats.consumed(msgs[len(msgs)-1].Time)
		s.Metrics.BatchSeconds.WithLabelValues(s.System, s.Entity, "sink").Observe(time.Since(start).Seconds())
		s.Log.Debug("batch written", "records", len(msgs), "took", time.Since(start))
		s.Metrics.Lag.WithLabelValues(s.System, s.Entity).Set(float64(s.Reader.Lag()))
	}
	s.Log.Info("sink stopped")
	return nil
}

// commit commits the batch's offsets. The writes are done: the commit is
// finished even while stopping, each try bounded. It returns
// bus.ErrRevoked, untried again, when the group has moved the batch's
// partitions on.
func (s *Sink) commit(ctx context.Context, msgs []bus.Message) error {
	var revoked error
	err := retryForever(ctx, s.Log, "commit offsets", func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := s.Reader.Commit(cctx, msgs...)
		if errors.Is(err, bus.ErrRevoked) {
			revoked = err
			return nil
		}
		return err
	})
	if revoked != nil {
		return revoked
	}
	return err
}

// errRevoked: the consumer group moved the batch's partitions on (a worker
// joined or left) while the batch was not done, and the sink let the batch
// go rather than keep the rebalance waiting.
var errRevoked = errors.New("the consumer group rebalanced")

// leave lets an uncommitted batch go after a rebalance: the partitions'
// owner in the next generation (this worker or another) reads its records
// again from the last commit, and the xref of those written already makes
// them no-ops there.
func (s *Sink) leave(msgs []bus.Message) {
	s.Reader.Release()
	s.Metrics.Failures.WithLabelValues(s.System, s.Entity, "rebalanced").Inc()
	s.Log.Info("the consumer group rebalanced before the batch was done; its records are read again by the partitions' next owner",
		"records", len(msgs), "written", s.written)
}

// pause waits d between tries of a batch. It ends early with errRevoked
// when the group rebalances, so that a batch waiting for references or
// for its system does not hold its partitions while others could take
// them, and with ctx's error when ctx ends.
func (s *Sink) pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.revoked:
		return errRevoked
	case <-t.C:
		return nil
	}
}

// process handles one fetched batch; an error means ctx ended first, or
// errRevoked: the group rebalanced and the batch was let go unfinished.
func (s *Sink) process(ctx context.Context, msgs []bus.Message) error {
	s.settled, s.waited, s.written = s.settled[:0], false, 0
	s.revoked = s.Reader.Revoked(msgs)
	select {
	case <-s.revoked:
		return errRevoked // the group moved on while the batch was fetched, or while paused
	default:
	}
	todo, err := s.decodeBatch(ctx, msgs)
	if err != nil {
		return err
	}
	if err := s.writeAll(ctx, todo); err != nil {
		return err
	}
	if s.waited {
		// Every record of the batch is written or dead-lettered now.
		ids := make([]string, len(todo))
		for i, it := range todo {
			ids[i] = it.env.ID
		}
		if err := retryForever(ctx, s.Log, "forget the waits of written records", func() error {
			return s.Store.EndWaits(ctx, s.Name, s.Entity, ids)
		}); err != nil {
			return err
		}
	}
	return s.supersede(ctx)
}

// sinkStages are the stages at which a sink dead-letters a record.
func sinkStages() []string { return []string{StageXref, StageSinkMap, StageWrite} }

// supersede closes this sink's open dead letters of the records the batch
// settled: each has since been delivered in a newer version (or deleted,
// or found already there), so replaying the older one would bring back an
// older state.
func (s *Sink) supersede(ctx context.Context) error {
	if len(s.settled) == 0 {
		return nil
	}
	return retryForever(ctx, s.Log, "close superseded dead letters", func() error {
		ids, err := s.Store.SupersedeDeadLetters(ctx, s.Name, s.Entity, s.settled, sinkStages())
		if len(ids) > 0 {
			s.Log.Info("dead letters superseded by newer versions of their records", "ids", ids)
		}
		return err
	})
}

// writeAll prepares and writes the batch's records, retrying those that
// fail passingly and waiting for late references, until every one is
// written, suppressed or dead-lettered.
func (s *Sink) writeAll(ctx context.Context, todo []*item) error {
	b := newBackoff(s.retry().Initial, s.retry().Max)
	refs := newBackoff(min(refRecheck, s.retry().Initial), s.retry().Max)
	toldWait := false
	for len(todo) > 0 {
		var v *view
		if err := retryForever(ctx, s.Log, "read xref for batch", func() error {
			var err error
			v, err = s.lookupBatch(ctx, todo)
			return err
		}); err != nil {
			return err
		}
		ready, retry, waiting, deadRefs, err := s.prepareAll(ctx, todo, v)
		if err != nil {
			return err
		}
		if len(ready) > 0 {
			again, err := s.write(ctx, ready)
			if err != nil {
				return err
			}
			retry = append(retry, again...)
		}
		if waiting > 0 && !toldWait {
			// Once per batch; each record's wait is in its trace.
			s.Log.Info("records wait for the records they reference to reach "+s.System, "records", waiting, "refs", deadRefs)
			toldWait = true
		}
		todo = retry
		if len(todo) > 0 {
			s.Metrics.Retries.WithLabelValues(s.System, s.Entity).Add(float64(len(todo)))
			next := b
			if waiting == len(todo) {
				next = refs // nothing failed: the records wait for references
			}
			if err := s.pause(ctx, next.NextBackOff()); err != nil {
				return err
			}
		}
	}
	return nil
}

// refRecheck is the first pause before records that only wait for a
// record they reference are looked at again; it doubles up to retry.max.
// The reference is usually on its way (a new customer and its first
// order travel on two topics, and the customer's sink may write it a
// moment after the order arrives), and the waiting batch holds its
// partition, so waiting retry.initial (200 ms, then 400, ...) delayed
// every later order of the partition: at the start of a hub bench sync at
// 1,000 orders/s the first second's orders took up to 0.8 s.
const refRecheck = 20 * time.Millisecond

// item is one record on its way through a batch.
type item struct {
	msg      bus.Message
	env      *Envelope
	rec      connectors.WriteRecord
	attempts int
	lastErr  error
	stage    string
	// waiting is when the record started to wait for a reference that
	// has not reached the target yet; zero while it is not waiting.
	waiting time.Time
	// Of a two-way record: what the target held as last known, and the
	// target's version the write is based on ("" for a new record).
	before  *held
	basedOn string
}

// note adds a trace event about env to the batch's journal.
func (s *Sink) note(env *Envelope, extID, event, detail string) {
	if s.Journal == nil {
		return
	}
	s.events = append(s.events, store.TraceEvent{Entity: s.Entity, HubID: env.ID, System: s.System, Connector: s.Name,
		ExternalID: extID, Event: event, Version: versionText(env.Version), Hash: env.Hash, Detail: detail})
}

func header(m bus.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
