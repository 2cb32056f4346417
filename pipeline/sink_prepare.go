package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/store"
)

// prepareAll prepares each record of the batch against the view: ready
// to write, suppressed, waiting for a reference (retried, not counted as
// an attempt) or failed (retried or dead-lettered). waiting counts the
// records that wait, refs the referenced records they wait for.
func (s *Sink) prepareAll(ctx context.Context, todo []*item, v *view) (ready, retry []*item, waiting, refs int, err error) {
	deadRefs := map[string]*store.DeadLetter{} // this pass's answers, by referenced record
	var missing []*item
	missErr := map[*item]error{}
	for _, it := range todo {
		ok, err := s.prepare(ctx, it, v)
		switch {
		case err == nil && ok:
			ready = append(ready, it)
		case err == nil:
			s.settled = append(s.settled, it.env.ID) // suppressed
		case ctx.Err() != nil:
			return nil, nil, 0, 0, ctx.Err()
		case errors.As(err, new(*missingRef)):
			missing = append(missing, it)
			missErr[it] = err
		default:
			done, derr := s.failed(ctx, it, err)
			if derr != nil {
				return nil, nil, 0, 0, derr
			}
			if !done {
				retry = append(retry, it)
			}
		}
	}
	if err := s.startWaits(ctx, missing, missErr); err != nil {
		return nil, nil, 0, 0, err
	}
	for _, it := range missing {
		done, derr := s.awaitRef(ctx, it, missErr[it], deadRefs)
		if derr != nil {
			return nil, nil, 0, 0, derr
		}
		if !done {
			retry = append(retry, it)
			waiting++
		}
	}
	return ready, retry, waiting, len(deadRefs), nil
}

// startWaits sets when each record that waits for a reference started to
// wait: kept in the state store, so that retry.ref_wait counts from the
// first wait across restarts.
func (s *Sink) startWaits(ctx context.Context, items []*item, why map[*item]error) error {
	var ids []string
	for _, it := range items {
		if it.waiting.IsZero() {
			ids = append(ids, it.env.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var since map[string]time.Time
	if err := retryForever(ctx, s.Log, "record when records started to wait", func() error {
		var err error
		since, err = s.Store.WaitsSince(ctx, s.Name, s.Entity, ids)
		return err
	}); err != nil {
		return err
	}
	s.waited = true
	for _, it := range items {
		if it.waiting.IsZero() {
			it.waiting = since[it.env.ID]
			if it.waiting.IsZero() {
				it.waiting = time.Now()
			}
			var miss *missingRef
			errors.As(why[it], &miss)
			s.Metrics.Failures.WithLabelValues(s.System, s.Entity, "missing_ref").Inc()
			s.note(it.env, "", store.TraceFailed, fmt.Sprintf("waiting (since %s): %v", it.waiting.UTC().Format(time.RFC3339), why[it]))
			s.Log.Debug("record waits for a reference", "hub_id", it.env.ID, "ref", miss.entity, "ref_hub_id", miss.hubID, "since", it.waiting)
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
	for entity := range refIDs {
		// prepare leaves references to what the system cannot hold
		// unresolved: their ids there only for the mapping's xref.
		if s.Holds != nil && !s.Holds[entity] && !s.plan().LooksUp(mapping.XrefLookup(entity)) {
			delete(refIDs, entity)
		}
	}
	v := &view{refs: map[string]map[string]store.XrefEntry{}} // own stays empty without stamps
	var err error
	if !s.NoStamps {
		if v.own, err = s.Store.LookupExternals(ctx, s.Entity, s.System, ids); err != nil {
			return nil, err
		}
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
	if env.Op == OpDelete && s.settings().IgnoreDeletes {
		s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "delete_ignored").Inc()
		s.note(env, extID, store.TraceSuppressed, "delete ignored: the sink says deletes: ignore")
		return false, nil
	}
	if env.Op == OpDelete && !known && !s.NoStamps {
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
		if known && !s.Appends {
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
		if s.Holds != nil && !s.Holds[entity] {
			continue
		}
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
	out, err := s.plan().Apply(ctx, env.Data, s.lookup(v))
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
			reads, known := s.plan().Reads(m.Key, f)
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
				alt, altErr = s.plan().Apply(ctx, s.Policy.OwnedBy(s.System, data), s.lookup(v))
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
		entity, ok := mapping.XrefEntity(name)
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
