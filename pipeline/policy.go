package pipeline

import (
	"sort"

	"github.com/crmhub/hub/mapping"
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
