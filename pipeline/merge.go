package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/store"
)

// The merge step (two-way entities): each change is merged into the hub's
// canonical record (the records table) by field ownership and the
// conflict policy, field by field (see docs/two-way.md), and the merged
// record is what gets published.

// fieldMeta is who set a field of the hub's record, and at which version.
type fieldMeta struct {
	S string `json:"s"`
	V string `json:"v"`
}

// hubRecord is a record of the records table, decoded.
type hubRecord struct {
	stored  store.StoredRecord
	members map[string]mapping.Value
	fields  map[string]fieldMeta
	version time.Time
	// seen is the newest version merged from each system (RFC 3339).
	seen map[string]string
}

// see records that the merge read system's record at version; it reports
// whether that is newer than what the record had seen of it.
func (h *hubRecord) see(system string, version time.Time) bool {
	if version.IsZero() {
		return false
	}
	if old, err := time.Parse(time.RFC3339Nano, h.seen[system]); err == nil && !version.After(old) {
		return false
	}
	h.seen[system] = versionText(version)
	return true
}

func decodeRecord(r store.StoredRecord) (*hubRecord, error) {
	h := &hubRecord{stored: r, members: map[string]mapping.Value{}, fields: map[string]fieldMeta{}, seen: map[string]string{}}
	if r.Data != "" {
		v, err := mapping.ParseJSON([]byte(r.Data))
		if err != nil {
			return nil, fmt.Errorf("records: %s: data: %w", r.HubID, err)
		}
		for _, m := range v.Members() {
			h.members[m.Key] = m.Value
		}
	}
	if r.Fields != "" {
		if err := json.Unmarshal([]byte(r.Fields), &h.fields); err != nil {
			return nil, fmt.Errorf("records: %s: fields: %w", r.HubID, err)
		}
	}
	if r.Seen != "" {
		if err := json.Unmarshal([]byte(r.Seen), &h.seen); err != nil {
			return nil, fmt.Errorf("records: %s: seen: %w", r.HubID, err)
		}
	}
	if r.Version != "" {
		h.version, _ = time.Parse(time.RFC3339Nano, r.Version)
	}
	return h, nil
}

// perSystem are canonical fields that differ per system by nature and are
// not merged: the hub id and the id in the system the record comes from.
func perSystem(field string) bool { return field == "id" || field == "external_id" }

// data is the merged record as canonical data, fields sorted.
func (h *hubRecord) data() mapping.Value {
	keys := make([]string, 0, len(h.members))
	for k := range h.members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ms := make([]mapping.Member, len(keys))
	for i, k := range keys {
		ms[i] = mapping.Member{Key: k, Value: h.members[k]}
	}
	return mapping.ObjectValue(ms...)
}

func sameValue(a, b mapping.Value) bool {
	return bytes.Equal(appendCanonical(nil, a), appendCanonical(nil, b))
}

// mergeOutcome is what merging one change did.
type mergeOutcome struct {
	changed bool     // the hub's record changed
	stale   bool     // the origin holds a value the hub's record does not
	refused []string // fields kept against the change, with why
	review  []string // conflicts the policy could not decide
}

// mergeInto merges a read from system at version into h. before is what
// the system held as the hub last knew it (nil: unknown): only the fields
// the system changed since compete, while the fields it merely still holds
// leave the hub's record as it is, and make the origin stale where they
// differ from it.
func (pol *Policy) mergeInto(h *hubRecord, system string, version time.Time, data mapping.Value, before *held) mergeOutcome {
	var o mergeOutcome
	ver := versionText(version)
	undecided := map[string]bool{} // left to a person: not written back either
	for _, m := range data.Members() {
		f, val := m.Key, m.Value
		if perSystem(f) {
			continue
		}
		if pol.Owners[f] != system && !before.changed(ver, f, val) {
			continue
		}
		cur, has := h.members[f]
		meta := h.fields[f]
		take := false
		why := ""
		switch owner := pol.Owners[f]; {
		case !has && val.IsNull():
			continue // absent and null are the same
		case has && sameValue(cur, val):
			if meta.S == "" {
				h.fields[f] = fieldMeta{S: system, V: ver}
			}
			continue
		case owner == system:
			take = true
		case owner != "":
			why = fmt.Sprintf("%s: owned by %s", f, owner)
		case !has:
			take = true
		default:
			named := pol.Conflict != "" && pol.Conflict != ConflictNewest
			switch {
			case named && system == pol.Conflict:
				// The named system's value wins, whatever the versions; only
				// an older read of its own does not undo a newer one.
				take = true
				if meta.S == system && !version.IsZero() {
					take, why = newer(f, meta, system, version)
				}
			case named && meta.S == pol.Conflict:
				why = fmt.Sprintf("%s: %s wins conflicts", f, pol.Conflict)
			default:
				// Newest wins: under newest, and between systems that are
				// not the named one.
				take, why = newer(f, meta, system, version)
				if !take && why == "" {
					undecided[f] = true
					o.review = append(o.review, fmt.Sprintf("%s: %s says %s (%s), %s says %s (%s); without both versions the newer cannot be told",
						f, orHub(meta.S), mapping.AppendJSON(nil, cur), orNoVersion(meta.V), system, mapping.AppendJSON(nil, val), orNoVersion(ver)))
					continue
				}
			}
		}
		if take {
			h.members[f] = val
			h.fields[f] = fieldMeta{S: system, V: ver}
			o.changed = true
			continue
		}
		o.refused = append(o.refused, why)
	}
	if version.After(h.version) {
		h.version = version
	}
	// The origin is stale where it holds another value than the hub's of a
	// field it does not own (a refused change, or a newer value from
	// elsewhere it has not got yet): writing the hub's record back fixes it.
	for _, m := range data.Members() {
		if perSystem(m.Key) || pol.Owners[m.Key] == system || undecided[m.Key] {
			continue
		}
		if !sameValue(h.members[m.Key], m.Value) {
			o.stale = true
			break
		}
	}
	return o
}

func orHub(system string) string {
	if system == "" {
		return "the hub"
	}
	return system
}

func orNoVersion(v string) string {
	if v == "" {
		return "no version"
	}
	return "version " + v
}

// newer decides a field by version: take is true when the change is newer
// than the value's; why says why not, or is "" when it cannot be decided
// (a version missing on either side).
func newer(field string, meta fieldMeta, system string, version time.Time) (take bool, why string) {
	cur, err := time.Parse(time.RFC3339Nano, meta.V)
	switch {
	case meta.S == system:
		if err == nil && version.IsZero() {
			return false, "" // a versioned value, a change without one
		}
		if err == nil && version.Before(cur) {
			return false, fmt.Sprintf("%s: an older read of %s", field, system)
		}
		return true, ""
	case err != nil || version.IsZero():
		return false, ""
	case version.After(cur):
		return true, ""
	case version.Before(cur):
		return false, fmt.Sprintf("%s: %s holds a newer value (%s)", field, meta.S, meta.V)
	}
	// The same version from another system: a tie, which the hub's value
	// wins, so that both systems end with one value. (A sink keeps each
	// system's own version when it writes, so two systems share a version
	// only by coincidence.)
	return false, fmt.Sprintf("%s: %s holds another value at the same version (%s); the hub keeps its own", field, meta.S, meta.V)
}

// merge merges the batch's upserts into the hub's records by the policy,
// saves them (retrying those another source merged first) and decides
// what to publish: a change that leaves the hub's record as it is and the
// origin up to date is an echo and is dropped.
func (in *Intake) merge(ctx context.Context, recs []connectors.Record, p *prep) error {
	todo := map[string]bool{}
	for _, env := range p.envs {
		if env != nil && env.Op == OpUpsert {
			todo[env.ID] = true
		}
	}
	if p.merged == nil {
		p.merged = map[string]string{}
	}
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt > 20 {
			return fmt.Errorf("merge %d %s records: still contended after %d attempts", len(todo), in.Entity, attempt)
		}
		ids := make([]string, 0, len(todo))
		for id := range todo {
			ids = append(ids, id)
		}
		loaded, err := in.Store.LoadRecords(ctx, in.Entity, ids)
		if err != nil {
			return err
		}
		hubs := map[string]*hubRecord{}
		for _, id := range ids {
			h, err := decodeRecord(loaded[id])
			if err != nil {
				return err
			}
			h.stored.HubID = id
			hubs[id] = h
		}
		type result struct {
			i int
			o mergeOutcome
		}
		var results []result
		saw := map[string]bool{}
		for i, env := range p.envs {
			if env == nil || env.Op != OpUpsert || !todo[env.ID] {
				continue
			}
			h := hubs[env.ID]
			results = append(results, result{i, in.Policy.mergeInto(h, in.System, recs[i].Version, env.Data, p.held[env.ID])})
			if h.see(in.System, recs[i].Version) {
				saw[env.ID] = true
			}
		}
		var save []store.StoredRecord
		for id, h := range hubs {
			data := withIDs(h.data(), id, nil)
			hash := Hash(data)
			if hash == h.stored.Hash && h.stored.Rev > 0 && h.stored.Version == versionText(h.version) && !saw[id] {
				continue
			}
			fields, err := json.Marshal(h.fields)
			if err != nil {
				return fmt.Errorf("records: %s: fields: %w", id, err)
			}
			seen, err := json.Marshal(h.seen)
			if err != nil {
				return fmt.Errorf("records: %s: seen: %w", id, err)
			}
			save = append(save, store.StoredRecord{HubID: id, Data: string(mapping.AppendJSON(nil, data)), Fields: string(fields),
				Hash: hash, PubHash: h.stored.PubHash, Version: versionText(h.version), Rev: h.stored.Rev, Seen: string(seen)})
		}
		stale, err := in.Store.SaveRecords(ctx, in.Entity, save)
		if err != nil {
			return err
		}
		retry := map[string]bool{}
		for _, id := range stale {
			retry[id] = true
		}
		for _, r := range results {
			env := p.envs[r.i]
			if retry[env.ID] {
				continue
			}
			in.settle(p, r.i, hubs[env.ID], r.o)
		}
		todo = retry
	}
	return nil
}

// settle turns one merged change into the envelope to publish, or drops it.
func (in *Intake) settle(p *prep, i int, h *hubRecord, o mergeOutcome) {
	env := p.envs[i]
	data := withIDs(h.data(), env.ID, nil)
	hash := Hash(data)
	readHash := env.Hash
	if len(o.review) > 0 {
		// One dead letter for all of the change's conflicts: the store keeps
		// one open dead letter per record key, so one per field would keep
		// only the last field's.
		r := strings.Join(o.review, "; ")
		p.reviews = append(p.reviews, store.DeadLetter{Connector: in.Name, Entity: in.Entity, RecordKey: env.SourceID + "#merge",
			HubID: env.ID, Stage: StageMerge, Kind: KindReview, Attempts: 1, TraceID: env.ID,
			Error:   "conflict the policy cannot decide (the hub kept its value): " + r,
			Payload: reviewPayload(h, env)})
		in.note(p, env, store.TraceConflict, "review: "+r)
	}
	if len(o.refused) > 0 {
		in.note(p, env, store.TraceConflict, "kept the hub's value: "+strings.Join(o.refused, "; "))
	}
	if before := p.held[env.ID]; o.stale && before != nil && before.version == versionText(env.readVersion) && before.lastHash == hash {
		// The system's sink wrote this very record at this version, and
		// the system kept other values (it rewrites or cannot store them):
		// writing it again would only loop.
		o.stale = false
		in.note(p, env, store.TraceConflict, in.System+" keeps other values than the hub wrote to it; not written back again")
	}
	pending := h.stored.PubHash != hash
	changed := hash != h.stored.Hash
	if !changed && !o.stale && !pending {
		in.Metrics.Suppressed.WithLabelValues(in.System, in.Entity, "echo").Inc()
		in.note(p, env, store.TraceSuppressed, "echo: merged, the hub's record is unchanged")
		p.stamps = append(p.stamps, store.Written{HubID: env.ID, ExternalID: env.SourceID, Hash: readHash,
			Version: versionText(env.readVersion), Fields: env.readFields})
		p.envs[i] = nil
		return
	}
	if ext := env.Data.Get("external_id"); !ext.IsNull() {
		data = withMember(data, "external_id", ext)
	}
	env.Data, env.Hash, env.readHash = data, hash, readHash
	env.Version = h.version
	env.OriginStale = o.stale
	env.Seen = make(map[string]string, len(h.seen))
	for sys, v := range h.seen {
		env.Seen[sys] = v
	}
	p.merged[env.ID] = hash
}

func withMember(v mapping.Value, key string, val mapping.Value) mapping.Value {
	ms := append([]mapping.Member(nil), v.Members()...)
	return mapping.ObjectValue(append(ms, mapping.Member{Key: key, Value: val})...)
}

func reviewPayload(h *hubRecord, env *Envelope) []byte {
	b := []byte(`{"hub":`)
	b = mapping.AppendJSON(b, h.data())
	b = append(b, `,"incoming":`...)
	b = mapping.AppendJSON(b, env.Data)
	b = append(b, `,"origin":`...)
	b = appendStr(b, env.Origin)
	return append(b, '}')
}
