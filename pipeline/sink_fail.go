package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/store"
)

// missingRef says that a record references one the target does not hold
// yet (an order whose customer is still on its way).
type missingRef struct {
	entity, hubID, system string
}

func (e *missingRef) Error() string {
	return fmt.Sprintf("%s %s has not reached %s yet", e.entity, e.hubID, e.system)
}

// awaitRef parks a record whose reference has not reached the target: it
// waits (the batch is retried with backoff) without spending its attempts,
// since the record is fine and its customer is only late. It gives up,
// dead-lettering the record (done true), when the referenced record is
// itself dead-lettered at this sink (it will not arrive before an operator
// replays it) or after RefWait. dead holds what the store said of each
// referenced record in this pass (nil: no open dead letter), so orders of
// one customer ask once.
func (s *Sink) awaitRef(ctx context.Context, it *item, err error, dead map[string]*store.DeadLetter) (done bool, _ error) {
	var miss *missingRef
	errors.As(err, &miss)
	now := time.Now()
	if it.waiting.IsZero() {
		it.waiting = now // startWaits sets it; a caller that did not, waits from now
	}
	key := miss.entity + "/" + miss.hubID
	dl, asked := dead[key]
	if !asked {
		if err := retryForever(ctx, s.Log, "look up the reference's dead letters", func() error {
			l, err := s.Store.ListDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen,
				Connector: s.Name, Entity: miss.entity, RecordKey: miss.hubID, Limit: 1})
			if len(l) > 0 {
				dl = &l[0]
			}
			return err
		}); err != nil {
			return false, err
		}
		dead[key] = dl
	}
	waited := now.Sub(it.waiting)
	switch {
	case dl != nil:
		it.attempts++
		it.lastErr = fmt.Errorf("%s %s is dead-lettered at %s (dead letter %d: %s): replay it, then this %s",
			miss.entity, miss.hubID, s.Name, dl.ID, dl.Error, s.Entity)
		return true, s.deadLetter(ctx, it, store.KindPermanent)
	case s.retry().RefWait > 0 && waited >= s.retry().RefWait:
		it.attempts++
		it.lastErr = fmt.Errorf("%w after waiting %s (retry.ref_wait)", err, waited.Round(time.Second))
		return true, s.deadLetter(ctx, it, store.KindRetriesExhausted)
	}
	return false, nil
}

// failed counts a failure; done is true when the record is dead-lettered.
func (s *Sink) failed(ctx context.Context, it *item, err error) (done bool, _ error) {
	it.attempts++
	it.lastErr = err
	if it.stage == "" {
		it.stage = StageWrite
	}
	kind, _ := connectors.Classify(err)
	s.Metrics.Failures.WithLabelValues(s.System, s.Entity, kind.String()).Inc()
	if it.env != nil {
		s.note(it.env, it.rec.ExternalID, store.TraceFailed, fmt.Sprintf("attempt %d at %s (%s): %v", it.attempts, it.stage, kind, err))
	}
	switch {
	case kind == connectors.KindPermanent:
		return true, s.deadLetter(ctx, it, store.KindPermanent)
	case it.attempts >= s.retry().MaxAttempts:
		return true, s.deadLetter(ctx, it, store.KindRetriesExhausted)
	default:
		s.Log.Debug("record failed; will retry", "hub_id", it.env.ID, "attempt", it.attempts, "err", err)
		return false, nil
	}
}

func (s *Sink) deadLetter(ctx context.Context, it *item, kind string) error {
	dl := store.DeadLetter{
		Connector: s.Name, Entity: s.Entity, Stage: it.stage, Kind: kind, Error: it.lastErr.Error(),
		Attempts: it.attempts, Payload: it.msg.Value, Topic: it.msg.Topic,
		Partition: it.msg.Partition, Offset: it.msg.Offset, RecordKey: string(it.msg.Key),
	}
	if it.env != nil {
		dl.HubID, dl.TraceID = it.env.ID, it.env.TraceID
		s.note(it.env, it.rec.ExternalID, store.TraceDeadLettered, fmt.Sprintf("%s at %s: %v", kind, it.stage, it.lastErr))
	}
	return s.DLQ.Add(context.WithoutCancel(ctx), s.System, dl)
}
