package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/reconcile"
	"github.com/crmhub/hub/reconcile/sqlsum"
)

// The checksum path of a run: both sides' databases checksum key ranges
// (reconcile/sqlsum), only the records of the keys that differ are read
// through each side's normal path (mapping, crosswalk) and compared by
// the engine under the job's rules, and the control totals come from one
// aggregate query per side.

// The comparison methods.
const (
	MethodStream   = "stream"
	MethodChecksum = "checksum"
	MethodAuto     = "auto"
)

// SumTable is a connector whose entity is a SQL table the checksum path
// can sum and read by key (the sqlstore connector).
type SumTable interface {
	SumTable(entity, key string, columns []string) (sqlsum.Side, error)
	ReadKeys(ctx context.Context, entity, column string, keys []int64) ([]connectors.Record, error)
	// ValuesOf gives col's values (as text) in the rows of keys; KeysOf
	// the keys of the rows whose col holds one of values.
	ValuesOf(ctx context.Context, entity, keyCol, col string, keys []int64) ([]string, error)
	KeysOf(ctx context.Context, entity, keyCol, col string, values []string) ([]int64, error)
}

// ReconChecksum is a job's checksum path as configured.
type ReconChecksum struct {
	// Method is MethodChecksum (a run fails when the path cannot be
	// taken) or MethodAuto (a run then streams).
	Method      string
	Left, Right ChecksumSide
}

// ChecksumSide is one side's table for the checksum path.
type ChecksumSide struct {
	// Table is the side's connector; nil when it is no SQL table.
	Table SumTable
	// Key is the integer column naming a record on both sides ("": the
	// entity's key column).
	Key string
	// Columns maps canonical fields to the table's columns.
	Columns map[string]string
}

// checksumPlan is what a checksum run compares.
type checksumPlan struct {
	sides [2]sqlsum.Side
	// amount and currency are each side's control total columns.
	amount, currency [2]string
	scale            [2]int
	// match is each side's column of the job's key field ("": none).
	match [2]string
}

// plan builds the two sqlsum sides: each compared field's column, with
// kinds made alike across the sides.
func (c *ReconChecksum) plan(job reconcile.Job) (checksumPlan, error) {
	var p checksumPlan
	if job.Window > 0 {
		return p, errors.New("a job with a window compares only recent records: the checksum path compares whole tables")
	}
	var fields []string
	for _, f := range job.Fields {
		if f.Rule.Kind != reconcile.RuleIgnore {
			fields = append(fields, f.Name)
		}
	}
	for i, s := range []ChecksumSide{c.Left, c.Right} {
		if s.Table == nil {
			return p, fmt.Errorf("the %s side is no SQL table", sideName(i))
		}
		var cols []string
		for _, f := range fields {
			col, ok := s.Columns[f]
			if !ok {
				return p, fmt.Errorf("the %s side has no column for %s", sideName(i), f)
			}
			cols = append(cols, col)
		}
		side, err := s.Table.SumTable(job.Entity, s.Key, cols)
		if err != nil {
			return p, err
		}
		p.sides[i] = side
		if job.Key != "" {
			if p.match[i] = s.Columns[job.Key]; p.match[i] == "" {
				return p, fmt.Errorf("the %s side has no column for the job's key %s", sideName(i), job.Key)
			}
		}
		p.amount[i], p.currency[i] = s.Columns[job.Amount], s.Columns[job.Currency]
		if job.Amount != "" && p.amount[i] == "" || job.Currency != "" && p.currency[i] == "" {
			return p, fmt.Errorf("the %s side has no column for the control totals' amount or currency", sideName(i))
		}
		if p.amount[i] != "" {
			at, err := s.Table.SumTable(job.Entity, s.Key, []string{p.amount[i]})
			if err != nil {
				return p, err
			}
			if k := at.Columns[0]; k.Kind == sqlsum.Decimal || k.Kind == sqlsum.Integer {
				p.scale[i] = k.Scale
			} else {
				p.scale[i] = 2 // money: cents
			}
		}
	}
	for j, f := range fields {
		l, r, err := alike(p.sides[0].Columns[j], p.sides[1].Columns[j])
		if err != nil {
			return p, fmt.Errorf("field %s: %w", f, err)
		}
		if rule := job.Fields[indexOf(job.Fields, f)].Rule; rule.Kind == reconcile.RuleTolerance && l.Kind == sqlsum.Decimal {
			// Quantized: values within the tolerance mostly hash alike (a
			// pre-filter still: the engine applies the rule).
			l.Tolerance, r.Tolerance = rule.Tolerance.String(), rule.Tolerance.String()
			if exp := -rule.Tolerance.Exponent(); int(exp) > l.Scale {
				l.Tolerance, r.Tolerance = "", ""
			}
		}
		p.sides[0].Columns[j], p.sides[1].Columns[j] = l, r
	}
	return p, nil
}

// alike makes two columns hash alike for equal values: the same kind,
// the larger scale. A text column takes the other's kind (the database
// canonicalizes its text as a date, a timestamp or a decimal).
func alike(l, r sqlsum.Column) (sqlsum.Column, sqlsum.Column, error) {
	switch {
	case l.Kind == r.Kind:
	case l.Kind == sqlsum.Text:
		l.Kind = r.Kind
	case r.Kind == sqlsum.Text:
		r.Kind = l.Kind
	case l.Kind == sqlsum.Integer && r.Kind == sqlsum.Decimal:
		l.Kind = sqlsum.Decimal
	case l.Kind == sqlsum.Decimal && r.Kind == sqlsum.Integer:
		r.Kind = sqlsum.Decimal
	default:
		return l, r, fmt.Errorf("columns %s and %s are of kinds that do not compare (%d, %d)", l.Name, r.Name, l.Kind, r.Kind)
	}
	s := max(l.Scale, r.Scale)
	l.Scale, r.Scale = s, s
	return l, r, nil
}

func indexOf(fs []reconcile.Field, name string) int {
	for i, f := range fs {
		if f.Name == name {
			return i
		}
	}
	return -1
}

func sideName(i int) string { return []string{"left", "right"}[i] }

// compareChecksum runs a job through the checksum path. The engine sees
// only the candidates' records; its totals are completed with the rows
// that agree (never read) and the control totals of the aggregates.
func (r *Reconciler) compareChecksum(ctx context.Context, rj ReconJob, p checksumPlan, out *reconOut, opts ReconOptions, sum *ReconSummary, log *slog.Logger) error {
	var keys [2][]int64
	st, err := sqlsum.Diff(ctx, p.sides[0], p.sides[1], sqlsum.Options{}, func(d sqlsum.Difference) error {
		if d.Class != sqlsum.OnlyRight {
			keys[0] = append(keys[0], d.Key)
		}
		if d.Class != sqlsum.OnlyLeft {
			keys[1] = append(keys[1], d.Key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checksums of %s: %w", rj.Job.Entity, err)
	}
	if keys, err = r.partners(ctx, rj, p, keys); err != nil {
		return err
	}
	sum.Checksum = &ChecksumStats{Candidates: st.Differences, Queries: st.Queries, RangesCompared: st.RangesCompared, RowsListed: st.RowsListed}
	var ctl [2]sqlsum.SideTotals
	for i := range ctl {
		if ctl[i], err = sqlsum.Totals(ctx, p.sides[i], p.amount[i], p.scale[i], p.currency[i]); err != nil {
			return fmt.Errorf("control totals of the %s side: %w", sideName(i), err)
		}
	}
	var streams [2]reconcile.Stream
	var scans [2]*reconcile.Scan
	for i, side := range []ReconSide{rj.Left, rj.Right} {
		cs := []ChecksumSide{rj.Checksum.Left, rj.Checksum.Right}[i]
		scans[i] = r.scan(rj, side, log)
		scans[i].Scanner = &keyedScanner{table: cs.Table, column: p.sides[i].Key, keys: keys[i]}
		streams[i] = scans[i]
	}
	log.Info("checksums compared", "candidates", st.Differences, "left_rows", st.LeftRows, "right_rows", st.RightRows,
		"ranges", st.RangesCompared, "rows_listed", st.RowsListed)
	eng := reconcile.Engine{TempDir: r.TempDir, MemRows: r.MemRows, Progress: opts.Progress}
	tot, err := eng.Compare(ctx, rj.Job, streams[0], streams[1], out)
	// The rows that agree were not read: matched pairs all.
	tot.Matched += ctl[0].Count - int64(len(keys[0]))
	tot.Left, tot.Right = sideTotals(ctl[0]), sideTotals(ctl[1])
	sum.Totals = tot
	sum.BadLeft, sum.BadRight = scans[0].Bad, scans[1].Bad
	return err
}

// partners adds to the candidates the rows of either side that share a
// job key (an order number) with a candidate: a candidate may be the
// duplicate of a row that agrees, or match by key a row of another native
// key, and the engine must see them together to classify them as a
// stream run would.
func (r *Reconciler) partners(ctx context.Context, rj ReconJob, p checksumPlan, keys [2][]int64) ([2][]int64, error) {
	if rj.Job.Key == "" {
		return keys, nil
	}
	tables := [2]SumTable{rj.Checksum.Left.Table, rj.Checksum.Right.Table}
	var values []string
	seen := map[string]bool{}
	for i := range keys {
		if len(keys[i]) == 0 {
			continue
		}
		vs, err := tables[i].ValuesOf(ctx, rj.Job.Entity, p.sides[i].Key, p.match[i], keys[i])
		if err != nil {
			return keys, fmt.Errorf("key values of the %s side's candidates: %w", sideName(i), err)
		}
		for _, v := range vs {
			if !seen[v] {
				seen[v] = true
				values = append(values, v)
			}
		}
	}
	if len(values) == 0 {
		return keys, nil
	}
	for i := range keys {
		more, err := tables[i].KeysOf(ctx, rj.Job.Entity, p.sides[i].Key, p.match[i], values)
		if err != nil {
			return keys, fmt.Errorf("rows of the %s side sharing a key with a candidate: %w", sideName(i), err)
		}
		keys[i] = union(keys[i], more)
	}
	return keys, nil
}

// union is the sorted keys of a and b, each once.
func union(a, b []int64) []int64 {
	out := append(append(make([]int64, 0, len(a)+len(b)), a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// sideTotals are aggregates as the engine's control totals.
func sideTotals(t sqlsum.SideTotals) reconcile.SideTotals {
	out := reconcile.SideTotals{Count: t.Count}
	if len(t.Amounts) == 0 {
		return out
	}
	m := make(map[string]decimal.Decimal, len(t.Amounts))
	for cur, d := range t.Amounts {
		m[cur] = decimal.RequireFromString(d.String()) // trailing zeros off, as the engine sums canonical values
	}
	out.Amounts = reconcile.AmountTexts(m)
	return out
}

// ChecksumStats say what the checksum path did in a run.
type ChecksumStats struct {
	// Candidates are the keys whose rows differ in some way, read and
	// compared by the engine.
	Candidates     int   `json:"candidates"`
	Queries        int   `json:"queries"`
	RangesCompared int   `json:"ranges_compared"`
	RowsListed     int64 `json:"rows_listed"`
}

// keyedScanner scans only the rows of given keys, a chunk per page.
type keyedScanner struct {
	table  SumTable
	column string
	keys   []int64
}

func (k *keyedScanner) Scans() []string { return nil }

// Scan reads the next chunk of keys; the position is the index of the
// chunk's first key.
func (k *keyedScanner) Scan(ctx context.Context, entity, position string, max int) (connectors.Page, error) {
	from := 0
	if position != "" {
		n, err := strconv.Atoi(position)
		if err != nil || n < 0 || n > len(k.keys) {
			return connectors.Page{}, fmt.Errorf("keyed scan: invalid position %q", position)
		}
		from = n
	}
	if max <= 0 {
		max = 500
	}
	to := min(from+max, len(k.keys))
	recs, err := k.table.ReadKeys(ctx, entity, k.column, k.keys[from:to])
	if err != nil {
		return connectors.Page{}, err
	}
	p := connectors.Page{Records: recs}
	if to < len(k.keys) {
		p.Next = strconv.Itoa(to)
	}
	return p, nil
}
