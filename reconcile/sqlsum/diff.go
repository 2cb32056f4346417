package sqlsum

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind is how a column's canonical text is made.
type Kind int

const (
	Text      Kind = iota + 1 // as stored
	Integer                   // as stored
	Decimal                   // fixed Scale digits after the point; Tolerance quantizes
	Date                      // YYYY-MM-DD
	Timestamp                 // Unix seconds, UTC (sub-second parts are not compared)
)

// Column is one compared column.
type Column struct {
	Name  string
	Kind  Kind
	Scale int // Decimal: digits after the point in the canonical text
	// Tolerance (Decimal only, e.g. "0.01") hashes floor(value/tolerance)
	// instead of the value: the differing keys are then candidates for the
	// engine's rule, not differences (see the package doc).
	Tolerance string
}

// Side is one table to compare. Table, Key and the columns' names are
// config identifiers: checked against a strict pattern, then quoted.
type Side struct {
	DB     *sql.DB
	Driver string // "pgx", "mysql" or "sqlite"
	Table  string // "table" or "schema.table"
	Key    string // an integer column, unique
	// Columns are compared in this order; both sides list the same
	// columns (names may differ) with the same kinds.
	Columns []Column
}

// Class says how a key differs.
type Class int

const (
	OnlyLeft  Class = iota + 1 // missing on the right
	OnlyRight                  // missing on the left
	Changed                    // on both sides with different content
)

func (c Class) String() string {
	switch c {
	case OnlyLeft:
		return "only-left"
	case OnlyRight:
		return "only-right"
	case Changed:
		return "changed"
	}
	return "unknown"
}

// Difference is one key that differs.
type Difference struct {
	Key   int64
	Class Class
}

// Options tune the bisection; zero values take the defaults.
type Options struct {
	// BucketRows is the rows per range aimed at on the first pass over
	// the whole table (default 8): small ranges make that pass return
	// more sums (a few bytes per range) but leave fewer rows to list where
	// ranges differ; at 1% of rows differing, 8 lists a tenth of the rows
	// that 32 does.
	BucketRows int
	// LeafRows: a differing range with at most this many rows on each
	// side is listed key by key (default 128); a larger one is split.
	LeafRows int
	// Factor is how many parts a large differing range is split into
	// (default 16).
	Factor int
	// Batch is how many ranges one query covers (default 512).
	Batch int
}

func (o *Options) defaults() {
	if o.BucketRows <= 0 {
		o.BucketRows = 8
	}
	if o.LeafRows <= 0 {
		o.LeafRows = 128
	}
	if o.Factor < 2 {
		o.Factor = 16
	}
	if o.Batch <= 0 {
		o.Batch = 512
	}
}

// Stats say how much work the databases did and what came back.
type Stats struct {
	LeftRows, RightRows int64 // rows in each table
	Queries             int   // queries per side
	RangesCompared      int   // checksummed ranges, both sides together
	RowsListed          int64 // row hashes fetched, both sides together
	Differences         int
	// ChecksumTime and ListTime are the wall time spent waiting for range
	// checksums and for row hashes.
	ChecksumTime, ListTime time.Duration
}

// Diff compares left and right and calls out with each differing key, in
// ascending key order. Only checksums of ranges and the row hashes of
// small differing ranges leave the databases.
func Diff(ctx context.Context, left, right Side, o Options, out func(Difference) error) (Stats, error) {
	o.defaults()
	native := left.Driver == right.Driver && (left.Driver == "pgx" || left.Driver == "postgres")
	l, err := prepare(left, native)
	if err != nil {
		return Stats{}, fmt.Errorf("sqlsum: left: %w", err)
	}
	r, err := prepare(right, native)
	if err != nil {
		return Stats{}, fmt.Errorf("sqlsum: right: %w", err)
	}
	if len(l.cols) != len(r.cols) {
		return Stats{}, fmt.Errorf("sqlsum: left compares %d columns, right %d", len(l.cols), len(r.cols))
	}
	for i := range l.cols {
		a, b := l.cols[i], r.cols[i]
		if a.Kind != b.Kind || a.Scale != b.Scale || a.Tolerance != b.Tolerance {
			return Stats{}, fmt.Errorf("sqlsum: column %d (%s, %s): kinds, scales or tolerances differ", i+1, a.Name, b.Name)
		}
	}
	df := &differ{l: l, r: r, o: o, out: out}
	var lb, rb bounds
	if err := both(ctx, func(ctx context.Context) (err error) { lb, err = l.bounds(ctx); return err },
		func(ctx context.Context) (err error) { rb, err = r.bounds(ctx); return err }); err != nil {
		return df.st, err
	}
	df.st.LeftRows, df.st.RightRows = lb.n, rb.n
	df.st.Queries++
	if lb.n == 0 && rb.n == 0 {
		return df.st, nil
	}
	lo, hi := span(lb, rb)
	if lo < -keyLimit || hi > keyLimit {
		return df.st, fmt.Errorf("sqlsum: keys from %d to %d: the grid's arithmetic needs keys within ±2^62", lo, hi-1)
	}
	cells := (max(lb.n, rb.n) + int64(o.BucketRows) - 1) / int64(o.BucketRows)
	w := max(1, ceilDiv(hi-lo, cells))
	df.lo = lo
	err = df.descend(ctx, filter{}, w)
	return df.st, err
}

// filter selects the rows of some cells of width w on the grid (none:
// every row).
type filter struct {
	w       int64
	buckets []int64 // ascending
}

// cell is a differing bucket of the grid and its rows on both sides.
type cell struct {
	bucket         int64
	lCount, rCount int64
}

type differ struct {
	l, r *side
	o    Options
	out  func(Difference) error
	lo   int64 // the grid's origin: the smallest key on either side
	st   Stats
}

// descend compares the rows f selects in cells of width w and handles the
// cells that differ in key order: small ones are listed row by row, large
// ones are split further.
func (df *differ) descend(ctx context.Context, f filter, w int64) error {
	var diff []cell
	for _, part := range f.parts(df.o.Batch) {
		var lc, rc []sums
		start := time.Now()
		if err := both(ctx,
			func(ctx context.Context) (err error) { lc, err = df.l.checksums(ctx, df.lo, w, part); return err },
			func(ctx context.Context) (err error) { rc, err = df.r.checksums(ctx, df.lo, w, part); return err }); err != nil {
			return err
		}
		df.st.ChecksumTime += time.Since(start)
		df.st.Queries++
		df.st.RangesCompared += len(lc) + len(rc)
		diff = mergeSums(diff, lc, rc)
	}
	// Walk the differing cells in order, sending runs of the same treatment
	// together.
	leaves, splits := filter{w: w}, filter{w: w}
	flush := func() error {
		if len(leaves.buckets) > 0 {
			if err := df.list(ctx, leaves); err != nil {
				return err
			}
			leaves.buckets = leaves.buckets[:0]
		}
		if len(splits.buckets) > 0 {
			if err := df.descend(ctx, splits, max(1, w/int64(df.o.Factor))); err != nil {
				return err
			}
			splits.buckets = splits.buckets[:0]
		}
		return nil
	}
	for _, c := range diff {
		leaf := w == 1 || max(c.lCount, c.rCount) <= int64(df.o.LeafRows)
		if leaf && len(splits.buckets) > 0 || !leaf && len(leaves.buckets) > 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		if leaf {
			leaves.buckets = append(leaves.buckets, c.bucket)
		} else {
			splits.buckets = append(splits.buckets, c.bucket)
		}
	}
	return flush()
}

// parts splits f into filters of at most n cells (f itself when it
// selects everything).
func (f filter) parts(n int) []filter {
	if len(f.buckets) == 0 {
		return []filter{f}
	}
	var out []filter
	for i := 0; i < len(f.buckets); i += n {
		out = append(out, filter{w: f.w, buckets: f.buckets[i:min(len(f.buckets), i+n)]})
	}
	return out
}

// list fetches the row hashes of the cells on both sides and reports the
// keys that differ.
func (df *differ) list(ctx context.Context, f filter) error {
	for _, part := range f.parts(df.o.Batch) {
		var lr, rr []rowHash
		start := time.Now()
		if err := both(ctx,
			func(ctx context.Context) (err error) { lr, err = df.l.rows(ctx, df.lo, part); return err },
			func(ctx context.Context) (err error) { rr, err = df.r.rows(ctx, df.lo, part); return err }); err != nil {
			return err
		}
		df.st.ListTime += time.Since(start)
		df.st.Queries++
		df.st.RowsListed += int64(len(lr) + len(rr))
		if err := df.mergeRows(lr, rr); err != nil {
			return err
		}
	}
	return nil
}

// mergeRows reports the keys whose rows differ. A key several rows share
// on a side is reported once (Changed when the other side has it): the
// engine tells duplicates apart.
func (df *differ) mergeRows(lr, rr []rowHash) error {
	last, seen := int64(0), false
	paired, anyPaired := int64(0), false // the last key found on both sides
	emit := func(k int64, c Class) error {
		if seen && k == last {
			return nil
		}
		if c != Changed && anyPaired && k == paired {
			c = Changed // an extra row of a key both sides have
		}
		last, seen = k, true
		df.st.Differences++
		return df.out(Difference{Key: k, Class: c})
	}
	i, j := 0, 0
	for i < len(lr) || j < len(rr) {
		var err error
		switch {
		case j == len(rr) || i < len(lr) && lr[i].key < rr[j].key:
			err = emit(lr[i].key, OnlyLeft)
			i++
		case i == len(lr) || rr[j].key < lr[i].key:
			err = emit(rr[j].key, OnlyRight)
			j++
		default:
			paired, anyPaired = lr[i].key, true
			if lr[i].h != rr[j].h {
				err = emit(lr[i].key, Changed)
			}
			i++
			j++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// mergeSums appends to diff the cells (sorted by bucket on both sides)
// whose count or sum differ. A cell of a finer grid can straddle two cells
// of the coarser one that were compared in different queries: it is then
// one cell, with the rows of both.
func mergeSums(diff []cell, lc, rc []sums) []cell {
	add := func(c cell) {
		if n := len(diff); n > 0 && diff[n-1].bucket == c.bucket {
			diff[n-1].lCount += c.lCount
			diff[n-1].rCount += c.rCount
			return
		}
		diff = append(diff, c)
	}
	i, j := 0, 0
	for i < len(lc) || j < len(rc) {
		switch {
		case j == len(rc) || i < len(lc) && lc[i].bucket < rc[j].bucket:
			add(cell{lc[i].bucket, lc[i].n, 0})
			i++
		case i == len(lc) || rc[j].bucket < lc[i].bucket:
			add(cell{rc[j].bucket, 0, rc[j].n})
			j++
		default:
			if lc[i].n != rc[j].n || lc[i].h != rc[j].h {
				add(cell{lc[i].bucket, lc[i].n, rc[j].n})
			}
			i++
			j++
		}
	}
	return diff
}

type bounds struct {
	n        int64
	min, max int64
}

func span(a, b bounds) (lo, hi int64) {
	switch {
	case a.n == 0:
		return b.min, b.max + 1
	case b.n == 0:
		return a.min, a.max + 1
	}
	return min(a.min, b.min), max(a.max, b.max) + 1
}

// keyLimit bounds the keys so that key - origin and origin + cells*width
// never overflow 64 bits.
const keyLimit = 1 << 62

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// both runs f and g at once (one per side) and returns the first error.
func both(ctx context.Context, f, g func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var ge error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if ge = g(ctx); ge != nil {
			cancel()
		}
	}()
	fe := f(ctx)
	if fe != nil {
		cancel()
	}
	wg.Wait()
	if fe != nil && ge != nil && errors.Is(ge, context.Canceled) {
		return fe
	}
	if fe != nil && errors.Is(fe, context.Canceled) && ge != nil {
		return ge
	}
	return errors.Join(fe, ge)
}

// side is a Side with its queries' fixed parts built.
type side struct {
	Side
	d     dialect
	cols  []Column
	key   string // quoted
	table string // quoted
	ha    string // hash expressions (dialect.hash)
	hb    string
}

func prepare(s Side, native bool) (*side, error) {
	if s.DB == nil {
		return nil, errors.New("no database")
	}
	d, err := dialectOf(s.Driver)
	if err != nil {
		return nil, err
	}
	if !tableRe.MatchString(s.Table) {
		return nil, fmt.Errorf("table %q: not a plain (schema.)name", s.Table)
	}
	if !identRe.MatchString(s.Key) {
		return nil, fmt.Errorf("table %s: key column %q: not a plain name", s.Table, s.Key)
	}
	for _, c := range s.Columns {
		if !identRe.MatchString(c.Name) {
			return nil, fmt.Errorf("table %s: column %q: not a plain name", s.Table, c.Name)
		}
		if c.Tolerance != "" && c.Kind != Decimal {
			return nil, fmt.Errorf("table %s: column %s: a tolerance needs a decimal column", s.Table, c.Name)
		}
		if c.Scale < 0 || c.Scale > 18 {
			return nil, fmt.Errorf("table %s: column %s: scale %d out of 0..18", s.Table, c.Name, c.Scale)
		}
	}
	t, err := d.rowText(s.Key, s.Columns)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", s.Table, err)
	}
	a, b := d.hash(t)
	if native {
		if a, err = nativeHash(s.Key, s.Columns); err != nil {
			return nil, fmt.Errorf("table %s: %w", s.Table, err)
		}
	}
	return &side{Side: s, d: d, cols: s.Columns, key: d.ident(s.Key), table: d.table(s.Table), ha: a, hb: b}, nil
}

func (s *side) bounds(ctx context.Context) (bounds, error) {
	var b bounds
	var lo, hi sql.NullInt64
	q := "SELECT COUNT(*), MIN(" + s.key + "), MAX(" + s.key + ") FROM " + s.table
	if err := s.DB.QueryRowContext(ctx, q).Scan(&b.n, &lo, &hi); err != nil {
		return b, fmt.Errorf("sqlsum: %s: key bounds (the key must be an integer column): %w", s.Table, err)
	}
	b.min, b.max = lo.Int64, hi.Int64
	return b, nil
}

// bucket is the expression of a row's cell of width w (the n-th and
// n+1-th parameters are the origin and w).
func (s *side) bucket(n int) string {
	return s.d.intDiv(s.key+" - "+s.d.param(n), s.d.param(n+1))
}

// from is the FROM clause (and WHERE) selecting the rows of f's cells,
// its parameters numbered from n on. PostgreSQL joins the table to the
// list of cells, one index range scan per cell; the others take a key
// range around the cells (for the index) and the cells as an IN list.
func (s *side) from(lo int64, f filter, n int) (string, []any) {
	if len(f.buckets) == 0 {
		return " FROM " + s.table, nil
	}
	if s.d == postgres {
		cell := func(off string) string {
			return fmt.Sprintf("CAST($%d AS BIGINT) + (hub_sqlsum_cell%s) * CAST($%d AS BIGINT)", n, off, n+1)
		}
		return fmt.Sprintf(" FROM unnest(CAST($%d AS BIGINT[])) AS hub_sqlsum_cells(hub_sqlsum_cell) JOIN %s ON %s >= %s AND %s < %s",
			n+2, s.table, s.key, cell(""), s.key, cell(" + 1")), []any{lo, f.w, f.buckets}
	}
	first, last := f.buckets[0], f.buckets[len(f.buckets)-1]
	q := " FROM " + s.table + " WHERE " + s.key + " >= " + s.d.param(n) + " AND " + s.key + " < " + s.d.param(n+1) +
		" AND " + s.bucket(n+2) + " IN (" + strings.Repeat("?, ", len(f.buckets)-1) + "?)"
	args := []any{lo + first*f.w, lo + (last+1)*f.w, lo, f.w}
	for _, b := range f.buckets {
		args = append(args, b)
	}
	return q, args
}

// query runs q; on PostgreSQL in a read-only transaction whose settings
// suit a large GROUP BY over computed hashes: memory for a hash aggregate
// (instead of an external sort), no JIT (its compile time costs more than
// it saves here), ISO dates.
func (s *side) query(ctx context.Context, q string, args []any) (*sql.Rows, func(), error) {
	if s.d != postgres {
		rows, err := s.DB.QueryContext(ctx, q, args...)
		return rows, func() {}, err
	}
	tx, err := s.DB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	for _, set := range []string{"SET LOCAL work_mem = '128MB'", "SET LOCAL jit = off", "SET LOCAL DateStyle = 'ISO, YMD'"} {
		if _, err := tx.ExecContext(ctx, set); err != nil {
			_ = tx.Rollback()
			return nil, nil, err
		}
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		_ = tx.Rollback()
		return nil, nil, err
	}
	return rows, func() { _ = tx.Rollback() }, nil
}

// sums is one cell's count and hash sum (modulo 2^64).
type sums struct {
	bucket, n int64
	h         uint64
}

var two32 = big.NewInt(1 << 32)

// checksums sums the rows f selects in cells of width w on the grid
// starting at lo, in bucket order.
func (s *side) checksums(ctx context.Context, lo, w int64, f filter) ([]sums, error) {
	fr, wa := s.from(lo, f, 3)
	// No ORDER BY: PostgreSQL, which cannot tell how few cells there are,
	// would sort every row before grouping; hashing them into cells and
	// sorting the cells here is several times cheaper.
	q := "SELECT " + s.bucket(1) + " AS b, COUNT(*), SUM(" + s.ha + "), SUM(" + s.hb + ")" + fr + " GROUP BY 1"
	rows, done, err := s.query(ctx, q, append([]any{lo, w}, wa...))
	if err != nil {
		return nil, fmt.Errorf("sqlsum: %s: range checksums: %w", s.Table, err)
	}
	defer done()
	defer rows.Close()
	var out []sums
	for rows.Next() {
		var c sums
		var a, bs string
		if err := rows.Scan(&c.bucket, &c.n, &a, &bs); err != nil {
			return nil, fmt.Errorf("sqlsum: %s: range checksums: %w", s.Table, err)
		}
		if c.h, err = s.combine(a, bs); err != nil {
			return nil, fmt.Errorf("sqlsum: %s: range checksums: %w", s.Table, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlsum: %s: range checksums: %w", s.Table, err)
	}
	slices.SortFunc(out, func(a, b sums) int { return cmp.Compare(a.bucket, b.bucket) })
	return out, nil
}

// rowHash is one row's key and hash.
type rowHash struct {
	key int64
	h   uint64
}

// rows lists the keys and row hashes of f's cells, in key order.
func (s *side) rows(ctx context.Context, lo int64, f filter) ([]rowHash, error) {
	fr, args := s.from(lo, f, 1)
	q := "SELECT " + s.key + ", " + s.ha + ", " + s.hb + fr + " ORDER BY 1"
	rows, done, err := s.query(ctx, q, args)
	if err != nil {
		return nil, fmt.Errorf("sqlsum: %s: row hashes: %w", s.Table, err)
	}
	defer done()
	defer rows.Close()
	var out []rowHash
	for rows.Next() {
		var r rowHash
		var a, b string
		if err := rows.Scan(&r.key, &a, &b); err != nil {
			return nil, fmt.Errorf("sqlsum: %s: row hashes: %w", s.Table, err)
		}
		if r.h, err = s.combine(a, b); err != nil {
			return nil, fmt.Errorf("sqlsum: %s: row hashes: %w", s.Table, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlsum: %s: row hashes: %w", s.Table, err)
	}
	return out, nil
}

// combine is a sum (or a hash) modulo 2^64 from the decimal texts the
// database returns: a*2^32 + b on SQLite (two halves), a elsewhere (b is 0).
func (s *side) combine(a, b string) (uint64, error) {
	x, ok := new(big.Int).SetString(a, 10)
	if !ok {
		return 0, fmt.Errorf("hash sum %q is not an integer", a)
	}
	y, ok := new(big.Int).SetString(b, 10)
	if !ok {
		return 0, fmt.Errorf("hash sum %q is not an integer", b)
	}
	if s.d == sqlite3 {
		x.Mul(x, two32)
	}
	x.Add(x, y)
	// Two's complement of the low 64 bits, for negative sums too.
	m := new(big.Int).Lsh(big.NewInt(1), 64)
	x.Mod(x, m)
	return x.Uint64(), nil
}
