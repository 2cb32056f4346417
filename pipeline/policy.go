package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/store"
)

// Dead-letter kind and stages of two-way sync.
const (
	// KindReview marks a dead letter that waits for a person: an
	// ambiguous match or a conflict the policy could not decide.
	KindReview = "review"
	StageMatch = "match" // first contact matched more than one hub record
	StageMerge = "merge" // a field conflict the policy could not decide
)

// Conflict policies besides a system's name.
const ConflictNewest = "newest"

// Policy is how the records of one entity settle when several systems
// change them (see docs/two-way.md).
type Policy struct {
	// Merge keeps the hub's canonical record (the records table) and
	// merges every change into it before publishing.
	Merge bool
	// Owners names the system of record of canonical fields: a change
	// from any other system never sets them.
	Owners map[string]string
	// Conflict decides fields without an owner: ConflictNewest (the newer
	// source version wins; at an equal version from another system the
	// hub keeps its value; a change or value without a version goes to
	// review) or a system's name (that system's value wins
	// over the others'; between the others, and against the named system's
	// own older reads, the newer version wins).
	Conflict string
	// Match are the rules that match a record seen for the first time to
	// an existing hub record, tried in order.
	Match []MatchRule
}

// MatchRule matches on one canonical field, normalised.
type MatchRule struct {
	Field     string // canonical field, e.g. email, phone, tax_id
	Normalize string // email, phone, exact
	// CountryCode is the calling code (digits, e.g. "49") given to phone
	// numbers written without one.
	CountryCode string
}

// NormalizeKind picks the normaliser a field name suggests.
func NormalizeKind(field string) string {
	f := strings.ToLower(field)
	switch {
	case strings.Contains(f, "email"), strings.Contains(f, "mail"):
		return "email"
	case strings.Contains(f, "phone"), strings.Contains(f, "mobile"), strings.Contains(f, "fax"):
		return "phone"
	}
	return "exact"
}

// Key is the rule's normalised value of v, "" when it has none.
func (r MatchRule) Key(v mapping.Value) string {
	if v.IsNull() || v.Kind() == mapping.Object || v.Kind() == mapping.Array {
		return ""
	}
	s := strings.TrimSpace(v.Str())
	switch r.Normalize {
	case "email":
		return strings.ToLower(s)
	case "phone":
		return E164(s, r.CountryCode)
	default:
		var b strings.Builder
		for _, c := range strings.ToUpper(s) {
			if c != ' ' && c != '-' && c != '.' && c != '/' {
				b.WriteRune(c)
			}
		}
		return b.String()
	}
}

// E164 normalises a phone number to +<digits>: "00" and "+" start an
// international number; a national number (leading 0) gets countryCode.
// It returns "" for text with too few digits to be a number.
func E164(s, countryCode string) string {
	s = strings.TrimSpace(s)
	intl := strings.HasPrefix(s, "+")
	var d strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			d.WriteRune(c)
		}
	}
	digits := d.String()
	switch {
	case intl:
	case strings.HasPrefix(digits, "00"):
		digits = digits[2:]
	case strings.HasPrefix(digits, "0") && countryCode != "":
		digits = countryCode + digits[1:]
	case countryCode != "" && !strings.HasPrefix(digits, countryCode):
		digits = countryCode + digits
	}
	if len(digits) < 6 {
		return ""
	}
	return "+" + digits
}

type reviewError struct{ msg string }

func (e *reviewError) Error() string { return e.msg }

// putMatchKeys stores the match keys of the batch's published records, so
// that later first contacts find them.
func (s *Source) putMatchKeys(ctx context.Context, envs []*Envelope) error {
	var keys []store.MatchKey
	for _, env := range envs {
		if env == nil || env.Op != OpUpsert {
			continue
		}
		for _, r := range s.Policy.Match {
			// A record without the field says nothing: the key stays.
			if v := r.Key(env.Data.Get(r.Field)); v != "" {
				keys = append(keys, store.MatchKey{HubID: env.ID, Rule: r.Field, Value: v})
			}
		}
	}
	return s.Store.PutMatchKeys(ctx, s.Entity, keys)
}

// matchLockTTL bounds how long a crashed source can hold the matching
// lock of an entity.
const matchLockTTL = 30 * time.Second

// lockMatching takes the entity's matching lock (a lease in the state
// store, so it holds across hub nodes) and returns its release. It waits
// while another source holds it.
func (s *Source) lockMatching(ctx context.Context) (func(), error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("matching lock holder: %w", err)
	}
	name, holder := "match/"+s.Entity, s.Name+"/"+id.String()
	b := newBackoff(time.Millisecond, 50*time.Millisecond)
	for {
		ok, err := s.Store.AcquireLease(ctx, name, holder, matchLockTTL)
		if err != nil {
			return nil, fmt.Errorf("take the %s matching lock: %w", s.Entity, err)
		}
		if ok {
			break
		}
		if !sleep(ctx, b.NextBackOff()) {
			return nil, ctx.Err()
		}
	}
	return func() {
		// Released even while stopping; an unreleased lock expires.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.Store.ReleaseLease(rctx, name, holder); err != nil {
			s.Log.Warn("release the matching lock", "entity", s.Entity, "err", err)
		}
	}, nil
}

// putFirstKeys stores the match keys of the batch's first contacts under
// the hub ids they now have, while the matching lock is held.
func (s *Source) putFirstKeys(ctx context.Context, recs []connectors.Record, canon []mapping.Value, firsts []int, ids map[string]string) error {
	var keys []store.MatchKey
	for _, i := range firsts {
		hub := ids[recs[i].Key]
		if hub == "" {
			continue // parked for review
		}
		for _, r := range s.Policy.Match {
			if v := r.Key(canon[i].Get(r.Field)); v != "" {
				keys = append(keys, store.MatchKey{HubID: hub, Rule: r.Field, Value: v})
			}
		}
	}
	return s.Store.PutMatchKeys(ctx, s.Entity, keys)
}

// match proposes hub ids for records seen for the first time: the first
// rule whose value some hub record shares decides, among hub records not
// yet linked to this system and whose other match keys do not contradict
// the record's (two people sharing a company phone but with different
// emails are two people). More than one candidate parks the record for
// review. (Records of one batch do not match each other: two records of
// one system are two records of that system.)
func (s *Source) match(ctx context.Context, recs []connectors.Record, canon []mapping.Value, firsts []int, p *prep) (map[string]string, error) {
	rules := s.Policy.Match
	keysOf := func(v mapping.Value) map[string]string {
		out := map[string]string{}
		for _, r := range rules {
			if k := r.Key(v.Get(r.Field)); k != "" {
				out[r.Field] = k
			}
		}
		return out
	}
	recKeys := make(map[int]map[string]string, len(firsts))
	values := map[string][]string{}
	for _, i := range firsts {
		recKeys[i] = keysOf(canon[i])
		for f, k := range recKeys[i] {
			values[f] = append(values[f], k)
		}
	}
	byRule := map[string]map[string][]string{}
	var cands []string
	for _, r := range rules {
		m, err := s.Store.FindMatches(ctx, s.Entity, r.Field, values[r.Field])
		if err != nil {
			return nil, err
		}
		byRule[r.Field] = m
		for _, hubs := range m {
			cands = append(cands, hubs...)
		}
	}
	candKeys, err := s.Store.MatchKeysOf(ctx, s.Entity, cands)
	if err != nil {
		return nil, err
	}
	linked, err := s.Store.LookupExternals(ctx, s.Entity, s.System, cands)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	taken := map[string]bool{} // hub ids claimed in this batch
	for _, i := range firsts {
		rk := recKeys[i]
		var hubs []string
		var by string
		for _, r := range rules {
			v := rk[r.Field]
			if v == "" {
				continue
			}
			for _, h := range byRule[r.Field][v] {
				if _, inSystem := linked[h]; inSystem || taken[h] || contradicts(rk, candKeys[h]) {
					continue
				}
				hubs = append(hubs, h)
			}
			if len(hubs) > 0 {
				by = r.Field
				break
			}
		}
		switch {
		case len(hubs) == 1:
			out[recs[i].Key] = hubs[0]
			taken[hubs[0]] = true
			if s.Journal != nil {
				p.trace = append(p.trace, store.TraceEvent{Entity: s.Entity, HubID: hubs[0], System: s.System, Connector: s.Name,
					ExternalID: recs[i].Key, Event: store.TraceMatched, Version: versionText(recs[i].Version),
					Detail: fmt.Sprintf("first contact from %s matched by %s %q", s.System, by, rk[by])})
			}
		case len(hubs) > 1:
			sort.Strings(hubs)
			p.bad[i] = stageErr(StageMatch, &reviewError{msg: fmt.Sprintf("ambiguous match by %s %q: hub records %s; link it by hand or fix the data",
				by, rk[by], strings.Join(hubs, ", "))})
		}
	}
	return out, nil
}

// contradicts reports whether two sets of match keys disagree on a rule
// both have.
func contradicts(a, b map[string]string) bool {
	for rule, v := range a {
		if w, ok := b[rule]; ok && w != v {
			return true
		}
	}
	return false
}

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
func (s *Source) merge(ctx context.Context, recs []connectors.Record, p *prep) error {
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
			return fmt.Errorf("merge %d %s records: still contended after %d attempts", len(todo), s.Entity, attempt)
		}
		ids := make([]string, 0, len(todo))
		for id := range todo {
			ids = append(ids, id)
		}
		loaded, err := s.Store.LoadRecords(ctx, s.Entity, ids)
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
			results = append(results, result{i, s.Policy.mergeInto(h, s.System, recs[i].Version, env.Data, p.held[env.ID])})
			if h.see(s.System, recs[i].Version) {
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
		stale, err := s.Store.SaveRecords(ctx, s.Entity, save)
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
			s.settle(p, r.i, hubs[env.ID], r.o)
		}
		todo = retry
	}
	return nil
}

// settle turns one merged change into the envelope to publish, or drops it.
func (s *Source) settle(p *prep, i int, h *hubRecord, o mergeOutcome) {
	env := p.envs[i]
	data := withIDs(h.data(), env.ID, nil)
	hash := Hash(data)
	readHash := env.Hash
	if len(o.review) > 0 {
		// One dead letter for all of the change's conflicts: the store keeps
		// one open dead letter per record key, so one per field would keep
		// only the last field's.
		r := strings.Join(o.review, "; ")
		p.reviews = append(p.reviews, store.DeadLetter{Connector: s.Name, Entity: s.Entity, RecordKey: env.SourceID + "#merge",
			HubID: env.ID, Stage: StageMerge, Kind: KindReview, Attempts: 1, TraceID: env.ID,
			Error:   "conflict the policy cannot decide (the hub kept its value): " + r,
			Payload: reviewPayload(h, env)})
		s.note(p, env, store.TraceConflict, "review: "+r)
	}
	if len(o.refused) > 0 {
		s.note(p, env, store.TraceConflict, "kept the hub's value: "+strings.Join(o.refused, "; "))
	}
	if before := p.held[env.ID]; o.stale && before != nil && before.version == versionText(env.readVersion) && before.lastHash == hash {
		// The system's sink wrote this very record at this version, and
		// the system kept other values (it rewrites or cannot store them):
		// writing it again would only loop.
		o.stale = false
		s.note(p, env, store.TraceConflict, s.System+" keeps other values than the hub wrote to it; not written back again")
	}
	pending := h.stored.PubHash != hash
	changed := hash != h.stored.Hash
	if !changed && !o.stale && !pending {
		s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "echo").Inc()
		s.note(p, env, store.TraceSuppressed, "echo: merged, the hub's record is unchanged")
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

// Owned lists the fields system owns, sorted.
func (pol *Policy) Owned(system string) []string {
	if pol == nil {
		return nil
	}
	var out []string
	for f, owner := range pol.Owners {
		if owner == system {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// OwnedBy returns data without the fields system owns: the hub never
// writes them to their system of record.
func (pol *Policy) OwnedBy(system string, data mapping.Value) mapping.Value {
	if pol == nil || len(pol.Owners) == 0 || data.Kind() != mapping.Object {
		return data
	}
	ms := data.Members()
	out := make([]mapping.Member, 0, len(ms))
	for _, m := range ms {
		if pol.Owners[m.Key] != system {
			out = append(out, m)
		}
	}
	return mapping.ObjectValue(out...)
}
