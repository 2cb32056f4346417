package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// part is a slice of a batch prepared together.
type part struct {
	recs []connectors.Record
	prep
}

// prepareAll prepares recs, mapped in as m (nil: mapped here), retrying
// a failure (the state store was busy or away, a merge kept losing to
// other writers). A batch that still fails after attempts tries while the
// state store answers is prepared record by record: a record that fails alone as often is dead-lettered with the
// reason (stage prepare) and the others go on, so that no batch is retried
// forever without surfacing. While the state store does not answer, it
// keeps trying (the store's readiness check shows why). The parts come
// back in the records' order; an error means ctx ended, or the node lost
// the source's lease (store.ErrLeaseLost): the batch is then left to the
// node that took the source over.
func (in *Intake) prepareAll(ctx context.Context, recs []connectors.Record, m *mapped, attempts int) ([]part, error) {
	if attempts <= 0 {
		attempts = 5
	}
	if m == nil {
		m = in.mapIn(ctx, recs)
	}
	p, err := in.prepareTries(ctx, recs, m, attempts)
	if err == nil {
		return []part{{recs: recs, prep: p}}, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, store.ErrLeaseLost) {
		return nil, err
	}
	in.Log.Warn("a batch keeps failing; preparing its records one by one", "records", len(recs), "err", err)
	parts := make([]part, 0, len(recs))
	for i := range recs {
		one := recs[i : i+1]
		p, err := in.prepareTries(ctx, one, in.mapIn(ctx, one), attempts)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, store.ErrLeaseLost) {
				return nil, err
			}
			p = prep{bad: map[int]error{0: stageErr(StagePrepare, fmt.Errorf("preparing the record failed %d times: %w", attempts, err))},
				envs: make([]*Envelope, 1)}
		}
		parts = append(parts, part{recs: one, prep: p})
	}
	return parts, nil
}

// prepareTries prepares recs up to attempts times, and on and on while the
// state store does not answer; it returns the last error.
func (in *Intake) prepareTries(ctx context.Context, recs []connectors.Record, m *mapped, attempts int) (prep, error) {
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	for try := 1; ; try++ {
		p, err := in.prepareMapped(ctx, recs, m)
		if err == nil || errors.Is(err, store.ErrLeaseLost) {
			return p, err
		}
		if try >= attempts && in.Store.Ping(ctx) == nil {
			return p, err
		}
		wait := b.NextBackOff()
		in.Log.Warn("retrying", "what", "prepare batch", "attempt", try, "wait", wait, "err", err)
		if !sleep(ctx, wait) {
			return p, err
		}
	}
}

// publish dead-letters what the intake rejected and sends the rest of each
// part; it returns an error only when ctx ended before Kafka acknowledged
// everything. The state store is asked a few times per part, not per
// record.
func (in *Intake) publish(ctx context.Context, parts []part) error {
	for _, pt := range parts {
		if err := in.publishPart(ctx, pt.recs, pt.prep); err != nil {
			return err
		}
	}
	return nil
}

// publishPart publishes a part and records what it published at once (the
// stamps, the merged records), then closes the dead letters it supersedes.
func (in *Intake) publishPart(ctx context.Context, recs []connectors.Record, p prep) error {
	pub, err := in.sendPart(ctx, recs, p)
	if err == nil {
		err = in.recordPublished(ctx, pub)
	}
	if err == nil {
		err = in.supersede(ctx, recs, p)
	}
	return err
}

// publishAhead publishes parts and closes the dead letters they supersede,
// but leaves recording what they published to the caller: it returns it,
// for recordPublished, in the parts' order. A source records it beside its
// next batches' publishing (Source.settleStage). An error means ctx ended
// before Kafka acknowledged everything.
func (in *Intake) publishAhead(ctx context.Context, parts []part) ([]publishedPart, error) {
	out := make([]publishedPart, 0, len(parts))
	for _, pt := range parts {
		pub, err := in.sendPart(ctx, pt.recs, pt.prep)
		if err == nil {
			err = in.supersede(ctx, pt.recs, pt.prep)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, pub)
	}
	return out, nil
}

// publishedPart is what the hub must record of a published part: what the
// system now holds (stamps) and the merged records now published.
type publishedPart struct {
	stamps []store.Written
	merged map[string]string
	// pending is the row of the stamps the part's new links were written
	// with (0: none).
	pending int64
}

// recordPublished records what parts published: stamps first, so that a
// re-read of the same content (look-back, restart) is not published again,
// then the merged records as published.
func (in *Intake) recordPublished(ctx context.Context, pubs ...publishedPart) error {
	var stamps []store.Written
	var pending []int64
	for _, pub := range pubs {
		stamps = append(stamps, pub.stamps...)
		if pub.pending != 0 {
			pending = append(pending, pub.pending)
		}
	}
	if len(pending) > 0 {
		if err := retryForever(ctx, in.Log, "confirm the stamps written with new links", func() error {
			return in.Store.SettlePending(ctx, pending)
		}); err != nil {
			return err
		}
	}
	if len(stamps) > 0 {
		if err := retryForever(ctx, in.Log, "record published hashes", func() error {
			_, err := in.Store.RecordWritten(ctx, in.Entity, in.System, stamps)
			return err
		}); err != nil {
			return err
		}
	}
	for _, pub := range pubs {
		if len(pub.merged) == 0 {
			continue
		}
		if err := retryForever(ctx, in.Log, "mark merged records published", func() error {
			return in.Store.MarkPublished(ctx, in.Entity, pub.merged)
		}); err != nil {
			return err
		}
	}
	return nil
}

// sendPart dead-letters what the intake rejected in a part, publishes the
// rest and journals it; it returns what is left to record.
func (in *Intake) sendPart(ctx context.Context, recs []connectors.Record, p prep) (publishedPart, error) {
	start := time.Now()
	msgs := make([]bus.Message, 0, len(p.envs))
	stamps := make([]store.Written, 0, len(p.envs))
	var events []store.TraceEvent
	if in.Journal != nil {
		events = make([]store.TraceEvent, 0, len(p.envs)+len(p.trace))
		events = append(events, p.trace...)
	}
	for _, env := range p.envs {
		if env == nil {
			continue
		}
		msgs = append(msgs, bus.Message{Key: []byte(env.ID), Value: env.value}) // encoded by prepare
		if !p.prestamped[env.ID] {
			stamps = append(stamps, readStamp(env))
		}
		if in.Journal != nil {
			detail := env.Op
			if env.OriginStale {
				detail += "; " + in.System + " holds an older or refused value and is written back"
			}
			events = append(events, store.TraceEvent{Entity: in.Entity, HubID: env.ID, System: in.System, Connector: in.Name,
				ExternalID: env.SourceID, Event: store.TracePublished, Version: versionText(env.readVersion), Hash: env.Hash, Detail: detail})
		}
	}
	stamps = append(stamps, p.stamps...)
	for _, dl := range p.reviews {
		if err := in.DLQ.Add(ctx, in.System, dl); err != nil {
			return publishedPart{}, err
		}
	}
	for i, rec := range recs {
		if why, ok := p.bad[i]; ok {
			if err := in.deadLetter(ctx, rec, why); err != nil {
				return publishedPart{}, err
			}
		}
	}
	if len(msgs) > 0 {
		if err := retryForever(ctx, in.Log, "publish to "+in.Writer.Topic(), func() error {
			return in.Writer.Write(ctx, msgs...)
		}); err != nil {
			return publishedPart{}, err
		}
	}
	// Journaled as soon as Kafka has the records: a sink may write them
	// any moment now, and a record's journey reads in order.
	in.Journal.Append(ctx, events)
	if len(msgs) > 0 {
		in.Metrics.RecordsIn.WithLabelValues(in.System, in.Entity).Add(float64(len(msgs)))
		in.Log.Debug("batch published", "records", len(msgs), "took", time.Since(start))
	}
	// What this system now holds, as far as the hub knows (stamps), and
	// the merged records now published: for recordPublished.
	pub := publishedPart{stamps: stamps, pending: p.pending}
	if len(msgs) > 0 || len(stamps) > 0 {
		pub.merged = p.merged
	}
	return pub, nil
}

// encode encodes each envelope for publishing, once, and dead-letters one
// larger than a message may be (stage publish) before anything is recorded
// of it: a new record's link is stamped with its envelope (linkFresh), and
// the stamp of a record that cannot be published would make its next read
// look unchanged.
func (in *Intake) encode(p *prep) {
	for i := range p.envs {
		in.encodeAt(p, i)
	}
}

// encodeAt encodes p.envs[i] (nil: nothing), or dead-letters it.
func (in *Intake) encodeAt(p *prep, i int) {
	env := p.envs[i]
	if env == nil {
		return
	}
	env.value = env.AppendJSON(make([]byte, 0, 1024))
	if err := in.tooLarge(env); err != nil {
		p.bad[i] = err
		delete(p.merged, env.ID)
		p.envs[i] = nil
	}
}

// tooLarge says why env, encoded, cannot be published, or nil.
func (in *Intake) tooLarge(env *Envelope) error {
	size := len(env.value) + len(env.ID)
	if in.MaxMessageBytes <= 0 || size <= in.MaxMessageBytes {
		return nil
	}
	return stageErr(StagePublish, fmt.Errorf("the record is %d bytes as an envelope, over the %d bytes a message may have (kafka.producer.batch_bytes and the broker's message.max.bytes); shorten it in %s, or map less of it",
		size, in.MaxMessageBytes, in.System))
}

// Tombstone is the xref stamp of a record its system deleted: a replay
// of an older version of it is superseded, not written.
const Tombstone = "deleted"

// readStamp is what the hub records of a published record: what its
// system holds, for the system's re-reads, or that it deleted it.
func readStamp(env *Envelope) store.Written {
	if env.Op == OpDelete {
		return store.Written{HubID: env.ID, ExternalID: env.SourceID, Hash: Tombstone, Version: versionText(env.readVersion)}
	}
	hash := env.Hash
	if env.readHash != "" {
		hash = env.readHash // what the system holds, before merging
	}
	w := store.Written{HubID: env.ID, ExternalID: env.SourceID, Hash: hash, Version: env.Version.UTC().Format(time.RFC3339Nano)}
	if env.readFields != "" {
		// A two-way record: the system's own version, which its sink's
		// next write is based on, and its fields.
		w.Version, w.Fields = versionText(env.readVersion), env.readFields
	}
	return w
}

// sourceStages are the stages at which an intake dead-letters a record.
func sourceStages() []string {
	return []string{StageSourceMap, StagePrepare, StagePublish, StageMatch}
}

// supersede closes the open dead letters of this source whose records the
// part has now published (or found unchanged, or deleted): each last record
// of a key that is not itself bad supersedes the older failures of it.
func (in *Intake) supersede(ctx context.Context, recs []connectors.Record, p prep) error {
	last := make(map[string]int, len(recs))
	for i, rec := range recs {
		last[rec.Key] = i
	}
	keys := make([]string, 0, len(last))
	for k, i := range last {
		if _, bad := p.bad[i]; !bad && k != "" {
			keys = append(keys, k)
		}
	}
	return retryForever(ctx, in.Log, "close superseded dead letters", func() error {
		ids, err := in.Store.SupersedeDeadLetters(ctx, in.Name, in.Entity, keys, sourceStages())
		if len(ids) > 0 {
			in.Log.Info("dead letters superseded by newer versions of their records", "ids", ids)
		}
		return err
	})
}

// publishRecords prepares and publishes records at once (replays).
func (in *Intake) publishRecords(ctx context.Context, recs []connectors.Record) error {
	parts, err := in.prepareAll(ctx, recs, nil, 0)
	if err != nil {
		return err
	}
	return in.publish(ctx, parts)
}

// deadLetter files a native record the intake could not take.
func (in *Intake) deadLetter(ctx context.Context, rec connectors.Record, err error) error {
	kind := store.KindPermanent
	stage := stageOf(err, StageSourceMap)
	switch {
	case isReview(err):
		kind = KindReview
	case stage == StagePrepare:
		kind = store.KindRetriesExhausted
	}
	payload := rec.Raw // what arrived, when the hub decoded only part of it
	if payload == nil {
		payload = mapping.AppendJSON(nil, rec.Data)
	}
	var version string
	if !rec.Version.IsZero() {
		version = rec.Version.UTC().Format(time.RFC3339Nano)
	}
	return in.DLQ.Add(ctx, in.System, store.DeadLetter{
		Connector: in.Name, Entity: in.Entity, RecordKey: rec.Key, Stage: stage,
		Kind: kind, Error: err.Error(), Attempts: 1, Payload: payload, Version: version,
	})
}

// published counts the records of published parts and finds the newest
// version among them, for the runner's status report.
func published(parts []part) (n int, newest time.Time) {
	for _, pt := range parts {
		for i, env := range pt.envs {
			if _, bad := pt.bad[i]; env == nil || bad {
				continue
			}
			n++
			if env.readVersion.After(newest) {
				newest = env.readVersion
			}
		}
	}
	return n, newest
}
