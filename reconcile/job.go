package reconcile

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// RuleKind is how one field is compared.
type RuleKind string

// The comparison rules.
const (
	// RuleExact: equal canonical values (numbers compare as decimals, so
	// "10.0" equals "10").
	RuleExact RuleKind = "exact"
	// RuleCaseInsensitive: strings equal under Unicode case folding, with
	// surrounding space trimmed.
	RuleCaseInsensitive RuleKind = "case_insensitive"
	// RuleTolerance: numbers within Rule.Tolerance of each other.
	RuleTolerance RuleKind = "tolerance"
	// RuleDays: dates or timestamps within Rule.Days days of each other.
	RuleDays RuleKind = "days"
	// RuleIgnore: never compared.
	RuleIgnore RuleKind = "ignore"
)

// Rule is the comparison of one field.
type Rule struct {
	Kind RuleKind
	// Tolerance is the largest difference still equal (RuleTolerance).
	Tolerance decimal.Decimal
	// Days is the most days apart still equal (RuleDays).
	Days int
}

// Field is one canonical field compared, by a path of members ("total",
// "customer.email").
type Field struct {
	Name string
	Rule Rule
}

// Policy is what a job repairs.
type Policy string

// The repair policies.
const (
	// PolicyReport repairs nothing.
	PolicyReport Policy = "report"
	// PolicyLeftWins makes the right side like the left.
	PolicyLeftWins Policy = "left_wins"
	// PolicyRightWins makes the left side like the right.
	PolicyRightWins Policy = "right_wins"
	// PolicyNewestWins takes the side whose record changed last.
	PolicyNewestWins Policy = "newest_wins"
	// PolicyOwnerWins takes each field from the side that owns it (the
	// entity's two-way owners); fields without an owner are not repaired.
	PolicyOwnerWins Policy = "owner_wins"
)

// Job is one reconciliation job: which entity, which two sides, what is
// compared and how, and what is repaired.
type Job struct {
	Name   string
	Entity string
	// Left and Right name the two sides (connector names).
	Left, Right string
	// Key is the canonical field that matches records without a
	// crosswalk entry in common (an order's number); "" matches through
	// the crosswalk only.
	Key string
	// Fields are the fields compared; fields not listed are not.
	Fields []Field
	// Window, when non-zero, limits the comparison to records changed in
	// the last Window on either side (by Row.Version).
	Window time.Duration
	// Amount and Currency are the canonical fields summed in the control
	// totals ("" : count only).
	Amount, Currency string
	// Repair is the repair policy; Owners the field owners (field ->
	// side name) owner_wins uses.
	Repair Policy
	Owners map[string]string
	// Deletes lets a repair delete a record the winning side lacks;
	// without it such records are only reported.
	Deletes bool
	// Schedule is the job's cron spec (with seconds) and TimeZone its
	// zone; both used by the scheduler, not the engine.
	Schedule string
	TimeZone string
}

// Validate reports the first thing wrong with a job the engine cannot run.
func (j Job) Validate() error {
	if j.Name == "" || j.Entity == "" || j.Left == "" || j.Right == "" {
		return fmt.Errorf("reconcile: job %q: name, entity, left and right are required", j.Name)
	}
	if j.Left == j.Right {
		return fmt.Errorf("reconcile: job %s: left and right are both %s", j.Name, j.Left)
	}
	for _, f := range j.Fields {
		switch f.Rule.Kind {
		case RuleExact, RuleCaseInsensitive, RuleIgnore, "":
		case RuleTolerance:
			if f.Rule.Tolerance.IsNegative() {
				return fmt.Errorf("reconcile: job %s: field %s: negative tolerance", j.Name, f.Name)
			}
		case RuleDays:
			if f.Rule.Days < 0 {
				return fmt.Errorf("reconcile: job %s: field %s: negative days", j.Name, f.Name)
			}
		default:
			return fmt.Errorf("reconcile: job %s: field %s: unknown rule %q", j.Name, f.Name, f.Rule.Kind)
		}
	}
	switch j.Repair {
	case "", PolicyReport, PolicyLeftWins, PolicyRightWins, PolicyNewestWins, PolicyOwnerWins:
	default:
		return fmt.Errorf("reconcile: job %s: unknown repair policy %q", j.Name, j.Repair)
	}
	return nil
}
