package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/store"
)

// The build step: native records mapped to canonical data, and, once
// identity has given them hub ids, turned into envelopes.

// mapped is a batch mapped in: what the build step makes of it before
// identity gives it hub ids. It depends on nothing but the records and
// the mapping, so a source maps its next batch while the state store
// works on this one (Source.mapStage).
type mapped struct {
	canon []mapping.Value     // each record mapped in
	keys  map[string][]string // entity -> native keys to give hub ids
	bad   map[int]error       // records without a key or whose mapping failed
}

// prep starts a prepare of the batch from m, which it leaves as it was (a
// failed try starts again from it).
func (m *mapped) prep() prep {
	return prep{canon: m.canon, keys: m.keys, bad: maps.Clone(m.bad)}
}

// mapIn maps each record of the batch with the inbound mapping and collects
// the native keys the identity step must resolve: the records' own and the
// keys of the records they reference. A record without a key or whose
// mapping fails is set aside in bad.
func (in *Intake) mapIn(ctx context.Context, recs []connectors.Record) *mapped {
	m := &mapped{canon: make([]mapping.Value, len(recs)), keys: map[string][]string{}, bad: map[int]error{}}
	plan := in.plan() // one for the batch: raw data is decoded for it
	in.decodeRaw(plan, recs)
	for i, rec := range recs {
		if rec.Err != nil {
			m.bad[i] = stageErr(StageSourceMap, rec.Err)
			continue
		}
		if rec.Key == "" {
			m.bad[i] = stageErr(StageSourceMap, fmt.Errorf("record has no key"))
			continue
		}
		m.keys[in.Entity] = append(m.keys[in.Entity], rec.Key)
		if rec.Op == connectors.OpDelete {
			continue
		}
		v, err := plan.Apply(ctx, rec.Data, nil)
		if err != nil {
			m.bad[i] = stageErr(StageSourceMap, err)
			continue
		}
		m.canon[i] = v
		for entity, field := range in.Refs {
			if ref := refKey(rec, field); ref != "" {
				m.keys[entity] = append(m.keys[entity], ref)
			}
		}
	}
	return m
}

// decodeRaw decodes the data a connector left raw (connectors.RawReader):
// only the members plan and the refs read, so Data is fit for them and
// nothing else (a plan reloaded meanwhile waits for the next batch). Raw
// stays as it arrived, for a dead letter. A value that is not a JSON
// object becomes the record's error, its text the data.
func (in *Intake) decodeRaw(plan *mapping.Plan, recs []connectors.Record) {
	var dec *mapping.Decoder
	for i := range recs {
		rec := &recs[i]
		if rec.Raw == nil || rec.Err != nil {
			continue
		}
		if dec == nil {
			refs := make([]string, 0, len(in.Refs))
			for _, field := range in.Refs {
				refs = append(refs, field)
			}
			dec = plan.NewDecoderAlso(refs...)
		}
		v, err := dec.Decode(rec.Raw)
		if err == nil && v.Kind() != mapping.Object {
			err = fmt.Errorf("the data is a JSON %s, not an object", v.Kind())
		}
		if err != nil {
			rec.Err = fmt.Errorf("record %s: the data is not a JSON object: %w", rec.Key, err)
			rec.Data, rec.Raw = mapping.StringValue(string(rec.Raw)), nil
			continue
		}
		rec.Data = v
	}
}

// refKey is the native key of the record rec references through field, or
// "". A field with dots is a path into nested objects (a shop order's
// customer.id) when the record has no member of that very name.
func refKey(rec connectors.Record, field string) string {
	ref := rec.Data.Get(field)
	if ref.IsNull() && strings.Contains(field, ".") {
		ref = rec.Data
		for _, seg := range strings.Split(field, ".") {
			ref = ref.Get(seg)
		}
	}
	if ref.Kind() == mapping.Object || ref.Kind() == mapping.Array {
		return ""
	}
	return ref.Str()
}

// buildEnvelopes makes the envelope of each record that has a hub id:
// canonical data with the hub ids set, its hash and the references. A
// delete of a record the hub never saw has none and is dropped.
func (in *Intake) buildEnvelopes(recs []connectors.Record, p *prep) {
	p.envs = make([]*Envelope, len(recs))
	for i, rec := range recs {
		if _, rejected := p.bad[i]; rejected {
			continue
		}
		p.envs[i] = in.buildEnvelope(rec, p.canon[i], p.ids)
		if p.envs[i] == nil {
			in.Metrics.Suppressed.WithLabelValues(in.System, in.Entity, "delete_unknown").Inc()
		}
	}
}

// buildEnvelope makes the envelope of rec, mapped in as canon, with the
// hub ids of ids (entity -> native key -> hub id); nil when rec has none.
func (in *Intake) buildEnvelope(rec connectors.Record, canon mapping.Value, ids map[string]map[string]string) *Envelope {
	hubID, ok := ids[in.Entity][rec.Key]
	if !ok {
		return nil
	}
	if rec.Op == connectors.OpDelete {
		return &Envelope{Entity: in.Entity, ID: hubID, Op: OpDelete, Origin: in.System, SourceID: rec.Key,
			Version: rec.Version, Data: mapping.ObjectValue(), TraceID: hubID, readVersion: rec.Version}
	}
	var refs map[string]string
	for entity, field := range in.Refs {
		if ref := refKey(rec, field); ref != "" {
			if refs == nil {
				refs = map[string]string{}
			}
			refs[entity] = ids[entity][ref]
		}
	}
	for entity, hubID := range rec.Refs {
		if hubID == "" || refs[entity] != "" {
			continue
		}
		if refs == nil {
			refs = map[string]string{}
		}
		refs[entity] = hubID
	}
	data := withIDs(canon, hubID, refs)
	hash := Hash(data)
	var fields string
	if in.merging() {
		// Of a merged entity only the very same read (content and
		// version) is dropped unmerged: the same content saved again
		// later may have to win over a write-back the target refused
		// as older.
		hash += "@" + versionText(rec.Version)
		fields = encodeFields(heldFields(data))
	}
	return &Envelope{Entity: in.Entity, ID: hubID, Op: OpUpsert, Origin: in.System, SourceID: rec.Key,
		Version: rec.Version, Hash: hash, Refs: refs, Data: data, TraceID: hubID, readVersion: rec.Version, readFields: fields}
}

// dropUnchanged drops what was already published (a look-back re-read) or
// written here by a sink (an echo of the hub's own write): nothing new to
// say. Within the batch, only an earlier record of the same hub id counts.
// (A link another writer made between the lookup and now is taken as
// hash-less: at worst a record is published twice, never one dropped.)
func (in *Intake) dropUnchanged(p *prep) {
	seen := map[string]string{}
	for i, env := range p.envs {
		if env == nil || env.Op != OpUpsert {
			continue
		}
		prev, inBatch := seen[env.ID]
		if !inBatch {
			prev = p.lastHash[env.ID]
		}
		seen[env.ID] = env.Hash
		if prev == env.Hash {
			in.Metrics.Suppressed.WithLabelValues(in.System, in.Entity, "unchanged").Inc()
			in.note(p, env, store.TraceSuppressed, "unchanged: the same content as last read from or written to "+in.System)
			p.envs[i] = nil
		}
	}
}

// dropOlder drops records older than the version the hub last took from
// their system (NewerOnly): a late delivery of an old change.
func (in *Intake) dropOlder(p *prep) {
	inBatch := map[string]time.Time{} // the newest version earlier in the batch
	for i, env := range p.envs {
		if env == nil || env.readVersion.IsZero() {
			continue
		}
		last, _ := time.Parse(time.RFC3339Nano, p.lastVer[env.ID])
		if t, ok := inBatch[env.ID]; ok && t.After(last) {
			last = t
		}
		if !env.readVersion.Before(last) {
			inBatch[env.ID] = env.readVersion
			continue
		}
		in.Metrics.Suppressed.WithLabelValues(in.System, in.Entity, "older_version").Inc()
		in.note(p, env, store.TraceSuppressed, "older: "+in.System+" sent version "+versionText(env.readVersion)+
			" after the hub had taken "+versionText(last))
		p.envs[i] = nil
	}
}

// withIDs sets the hub ids into canonical data: "id" and, for each
// reference, "<entity>.id" (an order's customer.id).
func withIDs(v mapping.Value, hubID string, refs map[string]string) mapping.Value {
	// Members, output and the references set inside their objects are
	// gathered in arrays on the stack: ObjectValue copies what it is given.
	var in, out [24]mapping.Member
	var setBuf [4]string
	o := append(out[:0], mapping.Member{Key: "id", Value: mapping.StringValue(hubID)})
	set := setBuf[:0]
	for _, m := range v.AppendMembers(in[:0]) {
		switch {
		case m.Key == "id":
			continue
		case refs[m.Key] != "" && m.Value.Kind() == mapping.Object:
			m.Value = withIDs(m.Value, refs[m.Key], nil)
			set = append(set, m.Key)
		}
		o = append(o, m)
	}
	for entity, id := range refs {
		if !slices.Contains(set, entity) {
			o = append(o, mapping.Member{Key: entity, Value: mapping.ObjectValue(mapping.Member{Key: "id", Value: mapping.StringValue(id)})})
		}
	}
	return mapping.ObjectValue(o...)
}

// stageError is a record's failure at one stage of the pipeline.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func stageErr(stage string, err error) error { return &stageError{stage: stage, err: err} }

// stageOf is the stage of a record's failure, or def.
func stageOf(err error, def string) string {
	var se *stageError
	if errors.As(err, &se) {
		return se.stage
	}
	return def
}
