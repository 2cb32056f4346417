package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter"
	"github.com/crmhub/hub/connectors/callcenter/screenpop"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/server"
)

// ScreenpopOptions say what `hub bench screenpop` measures: screen-pop
// lookups on an index of Customers customers with OrdersPer orders each,
// under wrk on loopback, against the same lookup answered by an indexed
// PostgreSQL query behind the same HTTP server.
type ScreenpopOptions struct {
	PostgresDSN string
	Customers   int
	OrdersPer   int
	// Connections are the wrk concurrency levels to run (each for
	// Duration, after a warm-up of a third of it).
	Connections []int
	Threads     int
	Duration    time.Duration
	Wrk         string // the wrk binary
	// WrkCPUs, when set, runs wrk under taskset on these CPUs (e.g. "0"),
	// so that it does not share a core with the hub when the hub itself
	// runs under taskset on the others.
	WrkCPUs string
	// CPUProfile, when set, profiles the process during the first index
	// run; ExecTrace writes a Go execution trace of the same run (where
	// requests wait: go tool trace).
	CPUProfile, ExecTrace string
	Kinds                 *connectors.Registry
	Keep                  bool // keep the PostgreSQL schema
	Log                   *slog.Logger
}

// wrkRun is one wrk run's figures.
type wrkRun struct {
	Target      string
	Connections int
	Requests    int64
	RPS         float64
	P50, P90    time.Duration
	P99, Max    time.Duration
	Errors      string // non-2xx answers and socket errors, as wrk says
	// In the hub: the time from a request's arrival at the handler
	// chain to its answer written (what the hub spends, without the
	// network, the kernel and the waiting for a CPU before it).
	HubP50, HubP99, HubP999 time.Duration
}

// ScreenpopResult is what a run measured.
type ScreenpopResult struct {
	Customers, Orders, Invoices int
	Build                       time.Duration // decode and apply every envelope
	HeapBytes                   uint64        // live heap the index holds (after GC)
	EstimateBytes               int64         // the index's own estimate (hub_screenpop_index_bytes)
	RSSBytes                    int64         // the process's resident memory with the index built
	SnapshotWrite               time.Duration
	SnapshotRead                time.Duration
	SnapshotBytes               int64
	PGLoad                      time.Duration
	Runs                        []wrkRun
}

const benchKey = "bench-callcenter-key-0123"

// RunScreenpop builds the index, loads PostgreSQL with the same data,
// serves both and measures them with wrk. Progress goes to progress.
func RunScreenpop(ctx context.Context, o ScreenpopOptions, progress io.Writer) (*ScreenpopResult, error) {
	if o.Customers <= 0 || o.OrdersPer < 0 || len(o.Connections) == 0 || o.Duration <= 0 {
		return nil, errors.New("bench screenpop: customers, connections and duration must be positive")
	}
	wrkPath, err := exec.LookPath(o.Wrk)
	if err != nil {
		return nil, fmt.Errorf("bench screenpop: wrk not found (apt-get install wrk): %w", err)
	}
	res := &ScreenpopResult{Customers: o.Customers, Orders: o.Customers * o.OrdersPer}
	view, err := newBenchView(o.Kinds, o.Customers)
	if err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }
	logf("building the index: %d customers, %d orders ...", o.Customers, res.Orders)
	if err := buildIndex(view.Index(), o, res); err != nil {
		return nil, err
	}
	logf("index built in %s; live heap %d MiB, its estimate %d MiB", res.Build.Round(time.Millisecond), res.HeapBytes>>20, res.EstimateBytes>>20)
	if err := measureSnapshot(view.Index(), res); err != nil {
		return nil, err
	}
	logf("snapshot: %d MiB written in %s, read in %s", res.SnapshotBytes>>20, res.SnapshotWrite.Round(time.Millisecond), res.SnapshotRead.Round(time.Millisecond))

	logf("loading PostgreSQL ...")
	pool, cleanup, err := loadPostgres(ctx, o, res)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	logf("PostgreSQL loaded and indexed in %s", res.PGLoad.Round(time.Millisecond))

	hist := &latencies{}
	addr, stop, err := serveBench(view, pool, view.Index(), hist)
	if err != nil {
		return nil, err
	}
	defer stop()
	dir, err := os.MkdirTemp("", "hub-bench-screenpop")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for _, target := range []struct{ name, path string }{
		{"index /api/v1/screenpop", "/api/v1/screenpop?phone="},
		{"index /api/v1/callerid", "/api/v1/callerid?number="},
		{"PostgreSQL /api/v1/bench/pg-screenpop", "/api/v1/bench/pg-screenpop?phone="},
	} {
		script, err := wrkScript(dir, target.path, o.Customers)
		if err != nil {
			return nil, err
		}
		for _, c := range o.Connections {
			if strings.Contains(target.name, "callerid") && c != o.Connections[0] {
				continue // one level is enough to show it costs what screen-pop costs
			}
			logf("wrk: %s, %d connections ...", target.name, c)
			if _, err := runWrk(ctx, wrkPath, o.WrkCPUs, script, addr, o.Threads, c, o.Duration/3); err != nil { // warm-up
				return nil, err
			}
			stopProfile := func() {}
			if strings.HasPrefix(target.name, "index /api/v1/screenpop") && c == o.Connections[0] {
				if stopProfile, err = Profiles(o.CPUProfile, o.ExecTrace); err != nil {
					return nil, err
				}
			}
			hist.reset()
			run, err := runWrk(ctx, wrkPath, o.WrkCPUs, script, addr, o.Threads, c, o.Duration)
			stopProfile()
			if err != nil {
				return nil, err
			}
			run.HubP50, run.HubP99, run.HubP999 = hist.quantile(0.5), hist.quantile(0.99), hist.quantile(0.999)
			run.Target = target.name
			res.Runs = append(res.Runs, run)
		}
	}
	return res, nil
}

// newBenchView makes a screenpop connector as a config would.
func newBenchView(kinds *connectors.Registry, customers int) (*callcenter.View, error) {
	settings := map[string]any{"default_region": "DE", "max_customers": customers + 1000}
	conn, err := kinds.New(callcenter.KindScreenpop, connectors.Params{Name: "screenpop", Decode: func(into any) error {
		return mapstructure.Decode(settings, into)
	}})
	if err != nil {
		return nil, err
	}
	v, ok := conn.(*callcenter.View)
	if !ok {
		return nil, fmt.Errorf("bench screenpop: kind screenpop built a %T", conn)
	}
	return v, v.Start(context.Background())
}

// The data: deterministic from the customer's number i, so that the index
// and PostgreSQL get the same without holding it twice.

func benchHubID(kind byte, n int) string {
	return fmt.Sprintf("01934f2e-%04x-7000-8000-%012x", kind, n)
}

// benchPhone is customer i's number, E.164: Berlin numbers, every
// thousandth customer sharing the previous one's (a switchboard).
func benchPhone(i int) string {
	if i%1000 == 999 {
		i--
	}
	return "+4930" + strconv.Itoa(20000000+i)
}

// benchNational is the same number as a German caller id shows it.
func benchNational(i int) string {
	p := benchPhone(i)[5:]
	return "030%20" + p[:4] + "%20" + p[4:]
}

var (
	firstNames = []string{"Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hans", "Ida", "Jonas", "Karla", "Lukas", "Mia", "Noah", "Olga", "Paul"}
	lastNames  = []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann"}
)

type benchCustomer struct {
	hub, name, email, phone, no string
}

func customerAt(i int) benchCustomer {
	name := firstNames[i%len(firstNames)] + " " + lastNames[(i/len(firstNames))%len(lastNames)]
	if i%3 == 0 {
		name += " GmbH & Co. KG"
	}
	return benchCustomer{hub: benchHubID(1, i), name: name, email: fmt.Sprintf("kunde%d@example.com", i),
		phone: benchPhone(i), no: "K" + strconv.Itoa(100000+i)}
}

type benchOrder struct {
	hub, no, date, total, status string
}

func orderAt(i, j int) benchOrder {
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (i*7+j*37)%700)
	status := "PAID"
	if j == 0 {
		status = "OPEN"
	}
	return benchOrder{hub: benchHubID(2, i*8+j), no: fmt.Sprintf("SO-%d-%d", i, j), date: day.Format(time.DateOnly),
		total: fmt.Sprintf("%d.%02d", 20+(i*13+j*7)%2000, (i+j)%100), status: status}
}

// invoiceAt: every fourth customer owes one invoice.
func hasInvoice(i int) bool { return i%4 == 0 }

func invoiceAmount(i int) string { return fmt.Sprintf("%d.50", 100+i%900) }

// buildIndex feeds the index envelopes as the view runner does: JSON
// from the topic, decoded, applied in batches; only decode and apply are
// timed.
func buildIndex(idx *screenpop.Index, o ScreenpopOptions, res *ScreenpopResult) error {
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	batch := make([]connectors.Change, 0, 500)
	var buf []byte
	var took time.Duration
	add := func(env *pipeline.Envelope) error {
		buf = env.AppendJSON(buf[:0])
		start := time.Now()
		dec, err := pipeline.DecodeEnvelope(buf)
		if err != nil {
			return fmt.Errorf("bench screenpop: decode an envelope: %w", err)
		}
		batch = append(batch, dec.Change())
		if len(batch) == cap(batch) {
			idx.Apply(batch, nil)
			batch = batch[:0]
		}
		took += time.Since(start)
		return nil
	}
	s := mapping.StringValue
	for i := 0; i < o.Customers; i++ {
		c := customerAt(i)
		if err := add(&pipeline.Envelope{Entity: "customer", ID: c.hub, Op: "upsert", Origin: "crm", SourceID: strconv.Itoa(i),
			Version: time.Unix(1700000000, 0), Data: mapping.ObjectValue(
				mapping.Member{Key: "id", Value: s(c.hub)}, mapping.Member{Key: "customer_no", Value: s(c.no)},
				mapping.Member{Key: "name", Value: s(c.name)}, mapping.Member{Key: "email", Value: s(c.email)},
				mapping.Member{Key: "phone", Value: s(c.phone)}, mapping.Member{Key: "status", Value: s("ACTIVE")},
				mapping.Member{Key: "billing_address", Value: mapping.ObjectValue(mapping.Member{Key: "country", Value: s("DE")},
					mapping.Member{Key: "city", Value: s("Berlin")})},
				mapping.Member{Key: "updated_at", Value: s("2026-11-01T10:00:00Z")})}); err != nil {
			return err
		}
		for j := 0; j < o.OrdersPer; j++ {
			od := orderAt(i, j)
			if err := add(&pipeline.Envelope{Entity: "order", ID: od.hub, Op: "upsert", Origin: "crm", SourceID: od.no,
				Version: time.Unix(1700000000, 0), Refs: map[string]string{"customer": c.hub}, Data: mapping.ObjectValue(
					mapping.Member{Key: "id", Value: s(od.hub)}, mapping.Member{Key: "order_no", Value: s(od.no)},
					mapping.Member{Key: "customer", Value: mapping.ObjectValue(mapping.Member{Key: "id", Value: s(c.hub)})},
					mapping.Member{Key: "order_date", Value: s(od.date)}, mapping.Member{Key: "status", Value: s(od.status)},
					mapping.Member{Key: "currency", Value: s("EUR")}, mapping.Member{Key: "total", Value: mapping.NumberValue(od.total)})}); err != nil {
				return err
			}
		}
		if hasInvoice(i) {
			res.Invoices++
			if err := add(&pipeline.Envelope{Entity: "invoice", ID: benchHubID(3, i), Op: "upsert", Origin: "erp", SourceID: "INV-" + strconv.Itoa(i),
				Version: time.Unix(1700000000, 0), Refs: map[string]string{"customer": c.hub}, Data: mapping.ObjectValue(
					mapping.Member{Key: "invoice_no", Value: s("INV-" + strconv.Itoa(i))}, mapping.Member{Key: "due_date", Value: s("2026-12-31")},
					mapping.Member{Key: "total", Value: mapping.NumberValue(invoiceAmount(i))},
					mapping.Member{Key: "amount_due", Value: mapping.NumberValue(invoiceAmount(i))},
					mapping.Member{Key: "payment_state", Value: s("UNPAID")}, mapping.Member{Key: "currency", Value: s("EUR")})}); err != nil {
				return err
			}
		}
	}
	start := time.Now()
	idx.Apply(batch, nil)
	took += time.Since(start)
	res.Build = took
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	res.HeapBytes = after.HeapAlloc - before.HeapAlloc
	res.EstimateBytes = idx.Stats().Bytes
	res.RSSBytes = readRSS()
	if st := idx.Stats(); st.Customers != o.Customers || st.Orders != res.Orders {
		return fmt.Errorf("bench screenpop: the index holds %d customers and %d orders, want %d and %d", st.Customers, st.Orders, o.Customers, res.Orders)
	}
	return nil
}

// measureSnapshot writes and reads the index's snapshot.
func measureSnapshot(idx *screenpop.Index, res *ScreenpopResult) error {
	dir, err := os.MkdirTemp("", "hub-bench-snapshot")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "screenpop.snap")
	start := time.Now()
	size, err := idx.SaveFile(path)
	if err != nil {
		return err
	}
	res.SnapshotWrite, res.SnapshotBytes = time.Since(start), size
	start = time.Now()
	if _, err := idx.LoadFile(path); err != nil {
		return err
	}
	res.SnapshotRead = time.Since(start)
	runtime.GC()
	return nil
}

const pgSchema = "hub_bench_screenpop"

// loadPostgres creates the baseline's tables in their own schema, copies
// the same customers, orders and invoices in and indexes them as a user
// would for this lookup.
func loadPostgres(ctx context.Context, o ScreenpopOptions, res *ScreenpopResult) (*pgxpool.Pool, func(), error) {
	start := time.Now()
	conn, err := pgx.Connect(ctx, o.PostgresDSN)
	if err != nil {
		return nil, nil, fmt.Errorf("bench screenpop: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if err := createTables(ctx, conn); err != nil {
		return nil, nil, err
	}
	if err := copyData(ctx, conn, o); err != nil {
		return nil, nil, err
	}
	for _, q := range []string{
		"CREATE INDEX ON " + pgSchema + ".customers (phone)",
		"CREATE INDEX ON " + pgSchema + ".orders (customer_id, order_date DESC)",
		"CREATE INDEX ON " + pgSchema + ".invoices (customer_id, due_date) WHERE amount_due > 0",
		"ANALYZE " + pgSchema + ".customers", "ANALYZE " + pgSchema + ".orders", "ANALYZE " + pgSchema + ".invoices",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return nil, nil, fmt.Errorf("bench screenpop: %s: %w", q, err)
		}
	}
	res.PGLoad = time.Since(start)
	cfg, err := pgxpool.ParseConfig(o.PostgresDSN)
	if err != nil {
		return nil, nil, err
	}
	cfg.MaxConns = int32(max(4, 2*runtime.GOMAXPROCS(0)))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("bench screenpop: PostgreSQL pool: %w", err)
	}
	cleanup := func() {
		pool.Close()
		if o.Keep {
			return
		}
		if c, err := pgx.Connect(context.Background(), o.PostgresDSN); err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgSchema+" CASCADE")
			c.Close(context.Background())
		}
	}
	return pool, cleanup, nil
}

// createTables makes the baseline's schema afresh.
func createTables(ctx context.Context, conn *pgx.Conn) error {
	ddl := []string{
		"DROP SCHEMA IF EXISTS " + pgSchema + " CASCADE",
		"CREATE SCHEMA " + pgSchema,
		"CREATE TABLE " + pgSchema + ".customers (id BIGINT PRIMARY KEY, hub_id UUID NOT NULL, customer_no TEXT, name TEXT NOT NULL, email TEXT, phone TEXT, status TEXT, city TEXT, country TEXT)",
		"CREATE TABLE " + pgSchema + ".orders (id BIGINT PRIMARY KEY, hub_id UUID NOT NULL, customer_id BIGINT NOT NULL, order_no TEXT, order_date DATE, status TEXT, currency TEXT, total NUMERIC(12,2))",
		"CREATE TABLE " + pgSchema + ".invoices (id BIGINT PRIMARY KEY, hub_id UUID NOT NULL, customer_id BIGINT NOT NULL, invoice_no TEXT, due_date DATE, payment_state TEXT, currency TEXT, total NUMERIC(12,2), amount_due NUMERIC(12,2))",
	}
	for _, q := range ddl {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("bench screenpop: %s: %w", q, err)
		}
	}
	return nil
}

// copyData copies the customers, orders and invoices the index holds.
func copyData(ctx context.Context, conn *pgx.Conn, o ScreenpopOptions) error {
	i := 0
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{pgSchema, "customers"}, []string{"id", "hub_id", "customer_no", "name", "email", "phone", "status", "city", "country"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == o.Customers {
				return nil, nil
			}
			c := customerAt(i)
			i++
			return []any{i - 1, c.hub, c.no, c.name, c.email, c.phone, "ACTIVE", "Berlin", "DE"}, nil
		})); err != nil {
		return fmt.Errorf("bench screenpop: copy customers: %w", err)
	}
	n := 0
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{pgSchema, "orders"}, []string{"id", "hub_id", "customer_id", "order_no", "order_date", "status", "currency", "total"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if n == o.Customers*o.OrdersPer {
				return nil, nil
			}
			ci, j := n/o.OrdersPer, n%o.OrdersPer
			od := orderAt(ci, j)
			n++
			day, _ := time.Parse(time.DateOnly, od.date)
			return []any{n, od.hub, ci, od.no, day, od.status, "EUR", od.total}, nil
		})); err != nil {
		return fmt.Errorf("bench screenpop: copy orders: %w", err)
	}
	k := 0
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{pgSchema, "invoices"}, []string{"id", "hub_id", "customer_id", "invoice_no", "due_date", "payment_state", "currency", "total", "amount_due"},
		pgx.CopyFromFunc(func() ([]any, error) {
			for k < o.Customers && !hasInvoice(k) {
				k++
			}
			if k >= o.Customers {
				return nil, nil
			}
			ci := k
			k++
			due := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
			return []any{ci, benchHubID(3, ci), ci, "INV-" + strconv.Itoa(ci), due, "UNPAID", "EUR", invoiceAmount(ci), invoiceAmount(ci)}, nil
		})); err != nil {
		return fmt.Errorf("bench screenpop: copy invoices: %w", err)
	}
	return nil
}

// pgQuery is the baseline's lookup: the customers with the number, each
// with its 5 newest orders and its open invoices, as one statement.
const pgQuery = `SELECT c.hub_id::text, c.customer_no, c.name, c.email, c.phone, c.status, c.city, c.country,
  (SELECT coalesce(json_agg(o), '[]') FROM (SELECT hub_id AS id, order_no, order_date, status, currency, total::text AS total
     FROM ` + pgSchema + `.orders WHERE customer_id = c.id ORDER BY order_date DESC LIMIT 5) o),
  (SELECT coalesce(json_agg(i), '[]') FROM (SELECT hub_id AS id, invoice_no, due_date, payment_state, currency, total::text AS total, amount_due::text AS amount_due
     FROM ` + pgSchema + `.invoices WHERE customer_id = c.id AND amount_due > 0 ORDER BY due_date LIMIT 20) i)
FROM ` + pgSchema + `.customers c WHERE c.phone = $1 ORDER BY c.name`

// serveBench serves the view's routes as the hub mounts them (behind the
// same server, tokens and roles) and the baseline beside them.
func serveBench(view *callcenter.View, pool *pgxpool.Pool, idx *screenpop.Index, hist *latencies) (string, func(), error) {
	srv := server.New(server.Config{Tokens: []server.Token{{Name: "bench", Role: server.RoleCallCenter, Secret: benchKey}}},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	access := server.Access{Role: server.RoleViewer, Also: []string{server.RoleCallCenter}}
	for _, rt := range view.Routes() {
		if rt.Public {
			srv.Handle(rt.Pattern, rt.Handler)
			continue
		}
		a := access
		a.Plain = rt.PlainErrors
		srv.HandleAccess(rt.Pattern, a, rt.Handler)
	}
	srv.HandleAccess("GET /api/v1/bench/pg-screenpop", access, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.URL.Query().Get("phone")
		e164 := idx.Phones().Quick(raw)
		if e164 == "" {
			var err error
			if e164, err = idx.Phones().E164(raw, ""); err != nil {
				server.WriteJSON(w, http.StatusOK, map[string]any{"phone": "", "customers": []any{}})
				return
			}
		}
		rows, err := pool.Query(r.Context(), pgQuery, e164)
		if err != nil {
			server.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		defer rows.Close()
		type card struct {
			ID           string          `json:"id"`
			CustomerNo   string          `json:"customer_no"`
			Name         string          `json:"name"`
			Email        string          `json:"email"`
			Phone        string          `json:"phone"`
			Status       string          `json:"status"`
			City         string          `json:"city"`
			Country      string          `json:"country"`
			RecentOrders json.RawMessage `json:"recent_orders"`
			OpenInvoices json.RawMessage `json:"open_invoices"`
		}
		out := struct {
			Phone     string `json:"phone"`
			Customers []card `json:"customers"`
		}{Phone: e164, Customers: []card{}}
		for rows.Next() {
			var c card
			var orders, invoices []byte
			if err := rows.Scan(&c.ID, &c.CustomerNo, &c.Name, &c.Email, &c.Phone, &c.Status, &c.City, &c.Country, &orders, &invoices); err != nil {
				server.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
				return
			}
			c.RecentOrders, c.OpenInvoices = orders, invoices
			out.Customers = append(out.Customers, c)
		}
		if err := rows.Err(); err != nil {
			server.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		b, _ := json.Marshal(out)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	h := srv.Handler()
	timed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		hist.add(time.Since(start))
	})
	hs := &http.Server{Handler: timed, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return ln.Addr().String(), func() { hs.Close() }, nil
}

// wrkScript writes a wrk Lua script that asks, round robin, for 20,000
// customers spread over the whole index, their numbers written as a
// German caller id shows them (030 2001 2345).
func wrkScript(dir, path string, customers int) (string, error) {
	var b strings.Builder
	b.WriteString("wrk.headers[\"Authorization\"] = \"Bearer " + benchKey + "\"\nlocal paths = {\n")
	const n = 20000
	for k := 0; k < n; k++ {
		i := int((int64(k)*7919 + 13) * int64(customers) / n % int64(customers))
		fmt.Fprintf(&b, "%q,\n", path+benchNational(i))
	}
	b.WriteString("}\nlocal i = 0\nfunction init(args) i = math.random(#paths) end\nfunction request()\n  i = i + 1\n  if i > #paths then i = 1 end\n  return wrk.format(nil, paths[i])\nend\n")
	p := filepath.Join(dir, strings.NewReplacer("/", "_", "?", "_", "=", "").Replace(path)+".lua")
	return p, os.WriteFile(p, []byte(b.String()), 0o600)
}

// runWrk runs wrk and reads its summary.
func runWrk(ctx context.Context, wrk, cpus, script, addr string, threads, conns int, d time.Duration) (wrkRun, error) {
	threads = max(1, min(threads, conns))
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", max(1, int(d.Seconds()))),
		"--latency", "-s", script, "http://" + addr}
	if cpus != "" {
		args = append([]string{"-c", cpus, wrk}, args...)
		wrk = "taskset"
	}
	cmd := exec.CommandContext(ctx, wrk, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkRun{}, fmt.Errorf("bench screenpop: wrk: %w\n%s", err, out)
	}
	return parseWrk(string(out), conns)
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkMax      = regexp.MustCompile(`(?m)^\s+Latency\s+\S+\s+\S+\s+([0-9.]+)(us|ms|s)`)
	wrkErrors   = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$`)
)

func parseWrk(out string, conns int) (wrkRun, error) {
	r := wrkRun{Connections: conns}
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("bench screenpop: no Requests/sec in wrk's output:\n%s", out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkRequests.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		d := wrkDuration(m[2], m[3])
		switch m[1] {
		case "50":
			r.P50 = d
		case "90":
			r.P90 = d
		case "99":
			r.P99 = d
		}
	}
	if m := wrkMax.FindStringSubmatch(out); m != nil {
		r.Max = wrkDuration(m[1], m[2])
	}
	var errs []string
	for _, m := range wrkErrors.FindAllStringSubmatch(out, -1) {
		errs = append(errs, strings.TrimSpace(m[1]))
	}
	r.Errors = strings.Join(errs, "; ")
	return r, nil
}

func wrkDuration(v, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond))
	case "ms":
		return time.Duration(f * float64(time.Millisecond))
	}
	return time.Duration(f * float64(time.Second))
}

// String is the result as a report.
func (r *ScreenpopResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "index: %d customers, %d orders, %d open invoices\n", r.Customers, r.Orders, r.Invoices)
	fmt.Fprintf(&b, "  build (decode + apply every envelope): %s (%.0f records/s)\n", r.Build.Round(time.Millisecond),
		float64(r.Customers+r.Orders+r.Invoices)/r.Build.Seconds())
	fmt.Fprintf(&b, "  live heap of the index: %d MiB (its own estimate, hub_screenpop_index_bytes: %d MiB); process RSS %d MiB\n",
		r.HeapBytes>>20, r.EstimateBytes>>20, r.RSSBytes>>20)
	fmt.Fprintf(&b, "  snapshot: %d MiB, written in %s, read in %s\n", r.SnapshotBytes>>20, r.SnapshotWrite.Round(time.Millisecond), r.SnapshotRead.Round(time.Millisecond))
	fmt.Fprintf(&b, "PostgreSQL baseline loaded and indexed in %s\n\n", r.PGLoad.Round(time.Millisecond))
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tconnections\trequests/s\tp50\tp90\tp99\tmax\tin the hub: p50\tp99\tp99.9\terrors")
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", run.Target, run.Connections, run.RPS, us(run.P50), us(run.P90), us(run.P99), us(run.Max),
			us(run.HubP50), us(run.HubP99), us(run.HubP999), run.Errors)
	}
	tw.Flush()
	for _, c := range uniqueConns(r.Runs) {
		idx, pg := r.find("index /api/v1/screenpop", c), r.find("PostgreSQL /api/v1/bench/pg-screenpop", c)
		if idx != nil && pg != nil && pg.RPS > 0 {
			fmt.Fprintf(&b, "at %d connections the index answers %.1fx the requests of PostgreSQL\n", c, idx.RPS/pg.RPS)
		}
	}
	return b.String()
}

func (r *ScreenpopResult) find(target string, conns int) *wrkRun {
	for i := range r.Runs {
		if r.Runs[i].Target == target && r.Runs[i].Connections == conns {
			return &r.Runs[i]
		}
	}
	return nil
}

func uniqueConns(runs []wrkRun) []int {
	var out []int
	seen := map[int]bool{}
	for _, r := range runs {
		if !seen[r.Connections] {
			seen[r.Connections] = true
			out = append(out, r.Connections)
		}
	}
	return out
}

func us(d time.Duration) string {
	if d >= time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%d us", d.Microseconds())
}

// readRSS is the process's resident memory, from /proc (0 elsewhere).
func readRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// latencies is a histogram of the hub's own time per request: 1 us
// buckets up to 100 ms.
type latencies struct {
	mu     sync.Mutex
	counts [100001]uint64
	n      uint64
}

func (l *latencies) add(d time.Duration) {
	b := min(int(d/time.Microsecond), len(l.counts)-1)
	l.mu.Lock()
	l.counts[b]++
	l.n++
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts, l.n = [100001]uint64{}, 0
}

// quantile is the upper edge of the bucket holding quantile q.
func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	want := uint64(q * float64(l.n))
	var seen uint64
	for i, c := range l.counts {
		seen += c
		if seen > want {
			return time.Duration(i+1) * time.Microsecond
		}
	}
	return 0
}
