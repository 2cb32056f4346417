package pipeline

// Two-way customer sync between a CRM in PostgreSQL and an ERP in MariaDB,
// with the sqlstore connector as source and sink on both sides: real
// databases, the real broker, the real state store.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	dto "github.com/prometheus/client_model/go"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/sqlstore"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

func twoWayMapping(system, dir string) string {
	if dir == "in" {
		return `name: ` + system + `-customer-in
system: ` + system + `
entity: customer
direction: in
fields:
  external_id: {from: id, type: string, required: true}
  name: {from: name}
  email: {from: email}
  phone: {from: phone}
  credit_limit: {from: credit_limit, type: decimal}
  payment_terms: {from: payment_terms}
`
	}
	return `name: ` + system + `-customer-out
system: ` + system + `
entity: customer
direction: out
fields:
  name: {from: name}
  email: {from: email}
  phone: {from: phone}
  credit_limit: {from: credit_limit, type: decimal}
  payment_terms: {from: payment_terms}
`
}

// countingSink counts the records a sink really wrote and keeps every
// field value it wrote.
type countingSink struct {
	connectors.Sink
	n atomic.Int64

	mu     sync.Mutex
	writes []fieldWrite
}

// fieldWrite is one column of one record a sink wrote ("" for NULL);
// create is a record the target did not have (no external id on record).
type fieldWrite struct {
	hubID, field, value string
	create              bool
}

func (c *countingSink) Write(ctx context.Context, entity string, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	res, err := c.Sink.Write(ctx, entity, recs)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range res {
		if r.Err == nil && !r.Skipped {
			c.n.Add(1)
			if i < len(recs) {
				for _, m := range recs[i].Data.Members() {
					c.writes = append(c.writes, fieldWrite{hubID: recs[i].HubID, field: m.Key, value: m.Value.Str(), create: recs[i].ExternalID == ""})
				}
			}
		}
	}
	return res, err
}

func (c *countingSink) written() []fieldWrite {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]fieldWrite(nil), c.writes...)
}

type side struct {
	system string
	db     *sqlx.DB
	conn   *sqlstore.Conn
	sink   *countingSink
	now    string // SQL for the database's clock
	rebind func(string) string
}

func randSuffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func twoWayDB(t *testing.T, kind string) *side {
	t.Helper()
	ctx := context.Background()
	env := map[string]string{"pg": "HUB_TEST_POSTGRES_DSN", "maria": "HUB_TEST_MYSQL_DSN"}[kind]
	base := os.Getenv(env)
	if base == "" {
		if os.Getenv("HUB_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set and HUB_REQUIRE_SERVICES=1", env)
		}
		t.Skipf("%s is not set", env)
	}
	name := "hubtw_" + randSuffix()
	var driver, dsn, ddl, now string
	switch kind {
	case "pg":
		admin := sqlx.MustOpen("pgx", base)
		t.Cleanup(func() { admin.Close() })
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+name+" CASCADE") })
		sep := "?"
		if strings.Contains(base, "?") {
			sep = "&"
		}
		driver, dsn, now = "pgx", base+sep+"search_path="+name, "clock_timestamp()"
		ddl = `CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, email TEXT, phone TEXT,
  credit_limit NUMERIC(12,2), payment_terms TEXT, updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())`
	default:
		admin := sqlx.MustOpen("mysql", base)
		t.Cleanup(func() { admin.Close() })
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP DATABASE "+name) })
		c, err := mysql.ParseDSN(base)
		if err != nil {
			t.Fatal(err)
		}
		c.DBName = name
		driver, dsn, now = "mysql", c.FormatDSN(), "UTC_TIMESTAMP(6)"
		ddl = `CREATE TABLE customers (id VARCHAR(64) PRIMARY KEY, name VARCHAR(200), email VARCHAR(200), phone VARCHAR(50),
  credit_limit DECIMAL(12,2), payment_terms VARCHAR(50), updated_at DATETIME(6) NOT NULL)`
	}
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	system := map[string]string{"pg": "crm", "maria": "erp"}[kind]
	lb := 50 * time.Millisecond
	conn, err := sqlstore.New(system, sqlstore.Config{Driver: driver, DSN: dsn, PollInterval: 20 * time.Millisecond,
		Entities: map[string]sqlstore.EntityConfig{"customer": {Table: "customers", Capture: sqlstore.CaptureOutbox, LookBack: &lb}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.InstallCapture(ctx); err != nil {
		t.Fatal(err)
	}
	if err := conn.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &side{system: system, db: db, conn: conn, sink: &countingSink{Sink: conn}, now: now, rebind: db.Rebind}
}

func (s *side) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if err := s.try(q, args...); err != nil {
		t.Fatal(err)
	}
}

// try runs one statement; NOW is the database's clock.
func (s *side) try(q string, args ...any) error {
	q = strings.ReplaceAll(q, "NOW", s.now)
	if _, err := s.db.Exec(s.rebind(q), args...); err != nil {
		return fmt.Errorf("%s: %s: %w", s.system, q, err)
	}
	return nil
}

// rows reads every customer as "name|email|phone|credit|terms", by the
// CRM's id (the ERP's rows are keyed by the ids the hub gave them).
func (s *side) rows(t *testing.T) map[string]string {
	t.Helper()
	type row struct {
		ID, Name, Email, Phone, Credit, Terms string
	}
	var rs []row
	credit := "CAST(credit_limit AS CHAR)"
	if s.system == "crm" {
		credit = "CAST(credit_limit AS TEXT)"
	}
	err := s.db.Select(&rs, `SELECT id AS "id", COALESCE(name,'') AS "name", COALESCE(email,'') AS "email", COALESCE(phone,'') AS "phone",
  COALESCE(`+credit+`,'') AS "credit", COALESCE(payment_terms,'') AS "terms" FROM customers`)
	if err != nil {
		t.Fatalf("%s: read customers: %v", s.system, err)
	}
	out := map[string]string{}
	for _, r := range rs {
		out[r.ID] = strings.Join([]string{r.Name, r.Email, r.Phone, r.Credit, r.Terms}, "|")
	}
	return out
}

type twoWay struct {
	h        *harness
	crm, erp *side
	policy   *Policy
}

func (tw *twoWay) start(t *testing.T) (stop func()) {
	h := tw.h
	ctx, cancel := context.WithCancel(context.Background())
	journal := &Journal{Store: h.store, Log: h.log}
	dlq := &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}
	var runners []interface{ Run(context.Context) error }
	var closers []interface{ Close() error }
	for _, sd := range []*side{tw.crm, tw.erp} {
		w := h.bus.NewWriter(h.prefix + ".customer")
		runners = append(runners, &Source{Name: sd.system + "-customers", System: sd.system, Entity: "customer", Conn: sd.conn,
			Plan: compile(t, sd.system+"in", twoWayMapping(sd.system, "in")), Store: h.store, Writer: w, DLQ: dlq, Metrics: h.m,
			Log: h.log.With("source", sd.system), Interval: 20 * time.Millisecond, BatchSize: 200, Journal: journal, Policy: tw.policy})
		r := h.bus.NewReader("sink."+sd.system+".customer", []string{h.prefix + ".customer"}, bus.ReaderOptions{MaxWait: 20 * time.Millisecond})
		closers = append(closers, w, r)
		runners = append(runners, &Sink{Name: sd.system, System: sd.system, Entity: "customer", Conn: sd.sink,
			Plan: compile(t, sd.system+"out", twoWayMapping(sd.system, "out")), Reader: r, Store: h.store, DLQ: dlq, Metrics: h.m,
			Log: h.log.With("sink", sd.system), BatchSize: 200, Journal: journal, Policy: tw.policy,
			Retry: RetryPolicy{MaxAttempts: 10, Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}})
	}
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	return func() {
		cancel()
		wg.Wait()
		for _, c := range closers {
			_ = c.Close()
		}
		_ = journal.Close()
	}
}

func newTwoWay(t *testing.T) *twoWay {
	crm, erp := twoWayDB(t, "pg"), twoWayDB(t, "maria")
	return &twoWay{h: newHarness(t), crm: crm, erp: erp, policy: &Policy{Merge: true, Conflict: ConflictNewest,
		Owners: map[string]string{"email": "crm", "phone": "crm", "credit_limit": "erp", "payment_terms": "erp"}}}
}

func (tw *twoWay) published(system string) int {
	var m dto.Metric
	if err := tw.h.m.RecordsIn.WithLabelValues(system, "customer").Write(&m); err != nil {
		return -1
	}
	return int(m.GetCounter().GetValue())
}

// counts is every counter that moves when anything flows.
func (tw *twoWay) counts() [4]int {
	return [4]int{int(tw.crm.sink.n.Load()), int(tw.erp.sink.n.Load()), tw.published("crm"), tw.published("erp")}
}

// settle waits until both databases hold the same customers (by the CRM's
// ids, through xref) and nothing has moved for quiet.
func (tw *twoWay) settle(t *testing.T, n int, within, quiet time.Duration) (map[string]string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	var crm, erp map[string]string
	last, since := tw.counts(), time.Now()
	eventually(t, within, "both databases equal and quiet", func() (bool, string) {
		if c := tw.counts(); c != last {
			last, since = c, time.Now()
			return false, fmt.Sprintf("moving: %v", c)
		}
		crm, erp = tw.crm.rows(t), tw.erp.rows(t)
		if len(crm) != n || len(erp) != n {
			return false, fmt.Sprintf("%d CRM rows, %d ERP rows", len(crm), len(erp))
		}
		for id, c := range crm {
			hub, _, _ := tw.h.store.LookupHubID(ctx, "customer", "crm", id)
			ext, _, _, _ := tw.h.store.LookupExternal(ctx, "customer", hub, "erp")
			if erp[ext] != c {
				state := fmt.Sprintf("customer %s: CRM %q, ERP %q", id, c, erp[ext])
				if os.Getenv("HUB_TWOWAY_DEBUG") != "" {
					recs, _ := tw.h.store.Trace(ctx, hub, "customer")
					var b strings.Builder
					_ = FormatTrace(&b, hub, recs)
					state += "\n" + b.String()
				}
				return false, state
			}
		}
		return time.Since(since) >= quiet, "quiet for " + time.Since(since).String()
	})
	return crm, erp
}

func TestTwoWayOneUpdateOneWriteNoneBack(t *testing.T) {
	tw := newTwoWay(t)
	for i := 1; i <= 5; i++ {
		tw.crm.exec(t, "INSERT INTO customers (id, name, email, phone, updated_at) VALUES (?, ?, ?, ?, NOW)",
			fmt.Sprintf("C%d", i), fmt.Sprintf("Customer %d", i), fmt.Sprintf("c%d@example.com", i), fmt.Sprintf("+4930%07d", i))
	}
	stop := tw.start(t)
	defer stop()
	tw.settle(t, 5, 60*time.Second, 1500*time.Millisecond)
	ctx := context.Background()
	hub, _, _ := tw.h.store.LookupHubID(ctx, "customer", "crm", "C3")
	erpID, _, _, _ := tw.h.store.LookupExternal(ctx, "customer", hub, "erp")

	tests := []struct {
		name           string
		update         func()
		crmW, erpW     int // writes expected on each side
		crmPub, erpPub int // topic records each source adds
	}{
		{"CRM renames a customer", func() {
			tw.crm.exec(t, "UPDATE customers SET name = 'Renamed in CRM', updated_at = NOW WHERE id = 'C3'")
		}, 0, 1, 1, 0},
		{"ERP raises the credit limit", func() {
			tw.erp.exec(t, "UPDATE customers SET credit_limit = 5000.00, updated_at = NOW WHERE id = ?", erpID)
		}, 1, 0, 0, 1},
		{"CRM changes the email", func() {
			tw.crm.exec(t, "UPDATE customers SET email = 'new3@example.com', updated_at = NOW WHERE id = 'C3'")
		}, 0, 1, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tw.counts()
			tc.update()
			tw.settle(t, 5, 30*time.Second, 1500*time.Millisecond)
			after := tw.counts()
			got := [4]int{after[0] - before[0], after[1] - before[1], after[2] - before[2], after[3] - before[3]}
			if want := [4]int{tc.crmW, tc.erpW, tc.crmPub, tc.erpPub}; got != want {
				t.Errorf("CRM writes, ERP writes, CRM records published, ERP records published = %v; want %v", got, want)
			}
		})
	}
	if crm := tw.crm.rows(t); crm["C3"] != "Renamed in CRM|new3@example.com|+49300000003|5000.00|" {
		t.Errorf("CRM C3 = %q", crm["C3"])
	}
}

// history is every value an owner gave a field of each customer, by the
// CRM's id: a value the hub writes to the other side must be one of them.
type history struct {
	mu   sync.Mutex
	vals map[string]map[string]map[string]bool // field -> CRM id -> values
	last map[string]map[string]string          // field -> CRM id -> last value
}

func (h *history) set(field, id, v string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.vals[field] == nil {
		h.vals[field], h.last[field] = map[string]map[string]bool{}, map[string]string{}
	}
	if h.vals[field][id] == nil {
		h.vals[field][id] = map[string]bool{}
	}
	h.vals[field][id][v] = true
	h.last[field][id] = v
}

// normField makes a written or read value comparable: decimals with two
// places.
func normField(field, v string) string {
	if field == "credit_limit" && v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return strconv.FormatFloat(f, 'f', 2, 64)
		}
	}
	return v
}

func TestTwoWayConcurrentUpdatesSettle(t *testing.T) {
	tw := newTwoWay(t)
	const customers, updates = 20, 1000
	owned := &history{vals: map[string]map[string]map[string]bool{}, last: map[string]map[string]string{}}
	for i := 1; i <= customers; i++ {
		id := fmt.Sprintf("C%d", i)
		tw.crm.exec(t, "INSERT INTO customers (id, name, email, phone, updated_at) VALUES (?, ?, ?, ?, NOW)",
			id, fmt.Sprintf("Customer %d", i), fmt.Sprintf("c%d@example.com", i), fmt.Sprintf("+4930%07d", i))
		owned.set("email", id, fmt.Sprintf("c%d@example.com", i))
		owned.set("phone", id, fmt.Sprintf("+4930%07d", i))
		owned.set("credit_limit", id, "") // the ERP's rows start without them
		owned.set("payment_terms", id, "")
	}
	stop := tw.start(t)
	defer stop()
	tw.settle(t, customers, 60*time.Second, time.Second)
	ctx := context.Background()
	erpIDs, crmOf := map[string]string{}, map[string]string{}
	for i := 1; i <= customers; i++ {
		id := fmt.Sprintf("C%d", i)
		hub, _, _ := tw.h.store.LookupHubID(ctx, "customer", "crm", id)
		erpIDs[id], _, _, _ = tw.h.store.LookupExternal(ctx, "customer", hub, "erp")
		crmOf[hub] = id
	}
	// The ERP gives every customer its terms first, so that every owned
	// field has an owner's value (a refused edit of a field the hub holds
	// no value of is not written back: see docs/two-way.md).
	for i := 1; i <= customers; i++ {
		id := fmt.Sprintf("C%d", i)
		credit := fmt.Sprintf("%d.00", 1000+i)
		tw.erp.exec(t, "UPDATE customers SET credit_limit = ?, payment_terms = 'NET30', updated_at = NOW WHERE id = ?", credit, erpIDs[id])
		owned.set("credit_limit", id, credit)
		owned.set("payment_terms", id, "NET30")
	}
	tw.settle(t, customers, 60*time.Second, time.Second)

	// Edits of the other side's owned fields: they must never stick, nor
	// ever be written anywhere.
	const (
		badCredit = "1.00"
		badTerms  = "CRM-TERMS"
		badEmail  = "erp-was-here@example.com"
		badPhone  = "+490000000000"
	)
	var mu [customers + 1]sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), 42))
			for n := 0; n < updates/8; n++ {
				c := 1 + rng.IntN(customers)
				id := fmt.Sprintf("C%d", c)
				v := fmt.Sprintf("w%d-%d", w, n)
				// The owners' values are recorded under the customer's
				// lock, in the order their updates committed.
				mu[c].Lock()
				var err error
				switch rng.IntN(10) {
				case 0:
					err = tw.crm.try("UPDATE customers SET name = ?, updated_at = NOW WHERE id = ?", "crm "+v, id)
				case 1:
					err = tw.crm.try("UPDATE customers SET email = ?, updated_at = NOW WHERE id = ?", v+"@crm.example.com", id)
					owned.set("email", id, v+"@crm.example.com")
				case 2:
					phone := fmt.Sprintf("+4940%03d%04d", w, n)
					err = tw.crm.try("UPDATE customers SET phone = ?, updated_at = NOW WHERE id = ?", phone, id)
					owned.set("phone", id, phone)
				case 3: // not the CRM's field: must not stick
					err = tw.crm.try("UPDATE customers SET credit_limit = ?, updated_at = NOW WHERE id = ?", badCredit, id)
				case 4: // not the CRM's field: must not stick
					err = tw.crm.try("UPDATE customers SET payment_terms = ?, updated_at = NOW WHERE id = ?", badTerms, id)
				case 5:
					err = tw.erp.try("UPDATE customers SET name = ?, updated_at = NOW WHERE id = ?", "erp "+v, erpIDs[id])
				case 6:
					credit := fmt.Sprintf("%d.00", 100+rng.IntN(9000))
					err = tw.erp.try("UPDATE customers SET credit_limit = ?, updated_at = NOW WHERE id = ?", credit, erpIDs[id])
					owned.set("credit_limit", id, credit)
				case 7:
					terms := "NET-" + v
					err = tw.erp.try("UPDATE customers SET payment_terms = ?, updated_at = NOW WHERE id = ?", terms, erpIDs[id])
					owned.set("payment_terms", id, terms)
				case 8: // not the ERP's field: must not stick
					err = tw.erp.try("UPDATE customers SET email = ?, updated_at = NOW WHERE id = ?", badEmail, erpIDs[id])
				case 9: // not the ERP's field: must not stick
					err = tw.erp.try("UPDATE customers SET phone = ?, updated_at = NOW WHERE id = ?", badPhone, erpIDs[id])
				}
				mu[c].Unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	crm, erp := tw.settle(t, customers, 120*time.Second, 2*time.Second)

	// Settled: both sides hold every owner's last value.
	cols := map[string]int{"email": 1, "phone": 2, "credit_limit": 3, "payment_terms": 4}
	for i := 1; i <= customers; i++ {
		id := fmt.Sprintf("C%d", i)
		for _, row := range []struct{ side, row string }{{"CRM", crm[id]}, {"ERP", erp[erpIDs[id]]}} {
			f := strings.Split(row.row, "|")
			for field, col := range cols {
				if got, want := normField(field, f[col]), normField(field, owned.last[field][id]); got != want {
					t.Errorf("%s %s %s %q, want the owner's last %q", row.side, id, field, got, want)
				}
			}
		}
	}
	// At no point did the hub write an owned field to its owner, nor a
	// value to the other side that its owner never held.
	owner := map[string]string{"email": "crm", "phone": "crm", "credit_limit": "erp", "payment_terms": "erp"}
	for _, sd := range []*side{tw.crm, tw.erp} {
		ws := sd.sink.written()
		bad := 0
		for _, w := range ws {
			o, ok := owner[w.field]
			if !ok {
				continue
			}
			id := crmOf[w.hubID]
			switch {
			case o == sd.system && !(w.create && w.value == ""):
				// (A new row gets the owned columns as the hub holds them:
				// none, so NULL, which overwrites nothing.)
				t.Errorf("the %s sink wrote %s %s = %q to its owner", sd.system, id, w.field, w.value)
				bad++
			case !owned.vals[w.field][id][normField(w.field, w.value)]:
				t.Errorf("the %s sink wrote %s %s = %q, which %s never held", sd.system, id, w.field, w.value, o)
				bad++
			}
			if bad > 10 {
				t.Fatal("too many bad writes")
			}
		}
		t.Logf("%s sink: %d records, %d field values written", sd.system, sd.sink.n.Load(), len(ws))
	}
	// Every conflict was decidable (versions on both sides): nothing to
	// review, nothing failed.
	if dls, err := tw.h.store.ListDeadLetters(ctx, store.DeadLetterFilter{}); err != nil || len(dls) != 0 {
		t.Errorf("dead letters %v: %d, want none; %+v", err, len(dls), dls)
	}
	t.Logf("settled: %d CRM writes, %d ERP writes, %d+%d records published",
		tw.crm.sink.n.Load(), tw.erp.sink.n.Load(), tw.published("crm"), tw.published("erp"))
}

func storeFilterOpen() store.DeadLetterFilter {
	return store.DeadLetterFilter{Status: store.StatusOpen}
}
