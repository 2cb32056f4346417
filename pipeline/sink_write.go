package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/store"
)

// keepsFailing says a batch kept failing with a passing error past the
// retry policy while its system answered its probe: one or more of its
// records are to blame, not the system.
type keepsFailing struct {
	err      error
	attempts int
}

func (e *keepsFailing) Error() string {
	return fmt.Sprintf("failed %d times while the system answered its probe: %v", e.attempts, e.err)
}
func (e *keepsFailing) Unwrap() error { return e.err }

// write sends ready records to the connector, settles each one's outcome
// and returns those to retry; an error means ctx ended (or the write was
// abandoned) first, or errRevoked: the group rebalanced while the batch
// waited to be tried again.
func (s *Sink) write(ctx context.Context, ready []*item) ([]*item, error) {
	results, err := s.writeBatch(ctx, ready)
	var kf *keepsFailing
	if errors.As(err, &kf) {
		return s.writeOneByOne(ctx, ready, kf)
	}
	if err != nil {
		return nil, err
	}
	return s.settle(ctx, ready, results)
}

// writeOneByOne writes the records of a batch that keeps failing one at a
// time, to tell the records to blame from a system that fails. Each is
// tried alone once. When none goes through, the system is at fault after
// all: the sink's circuit opens and the records are retried later,
// uncounted. When others go through, each record that failed is retried
// alone within the retry policy and dead-lettered if it still fails. A
// single record that kept failing while its system answered its probe is
// dead-lettered.
func (s *Sink) writeOneByOne(ctx context.Context, ready []*item, kf *keepsFailing) ([]*item, error) {
	if len(ready) == 1 {
		it := ready[0]
		it.attempts += kf.attempts
		it.lastErr = kf
		if it.stage == "" {
			it.stage = StageWrite
		}
		s.Metrics.Failures.WithLabelValues(s.System, s.Entity, "retries_exhausted").Inc()
		return nil, s.deadLetter(ctx, it, store.KindRetriesExhausted)
	}
	s.Log.Warn("a batch keeps failing while "+s.System+" answers; writing its records one by one to find the ones to blame",
		"records", len(ready), "err", kf.err)
	var retry, failing []*item
	through := 0
	for _, it := range ready {
		results, err := s.writeOnce(ctx, []*item{it})
		if err != nil {
			if ctx.Err() != nil || (s.Abandon != nil && s.Abandon.Err() != nil) {
				return nil, fmt.Errorf("write one by one: %w", err)
			}
			failing = append(failing, it)
			continue
		}
		if results[0].Outcome != connectors.Failed {
			through++
		}
		again, err := s.settle(ctx, []*item{it}, results)
		if err != nil {
			return nil, err
		}
		retry = append(retry, again...)
	}
	if through == 0 && len(failing) > 0 {
		s.Health.open(s.System, s.runner(), fmt.Errorf("no record goes through, alone or in a batch: %w", kf.err))
		return append(retry, failing...), nil
	}
	for _, it := range failing {
		again, err := s.write(ctx, []*item{it})
		if err != nil {
			return nil, err
		}
		retry = append(retry, again...)
	}
	return retry, nil
}

// writeContext is the context of a write: not ended by a stop (a write the
// system may have applied is seen through), only by Abandon.
func (s *Sink) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if s.Abandon == nil {
		return wctx, cancel
	}
	stop := context.AfterFunc(s.Abandon, cancel)
	return wctx, func() { stop(); cancel() }
}

// writeBatch writes the records until the connector answers for each one.
// A failure of the whole batch (the system is down) is retried with
// backoff without counting against the records: the records are fine. A
// fault of the whole system (Unavailable, or a passing error that outlasts
// the retry policy while the system does not answer its probe) opens the
// sink's circuit until a write succeeds; nothing is dead-lettered for it.
// A passing error that outlasts the retry policy while the system answers
// is returned as *keepsFailing: the batch failed again after its system
// had answered the probe. A probe that answers for the first time only
// earns the batch one more try, since the system may have just come back:
// a record that failed only while its system was down (the probe failing
// until just after the last failure) is not to blame. (It was: with one
// customer in a batch and the target refusing every write for a while,
// the probe after the last refusal answered, and the customer and its
// orders were dead-lettered; pipeline TestLateCustomerIsWaitedFor failed
// about once in twenty runs on a loaded machine.)
func (s *Sink) writeBatch(ctx context.Context, ready []*item) ([]connectors.Result, error) {
	b := newBackoff(s.retry().Initial, s.retry().Max)
	answered := false // the probe answered after an earlier failure, and has not failed since
	for failures := 0; ; {
		results, err := s.writeOnce(ctx, ready)
		if err == nil {
			return results, nil
		}
		if ctx.Err() != nil || (s.Abandon != nil && s.Abandon.Err() != nil) {
			return nil, fmt.Errorf("write abandoned at stop: %w", err)
		}
		kind, after := connectors.Classify(err)
		if kind == connectors.KindPermanent {
			return allFailed(len(ready), err), nil
		}
		failures++
		s.Metrics.Failures.WithLabelValues(s.System, s.Entity, "batch").Inc()
		switch {
		case kind == connectors.KindUnavailable:
			s.Health.open(s.System, s.runner(), err)
		case failures >= s.retry().MaxAttempts:
			if s.answers(ctx) {
				if answered {
					return nil, &keepsFailing{err: err, attempts: failures}
				}
				answered = true
				break
			}
			answered = false
			s.Health.open(s.System, s.runner(), err)
		}
		wait := max(b.NextBackOff(), after)
		s.Log.Warn("sink write failed; retrying the batch", "records", len(ready), "kind", kind, "err", err, "wait", wait)
		if err := s.pause(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// writeOnce makes one write call. A batch-level error, a wrong number of
// results and a record that failed for a fault of the whole system are
// returned as the error; a success closes the sink's circuit.
func (s *Sink) writeOnce(ctx context.Context, ready []*item) ([]connectors.Result, error) {
	recs := make([]connectors.WriteRecord, len(ready))
	for i, it := range ready {
		recs[i] = it.rec
	}
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	results, err := s.Conn.Write(wctx, s.Entity, recs)
	if err == nil && len(results) != len(recs) {
		err = fmt.Errorf("connector returned %d results for %d records", len(results), len(recs))
	}
	if err == nil {
		err = unavailableIn(results)
	}
	if err != nil {
		return nil, err
	}
	s.Health.close(s.System, s.runner())
	return results, nil
}

// unavailableIn returns the error of the first record that failed for a
// fault of the whole system: the batch is then retried as a whole.
func unavailableIn(results []connectors.Result) error {
	for _, r := range results {
		if r.Outcome == connectors.Failed && r.Err != nil {
			if kind, _ := connectors.Classify(r.Err); kind == connectors.KindUnavailable {
				return r.Err
			}
		}
	}
	return nil
}

func allFailed(n int, err error) []connectors.Result {
	out := make([]connectors.Result, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}

// answers reports whether the sink's system answers its probe; a
// connector without one is taken to answer.
func (s *Sink) answers(ctx context.Context) bool {
	c, ok := s.Conn.(interface{ Check(context.Context) error })
	if !ok {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Check(cctx) == nil
}

// settle handles each record's outcome: failures are counted (retried or
// dead-lettered), the rest traced, and what the target now holds is
// recorded in the xref. It returns the records to retry.
func (s *Sink) settle(ctx context.Context, ready []*item, results []connectors.Result) ([]*item, error) {
	// The target holds these writes now: record them even while stopping
	// (until writes are abandoned), so a restart does not write them again
	// for want of an xref.
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	bctx, bcancel := context.WithTimeout(wctx, 30*time.Second)
	defer bcancel()
	var retry []*item
	written := make([]store.Written, 0, len(results))
	count := 0
	for i, res := range results {
		it := ready[i]
		ext := res.ExternalID
		if ext == "" {
			ext = it.rec.ExternalID
		}
		switch res.Outcome {
		case connectors.Failed:
			err := res.Err
			if err == nil {
				err = fmt.Errorf("%s gave no outcome for the record", s.System)
			}
			done, derr := s.failed(bctx, it, err)
			if derr != nil {
				return nil, derr
			}
			if !done {
				retry = append(retry, it)
			}
			continue
		case connectors.Stale:
			s.settled = append(s.settled, it.env.ID)
			s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "older_version").Inc()
			s.note(it.env, ext, store.TraceSkipped, s.System+" holds a newer version")
			continue
		case connectors.NotFound:
			if err := s.notFound(bctx, it, ext); err != nil {
				return nil, err
			}
			continue
		case connectors.Unchanged:
			s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "unchanged").Inc()
			s.note(it.env, ext, store.TraceSuppressed, "unchanged: "+s.System+" already held it")
		default:
			count++
			detail := string(it.rec.Op)
			if it.env.Origin == s.System {
				detail += "; written back: " + s.System + " held values the hub refused"
			}
			s.note(it.env, ext, store.TraceWritten, detail)
		}
		s.settled = append(s.settled, it.env.ID)
		if it.env.Op == OpDelete || s.NoStamps {
			continue
		}
		written = append(written, s.stamp(it, ext))
	}
	if err := s.recordWritten(bctx, written); err != nil {
		return nil, err
	}
	s.Metrics.RecordsOut.WithLabelValues(s.System, s.Entity).Add(float64(count))
	s.written += count
	return retry, nil
}

// stamp is what the xref records of a record the target now holds.
func (s *Sink) stamp(it *item, ext string) store.Written {
	w := store.Written{HubID: it.env.ID, ExternalID: ext, Hash: it.env.Hash,
		Version: it.rec.Version.UTC().Format(time.RFC3339Nano)}
	if s.merging() {
		w.IfVersion = it.basedOn
		w.Fields = encodeFields(writtenFields(it.before, it.env.Data, func(f string) bool { return s.Policy.Owners[f] == s.System }))
	}
	return w
}

// recordWritten records the xref of written records.
func (s *Sink) recordWritten(ctx context.Context, written []store.Written) error {
	return retryForever(ctx, s.Log, "record xref of written records", func() error {
		linked, err := s.Store.RecordWritten(ctx, s.Entity, s.System, written)
		for _, c := range linked.Conflicts {
			s.Log.Warn("target id differs from the one on record", "hub_id", c.HubID, "external_id", c.ExternalID)
		}
		for _, m := range linked.Merged {
			s.Log.Info("merged two hub ids of one record", "alias", m.Alias, "hub_id", m.HubID, "external_id", m.ExternalID)
			s.events = append(s.events, store.TraceEvent{Entity: s.Entity, HubID: m.HubID, System: s.System, Connector: s.Name,
				ExternalID: m.ExternalID, Event: store.TraceMerged, Detail: "hub id " + m.Alias + " (known to " + s.System + " only) is this record"})
		}
		return err
	})
}

// notFound handles a record the target does not have. A delete of it is
// done already. An update of it means the record was deleted in the
// target: the hub forgets its id there and dead-letters the update, so
// that an operator decides (a replay creates it again).
func (s *Sink) notFound(ctx context.Context, it *item, ext string) error {
	if it.env.Op == OpDelete {
		s.settled = append(s.settled, it.env.ID)
		s.note(it.env, ext, store.TraceSkipped, "delete: "+s.System+" no longer has the record")
		return nil
	}
	if err := retryForever(ctx, s.Log, "forget a record the target deleted", func() error {
		return s.Store.Unlink(ctx, s.Entity, s.System, it.env.ID)
	}); err != nil {
		return err
	}
	it.attempts++
	it.stage = StageWrite
	it.lastErr = fmt.Errorf("%s has no %s %s any more (deleted there?); replay the dead letter to create it again, or discard it", s.System, s.Entity, ext)
	return s.deadLetter(ctx, it, store.KindPermanent)
}
