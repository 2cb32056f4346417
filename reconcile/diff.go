package reconcile

import (
	"context"

	"github.com/crmhub/hub/mapping"
)

// Class is the kind of a difference.
type Class string

// The classes of difference.
const (
	// MissingLeft: a record the right side has and the left lacks (it has
	// a hub id, so the crosswalk knows it, but no left record matches).
	MissingLeft Class = "missing_left"
	// MissingRight: the other way round.
	MissingRight Class = "missing_right"
	// FieldMismatch: a matched pair whose compared fields differ.
	FieldMismatch Class = "field_mismatch"
	// DuplicateKey: several records of one side share a key (or hub id).
	DuplicateKey Class = "duplicate_key"
	// Unmatched: a record with no crosswalk entry and no key match on the
	// other side.
	Unmatched Class = "unmatched"
)

// Classes lists every class, in report order.
var Classes = []Class{MissingLeft, MissingRight, FieldMismatch, DuplicateKey, Unmatched}

// Side names a side of a job.
type Side string

// The two sides.
const (
	Left  Side = "left"
	Right Side = "right"
)

// FieldDiff is one field of a mismatched pair, with both values.
type FieldDiff struct {
	Field string        `json:"field"`
	Left  mapping.Value `json:"left"`
	Right mapping.Value `json:"right"`
}

// Diff is one difference.
type Diff struct {
	Class Class `json:"class"`
	// Key and HubID identify the record (as far as known).
	Key   string `json:"key"`
	HubID string `json:"hub_id,omitempty"`
	// LeftID and RightID are the native ids on each side ("" where absent).
	LeftID  string `json:"left_id,omitempty"`
	RightID string `json:"right_id,omitempty"`
	// Side is the side holding the record for missing, duplicate and
	// unmatched differences.
	Side Side `json:"side,omitempty"`
	// IDs are the native ids sharing the key (DuplicateKey).
	IDs []string `json:"ids,omitempty"`
	// Fields are the differing fields (FieldMismatch).
	Fields []FieldDiff `json:"fields,omitempty"`
	// LeftRow and RightRow are the rows compared, for repairs; not stored.
	LeftRow  *Row `json:"-"`
	RightRow *Row `json:"-"`
}

// DiffSink takes the differences of a run as the engine finds them.
type DiffSink interface {
	Add(ctx context.Context, d Diff) error
}

// DiffFunc adapts a function to a DiffSink.
type DiffFunc func(ctx context.Context, d Diff) error

// Add calls f.
func (f DiffFunc) Add(ctx context.Context, d Diff) error { return f(ctx, d) }

// SideTotals are the control totals of one side.
type SideTotals struct {
	// Count is the rows compared (in the window).
	Count int64 `json:"count"`
	// Amounts sums the job's amount field by currency, as decimal text
	// ("" is the currency of rows without one).
	Amounts map[string]string `json:"amounts,omitempty"`
}

// Totals are what a run counted.
type Totals struct {
	Left    SideTotals      `json:"left"`
	Right   SideTotals      `json:"right"`
	Matched int64           `json:"matched"`
	Classes map[Class]int64 `json:"classes"`
	// Scanned counts every row read per side, in the window or not.
	ScannedLeft  int64 `json:"scanned_left"`
	ScannedRight int64 `json:"scanned_right"`
}

// Differences is the number of differences of every class.
func (t Totals) Differences() int64 {
	var n int64
	for _, c := range t.Classes {
		n += c
	}
	return n
}
