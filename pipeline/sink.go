package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
// dead-lettered.
type Sink struct {
	Name      string // the sink's config name; dead letters are filed under it
	System    string // the connector's name: the xref system written to
	Entity    string
	Conn      connectors.Writer
	Plan      *mapping.Plan
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

	events []store.TraceEvent // the batch's journal, appended once per batch
}

// Run consumes until ctx ends. A batch in progress when ctx ends is not
// committed: it is delivered again after a restart, and idempotent writes
// make the redelivery harmless.
func (s *Sink) Run(ctx context.Context) error {
	s.Log.Info("sink started", "group", s.Reader.Group())
	for ctx.Err() == nil {
		msgs, err := s.Reader.FetchBatch(ctx, s.BatchSize, 5*time.Millisecond)
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
		start := time.Now()
		err = s.process(ctx, msgs)
		s.Journal.Append(ctx, s.events)
		s.events = s.events[:0]
		if err != nil {
			break // stopping before the batch was done: no commit
		}
		if err := retryForever(ctx, s.Log, "commit offsets", func() error {
			// The writes are done: finish the commit even while stopping.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return s.Reader.Commit(cctx, msgs...)
		}); err != nil {
			break
		}
		s.Metrics.BatchSeconds.WithLabelValues(s.System, s.Entity, "sink").Observe(time.Since(start).Seconds())
		s.Log.Debug("batch written", "records", len(msgs), "took", time.Since(start))
		s.Metrics.Lag.WithLabelValues(s.System, s.Entity).Set(float64(s.Reader.Lag()))
	}
	s.Log.Info("sink stopped")
	return nil
}

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

// missingRef says that a record references one the target does not hold
// yet (an order whose customer is still on its way).
type missingRef struct {
	entity, hubID, system string
}

func (e *missingRef) Error() string {
	return fmt.Sprintf("%s %s has not reached %s yet", e.entity, e.hubID, e.system)
}

// process handles one fetched batch; an error means ctx ended first.
func (s *Sink) process(ctx context.Context, msgs []bus.Message) error {
	// Only the newest record of each hub id in a batch matters (a batch
	// holds a partition's records in order), and writing one key twice in
	// one statement is an error on several databases: the last is written.
	// Of a merged entity, several merges of one record are all kept (the
	// same merge only once): which of them is the latest is known only
	// from the hub's record (see prepare), because two sources may publish
	// their merges in the other order than they saved them. Each envelope
	// is decoded once, when first needed.
	envs := make([]*Envelope, len(msgs))
	errs := make([]error, len(msgs))
	decode := func(i int) (*Envelope, error) {
		if envs[i] == nil && errs[i] == nil {
			envs[i], errs[i] = DecodeEnvelope(msgs[i].Value)
		}
		return envs[i], errs[i]
	}
	keys := make([]string, len(msgs))
	last := make(map[string]int, len(msgs))
	for i, m := range msgs {
		keys[i] = string(m.Key)
		if s.merging() {
			if env, err := decode(i); err == nil {
				keys[i] += "\x00" + env.Hash
			}
		}
		last[keys[i]] = i
	}
	var todo []*item
	for i, m := range msgs {
		if last[keys[i]] != i {
			s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "superseded").Inc()
			continue
		}
		if target := header(m, HeaderReplayFor); target != "" && target != s.Name {
			continue
		}
		env, err := decode(i)
		if err == nil && env.Entity != s.Entity {
			err = fmt.Errorf("envelope: entity %q on the %s topic", env.Entity, s.Entity)
		}
		if err != nil {
			if err := s.deadLetter(ctx, &item{msg: m, stage: StageDecode, lastErr: err, attempts: 1}, store.KindPermanent); err != nil {
				return err
			}
			continue
		}
		todo = append(todo, &item{msg: m, env: env})
	}

	b := newBackoff(s.Retry.Initial, s.Retry.Max)
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
		var ready, retry []*item
		deadRefs := map[string]*store.DeadLetter{} // this pass's answers, by referenced record
		waiting := 0
		for _, it := range todo {
			ok, err := s.prepare(ctx, it, v)
			switch {
			case err == nil && ok:
				ready = append(ready, it)
			case err == nil:
				// suppressed
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.As(err, new(*missingRef)):
				if done, derr := s.awaitRef(ctx, it, err, deadRefs); derr != nil {
					return derr
				} else if !done {
					retry = append(retry, it)
					waiting++
				}
			default:
				if done, derr := s.failed(ctx, it, err); derr != nil {
					return derr
				} else if !done {
					retry = append(retry, it)
				}
			}
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
			s.Log.Info("records wait for the records they reference to reach "+s.System, "records", waiting, "refs", len(deadRefs))
			toldWait = true
		}
		todo = retry
		if len(todo) > 0 {
			s.Metrics.Retries.WithLabelValues(s.System, s.Entity).Add(float64(len(todo)))
			if !sleep(ctx, b.NextBackOff()) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// view is what the target system holds, as the xref knows it, for the
// records of a batch and the records they reference: read once per batch.
type view struct {
	own  map[string]store.XrefEntry            // hub id -> this entity in the target
	refs map[string]map[string]store.XrefEntry // entity -> hub id -> entry
	// current is the hash of each two-way record's latest merge, read
	// after own (see prepare).
	current map[string]string
}

func (s *Sink) lookupBatch(ctx context.Context, items []*item) (*view, error) {
	ids := make([]string, 0, len(items))
	refIDs := map[string][]string{}
	for _, it := range items {
		ids = append(ids, it.env.ID)
		for entity, hub := range it.env.Refs {
			refIDs[entity] = append(refIDs[entity], hub)
		}
	}
	v := &view{refs: map[string]map[string]store.XrefEntry{}}
	var err error
	if v.own, err = s.Store.LookupExternals(ctx, s.Entity, s.System, ids); err != nil {
		return nil, err
	}
	for entity, hubs := range refIDs {
		if v.refs[entity], err = s.Store.LookupExternals(ctx, entity, s.System, hubs); err != nil {
			return nil, err
		}
	}
	if s.merging() {
		if v.current, err = s.Store.RecordHashes(ctx, s.Entity, ids); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (s *Sink) merging() bool { return s.Policy != nil && s.Policy.Merge }

// prepare checks echoes and no-ops, resolves references and maps out. ok
// false means the record needs no write.
func (s *Sink) prepare(ctx context.Context, it *item, v *view) (bool, error) {
	env := it.env
	writeBack := env.Origin == s.System && env.OriginStale && env.Op == OpUpsert
	if env.Origin == s.System && !writeBack {
		s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "echo").Inc()
		s.note(env, "", store.TraceSuppressed, "echo: the change came from "+s.System)
		return false, nil
	}
	own, known := v.own[env.ID]
	extID, lastHash := own.ExternalID, own.LastHash
	if env.Op == OpDelete && !known {
		s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "delete_unknown").Inc()
		s.note(env, "", store.TraceSuppressed, "delete of a record "+s.System+" never had")
		return false, nil
	}
	if env.Op == OpUpsert && known && lastHash != "" && lastHash == env.Hash && !writeBack && header(it.msg, HeaderReplayFor) == "" {
		s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "unchanged").Inc()
		s.note(env, extID, store.TraceSuppressed, "unchanged: "+s.System+" already holds this content")
		return false, nil
	}
	rec := connectors.WriteRecord{Entity: s.Entity, HubID: env.ID, ExternalID: extID, Version: env.Version}
	if s.merging() && env.Op == OpUpsert {
		// A merge that a newer one of the same record has replaced is not
		// written: the newer one follows on the topic (or went before it),
		// and an older merge could undo what it wrote. The target's xref
		// was read before the hashes, so a target change the hub merged
		// meanwhile shows here as a newer merge.
		if cur, ok := v.current[env.ID]; ok && cur != env.Hash {
			s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "superseded").Inc()
			s.note(env, extID, store.TraceSuppressed, "superseded: the hub's record has changed since this merge; the newer merge is written instead")
			return false, nil
		}
		// Based on the target's version as last read or written: the
		// write goes through only while the target still holds that
		// version, and keeps it. A target change the hub has not merged
		// yet makes the target's version newer, so the write is skipped
		// and that change, once read, is merged and written back. The
		// target's own clock stays in its version column.
		// The version is the newer of what the merge read from the target
		// (env.Seen: in step with the merged data) and the target's xref
		// stamp (a read that changed nothing, not saved with the merge).
		if known {
			if own.Fields != "" {
				it.before = parseHeld(own.Version, own.LastHash, own.Fields)
				if t, err := time.Parse(time.RFC3339Nano, own.Version); err == nil {
					rec.Version, it.basedOn = t, own.Version
				}
			}
			if t, err := time.Parse(time.RFC3339Nano, env.Seen[s.System]); err == nil && (it.basedOn == "" || t.After(rec.Version)) {
				rec.Version, it.basedOn = t, env.Seen[s.System]
			}
		}
	}
	if env.Op == OpDelete {
		rec.Op = connectors.OpDelete
		rec.Data = env.Data
		it.rec = rec
		return true, nil
	}
	rec.Op = connectors.OpUpsert
	for entity, refHub := range env.Refs {
		ref, ok := v.refs[entity][refHub]
		refExt := ref.ExternalID
		if !ok {
			it.stage = StageXref
			return false, &missingRef{entity: entity, hubID: refHub, system: s.System}
		}
		if rec.Refs == nil {
			rec.Refs = map[string]string{}
		}
		rec.Refs[entity] = refExt
	}
	out, err := s.Plan.Apply(ctx, env.Data, s.lookup(v))
	if err == nil {
		out = s.withoutOwned(ctx, env.Data, out, v)
	}
	if err != nil {
		var le *mapping.LookupError
		if errors.As(err, &le) {
			it.stage = StageSinkMap
			return false, connectors.Retryable(err, 0)
		}
		it.stage = StageSinkMap
		return false, connectors.Permanent(err)
	}
	rec.Data = out
	it.rec = rec
	it.stage = StageWrite
	return true, nil
}

// withoutOwned leaves out of a mapped record the members that come from
// fields this system owns: the hub never writes them to their system of
// record, not even as NULL when it holds no value for them (an update
// would overwrite an edit the owner made that the hub has not read yet).
// Which members those are is known from the plan (Plan.Reads). A member
// with an expression, which may read anything, is kept only when mapping
// the record again without the owned fields gives it the same value.
func (s *Sink) withoutOwned(ctx context.Context, data, out mapping.Value, v *view) mapping.Value {
	owned := s.Policy.Owned(s.System)
	if len(owned) == 0 || out.Kind() != mapping.Object {
		return out
	}
	var alt mapping.Value
	var altErr error
	altDone := false
	ms := out.Members()
	kept := make([]mapping.Member, 0, len(ms))
	for _, m := range ms {
		drop, unknown := false, false
		for _, f := range owned {
			reads, known := s.Plan.Reads(m.Key, f)
			if !known {
				unknown = true
				break
			}
			if reads {
				drop = true
				break
			}
		}
		if unknown {
			if !altDone {
				alt, altErr = s.Plan.Apply(ctx, s.Policy.OwnedBy(s.System, data), s.lookup(v))
				altDone = true
			}
			// A mapping that needs the owned fields to work at all: the
			// member is written as the hub holds it.
			drop = altErr == nil && !(sameValue(m.Value, alt.Get(m.Key)) && (!m.Value.IsNull() || hasMember(alt, m.Key)))
		}
		if !drop {
			kept = append(kept, m)
		}
	}
	return mapping.ObjectValue(kept...)
}

func hasMember(v mapping.Value, key string) bool {
	for _, m := range v.Members() {
		if m.Key == key {
			return true
		}
	}
	return false
}

// lookup answers the mapping's `xref: <entity>` transforms with the
// target's id of a hub id, from the batch's view when it has it.
func (s *Sink) lookup(v *view) mapping.Lookup {
	return mapping.LookupFunc(func(ctx context.Context, name, key string) (string, bool, error) {
		entity, ok := strings.CutPrefix(name, "xref.")
		if !ok {
			return "", false, fmt.Errorf("no lookup named %q", name)
		}
		if e, ok := v.refs[entity][key]; ok {
			return e.ExternalID, true, nil
		}
		if entity == s.Entity {
			if e, ok := v.own[key]; ok {
				return e.ExternalID, true, nil
			}
		}
		ext, _, found, err := s.Store.LookupExternal(ctx, entity, key, s.System)
		return ext, found, err
	})
}

// write sends ready records to the connector and returns those to retry.
func (s *Sink) write(ctx context.Context, ready []*item) ([]*item, error) {
	recs := make([]connectors.WriteRecord, len(ready))
	for i, it := range ready {
		recs[i] = it.rec
	}
	// A failure of the whole batch (the target is down) is waited out
	// without counting against the records: the records are fine.
	var results []connectors.Result
	b := newBackoff(s.Retry.Initial, s.Retry.Max)
	for {
		var err error
		results, err = s.Conn.Write(context.WithoutCancel(ctx), s.Entity, recs)
		if err == nil && len(results) != len(recs) {
			err = fmt.Errorf("connector returned %d results for %d records", len(results), len(recs))
		}
		if err == nil {
			break
		}
		if kind, _ := connectors.Classify(err); kind == connectors.KindPermanent {
			results = make([]connectors.Result, len(recs))
			for i := range results {
				results[i].Err = err
			}
			break
		}
		s.Metrics.Failures.WithLabelValues(s.System, s.Entity, "batch").Inc()
		wait := b.NextBackOff()
		if _, after := connectors.Classify(err); after > wait {
			wait = after
		}
		s.Log.Warn("sink write failed; retrying the batch", "records", len(recs), "err", err, "wait", wait)
		if !sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}

	// The target holds these writes now: record them even while stopping,
	// so a restart does not write them again for want of an xref.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var retry []*item
	written := make([]store.Written, 0, len(results))
	for i, res := range results {
		it := ready[i]
		if res.Outcome == connectors.Failed && res.Err == nil {
			res.Err = fmt.Errorf("%s gave no outcome for the record", s.System)
		}
		if res.Err != nil {
			done, err := s.failed(bctx, it, res.Err)
			if err != nil {
				return nil, err
			}
			if !done {
				retry = append(retry, it)
			}
			continue
		}
		ext := res.ExternalID
		if ext == "" {
			ext = it.rec.ExternalID
		}
		if res.Outcome == connectors.Stale {
			s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "older_version").Inc()
			s.note(it.env, ext, store.TraceSkipped, s.System+" holds a newer version")
			continue
		}
		detail := string(it.rec.Op)
		if it.env.Origin == s.System {
			detail += "; written back: " + s.System + " held values the hub refused"
		}
		s.note(it.env, ext, store.TraceWritten, detail)
		if it.env.Op == OpDelete {
			continue
		}
		w := store.Written{HubID: it.env.ID, ExternalID: ext, Hash: it.env.Hash,
			Version: it.rec.Version.UTC().Format(time.RFC3339Nano)}
		if s.merging() {
			w.IfVersion = it.basedOn
			w.Fields = encodeFields(writtenFields(it.before, it.env.Data, func(f string) bool { return s.Policy.Owners[f] == s.System }))
		}
		written = append(written, w)
	}
	err := retryForever(bctx, s.Log, "record xref of written records", func() error {
		linked, err := s.Store.RecordWritten(bctx, s.Entity, s.System, written)
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
	if err != nil {
		return nil, err
	}
	s.Metrics.RecordsOut.WithLabelValues(s.System, s.Entity).Add(float64(countWritten(results)))
	return retry, nil
}

func countWritten(results []connectors.Result) int {
	n := 0
	for _, r := range results {
		if r.Outcome == connectors.Written {
			n++
		}
	}
	return n
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
		it.waiting = now
		s.Metrics.Failures.WithLabelValues(s.System, s.Entity, "missing_ref").Inc()
		s.note(it.env, "", store.TraceFailed, fmt.Sprintf("waiting: %v", err))
		s.Log.Debug("record waits for a reference", "hub_id", it.env.ID, "ref", miss.entity, "ref_hub_id", miss.hubID)
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
	case s.Retry.RefWait > 0 && waited >= s.Retry.RefWait:
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
	case it.attempts >= s.Retry.MaxAttempts:
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
	return s.DLQ.Add(context.WithoutCancel(ctx), dl)
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
