package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/store"
)

// Matching: a record a system shows the hub for the first time may be a
// record the hub already knows from another system (the same person in
// the CRM and in the shop). The policy's match rules find it by
// normalised fields; the identity step (identity.go) runs them under the
// entity's matching lock.

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

// reviewError is a record parked for a person to decide.
type reviewError struct{ msg string }

func (e *reviewError) Error() string { return e.msg }

func isReview(err error) bool {
	var re *reviewError
	return errors.As(err, &re)
}

// putMatchKeys stores the match keys of the batch's published records, so
// that later first contacts find them.
func (in *Intake) putMatchKeys(ctx context.Context, envs []*Envelope) error {
	var keys []store.MatchKey
	for _, env := range envs {
		if env == nil || env.Op != OpUpsert {
			continue
		}
		for _, r := range in.Policy.Match {
			// A record without the field says nothing: the key stays.
			if v := r.Key(env.Data.Get(r.Field)); v != "" {
				keys = append(keys, store.MatchKey{HubID: env.ID, Rule: r.Field, Value: v})
			}
		}
	}
	return in.Store.PutMatchKeys(ctx, in.Entity, keys)
}

// putFirstKeys stores the match keys of the batch's first contacts under
// the hub ids they now have, while the matching lock is held.
func (in *Intake) putFirstKeys(ctx context.Context, recs []connectors.Record, canon []mapping.Value, firsts []int, ids map[string]string) error {
	var keys []store.MatchKey
	for _, i := range firsts {
		hub := ids[recs[i].Key]
		if hub == "" {
			continue // parked for review
		}
		for _, r := range in.Policy.Match {
			if v := r.Key(canon[i].Get(r.Field)); v != "" {
				keys = append(keys, store.MatchKey{HubID: hub, Rule: r.Field, Value: v})
			}
		}
	}
	return in.Store.PutMatchKeys(ctx, in.Entity, keys)
}

// match proposes hub ids for records seen for the first time: the first
// rule whose value some hub record shares decides, among hub records not
// yet linked to this system and whose other match keys do not contradict
// the record's (two people sharing a company phone but with different
// emails are two people). More than one candidate parks the record for
// review. (Records of one batch do not match each other: two records of
// one system are two records of that system.)
func (in *Intake) match(ctx context.Context, recs []connectors.Record, canon []mapping.Value, firsts []int, p *prep) (map[string]string, error) {
	rules := in.Policy.Match
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
		m, err := in.Store.FindMatches(ctx, in.Entity, r.Field, values[r.Field])
		if err != nil {
			return nil, err
		}
		byRule[r.Field] = m
		for _, hubs := range m {
			cands = append(cands, hubs...)
		}
	}
	candKeys, err := in.Store.MatchKeysOf(ctx, in.Entity, cands)
	if err != nil {
		return nil, err
	}
	linked, err := in.Store.LookupExternals(ctx, in.Entity, in.System, cands)
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
			if in.Journal != nil {
				p.trace = append(p.trace, store.TraceEvent{Entity: in.Entity, HubID: hubs[0], System: in.System, Connector: in.Name,
					ExternalID: recs[i].Key, Event: store.TraceMatched, Version: versionText(recs[i].Version),
					Detail: fmt.Sprintf("first contact from %s matched by %s %q", in.System, by, rk[by])})
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
