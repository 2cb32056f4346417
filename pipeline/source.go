package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// Source runs one configured source: it reads native records from its
// connector, maps them in, gives each a hub id, publishes envelopes to the
// entity topic and only then advances its cursor.
type Source struct {
	Name   string // the source's config name: its cursor is stored under it
	System string // the connector's name: the records' origin and xref system
	Entity string
	Conn   connectors.Reader
	Plan   *mapping.Plan
	// Refs names, per referenced entity, the native field holding the
	// referenced record's key (an order's customer_id).
	Refs      map[string]string
	Store     *store.Store
	Writer    *bus.Writer
	DLQ       *DeadLetters
	Metrics   *Metrics
	Log       *slog.Logger
	Interval  time.Duration
	BatchSize int
	// Journal records each record's journey; nil traces nothing.
	Journal *Journal
	// Policy merges each change into the hub's record by field ownership
	// and the conflict policy, and matches first contacts; nil publishes
	// records as read (one-way sync).
	Policy *Policy
}

// Run polls until ctx ends. Every batch is published completely before its
// cursor is stored, so a crash re-reads (and harmlessly republishes) what
// was read but not yet stored.
//
// Reading, preparing (mapping, hub ids) and publishing run as three
// stages, each in order, so the next batch is read and mapped while the
// previous one goes to Kafka.
func (s *Source) Run(ctx context.Context) error {
	var cursor string
	if err := retryForever(ctx, s.Log, "read source cursor", func() error {
		var err error
		cursor, _, err = s.Store.GetCursor(ctx, s.Name, s.Entity)
		return err
	}); err != nil {
		return nil // stopping
	}
	s.Log.Info("source started", "cursor", cursor)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	read := make(chan readBatch, 1)
	prepared := make(chan preparedBatch, 1)
	go s.readStage(ctx, cursor, read)
	go s.prepareStage(ctx, read, prepared)
	for pb := range prepared {
		if err := s.publish(ctx, pb); err != nil {
			break // only when stopping: the cursor stays where it was
		}
		if pb.cursor != "" && pb.cursor != cursor {
			if err := retryForever(ctx, s.Log, "store source cursor", func() error {
				return s.Store.SetCursor(ctx, s.Name, s.Entity, pb.cursor)
			}); err != nil {
				break
			}
			cursor = pb.cursor
		}
		s.Metrics.BatchSeconds.WithLabelValues(s.System, s.Entity, "source").Observe(time.Since(pb.readAt).Seconds())
	}
	s.Log.Info("source stopped", "cursor", cursor)
	return nil
}

type readBatch struct {
	connectors.Batch
	readAt time.Time
}

type preparedBatch struct {
	recs []connectors.Record
	prep
	cursor string
	readAt time.Time
}

// prep is what preparing a batch decided.
type prep struct {
	envs    []*Envelope
	bad     map[int]error      // dead letters (mapping errors, ambiguous matches)
	trace   []store.TraceEvent // suppressions and other notes
	merged  map[string]string  // hub id -> merged hash, to mark published
	stamps  []store.Written    // suppressed records whose read hash to record
	reviews []store.DeadLetter // conflicts the policy could not decide
	held    map[string]*held   // hub id -> what this system held as last known (two-way entities)
}

// readStage reads batches ahead of the stored cursor.
func (s *Source) readStage(ctx context.Context, cursor string, out chan<- readBatch) {
	defer close(out)
	b := newBackoff(200*time.Millisecond, 30*time.Second)
	for ctx.Err() == nil {
		start := time.Now()
		batch, err := s.Conn.Read(ctx, s.Entity, cursor, s.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.Metrics.Failures.WithLabelValues(s.System, s.Entity, "read").Inc()
			wait := b.NextBackOff()
			s.Log.Warn("source read failed; retrying", "err", err, "wait", wait)
			sleep(ctx, wait)
			continue
		}
		b.Reset()
		if len(batch.Records) > 0 || (batch.Cursor != "" && batch.Cursor != cursor) {
			s.Log.Debug("batch read", "records", len(batch.Records), "took", time.Since(start))
			select {
			case out <- readBatch{Batch: batch, readAt: start}:
			case <-ctx.Done():
				return
			}
			if batch.Cursor != "" {
				cursor = batch.Cursor
			}
		}
		if len(batch.Records) < s.BatchSize {
			sleep(ctx, s.Interval)
		}
	}
}

// prepareStage maps each batch and gives its records hub ids.
func (s *Source) prepareStage(ctx context.Context, in <-chan readBatch, out chan<- preparedBatch) {
	defer close(out)
	for rb := range in {
		pb := preparedBatch{recs: rb.Records, cursor: rb.Cursor, readAt: rb.readAt}
		if len(rb.Records) > 0 {
			start := time.Now()
			if err := retryForever(ctx, s.Log, "prepare batch", func() error {
				var err error
				pb.prep, err = s.envelopes(ctx, rb.Records)
				return err
			}); err != nil {
				return
			}
			s.Log.Debug("batch prepared", "records", len(rb.Records), "took", time.Since(start))
		}
		select {
		case out <- pb:
		case <-ctx.Done():
			return
		}
	}
}

// publish dead-letters what the mapping rejected and sends the rest; it
// returns an error only when ctx ended before Kafka acknowledged
// everything. The state store is asked a few times per batch, not per
// record.
func (s *Source) publish(ctx context.Context, pb preparedBatch) error {
	start := time.Now()
	msgs := make([]bus.Message, 0, len(pb.envs))
	stamps := make([]store.Written, 0, len(pb.envs))
	var events []store.TraceEvent
	if s.Journal != nil {
		events = make([]store.TraceEvent, 0, len(pb.envs)+len(pb.trace))
		events = append(events, pb.trace...)
	}
	for _, env := range pb.envs {
		if env == nil {
			continue
		}
		msgs = append(msgs, bus.Message{Key: []byte(env.ID), Value: env.AppendJSON(make([]byte, 0, 1024))})
		if env.Op == OpUpsert {
			hash := env.Hash
			if env.readHash != "" {
				hash = env.readHash // what the system holds, for its re-reads
			}
			w := store.Written{HubID: env.ID, ExternalID: env.SourceID, Hash: hash, Version: env.Version.UTC().Format(time.RFC3339Nano)}
			if env.readFields != "" {
				// A two-way record: the system's own version, which its
				// sink's next write is based on, and its fields.
				w.Version, w.Fields = versionText(env.readVersion), env.readFields
			}
			stamps = append(stamps, w)
		}
		if s.Journal != nil {
			detail := env.Op
			if env.OriginStale {
				detail += "; " + s.System + " holds an older or refused value and is written back"
			}
			events = append(events, store.TraceEvent{Entity: s.Entity, HubID: env.ID, System: s.System, Connector: s.Name,
				ExternalID: env.SourceID, Event: store.TracePublished, Version: versionText(env.readVersion), Hash: env.Hash, Detail: detail})
		}
	}
	stamps = append(stamps, pb.stamps...)
	for _, dl := range pb.reviews {
		if err := s.DLQ.Add(ctx, dl); err != nil {
			return err
		}
	}
	for i, rec := range pb.recs {
		if why, ok := pb.bad[i]; ok {
			if err := s.deadLetter(ctx, rec, why); err != nil {
				return err
			}
		}
	}
	if len(msgs) == 0 && len(stamps) == 0 {
		s.Journal.Append(ctx, events)
		return nil
	}
	if len(msgs) > 0 {
		if err := retryForever(ctx, s.Log, "publish to "+s.Writer.Topic(), func() error {
			return s.Writer.Write(ctx, msgs...)
		}); err != nil {
			return err
		}
	}
	s.Metrics.RecordsIn.WithLabelValues(s.System, s.Entity).Add(float64(len(msgs)))
	// What this system now holds, as far as the hub knows: a re-read of the
	// same content (look-back, restart) is not published again.
	err := retryForever(ctx, s.Log, "record published hashes", func() error {
		_, err := s.Store.RecordWritten(ctx, s.Entity, s.System, stamps)
		return err
	})
	if err == nil && len(pb.merged) > 0 {
		err = retryForever(ctx, s.Log, "mark merged records published", func() error {
			return s.Store.MarkPublished(ctx, s.Entity, pb.merged)
		})
	}
	s.Journal.Append(ctx, events)
	s.Log.Debug("batch published", "records", len(msgs), "took", time.Since(start))
	return err
}

// publishRecords prepares and publishes records at once (for replays).
func (s *Source) publishRecords(ctx context.Context, recs []connectors.Record) error {
	pb := preparedBatch{recs: recs, readAt: time.Now()}
	if err := retryForever(ctx, s.Log, "prepare records", func() error {
		var err error
		pb.prep, err = s.envelopes(ctx, recs)
		return err
	}); err != nil {
		return err
	}
	return s.publish(ctx, pb)
}

// envelopes builds the envelope of each record, in order. A nil entry means
// nothing to publish: an unchanged re-read, an echo of the hub's own write,
// a delete of a record never published, or a record the mapping rejected
// or that matched ambiguously (then bad says why). An error means the
// state store failed and the batch should be tried again.
func (s *Source) envelopes(ctx context.Context, recs []connectors.Record) (prep, error) {
	p := prep{bad: map[int]error{}}
	canon := make([]mapping.Value, len(recs))
	keys := map[string][]string{} // entity -> native keys to resolve
	for i, rec := range recs {
		if rec.Key == "" {
			p.bad[i] = stageErr(StageSourceMap, fmt.Errorf("record has no key"))
			continue
		}
		keys[s.Entity] = append(keys[s.Entity], rec.Key)
		if rec.Op == connectors.OpDelete {
			continue
		}
		v, err := s.Plan.Apply(ctx, rec.Data, nil)
		if err != nil {
			p.bad[i] = stageErr(StageSourceMap, err)
			continue
		}
		canon[i] = v
		for entity, field := range s.Refs {
			if ref := rec.Data.Get(field); !ref.IsNull() && ref.Str() != "" {
				keys[entity] = append(keys[entity], ref.Str())
			}
		}
	}
	// Keys of this entity with an upsert in the batch (the others are
	// deletes only), and keys parked for review: indexed once, not per key.
	upserted, review := map[string]bool{}, map[string]bool{}
	for i, rec := range recs {
		if rec.Op != connectors.OpDelete {
			upserted[rec.Key] = true
		}
		var re *reviewError
		if err := p.bad[i]; err != nil && errors.As(err, &re) {
			review[rec.Key] = true
		}
	}
	// The hash last read from or written to this system, by hub id, of the
	// records already linked. A record linked just now has none.
	lastHash := map[string]string{}
	merging := s.Policy != nil && s.Policy.Merge
	// unlock ends the matching step (below), once.
	var unlock func()
	release := func() {
		if unlock != nil {
			unlock()
			unlock = nil
		}
	}
	defer release()
	if merging {
		p.held = map[string]*held{}
	}
	// Hub ids for every key, created where missing. A referenced record
	// gets its id now; its own record finds the same one later. A record
	// of this entity seen for the first time may match an existing hub
	// record by the policy's match rules.
	ids := map[string]map[string]string{}
	for entity, ks := range keys {
		links, err := s.Store.LookupLinks(ctx, entity, s.System, ks)
		if err != nil {
			return p, err
		}
		known := make(map[string]string, len(links))
		for k, l := range links {
			known[k] = l.HubID
			if entity == s.Entity {
				lastHash[l.HubID] = l.LastHash
				if merging {
					p.held[l.HubID] = parseHeld(l.Version, l.LastHash, l.Fields)
				}
			}
		}
		fresh := map[string]string{}
		// A key that is itself a hub id is a record a sink created under
		// the hub id and whose link it has not recorded yet: the same record.
		var unknown []string
		for _, k := range ks {
			if _, ok := known[k]; !ok {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 && s.Policy != nil {
			own, err := s.Store.KnownHubIDs(ctx, entity, unknown)
			if err != nil {
				return p, err
			}
			for k := range own {
				fresh[k] = k
			}
		}
		matching := entity == s.Entity && s.Policy != nil && len(s.Policy.Match) > 0
		// A record linked but never read or written as itself (no stamp)
		// got its hub id as a reference (an order's customer) before its
		// own record came: that hub id is a placeholder, and the record is
		// matched like a first contact.
		placeholder := map[string]bool{}
		if matching {
			for k, l := range links {
				if l.LastHash == "" && upserted[k] {
					placeholder[k] = true
				}
			}
		}
		var firsts []int // records of this entity seen for the first time
		for i, rec := range recs {
			if entity == s.Entity && rec.Key != "" && canon[i].Kind() == mapping.Object {
				if _, ok := known[rec.Key]; (!ok || placeholder[rec.Key]) && fresh[rec.Key] == "" {
					firsts = append(firsts, i)
				}
			}
		}
		var relink []store.Written // placeholders matched to a hub record
		if matching && len(firsts) > 0 {
			// Matching, linking and storing the first contacts' match keys
			// are one step for every source of the entity: another source
			// matching the same new person meanwhile would miss these keys
			// and mint a second hub record.
			if unlock, err = s.lockMatching(ctx); err != nil {
				return p, err
			}
			matched, err := s.match(ctx, recs, canon, firsts, &p)
			if err != nil {
				return p, err
			}
			for k, hub := range matched {
				if placeholder[k] {
					relink = append(relink, store.Written{HubID: hub, ExternalID: k})
					continue
				}
				fresh[k] = hub
			}
			for _, i := range firsts {
				if p.bad[i] != nil {
					review[recs[i].Key] = true // parked by match: no hub id
				}
			}
		}
		for _, k := range ks {
			if _, ok := known[k]; ok {
				continue
			}
			if _, ok := fresh[k]; ok {
				continue
			}
			if entity == s.Entity && (!upserted[k] || review[k]) {
				continue // a delete of a record the hub never saw, or parked for review: no hub id yet
			}
			id, err := uuid.NewV7()
			if err != nil {
				return p, fmt.Errorf("new hub id: %w", err)
			}
			fresh[k] = id.String()
		}
		if len(fresh) > 0 {
			linked, err := s.Store.LinkMany(ctx, entity, s.System, fresh)
			if err != nil {
				return p, err
			}
			for k, v := range linked {
				known[k] = v
			}
		}
		if len(relink) > 0 {
			// The placeholder becomes an alias of the matched hub record,
			// so what was published under it (the orders) resolves there.
			linked, err := s.Store.RecordWritten(ctx, entity, s.System, relink)
			if err != nil {
				return p, err
			}
			for _, m := range linked.Merged {
				known[m.ExternalID] = m.HubID
				if s.Journal != nil {
					p.trace = append(p.trace, store.TraceEvent{Entity: s.Entity, HubID: m.HubID, System: s.System, Connector: s.Name,
						ExternalID: m.ExternalID, Event: store.TraceMerged,
						Detail: "hub id " + m.Alias + " (" + s.System + " had referenced the record before it came) is this record"})
				}
			}
		}
		if unlock != nil {
			err := s.putFirstKeys(ctx, recs, canon, firsts, known)
			release()
			if err != nil {
				return p, err
			}
		}
		ids[entity] = known
	}

	p.envs = make([]*Envelope, len(recs))
	for i, rec := range recs {
		if _, rejected := p.bad[i]; rejected {
			continue
		}
		hubID, ok := ids[s.Entity][rec.Key]
		if !ok {
			s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "delete_unknown").Inc()
			continue
		}
		if rec.Op == connectors.OpDelete {
			p.envs[i] = &Envelope{Entity: s.Entity, ID: hubID, Op: OpDelete, Origin: s.System, SourceID: rec.Key,
				Version: rec.Version, Data: mapping.ObjectValue(), TraceID: hubID, readVersion: rec.Version}
			continue
		}
		var refs map[string]string
		for entity, field := range s.Refs {
			if ref := rec.Data.Get(field); !ref.IsNull() && ref.Str() != "" {
				if refs == nil {
					refs = map[string]string{}
				}
				refs[entity] = ids[entity][ref.Str()]
			}
		}
		data := withIDs(canon[i], hubID, refs)
		hash := Hash(data)
		var fields string
		if merging {
			// Of a merged entity only the very same read (content and
			// version) is dropped unmerged: the same content saved again
			// later may have to win over a write-back the target refused
			// as older.
			hash += "@" + versionText(rec.Version)
			fields = encodeFields(heldFields(data))
		}
		p.envs[i] = &Envelope{Entity: s.Entity, ID: hubID, Op: OpUpsert, Origin: s.System, SourceID: rec.Key,
			Version: rec.Version, Hash: hash, Refs: refs, Data: data, TraceID: hubID, readVersion: rec.Version, readFields: fields}
	}

	// Already published (a look-back re-read) or written here by a sink (an
	// echo of the hub's own write): nothing new to say. Within the batch,
	// only an earlier record of the same hub id counts. (A link another
	// writer made between the lookup and now is taken as hash-less: at
	// worst a record is published twice, never one dropped.)
	seen := map[string]string{}
	for i, env := range p.envs {
		if env == nil || env.Op != OpUpsert {
			continue
		}
		prev, inBatch := seen[env.ID]
		if !inBatch {
			prev = lastHash[env.ID]
		}
		seen[env.ID] = env.Hash
		if prev == env.Hash {
			s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "unchanged").Inc()
			s.note(&p, env, store.TraceSuppressed, "unchanged: the same content as last read from or written to "+s.System)
			p.envs[i] = nil
		}
	}
	if s.Policy != nil && s.Policy.Merge {
		if err := s.merge(ctx, recs, &p); err != nil {
			return p, err
		}
	}
	if s.Policy != nil && len(s.Policy.Match) > 0 {
		if err := s.putMatchKeys(ctx, p.envs); err != nil {
			return p, err
		}
	}
	return p, nil
}

// note adds a trace event about env to the batch's journal.
func (s *Source) note(p *prep, env *Envelope, event, detail string) {
	if s.Journal == nil {
		return
	}
	p.trace = append(p.trace, store.TraceEvent{Entity: s.Entity, HubID: env.ID, System: s.System, Connector: s.Name,
		ExternalID: env.SourceID, Event: event, Version: versionText(env.readVersion), Hash: env.Hash, Detail: detail})
}

func (s *Source) deadLetter(ctx context.Context, rec connectors.Record, err error) error {
	stage, kind := StageSourceMap, store.KindPermanent
	var se *stageError
	if errors.As(err, &se) {
		stage = se.stage
	}
	var re *reviewError
	if errors.As(err, &re) {
		kind = KindReview
	}
	payload := mapping.AppendJSON(nil, rec.Data)
	var version string
	if !rec.Version.IsZero() {
		version = rec.Version.UTC().Format(time.RFC3339Nano)
	}
	return s.DLQ.Add(ctx, store.DeadLetter{
		Connector: s.Name, Entity: s.Entity, RecordKey: rec.Key, Stage: stage,
		Kind: kind, Error: err.Error(), Attempts: 1, Payload: payload, Version: version,
	})
}

// withIDs sets the hub ids into canonical data: "id" and, for each
// reference, "<entity>.id" (an order's customer.id).
func withIDs(v mapping.Value, hubID string, refs map[string]string) mapping.Value {
	ms := v.Members()
	out := make([]mapping.Member, 0, len(ms)+1)
	out = append(out, mapping.Member{Key: "id", Value: mapping.StringValue(hubID)})
	seen := map[string]bool{}
	for _, m := range ms {
		switch {
		case m.Key == "id":
			continue
		case refs[m.Key] != "" && m.Value.Kind() == mapping.Object:
			m.Value = withIDs(m.Value, refs[m.Key], nil)
			seen[m.Key] = true
		}
		out = append(out, m)
	}
	for entity, id := range refs {
		if !seen[entity] {
			out = append(out, mapping.Member{Key: entity, Value: mapping.ObjectValue(mapping.Member{Key: "id", Value: mapping.StringValue(id)})})
		}
	}
	return mapping.ObjectValue(out...)
}

type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func stageErr(stage string, err error) error { return &stageError{stage: stage, err: err} }

// newBackoff is exponential backoff with ±50% jitter, never giving up (the
// callers count attempts themselves).
func newBackoff(initial, max time.Duration) *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = max
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	b.Reset()
	return b
}
