package reconcile

import (
	"github.com/crmhub/hub/mapping"
)

// Repair is one change a job's policy makes to one side.
type Repair struct {
	// Target is the side changed; From the side whose record wins.
	Target, From Side
	// Delete removes the record from Target; otherwise Doc is upserted.
	Delete bool
	HubID  string
	// TargetID is the record's native id on Target ("" : it is created);
	// FromID its id on From.
	TargetID, FromID string
	// Doc is the canonical record Target is to hold (for a delete, the
	// record as Target holds it).
	Doc mapping.Value
	// Fields are the fields repaired ("" : the whole record).
	Fields []string
	// Refs are the hub ids of the records Doc references, where the
	// winning side knew them.
	Refs map[string]string
}

// Plan returns the repairs the job's policy makes of a difference: none
// for report, duplicate keys, unmatched records (no hub id to repair
// through) and, unless the job allows deletes, records to delete.
func Plan(job Job, d Diff) []Repair {
	if job.Repair == PolicyReport || job.Repair == "" {
		return nil
	}
	switch d.Class {
	case FieldMismatch:
		return planMismatch(job, d)
	case MissingLeft, MissingRight:
		return planMissing(job, d)
	}
	return nil
}

func planMismatch(job Job, d Diff) []Repair {
	if d.HubID == "" || d.LeftRow == nil || d.RightRow == nil {
		return nil
	}
	fields := make([]string, len(d.Fields))
	for i, f := range d.Fields {
		fields[i] = f.Field
	}
	whole := func(from Side) []Repair {
		r := Repair{From: from, Target: other(from), HubID: d.HubID, Fields: fields}
		r.FromID, r.TargetID, r.Doc, r.Refs = d.LeftID, d.RightID, d.LeftRow.Doc, d.LeftRow.Refs
		if from == Right {
			r.FromID, r.TargetID, r.Doc, r.Refs = d.RightID, d.LeftID, d.RightRow.Doc, d.RightRow.Refs
		}
		return []Repair{r}
	}
	switch job.Repair {
	case PolicyLeftWins:
		return whole(Left)
	case PolicyRightWins:
		return whole(Right)
	case PolicyNewestWins:
		l, r := d.LeftRow.Version, d.RightRow.Version
		switch {
		case l.IsZero() || r.IsZero() || l.Equal(r):
			return nil // no way to tell: left for a person
		case l.After(r):
			return whole(Left)
		default:
			return whole(Right)
		}
	case PolicyOwnerWins:
		return planOwners(job, d)
	}
	return nil
}

// planOwners repairs each differing field on the side that does not own
// it, with its owner's value; fields without an owner stay reported.
func planOwners(job Job, d Diff) []Repair {
	var out []Repair
	for _, from := range []Side{Left, Right} {
		conn := job.Left
		if from == Right {
			conn = job.Right
		}
		var fields []string
		target, src := d.RightRow.Doc, d.LeftRow.Doc
		if from == Right {
			target, src = d.LeftRow.Doc, d.RightRow.Doc
		}
		for _, f := range d.Fields {
			if job.Owners[f.Field] == conn {
				fields = append(fields, f.Field)
				target = setPath(target, f.Field, Lookup(src, f.Field))
			}
		}
		if len(fields) == 0 {
			continue
		}
		r := Repair{From: from, Target: other(from), HubID: d.HubID, Doc: target, Fields: fields,
			FromID: d.LeftID, TargetID: d.RightID, Refs: d.RightRow.Refs}
		if from == Right {
			r.FromID, r.TargetID, r.Refs = d.RightID, d.LeftID, d.LeftRow.Refs
		}
		out = append(out, r)
	}
	return out
}

func planMissing(job Job, d Diff) []Repair {
	has := Left // the side holding the record
	row := d.LeftRow
	if d.Class == MissingLeft {
		has, row = Right, d.RightRow
	}
	if row == nil || d.HubID == "" {
		return nil
	}
	winner := Side("")
	switch job.Repair {
	case PolicyLeftWins:
		winner = Left
	case PolicyRightWins:
		winner = Right
	case PolicyNewestWins:
		winner = has // the record is newer than its absence
	default:
		return nil
	}
	if winner == has {
		return []Repair{{From: has, Target: other(has), HubID: d.HubID, FromID: row.ID, Doc: row.Doc, Refs: row.Refs}}
	}
	if !job.Deletes {
		return nil
	}
	return []Repair{{From: winner, Target: has, Delete: true, HubID: d.HubID, TargetID: row.ID, Doc: row.Doc}}
}

func other(s Side) Side {
	if s == Left {
		return Right
	}
	return Left
}

// setPath returns doc with the member at a dotted path set to v.
func setPath(doc mapping.Value, path string, v mapping.Value) mapping.Value {
	name, rest, nested := cutPath(path)
	ms := doc.Members()
	out := make([]mapping.Member, 0, len(ms)+1)
	found := false
	for _, m := range ms {
		if m.Key == name {
			found = true
			if nested {
				m.Value = setPath(m.Value, rest, v)
			} else {
				m.Value = v
			}
		}
		out = append(out, m)
	}
	if !found {
		if nested {
			v = setPath(mapping.ObjectValue(), rest, v)
		}
		out = append(out, mapping.Member{Key: name, Value: v})
	}
	return mapping.ObjectValue(out...)
}

func cutPath(path string) (string, string, bool) {
	for i := 0; i < len(path); i++ {
		if path[i] == '.' {
			return path[:i], path[i+1:], true
		}
	}
	return path, "", false
}
