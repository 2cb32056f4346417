package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schollz/progressbar/v3"

	"github.com/crmhub/hub/reconcile"
	"github.com/crmhub/hub/reconcile/sqlsum"
)

// ReconcileOptions say what `hub bench reconcile` measures.
type ReconcileOptions struct {
	// PostgresDSN is the server the two databases are created on (its
	// database part is replaced by theirs).
	PostgresDSN string
	Orders      int     // orders on each side
	DiffPercent float64 // seeded differences, percent of Orders (default 1)
	Keep        bool    // keep the databases afterwards
	// Bar shows progress bars (a terminal); otherwise progress is lines.
	Bar bool
	// CPUProfile, when set, is where a CPU profile of the streaming
	// merge phase is written.
	CPUProfile string
}

// Phase is one measured way of reading or comparing both sides.
type Phase struct {
	Name     string
	Measured bool   // false: not run (Note says why)
	Note     string // what else it did (bytes, queries, ...), or why not measured
	Wall     time.Duration
	PeakRSS  int64 // the process's peak resident set during the phase, bytes
	Found    int   // differing keys reported (-1: does not compare)
	Wrong    int   // reported keys not seeded, plus seeded keys not reported, plus wrong classes
	// Candidates are the keys the checksum path handed to the engine.
	Candidates int
	err        error
}

// Err is why the phase failed, or nil.
func (p Phase) Err() error { return p.err }

// ReconcileResult is one run of the benchmark.
type ReconcileResult struct {
	Orders                        int
	Seeded                        map[sqlsum.Class]int
	NearEqual                     int // totals changed within the tolerance: no difference
	Floor, Stream, Checksum       Phase
	LoadBefore, LoadAfter         string
	PeakReset                     bool // the per-phase peak could be reset (/proc/self/clear_refs)
	StreamRSSGoal, ChecksumFaster bool
	StreamRatio, ChecksumRatio    float64 // wall time / floor's
}

// RunReconcile seeds two PostgreSQL databases with Orders orders each and
// a share of seeded differences of every class, then measures, one after
// the other in this process: the floor (PostgreSQL alone streaming both
// tables with COPY TO STDOUT into io.Discard), the streaming merge through
// the reconciliation engine, and the in-database checksum path.
func RunReconcile(ctx context.Context, o ReconcileOptions, progress io.Writer) (ReconcileResult, error) {
	if o.Orders < 100 {
		return ReconcileResult{}, fmt.Errorf("bench: --orders %d: at least 100", o.Orders)
	}
	if o.DiffPercent <= 0 {
		o.DiffPercent = 1
	}
	res := ReconcileResult{Orders: o.Orders, LoadBefore: loadAvg()}
	logf := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }

	admin, err := sql.Open("pgx", o.PostgresDSN)
	if err != nil {
		return res, fmt.Errorf("bench: open %s: %w", redact(o.PostgresDSN), err)
	}
	defer admin.Close()
	suffix := randomHex()
	names := [2]string{"hub_bench_recon_left_" + suffix, "hub_bench_recon_right_" + suffix}
	var dsns [2]string
	for i, n := range names {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+n); err != nil {
			return res, fmt.Errorf("bench: create database %s: %w", n, err)
		}
		if o.Keep {
			logf("database %s is kept", n)
		} else {
			defer func() {
				if _, err := admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE "+n+" WITH (FORCE)"); err != nil {
					logf("drop database %s: %v", n, err)
				}
			}()
		}
		if dsns[i], err = withDatabase(o.PostgresDSN, n); err != nil {
			return res, err
		}
	}
	var dbs [2]*sql.DB
	for i, d := range dsns {
		if dbs[i], err = sql.Open("pgx", d); err != nil {
			return res, err
		}
		defer dbs[i].Close()
	}
	want, err := seedReconcile(ctx, dbs, o, progress)
	if err != nil {
		return res, err
	}
	res.Seeded = map[sqlsum.Class]int{}
	for _, c := range want {
		res.Seeded[c]++
	}
	res.NearEqual = len(nearEqual(o.Orders, o.DiffPercent))
	logf("warming up: reading both tables once")
	if _, err := copyBoth(ctx, dsns); err != nil {
		return res, err
	}
	res.PeakReset = resetPeakRSS() == nil

	logf("measuring the floor: COPY orders TO STDOUT from both databases into io.Discard")
	res.Floor = measure("floor: COPY both tables TO STDOUT -> io.Discard", func(p *Phase) error {
		n, err := copyBoth(ctx, dsns)
		p.Note, p.Found = fmt.Sprintf("%d MiB read", n>>20), -1
		return err
	})
	if err := res.Floor.Err(); err != nil {
		return res, err
	}
	logf("measuring the streaming merge through the reconciliation engine")
	res.Stream = measure("streaming merge: reconcile.Engine over two SQL scans", func(p *Phase) error {
		stop, err := Profiles(o.CPUProfile, "")
		defer stop()
		if err != nil {
			return err
		}
		return runStream(ctx, dsns, o.Orders, want, p, o.Bar, progress)
	})
	if err := res.Stream.Err(); err != nil {
		return res, err
	}

	logf("measuring the checksum path (reconcile/sqlsum)")
	res.Checksum = measure("checksum path: sqlsum, then the engine on candidates", func(p *Phase) error {
		return runChecksum(ctx, dbs, dsns, want, p, o.Bar, progress)
	})
	if res.Checksum.Err() != nil {
		return res, res.Checksum.Err()
	}
	res.LoadAfter = loadAvg()
	res.judge()
	return res, nil
}

func (r *ReconcileResult) judge() {
	if r.Floor.Wall <= 0 {
		return
	}
	if r.Stream.Measured {
		r.StreamRatio = r.Stream.Wall.Seconds() / r.Floor.Wall.Seconds()
		r.StreamRSSGoal = r.Stream.PeakRSS < 300<<20
	}
	r.ChecksumRatio = r.Checksum.Wall.Seconds() / r.Floor.Wall.Seconds()
	r.ChecksumFaster = r.Checksum.Wall < r.Floor.Wall
}

// measure runs f as one phase: the Go heap is returned to the system and
// the process's peak RSS reset first, so the peak is this phase's.
func measure(name string, f func(*Phase) error) Phase {
	p := Phase{Name: name, Measured: true}
	runtime.GC()
	debug.FreeOSMemory()
	_ = resetPeakRSS()
	start := time.Now()
	err := f(&p)
	p.Wall = time.Since(start)
	p.PeakRSS = peakRSS()
	if err != nil {
		p.Measured, p.Note = false, "failed: "+err.Error()
		p.err = err
	}
	return p
}

// resetPeakRSS sets the process's VmHWM back to its current RSS (Linux
// 4.0+: writing 5 to /proc/self/clear_refs).
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// withDatabase replaces the database of a postgres:// URL.
func withDatabase(dsn, name string) (string, error) {
	i := strings.Index(dsn, "://")
	if i < 0 {
		return "", fmt.Errorf("bench: --pg %s: want a postgres:// URL", redact(dsn))
	}
	rest := dsn[i+3:]
	slash := strings.IndexByte(rest, '/')
	q := strings.IndexByte(rest, '?')
	switch {
	case slash < 0 && q < 0:
		return dsn + "/" + name, nil
	case slash < 0 || q >= 0 && q < slash:
		return dsn[:i+3] + rest[:q] + "/" + name + rest[q:], nil
	case q < 0:
		return dsn[:i+3] + rest[:slash+1] + name, nil
	}
	return dsn[:i+3] + rest[:slash+1] + name + rest[q:], nil
}

// copyBoth streams both tables with COPY TO STDOUT into io.Discard at
// once, over pgx's own connections, and returns the bytes read.
func copyBoth(ctx context.Context, dsns [2]string) (int64, error) {
	var wg sync.WaitGroup
	var n [2]int64
	var errs [2]error
	for i, d := range dsns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, d)
			if err != nil {
				errs[i] = fmt.Errorf("bench: connect: %w", err)
				return
			}
			defer conn.Close(context.WithoutCancel(ctx))
			tag, err := conn.PgConn().CopyTo(ctx, countingDiscard{&n[i]}, "COPY orders TO STDOUT")
			if err != nil {
				errs[i] = fmt.Errorf("bench: COPY orders TO STDOUT: %w", err)
				return
			}
			_ = tag
		}()
	}
	wg.Wait()
	return n[0] + n[1], errors.Join(errs[0], errs[1])
}

type countingDiscard struct{ n *int64 }

func (c countingDiscard) Write(p []byte) (int, error) {
	*c.n += int64(len(p))
	return len(p), nil
}

// orderColumns are the compared columns of the bench's orders table.
var orderColumns = []sqlsum.Column{
	{Name: "customer_id", Kind: sqlsum.Integer},
	{Name: "order_no", Kind: sqlsum.Text},
	{Name: "order_date", Kind: sqlsum.Date},
	{Name: "currency", Kind: sqlsum.Text},
	{Name: "total", Kind: sqlsum.Decimal, Scale: 2},
	{Name: "status", Kind: sqlsum.Text},
	{Name: "updated_at", Kind: sqlsum.Timestamp},
}

// runChecksum runs the checksum path as a job would: sqlsum finds the
// candidate keys inside the databases, then only their rows are read from
// both sides and compared by the engine under the job's rules (a total
// within 0.01 is no difference), which gives the classes.
func runChecksum(ctx context.Context, dbs [2]*sql.DB, dsns [2]string, want map[int64]sqlsum.Class, p *Phase, showBar bool, progress io.Writer) error {
	side := func(db *sql.DB) sqlsum.Side {
		return sqlsum.Side{DB: db, Driver: "pgx", Table: "orders", Key: "id", Columns: orderColumns}
	}
	bar := newBar(len(want), "checksum path: candidates", showBar, progress)
	var keys []int64
	st, err := sqlsum.Diff(ctx, side(dbs[0]), side(dbs[1]), sqlsum.Options{}, func(d sqlsum.Difference) error {
		keys = append(keys, d.Key)
		_ = bar.Add(1)
		return nil
	})
	_ = bar.Finish()
	if err != nil {
		return err
	}
	start := time.Now()
	got, tot, err := compareStreams(ctx, dsns, keys, func(reconcile.Progress) {})
	if err != nil {
		return err
	}
	p.Found, p.Wrong, p.Candidates = len(got), wrong(got, want), len(keys)
	p.Note = fmt.Sprintf("%d queries per side; %d range checksums (%s) and %d row hashes (%s) left the databases; "+
		"%d candidates, their %d+%d rows compared by the engine (%s)",
		st.Queries, st.RangesCompared, st.ChecksumTime.Round(time.Millisecond), st.RowsListed, st.ListTime.Round(time.Millisecond),
		len(keys), tot.ScannedLeft, tot.ScannedRight, time.Since(start).Round(time.Millisecond))
	return nil
}

// wrong counts the keys reported but not seeded, seeded but not reported,
// or reported with another class.
func wrong(got, want map[int64]sqlsum.Class) int {
	n := 0
	for k, c := range want {
		if got[k] != c {
			n++
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			n++
		}
	}
	return n
}

func newBar(max int, desc string, show bool, w io.Writer, more ...progressbar.Option) *progressbar.ProgressBar {
	if !show {
		w = io.Discard
	}
	opts := []progressbar.Option{progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200 * time.Millisecond), progressbar.OptionClearOnFinish()}
	return progressbar.NewOptions(max, append(opts, more...)...)
}

// seedReconcile fills both databases with the same orders, then seeds the
// differences, and returns them by key (classes as seen from the left).
func seedReconcile(ctx context.Context, dbs [2]*sql.DB, o ReconcileOptions, progress io.Writer) (map[int64]sqlsum.Class, error) {
	const chunk = 50000
	bar := newBar(2*o.Orders, "seeding orders (both databases)", o.Bar, progress)
	if !o.Bar {
		fmt.Fprintf(progress, "seeding %d orders in each database\n", o.Orders)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs [2]error
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = seedOrders(ctx, db, o.Orders, chunk, func(n int) {
				mu.Lock()
				defer mu.Unlock()
				_ = bar.Add(n)
			})
		}()
	}
	wg.Wait()
	_ = bar.Finish()
	if err := errors.Join(errs[0], errs[1]); err != nil {
		return nil, err
	}
	want, byClass := plannedDifferences(o.Orders, o.DiffPercent)
	left, right := dbs[0], dbs[1]
	steps := []struct {
		db   *sql.DB
		q    string
		keys []int64
	}{
		{right, "DELETE FROM orders WHERE id = ANY($1)", byClass[0]},
		{left, "DELETE FROM orders WHERE id = ANY($1)", byClass[1]},
		{right, "UPDATE orders SET total = total + 1.00 WHERE id = ANY($1)", byClass[2]},
		{right, "UPDATE orders SET status = 'cancelled' WHERE id = ANY($1)", byClass[3]},
		// within the job's tolerance: no difference, but a candidate for
		// the checksum path, which the engine then rules out
		{right, "UPDATE orders SET total = total + 0.01 WHERE id = ANY($1)", nearEqual(o.Orders, o.DiffPercent)},
	}
	for _, s := range steps {
		if _, err := s.db.ExecContext(ctx, s.q, s.keys); err != nil {
			return nil, fmt.Errorf("bench: seed differences: %s: %w", s.q, err)
		}
	}
	for _, db := range dbs {
		if _, err := db.ExecContext(ctx, "VACUUM ANALYZE orders"); err != nil {
			return nil, fmt.Errorf("bench: vacuum: %w", err)
		}
	}
	return want, nil
}

// plannedDifferences spreads pct% of orders over the key space, one in
// each stretch of keys, and gives them classes in turn: missing on the
// right, missing on the left, a changed total, a changed status.
func plannedDifferences(orders int, pct float64) (map[int64]sqlsum.Class, [4][]int64) {
	n := max(4, int(float64(orders)*pct/100))
	step := max(1, orders/n)
	want := map[int64]sqlsum.Class{}
	var byClass [4][]int64
	for j := 0; j < n && j*step < orders; j++ {
		k := int64(j*step + 1 + (j*37)%step)
		byClass[j%4] = append(byClass[j%4], k)
		want[k] = [4]sqlsum.Class{sqlsum.OnlyLeft, sqlsum.OnlyRight, sqlsum.Changed, sqlsum.Changed}[j%4]
	}
	return want, byClass
}

// nearEqual is the keys whose totals differ by 0.01, within the job's
// tolerance: a tenth as many as the differences, each in a stretch of keys
// of its own difference, half a stretch away from it.
func nearEqual(orders int, pct float64) []int64 {
	n := max(4, int(float64(orders)*pct/100))
	step := max(2, orders/n)
	var keys []int64
	for j := 0; j < n && j*step < orders; j += 10 {
		keys = append(keys, int64(j*step+1+(j*37+step/2)%step))
	}
	return keys
}

func seedOrders(ctx context.Context, db *sql.DB, orders, chunk int, done func(int)) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (
	id BIGINT NOT NULL, customer_id BIGINT NOT NULL, order_no TEXT NOT NULL, order_date DATE NOT NULL,
	currency TEXT NOT NULL, total NUMERIC(12,2) NOT NULL, status TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)`); err != nil {
		return fmt.Errorf("bench: create orders: %w", err)
	}
	for from := 1; from <= orders; from += chunk {
		to := min(orders, from+chunk-1)
		if _, err := db.ExecContext(ctx, `INSERT INTO orders
SELECT g, 1 + g % 50000, 'SO-' || g, DATE '2026-01-01' + (g % 300)::int,
	CASE WHEN g % 5 = 0 THEN 'USD' ELSE 'EUR' END, ((g * 7919) % 100000) / 100.0 + 1,
	CASE g % 3 WHEN 0 THEN 'open' WHEN 1 THEN 'confirmed' ELSE 'done' END,
	TIMESTAMPTZ '2026-01-01 00:00:00+00' + g * INTERVAL '1 second'
FROM generate_series($1::bigint, $2::bigint) g`, from, to); err != nil {
			return fmt.Errorf("bench: insert orders %d-%d: %w", from, to, err)
		}
		done(to - from + 1)
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE orders ADD PRIMARY KEY (id)"); err != nil {
		return fmt.Errorf("bench: primary key: %w", err)
	}
	return nil
}

func (r ReconcileResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "orders: %d per side; seeded differences: %d missing on the right, %d missing on the left, %d changed (total or status); "+
		"%d totals changed by 0.01, within the tolerance (no difference)\n",
		r.Orders, r.Seeded[sqlsum.OnlyLeft], r.Seeded[sqlsum.OnlyRight], r.Seeded[sqlsum.Changed], r.NearEqual)
	fmt.Fprintf(&b, "%-58s %10s %12s %8s %6s  %s\n", "phase", "wall", "peak RSS", "found", "wrong", "notes")
	for _, p := range []Phase{r.Floor, r.Stream, r.Checksum} {
		if !p.Measured {
			fmt.Fprintf(&b, "%-58s %10s %12s %8s %6s  %s\n", p.Name, "-", "-", "-", "-", p.Note)
			continue
		}
		found, wrongS := "-", "-"
		if p.Found >= 0 {
			found, wrongS = fmt.Sprint(p.Found), fmt.Sprint(p.Wrong)
		}
		fmt.Fprintf(&b, "%-58s %10s %8d MiB %8s %6s  %s\n", p.Name, p.Wall.Round(time.Millisecond), p.PeakRSS>>20, found, wrongS, p.Note)
	}
	if r.Stream.Measured {
		fmt.Fprintf(&b, "goal: streaming merge within 2x of the floor: %s (%.2fx); under 300 MB RSS: %s\n",
			yes(r.StreamRatio <= 2), r.StreamRatio, yes(r.StreamRSSGoal))
	} else {
		fmt.Fprintf(&b, "goal: streaming merge within 2x of the floor in under 300 MB: not measured\n")
	}
	fmt.Fprintf(&b, "goal: checksum path faster than the floor: %s (%.2fx the floor's time)\n", yes(r.ChecksumFaster), r.ChecksumRatio)
	if !r.PeakReset {
		fmt.Fprintf(&b, "note: /proc/self/clear_refs refused: each peak RSS is the process's since it started\n")
	}
	fmt.Fprintf(&b, "load average before %s, after %s (%d CPUs)", r.LoadBefore, r.LoadAfter, runtime.NumCPU())
	return b.String()
}

func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
