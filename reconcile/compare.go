package reconcile

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
)

// Engine compares two sides. The zero Engine is ready: it keeps up to
// 100,000 rows in memory and spills to the system's temporary folder
// beyond that.
type Engine struct {
	// TempDir holds spill files ("": os.TempDir()).
	TempDir string
	// MemRows is how many rows are held in memory before the rest is
	// spilled to hash partitions on disk (default 100,000).
	MemRows int
	// Parts is the number of hash partitions once spilled (default 128):
	// up to Workers+1 parts of about (rows / Parts) rows each are in
	// memory at a time while they are paired.
	Parts int
	// Now is the clock the window is measured from (default time.Now).
	Now func() time.Time
	// Progress, when set, is told the rows read per side and the
	// differences found so far; it is called often, from one goroutine.
	Progress func(p Progress)
	// Workers is how many parts are paired at once once both sides are
	// read (default GOMAXPROCS, at most 4, so that a run leaves cores to
	// the pipelines and holds few parts). Whatever the number, the
	// differences reach the sink one at a time, part after part.
	Workers int
}

// Progress is how far a comparison is.
type Progress struct {
	Left, Right int64 // rows read per side
	Diffs       int64 // differences found
}

// Compare compares left and right under job with the zero Engine.
func Compare(ctx context.Context, job Job, left, right Stream, out DiffSink) (Totals, error) {
	var e Engine
	return e.Compare(ctx, job, left, right, out)
}

// Compare reads both sides, pairs their rows through the crosswalk and by
// key, hands every difference to out and returns the control totals.
//
// Pairing: rows of the two sides with the same Key are paired (when the
// job has a key field) unless both have hub ids and these differ; rows
// left over are paired by hub id. A key (or hub id) held by several rows
// of one side is one DuplicateKey difference; those rows are otherwise
// not reported. A row without a partner is MissingLeft or MissingRight
// when it has a hub id, Unmatched when it has none.
func (e *Engine) Compare(ctx context.Context, job Job, left, right Stream, out DiffSink) (Totals, error) {
	if err := job.Validate(); err != nil {
		return Totals{}, err
	}
	r := &run{
		job: job, out: out, progress: e.Progress,
		tot:  Totals{Classes: map[Class]int64{}},
		sums: map[Side]map[string]*sum{Left: {}, Right: {}},
	}
	if job.Window > 0 {
		now := time.Now
		if e.Now != nil {
			now = e.Now
		}
		r.since = now().Add(-job.Window)
	}
	byKey := e.partitions()
	defer byKey.close()
	byHub := e.partitions()
	defer byHub.close()
	r.byHub = byHub
	if err := r.read(ctx, left, right, byKey); err != nil {
		return r.totals(), err
	}
	apply := func(f *found) error { return r.apply(ctx, f) }
	pairByKey := func(part []entry) *found { return r.pairPart(part, true) }
	if err := byKey.eachParallel(ctx, e.workers(), pairByKey, apply); err != nil {
		return r.totals(), err
	}
	pairByHub := func(part []entry) *found { return r.pairPart(part, false) }
	if err := byHub.eachParallel(ctx, e.workers(), pairByHub, apply); err != nil {
		return r.totals(), err
	}
	r.report()
	return r.totals(), nil
}

func (e *Engine) workers() int {
	if e.Workers > 0 {
		return e.Workers
	}
	return min(runtime.GOMAXPROCS(0), 4)
}

func (e *Engine) partitions() *partitions {
	dir, limit, parts := e.TempDir, e.MemRows, e.Parts
	if dir == "" {
		dir = os.TempDir()
	}
	if limit <= 0 {
		limit = 100_000
	}
	if parts <= 0 {
		parts = 128
	}
	return newPartitions(dir, parts, limit)
}

// run is the state of one comparison.
type run struct {
	job      Job
	out      DiffSink
	progress func(Progress)
	since    time.Time
	byHub    *partitions

	tot        Totals
	sums       map[Side]map[string]*sum
	readL      atomic.Int64
	readR      atomic.Int64
	diffs      int64
	lastReport time.Time
}

func (r *run) totals() Totals {
	t := r.tot
	t.ScannedLeft, t.ScannedRight = r.readL.Load(), r.readR.Load()
	t.Left.Amounts, t.Right.Amounts = amounts(totalsOf(r.sums[Left])), amounts(totalsOf(r.sums[Right]))
	return t
}

func totalsOf(sums map[string]*sum) map[string]decimal.Decimal {
	m := make(map[string]decimal.Decimal, len(sums))
	for cur, s := range sums {
		m[cur] = s.total()
	}
	return m
}

func amounts(m map[string]decimal.Decimal) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for cur, d := range m {
		out[cur] = d.StringFixed(max(2, -d.Exponent())) // money: at least cents
	}
	return out
}

type batch struct {
	side Side
	rows []Row
	err  error
}

// read drains both streams at once into the key partitions (rows without
// a key, or every row when the job has no key field, go straight to the
// hub id partitions).
func (r *run) read(ctx context.Context, left, right Stream, byKey *partitions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan batch, 4)
	go r.drain(ctx, Left, left, ch, &r.readL)
	go r.drain(ctx, Right, right, ch, &r.readR)
	var firstErr error
	for open := 2; open > 0; {
		b, ok := <-ch
		if !ok {
			break
		}
		if b.rows == nil {
			open--
			if b.err != nil && firstErr == nil {
				firstErr = b.err
				cancel()
			}
			continue
		}
		if firstErr != nil {
			continue
		}
		for _, row := range b.rows {
			if err := r.place(ctx, entry{side: b.side, row: row}, byKey); err != nil {
				firstErr = err
				cancel()
				break
			}
		}
		r.report()
	}
	return firstErr
}

func (r *run) drain(ctx context.Context, side Side, st Stream, ch chan<- batch, n *atomic.Int64) {
	const size = 256
	rows := make([]Row, 0, size)
	for {
		row, ok, err := st.Next(ctx)
		if err != nil || !ok {
			if len(rows) > 0 {
				ch <- batch{side: side, rows: rows}
			}
			if err != nil {
				err = fmt.Errorf("reconcile: read %s side: %w", side, err)
			}
			ch <- batch{side: side, err: err}
			return
		}
		n.Add(1)
		rows = append(rows, row)
		if len(rows) == size {
			select {
			case ch <- batch{side: side, rows: rows}:
			case <-ctx.Done():
				ch <- batch{side: side, err: ctx.Err()}
				return
			}
			rows = make([]Row, 0, size)
		}
	}
}

// place counts a row into its side's control totals and puts it where it
// is paired: by key, by hub id, or nowhere (unmatched at once).
func (r *run) place(ctx context.Context, e entry, byKey *partitions) error {
	if r.inWindow(e.row) {
		r.count(e.side, e.row)
	}
	if r.job.Key != "" && e.row.Key != "" {
		return byKey.add(e.row.Key, e)
	}
	if e.row.HubID != "" {
		return r.byHub.add(e.row.HubID, e)
	}
	var f found
	r.rest(&f, e.side, []Row{e.row}, []slot{{partner: -1}}, false, false)
	return r.apply(ctx, &f)
}

func (r *run) report() {
	if r.progress == nil {
		return
	}
	if now := time.Now(); now.Sub(r.lastReport) >= 100*time.Millisecond {
		r.lastReport = now
		r.progress(Progress{Left: r.readL.Load(), Right: r.readR.Load(), Diffs: r.diffs})
	}
}

// group is the rows of both sides sharing a key or hub id.
type group struct {
	id          string
	left, right []Row
}

func groupBy(part []entry, id func(Row) string) []*group {
	idx := map[string]*group{}
	var gs []*group
	for _, e := range part {
		k := id(e.row)
		g := idx[k]
		if g == nil {
			g = &group{id: k}
			idx[k] = g
			gs = append(gs, g)
		}
		if e.side == Left {
			g.left = append(g.left, e.row)
		} else {
			g.right = append(g.right, e.row)
		}
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].id < gs[j].id })
	return gs
}

// found is what pairing one part found: the run applies it (r.apply)
// one part at a time, in the parts' order, while other parts are paired.
type found struct {
	diffs   []Diff
	toHub   []entry // rows without a key partner, for the hub id pass
	matched int64
	err     error // the part could not be read
}

// pairPart pairs one part's rows, by key (rows left without a key
// partner go on to pairing by hub id) or by hub id (the rest is missing).
// It only reads the run, so parts are paired at once.
func (r *run) pairPart(part []entry, byKey bool) *found {
	id := func(row Row) string { return row.HubID }
	if byKey {
		id = func(row Row) string { return row.Key }
	}
	f := &found{}
	for _, g := range groupBy(part, id) {
		r.pairGroup(f, g, byKey)
	}
	return f
}

// apply counts what a part found, hands its differences to the sink and
// its rows without a key partner to the hub id pass.
func (r *run) apply(ctx context.Context, f *found) error {
	r.tot.Matched += f.matched
	for _, d := range f.diffs {
		if err := r.emit(ctx, d); err != nil {
			return err
		}
	}
	for _, e := range f.toHub {
		if err := r.byHub.add(e.row.HubID, e); err != nil {
			return err
		}
	}
	return nil
}

// pairGroup pairs the rows of one group, compares the pairs and deals
// with the rest: on to the hub id pass (byKey) or reported.
func (r *run) pairGroup(f *found, g *group, byKey bool) {
	dupL, dupR := len(g.left) > 1, len(g.right) > 1
	for _, d := range []struct {
		dup  bool
		side Side
		rows []Row
	}{{dupL, Left, g.left}, {dupR, Right, g.right}} {
		if d.dup && r.anyInWindow(d.rows) {
			f.diffs = append(f.diffs, duplicate(d.side, d.rows, byKey))
		}
	}
	left, right := pairRows(g.left, g.right, byKey)
	for i := range left {
		if left[i].partner < 0 {
			continue
		}
		r.compare(f, &g.left[i], &g.right[left[i].partner])
	}
	r.rest(f, Left, g.left, left, dupL, byKey)
	r.rest(f, Right, g.right, right, dupR, byKey)
}

type slot struct{ partner int }

// pairRows pairs rows of the two sides: first those with the same hub id,
// then (by key) those whose hub ids do not contradict.
func pairRows(left, right []Row, byKey bool) ([]slot, []slot) {
	ls, rs := make([]slot, len(left)), make([]slot, len(right))
	for i := range ls {
		ls[i].partner = -1
	}
	for i := range rs {
		rs[i].partner = -1
	}
	link := func(ok func(l, r Row) bool) {
		for i := range left {
			if ls[i].partner >= 0 {
				continue
			}
			for j := range right {
				if rs[j].partner < 0 && ok(left[i], right[j]) {
					ls[i].partner, rs[j].partner = j, i
					break
				}
			}
		}
	}
	link(func(l, r Row) bool { return l.HubID != "" && l.HubID == r.HubID })
	if byKey {
		link(func(l, r Row) bool { return l.HubID == "" || r.HubID == "" || l.HubID == r.HubID })
	}
	return ls, rs
}

// rest deals with a side's rows left without a partner.
func (r *run) rest(f *found, side Side, rows []Row, slots []slot, dup, byKey bool) {
	for i := range rows {
		if slots[i].partner >= 0 || dup {
			continue // paired, or reported as a duplicate
		}
		row := rows[i]
		if byKey && row.HubID != "" {
			f.toHub = append(f.toHub, entry{side: side, row: row})
			continue
		}
		if !r.inWindow(row) {
			continue
		}
		d := Diff{Class: Unmatched, Key: row.Key, HubID: row.HubID, Side: side}
		if row.HubID != "" {
			d.Class = MissingRight
			if side == Right {
				d.Class = MissingLeft
			}
		}
		if side == Left {
			d.LeftID, d.LeftRow = row.ID, &row
		} else {
			d.RightID, d.RightRow = row.ID, &row
		}
		f.diffs = append(f.diffs, d)
	}
}

func duplicate(side Side, rows []Row, byKey bool) Diff {
	d := Diff{Class: DuplicateKey, Key: rows[0].Key, Side: side}
	if !byKey {
		d.HubID = rows[0].HubID
	}
	for _, row := range rows {
		d.IDs = append(d.IDs, row.ID)
	}
	sort.Strings(d.IDs)
	return d
}

// compare compares a pair's fields.
func (r *run) compare(f *found, l, rt *Row) {
	if !r.inWindow(*l) && !r.inWindow(*rt) {
		return
	}
	f.matched++
	var fields []FieldDiff
	for _, f := range r.job.Fields {
		a, b := Lookup(l.Doc, f.Name), Lookup(rt.Doc, f.Name)
		if !Equal(f.Rule, a, b) {
			fields = append(fields, FieldDiff{Field: f.Name, Left: a, Right: b})
		}
	}
	if len(fields) == 0 {
		return
	}
	hub := l.HubID
	if hub == "" {
		hub = rt.HubID
	}
	f.diffs = append(f.diffs, Diff{Class: FieldMismatch, Key: l.Key, HubID: hub, LeftID: l.ID, RightID: rt.ID,
		Fields: fields, LeftRow: l, RightRow: rt})
}

func (r *run) inWindow(row Row) bool {
	return r.since.IsZero() || row.Version.IsZero() || !row.Version.Before(r.since)
}

func (r *run) anyInWindow(rows []Row) bool {
	for _, row := range rows {
		if r.inWindow(row) {
			return true
		}
	}
	return false
}

// count adds a row to its side's control totals.
func (r *run) count(side Side, row Row) {
	t := &r.tot.Left
	if side == Right {
		t = &r.tot.Right
	}
	t.Count++
	if r.job.Amount == "" {
		return
	}
	amt := Lookup(row.Doc, r.job.Amount)
	if amt.IsNull() {
		return
	}
	cur := ""
	if r.job.Currency != "" {
		cur = Lookup(row.Doc, r.job.Currency).Str()
	}
	s, known := r.sums[side][cur]
	if !known {
		s = &sum{}
	}
	if s.add(amt.Str()) && !known {
		r.sums[side][cur] = s // a currency gets a sum with its first number
	}
}

func (r *run) emit(ctx context.Context, d Diff) error {
	r.tot.Classes[d.Class]++
	r.diffs++
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.out == nil {
		return nil
	}
	if err := r.out.Add(ctx, d); err != nil {
		return fmt.Errorf("reconcile: record a difference of %s: %w", d.Key, err)
	}
	return nil
}

// AmountTexts are sums of amounts by currency as the control totals show
// them (at least cents).
func AmountTexts(m map[string]decimal.Decimal) map[string]string { return amounts(m) }
