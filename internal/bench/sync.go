// Package bench owns the hub's end-to-end benchmarks. `hub bench sync`:
// orders with lines written to a CRM database in PostgreSQL, synced by a
// hub (in this process, with the embedded broker) to ERP interface tables
// in PostgreSQL, and measured: orders per second, latency from the CRM
// commit to the ERP row, and the process's peak memory. `hub bench
// screenpop` (screenpop.go): screen-pop lookups on a large index under
// wrk, against the same lookup answered by PostgreSQL.
//
// It drives the hub only through its config and its public packages, as an
// operator would; nothing in the pipeline knows it is being measured.
package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/jmoiron/sqlx"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/pipeline/node"
)

// Options say what to measure.
type Options struct {
	PostgresDSN string // CRM and ERP schemas are created in this database
	Orders      int    // orders to sync
	Lines       int    // lines per order
	Customers   int    // distinct customers the orders belong to
	// Rate, when > 0, inserts orders at this many per second (a steady
	// load for latency) instead of all before the hub starts (a backlog for
	// throughput).
	Rate int
	// Capture is the CRM connector's change capture: cursor or outbox.
	Capture string
	// StateDSN is the hub's state store; default SQLite in a temp folder.
	StateDSN string
	// SourceBatch and SinkBatch are the sources' and the sink's
	// batch_size; 0 means 2,000 and 1,000, the figures of
	// docs/benchmarks.md (the hub's own defaults are 500 and 500).
	SourceBatch, SinkBatch int
	// Kinds are the connector kinds to run with (the binary's registry).
	Kinds *connectors.Registry
	// Keep leaves the schemas in place for a look afterwards.
	Keep bool
	// Bar shows a progress bar (a terminal); otherwise progress is lines.
	Bar bool
	Log *slog.Logger
	// HeapProfile, when set, is where a heap profile is written once half
	// the orders arrived: what the hub holds while it is busy (after a GC).
	HeapProfile string
	// Warmup, with Rate, is the start of the run left out of the steady
	// latency: the customers, all inserted before the hub starts, are
	// synced while the first orders arrive, and an order whose customer
	// is not in the ERP yet waits for it, holding its partition. The
	// latency over all orders is reported too.
	Warmup time.Duration
}

// Result is what one run measured.
type Result struct {
	Orders        int
	Elapsed       time.Duration // hub start (or first insert, with Rate) to the last ERP row
	OrdersPerSec  float64
	P50, P99, Max time.Duration // CRM commit to ERP row
	PeakRSSBytes  int64
	// Steady is the latency of the orders committed after Options.Warmup
	// (with a rate only; Orders 0 otherwise).
	Steady Latency
	Warmup time.Duration
}

// Latency is the CRM-commit-to-ERP-row latency of some orders.
type Latency struct {
	Orders        int
	P50, P99, Max time.Duration
}

func (r Result) String() string {
	out := fmt.Sprintf("%d orders in %s: %.0f orders/s; latency CRM commit -> ERP row p50 %s, p99 %s, max %s; peak RSS %d MiB",
		r.Orders, r.Elapsed.Round(time.Millisecond), r.OrdersPerSec, r.P50.Round(time.Millisecond),
		r.P99.Round(time.Millisecond), r.Max.Round(time.Millisecond), r.PeakRSSBytes>>20)
	if r.Steady.Orders > 0 {
		out += fmt.Sprintf("\nsteady (the %d orders after the first %s): p50 %s, p99 %s, max %s",
			r.Steady.Orders, r.Warmup, r.Steady.P50.Round(time.Millisecond),
			r.Steady.P99.Round(time.Millisecond), r.Steady.Max.Round(time.Millisecond))
	}
	return out
}

// RunSync runs one measurement, printing progress to progress.
func RunSync(ctx context.Context, o Options, progress io.Writer) (Result, error) {
	o = o.withDefaults()
	db, err := sqlx.Open("pgx", o.PostgresDSN)
	if err != nil {
		return Result{}, fmt.Errorf("bench: open %s: %w", redact(o.PostgresDSN), err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return Result{}, fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	suffix := randomHex()
	r := &syncRun{o: o, db: db, crm: "bench_crm_" + suffix, erp: "bench_erp_" + suffix, progress: progress}
	if err := createSchemas(ctx, db, r.crm, r.erp); err != nil {
		return Result{}, err
	}
	if !o.Keep {
		defer func() {
			_, _ = db.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA "+r.crm+" CASCADE; DROP SCHEMA "+r.erp+" CASCADE")
		}()
	} else {
		fmt.Fprintf(progress, "schemas %s and %s are kept\n", r.crm, r.erp)
	}
	dir, err := os.MkdirTemp("", "hub-bench-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	if err := r.insertBacklog(ctx); err != nil {
		return Result{}, err
	}
	cfgPath, err := writeConfig(dir, o, r.crm, r.erp)
	if err != nil {
		return Result{}, err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return Result{}, fmt.Errorf("bench: config: %w", err)
	}
	hubCtx, stopHub := context.WithCancel(ctx)
	defer stopHub()
	n := node.New(cfg, o.Log, "bench", o.Kinds)
	hubDone := make(chan error, 1)
	start := time.Now()
	go func() { hubDone <- n.Run(hubCtx) }()
	select {
	case <-n.Ready():
	case err := <-hubDone:
		return Result{}, fmt.Errorf("bench: hub stopped at start: %w", err)
	}
	fmt.Fprintf(progress, "hub ready in %s\n", time.Since(start).Round(time.Millisecond))
	go analyzeLikeAutovacuum(hubCtx, db, progress, o.Log, r.crm, r.erp)
	if o.Rate > 0 {
		start = time.Now()
		go r.insertAtRate(hubCtx, start)
	}
	if err := r.waitForOrders(ctx, hubDone); err != nil {
		return Result{}, err
	}
	res, err := r.measure(ctx, start)
	if err != nil {
		return res, err
	}
	stopHub()
	if err := <-hubDone; err != nil {
		return res, fmt.Errorf("bench: hub stop: %w", err)
	}
	return res, nil
}

// withDefaults fills what the options leave out.
func (o Options) withDefaults() Options {
	if o.Lines < 1 {
		o.Lines = 3
	}
	if o.Customers < 1 {
		o.Customers = max(1, o.Orders/20)
	}
	if o.Capture == "" {
		o.Capture = "cursor"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// syncRun is one `hub bench sync`: its options, its server and schemas.
type syncRun struct {
	o        Options
	db       *sqlx.DB
	crm, erp string // the schemas
	progress io.Writer
}

// insertBacklog inserts the customers and, without a rate, every order
// before the hub starts.
func (r *syncRun) insertBacklog(ctx context.Context) error {
	o := r.o
	fmt.Fprintf(r.progress, "inserting %d customers\n", o.Customers)
	if _, err := r.db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s.customers (id, name, email)
SELECT g, 'Customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, %d) g`, r.crm, o.Customers)); err != nil {
		return fmt.Errorf("bench: insert customers: %w", err)
	}
	if o.Rate > 0 {
		return nil
	}
	fmt.Fprintf(r.progress, "inserting %d orders with %d lines each\n", o.Orders, o.Lines)
	for from := 1; from <= o.Orders; from += 20000 {
		if err := r.insertOrders(ctx, from, min(from+19999, o.Orders)); err != nil {
			return fmt.Errorf("bench: insert orders: %w", err)
		}
	}
	return nil
}

// insertOrders inserts the orders numbered from..to with their lines.
func (r *syncRun) insertOrders(ctx context.Context, from, to int) error {
	_, err := r.db.ExecContext(ctx, fmt.Sprintf(`
INSERT INTO %[1]s.orders (id, customer_id, order_no, order_date, currency, total, status)
SELECT g, 1 + g %% %[4]d, 'SO-' || g, DATE '2026-11-01' + (g %% 28), 'EUR', %[5]d * 19.90, 'open'
FROM generate_series(%[2]d, %[3]d) g;
INSERT INTO %[1]s.order_lines (order_id, line_no, sku, qty, unit_price)
SELECT g, l, 'SKU-' || (g %% 97), 1, 19.90 FROM generate_series(%[2]d, %[3]d) g, generate_series(1, %[5]d) l`,
		r.crm, from, to, r.o.Customers, r.o.Lines))
	return err
}

// insertAtRate inserts the orders at the options' rate from start on, on
// a 50 ms tick, until all are in or ctx ends.
func (r *syncRun) insertAtRate(ctx context.Context, start time.Time) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	next := 1
	for next <= r.o.Orders {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := min(r.o.Orders, int(time.Since(start).Seconds()*float64(r.o.Rate)))
		if due >= next {
			if err := r.insertOrders(ctx, next, due); err != nil {
				r.o.Log.Error("bench insert", "err", err)
				return
			}
			next = due + 1
		}
	}
}

// waitForOrders polls the ERP until every order is there (writing the
// heap profile half way, when asked), or the hub stops first.
func (r *syncRun) waitForOrders(ctx context.Context, hubDone <-chan error) error {
	o := r.o
	arrived := newArrivals(r.progress, int64(o.Orders), "orders in the ERP", o.Bar)
	count, movedAt := 0, time.Now()
	for count < o.Orders {
		select {
		case err := <-hubDone:
			return fmt.Errorf("bench: hub stopped: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		prev := count
		var err error
		if count, err = countERPOrders(ctx, r.db, r.erp, o.Orders, count, time.Since(movedAt) > 2*time.Second); err != nil {
			return err
		}
		if count != prev {
			movedAt = time.Now()
		}
		if o.HeapProfile != "" && prev < o.Orders/2 && count >= o.Orders/2 {
			if err := writeHeapProfile(o.HeapProfile); err != nil {
				return err
			}
		}
		arrived.seen(int64(count))
	}
	return nil
}

// measure reads the run's figures from the ERP (the time from start to
// the last order's arrival, the latencies) and checks every line arrived.
func (r *syncRun) measure(ctx context.Context, start time.Time) (Result, error) {
	o := r.o
	var lastRow time.Time
	if err := r.db.GetContext(ctx, &lastRow, "SELECT max(arrived_at) FROM "+r.erp+".erp_orders"); err != nil {
		return Result{}, fmt.Errorf("bench: last arrival: %w", err)
	}
	res := Result{Orders: o.Orders, Elapsed: lastRow.Sub(start)}
	if res.Elapsed <= 0 {
		res.Elapsed = time.Since(start)
	}
	res.OrdersPerSec = float64(o.Orders) / res.Elapsed.Seconds()
	all, err := erpLatency(ctx, r.db, r.erp, time.Time{})
	if err != nil {
		return Result{}, err
	}
	res.P50, res.P99, res.Max = all.P50, all.P99, all.Max
	if o.Rate > 0 && o.Warmup > 0 {
		res.Warmup = o.Warmup
		if res.Steady, err = erpLatency(ctx, r.db, r.erp, start.Add(o.Warmup)); err != nil {
			return Result{}, err
		}
	}
	res.PeakRSSBytes = peakRSS()
	var lines int
	if err := r.db.GetContext(ctx, &lines, "SELECT count(*) FROM "+r.erp+".erp_order_lines"); err != nil {
		return Result{}, err
	}
	if lines != o.Orders*o.Lines {
		return res, fmt.Errorf("bench: %d order lines in the ERP, want %d", lines, o.Orders*o.Lines)
	}
	return res, nil
}

// erpLatency measures the latency of the ERP's orders committed in the CRM
// at or after since (zero: all of them).
func erpLatency(ctx context.Context, db *sqlx.DB, erp string, since time.Time) (Latency, error) {
	var lat struct {
		N   int             `db:"n"`
		P50 sql.NullFloat64 `db:"p50"`
		P99 sql.NullFloat64 `db:"p99"`
		Max sql.NullFloat64 `db:"mx"`
	}
	if err := db.GetContext(ctx, &lat, `SELECT count(*) AS n,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS p50,
  percentile_cont(0.99) WITHIN GROUP (ORDER BY d) AS p99,
  max(d) AS mx
FROM (SELECT extract(epoch FROM arrived_at - crm_updated_at) AS d FROM `+erp+`.erp_orders WHERE crm_updated_at >= $1) x`, since); err != nil {
		return Latency{}, fmt.Errorf("bench: latency: %w", err)
	}
	return Latency{Orders: lat.N, P50: secs(lat.P50.Float64), P99: secs(lat.P99.Float64), Max: secs(lat.Max.Float64)}, nil
}

// countERPOrders says how many orders the ERP holds. A count(*) of the
// whole table costs the database more with every row (at 500,000 rows
// about 45 ms of a core; four times a second, a tenth of this 2-core
// machine taken from the run it measures), so while the table's insert
// counter is short of want that counter is the answer. The rows are
// counted once it reaches want, or when it has not moved for a while
// (stalled): the server publishes a backend's counters up to seconds late
// when it goes idle. The run's time is the last row's arrival, not when
// this noticed it.
func countERPOrders(ctx context.Context, db *sqlx.DB, erp string, want, prev int, stalled bool) (int, error) {
	var inserted int
	if err := db.GetContext(ctx, &inserted, "SELECT coalesce(n_tup_ins, 0) FROM pg_stat_user_tables WHERE relid = $1::regclass",
		erp+".erp_orders"); err != nil {
		return 0, fmt.Errorf("bench: ERP orders inserted: %w", err)
	}
	if inserted < want && !stalled {
		return max(inserted, prev), nil
	}
	var count int
	if err := db.GetContext(ctx, &count, "SELECT count(*) FROM "+erp+".erp_orders"); err != nil {
		return 0, fmt.Errorf("bench: count ERP orders: %w", err)
	}
	return count, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: heap profile: %w", err)
	}
	defer f.Close()
	runtime.GC() // the profile shows what is live, not what awaits collection
	if err := pprof.WriteHeapProfile(f); err != nil {
		return fmt.Errorf("bench: heap profile: %w", err)
	}
	return nil
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func createSchemas(ctx context.Context, db *sqlx.DB, crm, erp string) error {
	ddl := fmt.Sprintf(`
CREATE SCHEMA %[1]s;
CREATE TABLE %[1]s.customers (id BIGINT PRIMARY KEY, name TEXT NOT NULL, email TEXT,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());
CREATE TABLE %[1]s.orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, order_no TEXT NOT NULL,
  order_date DATE NOT NULL, currency TEXT NOT NULL, total NUMERIC(12,2) NOT NULL, status TEXT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());
CREATE INDEX ON %[1]s.orders (updated_at, id);
CREATE INDEX ON %[1]s.customers (updated_at, id);
CREATE TABLE %[1]s.order_lines (order_id BIGINT NOT NULL, line_no INT NOT NULL, sku TEXT NOT NULL,
  qty NUMERIC(12,3) NOT NULL, unit_price NUMERIC(12,2) NOT NULL, PRIMARY KEY (order_id, line_no));
CREATE SCHEMA %[2]s;
CREATE TABLE %[2]s.erp_customers (ext_ref TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT, updated_at TIMESTAMPTZ NOT NULL);
CREATE TABLE %[2]s.erp_orders (ext_ref TEXT PRIMARY KEY, customer_ref TEXT NOT NULL, order_no TEXT NOT NULL,
  order_date DATE NOT NULL, currency TEXT NOT NULL, total NUMERIC(12,2) NOT NULL, status TEXT NOT NULL,
  crm_updated_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
  arrived_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());
CREATE TABLE %[2]s.erp_order_lines (order_ref TEXT NOT NULL, line_no INT NOT NULL, sku TEXT NOT NULL,
  qty NUMERIC(12,3) NOT NULL, unit_price NUMERIC(12,2) NOT NULL, amount NUMERIC(12,2) NOT NULL,
  PRIMARY KEY (order_ref, line_no));`, crm, erp)
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("bench: create schemas: %w", err)
	}
	return nil
}

const customerIn = `name: bench-customer-in
system: crm
entity: customer
direction: in
fields:
  external_id: {from: id, type: string, required: true}
  name: {from: name, required: true}
  email: {from: email, transform: [lower]}
  updated_at: {from: updated_at, type: datetime}
`

const orderIn = `name: bench-order-in
system: crm
entity: order
direction: in
fields:
  external_id: {from: id, type: string, required: true}
  order_no: {from: order_no, required: true}
  customer.external_id: {from: customer_id, type: string, required: true}
  order_date: {from: order_date, type: date, required: true}
  status:
    from: status
    map: {values: {open: OPEN, paid: PAID}, default: UNKNOWN}
  currency: {from: currency, transform: [upper]}
  total: {from: total, type: decimal, required: true}
  lines:
    each: lines
    fields:
      line_no: {from: line_no, type: int}
      sku: {from: sku, required: true}
      qty: {from: qty, type: decimal}
      unit_price: {from: unit_price, type: decimal}
      amount: {multiply: [qty, unit_price], transform: [{round: 2}], type: decimal}
  updated_at: {from: updated_at, type: datetime}
`

const customerOut = `name: bench-customer-out
system: erp
entity: customer
direction: out
fields:
  ext_ref: {from: id, required: true}
  name: {from: name}
  email: {from: email}
`

const orderOut = `name: bench-order-out
system: erp
entity: order
direction: out
fields:
  ext_ref: {from: id, required: true}
  customer_ref: {from: customer.id, required: true, transform: [{xref: customer}]}
  order_no: {from: order_no}
  order_date: {from: order_date}
  currency: {from: currency}
  total: {from: total, type: decimal}
  status: {from: status}
  crm_updated_at: {from: updated_at}
  lines:
    each: lines
    fields:
      line_no: {from: line_no}
      sku: {from: sku}
      qty: {from: qty, type: decimal}
      unit_price: {from: unit_price, type: decimal}
      amount: {from: amount, type: decimal}
`

func writeConfig(dir string, o Options, crm, erp string) (string, error) {
	files := map[string]string{
		"customer-in.yaml": customerIn, "order-in.yaml": orderIn,
		"customer-out.yaml": customerOut, "order-out.yaml": orderOut,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return "", err
		}
	}
	state := o.StateDSN
	if state == "" {
		state = "sqlite:" + filepath.Join(dir, "hub.db")
	}
	// A cursor sees no deletes: the sink says so, as `hub validate` asks
	// of such a config (the bench has none to apply either way).
	deletes := ""
	if o.Capture == "cursor" {
		deletes = ", deletes: ignore"
	}
	crmDSN := withSearchPath(o.PostgresDSN, crm)
	erpDSN := withSearchPath(o.PostgresDSN, erp)
	cfg := fmt.Sprintf(`hub:
  data_dir: %[1]s
log:
  level: warn
http:
  addr: %[2]s
kafka:
  topic_prefix: bench
  partitions: 6
  embedded:
    addr: %[3]s
state:
  dsn: %[4]q
connectors:
  crm:
    kind: sqlstore
    driver: pgx
    dsn: %[5]q
    poll_interval: 50ms
    entities:
      customer: {table: customers, capture: %[7]s, batch_size: %[8]d, look_back: 1s}
      order:
        table: orders
        capture: %[7]s
        batch_size: %[8]d
        look_back: 1s
        lines: {table: order_lines, parent_key: order_id, key: line_no}
  erp:
    kind: sqlstore
    driver: pgx
    dsn: %[6]q
    entities:
      customer: {table: erp_customers, key: ext_ref}
      order:
        table: erp_orders
        key: ext_ref
        lines: {table: erp_order_lines, parent_key: order_ref, key: line_no}
sources:
  crm-customers: {connector: crm, entity: customer, mapping: customer-in.yaml, batch_size: %[8]d, interval: 50ms}
  crm-orders: {connector: crm, entity: order, mapping: order-in.yaml, batch_size: %[8]d, interval: 50ms, refs: {customer: customer_id}}
sinks:
  erp:
    connector: erp
    batch_size: %[9]d
    entities:
      customer: {mapping: customer-out.yaml%[10]s}
      order: {mapping: order-out.yaml%[10]s}
`, filepath.Join(dir, "data"), freeAddr(), freeAddr(), state, crmDSN, erpDSN, o.Capture,
		cmp.Or(o.SourceBatch, 2000), cmp.Or(o.SinkBatch, 1000), deletes)
	p := filepath.Join(dir, "hub.yaml")
	return p, os.WriteFile(p, []byte(cfg), 0o600)
}

func withSearchPath(dsn, schema string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redact(dsn string) string {
	if i := strings.Index(dsn, "@"); i >= 0 {
		if j := strings.Index(dsn, "://"); j >= 0 && j < i {
			return dsn[:j+3] + "…" + dsn[i:]
		}
	}
	return dsn
}

// peakRSS is this process's peak resident set (VmHWM), or 0.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
