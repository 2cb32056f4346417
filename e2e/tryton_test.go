package e2e

// The whole ERP path against a real Tryton 6.0 (scripts/tryton/setup.sh
// builds its template database): CRM database -> hub -> Tryton parties and
// sales, and Tryton's invoices -> hub -> the CRM's invoices table. Each
// test runs a trytond of its own (on a copy of the template), so it can
// stop and kill it without touching other tests.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/store/storetest"
)

// trytonServer is a trytond process of one test, serving one database.
type trytonServer struct {
	t        *testing.T
	dir, url string
	db       string
	cmd      *exec.Cmd
	done     chan struct{}
	log      *tailBuffer
	rpc      *trytonRPC
}

// newTryton copies the template database and starts a trytond on a free
// loopback port for it.
func newTryton(t *testing.T) *trytonServer {
	t.Helper()
	dbDir, tmpl := os.Getenv("HUB_TEST_TRYTON_DBDIR"), os.Getenv("HUB_TEST_TRYTON_TEMPLATE")
	if dbDir == "" || tmpl == "" {
		storetest.Unavailable(t, `Tryton tests need HUB_TEST_TRYTON_DBDIR and HUB_TEST_TRYTON_TEMPLATE: run eval "$(scripts/tryton/setup.sh)"`)
		return nil
	}
	if _, err := exec.LookPath("trytond"); err != nil {
		storetest.Unavailable(t, "trytond is not installed: run scripts/tryton/setup.sh")
		return nil
	}
	s := &trytonServer{t: t, dir: t.TempDir(), db: "e2e", log: &tailBuffer{}}
	if err := os.Mkdir(filepath.Join(s.dir, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(dbDir, tmpl+".sqlite"))
	if err != nil {
		t.Fatalf("template database: %v", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "db", s.db+".sqlite"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s.url = "http://" + addr
	conf := fmt.Sprintf("[web]\nlisten = %s\n[database]\nuri = sqlite://\npath = %s\n", addr, filepath.Join(s.dir, "db"))
	if err := os.WriteFile(filepath.Join(s.dir, "trytond.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(func() {
		if s.running() {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if t.Failed() {
			t.Logf("trytond output (tail):\n%s", tailLines(s.log.String(), 30))
		}
	})
	s.rpc = &trytonRPC{url: s.url + "/" + s.db + "/"}
	s.rpc.login(t)
	return s
}

func (s *trytonServer) running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// start runs trytond and waits until it answers JSON-RPC.
func (s *trytonServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("trytond", "-c", filepath.Join(s.dir, "trytond.conf"))
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start trytond: %v", err)
	}
	done := make(chan struct{})
	s.done = done
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		body := `{"id":0,"method":"common.server.version","params":[]}`
		resp, err := http.Post(s.url+"/", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if !s.running() {
			s.t.Fatalf("trytond exited at start:\n%s", tailLines(s.log.String(), 30))
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("trytond did not answer within 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill stops trytond at once (SIGKILL), as a crash or an OOM kill would.
func (s *trytonServer) kill() {
	s.t.Helper()
	_ = s.cmd.Process.Kill()
	<-s.done
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// trytonRPC is the test's own JSON-RPC client: what Tryton holds is read
// independently of the connector under test.
type trytonRPC struct {
	url, auth string
	company   int64
	n         int
}

type rpcError []any

func (e rpcError) Error() string { b, _ := json.Marshal([]any(e)); return string(b) }

func (c *trytonRPC) call(method string, params ...any) (json.RawMessage, error) {
	c.n++
	body, err := json.Marshal(map[string]any{"id": c.n, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: HTTP %d: %.200s", method, resp.StatusCode, raw)
	}
	var reply struct {
		Result json.RawMessage `json:"result"`
		Error  rpcError        `json:"error"`
	}
	if err := json.Unmarshal(raw, &reply); err != nil {
		return nil, fmt.Errorf("%s: %v: %.200s", method, err, raw)
	}
	if reply.Error != nil {
		return nil, fmt.Errorf("%s: %w", method, reply.Error)
	}
	return reply.Result, nil
}

func (c *trytonRPC) login(t testing.TB) {
	t.Helper()
	// Tryton's SQLite database answers "database is locked" while another
	// client (the hub's sink, catching up after a restart) holds its write
	// lock: the hub retries that, and so does the test's own login.
	var res json.RawMessage
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res, err = c.call("common.db.login", "admin", map[string]any{"password": "admin"}, "en")
		if err == nil || !strings.Contains(err.Error(), "database is locked") || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("tryton login: %v", err)
	}
	var pair []any
	if err := json.Unmarshal(res, &pair); err != nil || len(pair) != 2 {
		t.Fatalf("tryton login answer %s", res)
	}
	c.auth = "Session " + base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("admin:%v:%v", pair[0], pair[1])))
	var ids []int64
	c.must(t, &ids, "model.company.company.search", []any{}, 0, nil, nil, map[string]any{})
	if len(ids) != 1 {
		t.Fatalf("template companies: %v", ids)
	}
	c.company = ids[0]
}

func (c *trytonRPC) ctx(extra ...any) map[string]any {
	m := map[string]any{"company": c.company}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

// must calls method with params (the context is the caller's last param)
// and decodes the result into out (nil: ignored).
func (c *trytonRPC) must(t testing.TB, out any, method string, params ...any) {
	t.Helper()
	res, err := c.call(method, params...)
	if err != nil {
		t.Fatalf("tryton %v", err)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			t.Fatalf("tryton %s: decode %s: %v", method, res, err)
		}
	}
}

func (c *trytonRPC) count(t testing.TB, model string, domain ...any) int {
	t.Helper()
	if domain == nil {
		domain = []any{}
	}
	var n int
	c.must(t, &n, "model."+model+".search_count", domain, c.ctx())
	return n
}

// rows reads fields of every record of model matching domain, by id.
func (c *trytonRPC) rows(t testing.TB, model string, domain []any, fields ...string) []map[string]any {
	t.Helper()
	var out []map[string]any
	c.must(t, &out, "model."+model+".search_read", domain, 0, nil, [][]string{{"id", "ASC"}}, fields, c.ctx())
	return out
}

// dec reads a Tryton Decimal ({"__class__": "Decimal", "decimal": "1.00"})
// or a plain number.
func dec(v any) decimal.Decimal {
	switch x := v.(type) {
	case map[string]any:
		d, _ := decimal.NewFromString(fmt.Sprint(x["decimal"]))
		return d
	case float64:
		return decimal.NewFromFloat(x)
	}
	return decimal.Decimal{}
}

func tdec(s string) map[string]any { return map[string]any{"__class__": "Decimal", "decimal": s} }

func idOf(v any) int64 {
	if f, ok := v.(float64); ok {
		return int64(f)
	}
	return 0
}

// post posts the invoices (they get a number and an amount to pay).
func (c *trytonRPC) post(t testing.TB, ids ...int64) {
	t.Helper()
	c.must(t, nil, "model.account.invoice.post", ids, c.ctx())
}

// pay pays amount of a posted invoice with the template's Cash payment
// method through the account.invoice.pay wizard, as a clerk would; less
// than the amount to pay is a partial payment.
func (c *trytonRPC) pay(t testing.TB, inv int64, amount string) {
	t.Helper()
	var pms []int64
	c.must(t, &pms, "model.account.invoice.payment.method.search", []any{}, 0, nil, nil, c.ctx())
	if len(pms) == 0 {
		t.Fatal("the template has no payment method (scripts/tryton/setup_db.py creates one)")
	}
	wctx := c.ctx("active_id", inv, "active_ids", []int64{inv}, "active_model", "account.invoice")
	var created []any
	c.must(t, &created, "wizard.account.invoice.pay.create", wctx)
	wid := created[0]
	var st struct {
		View struct {
			Defaults map[string]any `json:"defaults"`
		} `json:"view"`
	}
	c.must(t, &st, "wizard.account.invoice.pay.execute", wid, map[string]any{}, "start", wctx)
	start := map[string]any{}
	for k, v := range st.View.Defaults {
		if !strings.HasSuffix(k, ".") {
			start[k] = v
		}
	}
	start["amount"], start["payment_method"], start["description"] = tdec(amount), pms[0], "e2e payment"
	st.View.Defaults = nil
	c.must(t, &st, "wizard.account.invoice.pay.execute", wid, map[string]any{"start": start}, "choice", wctx)
	if st.View.Defaults != nil { // less than due: the "ask" step, a partial payment
		ask := map[string]any{}
		for k, v := range st.View.Defaults {
			if !strings.HasSuffix(k, ".") {
				ask[k] = v
			}
		}
		ask["type"] = "partial"
		c.must(t, nil, "wizard.account.invoice.pay.execute", wid, map[string]any{"start": start, "ask": ask}, "pay", wctx)
	}
	c.must(t, nil, "wizard.account.invoice.pay.delete", wid, wctx)
}

var trytonCRMInvoices = `
CREATE TABLE invoices (
    ext_ref       TEXT PRIMARY KEY,
    invoice_no    TEXT,
    order_id      BIGINT NOT NULL REFERENCES orders (id),
    customer_id   BIGINT REFERENCES customers (id),
    invoice_date  DATE,
    currency      TEXT,
    total         NUMERIC(12,2) NOT NULL,
    amount_due    NUMERIC(12,2),
    payment_state TEXT NOT NULL,
    erp_state     TEXT,
    updated_at    TIMESTAMPTZ NOT NULL
)`

var trytonConfig = template.Must(template.New("hub.yaml").Parse(`# written by the e2e Tryton tests
hub:
  data_dir: {{.Dir}}/data
  shutdown_timeout: 20s
log: {level: info, format: text}
http: {addr: {{.HTTPAddr}}}
api:
  tokens:
    - {name: e2e-operator, role: operator, token: e2e-operator-token}
kafka:
  topic_prefix: e2e
  partitions: 3
  embedded: {addr: {{.KafkaAddr}}}
state: {dsn: 'sqlite:{{.Dir}}/data/hub.db'}
connectors:
  crm:
    kind: sqlstore
    driver: pgx
    dsn: '{{.CRM}}'
    poll_interval: 100ms
    entities:
      customer: {table: customers, look_back: 2s}
      order:
        table: orders
        look_back: 2s
        lines: {table: order_lines, parent_key: order_id, key: line_no}
      invoice: {table: invoices, key: ext_ref}
  erp:
    kind: tryton
    url: {{.TrytonURL}}
    database: {{.TrytonDB}}
    user: admin
    password: ${TRYTON_PASSWORD}
    poll_interval: 200ms
    look_back: 2s
    retries: 2
    retry_wait: 200ms
    retry_max_wait: 2s
sources:
  crm-customers: {connector: crm, entity: customer, mapping: mappings/crm-customer-in.yaml, interval: 100ms}
  crm-orders:
    connector: crm
    entity: order
    mapping: mappings/crm-order-in.yaml
    interval: 100ms
    refs: {customer: customer_id}
  erp-invoices:
    connector: erp
    entity: invoice
    mapping: mappings/tryton-invoice-in.yaml
    interval: 200ms
    refs: {order: sale, customer: party}
sinks:
  erp:
    connector: erp
    retry: {max_attempts: 8, initial: 100ms, max: 2s}
    entities:
      customer: {mapping: mappings/tryton-party-out.yaml}
      order: {mapping: mappings/tryton-sale-out.yaml}
  crm:
    connector: crm
    entities:
      invoice: {mapping: mappings/crm-invoice-out.yaml}
`))

// trytonRig is a hub between a PostgreSQL CRM and a Tryton.
type trytonRig struct {
	*rig
	erp *trytonServer
}

func newTrytonRig(t *testing.T, crm *database, erp *trytonServer) *trytonRig {
	t.Helper()
	r := &rig{t: t, o: rigOpts{crm: crm}, dir: t.TempDir(), httpAddr: freeAddr(t)}
	r.kafkaAddr = freeAddr(t)
	copyDir(t, "testdata/mappings", filepath.Join(r.dir, "mappings"))
	copyDir(t, "testdata/tryton", filepath.Join(r.dir, "mappings"))
	for _, m := range []string{"tryton-party-out.yaml", "tryton-sale-out.yaml", "tryton-invoice-in.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "configs", "mappings", m))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.dir, "mappings", m), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := trytonConfig.Execute(&b, map[string]any{"Dir": r.dir, "HTTPAddr": r.httpAddr, "KafkaAddr": r.kafkaAddr,
		"CRM": crm.dsn, "TrytonURL": erp.url, "TrytonDB": erp.db}); err != nil {
		t.Fatal(err)
	}
	r.cfg = filepath.Join(r.dir, "hub.yaml")
	if err := os.WriteFile(r.cfg, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &trytonRig{rig: r, erp: erp}
}

// start runs the hub with the Tryton password in its environment.
func (r *trytonRig) start() {
	r.t.Helper()
	r.hub = startProc(r.t, "hub", r.dir, []string{"TRYTON_PASSWORD=admin"}, "run", "-c", r.cfg)
	waitHTTP(r.t, r.hub, "http://"+r.httpAddr+"/readyz", 200, 60*time.Second)
}

// trytonOrders are n orders of nCust customers, in EUR, with 1 to 3 lines
// of the template's products SKU-1..SKU-5 and whole quantities (unit "u"
// has no decimals in Tryton).
func trytonOrders(nCust, n int) ([]customer, []order) {
	var cs []customer
	for i := 1; i <= nCust; i++ {
		c := genCustomer(i)
		c.Country = []string{"DE", "FR", "AT"}[i%3]
		cs = append(cs, c)
	}
	var os []order
	for j := 1; j <= n; j++ {
		o := order{ID: int64(j), CustomerID: int64(1 + (j*7)%nCust), OrderNo: fmt.Sprintf("SO-%06d", j),
			OrderDate: time.Now().UTC().Format(time.DateOnly), Currency: "EUR", Status: "open"}
		var total int64
		for k := 1; k <= 1+j%3; k++ {
			qty := int64(100 * (1 + (j+k)%5))
			price := int64(500 + (j*37+k*11)%9000)
			l := line{LineNo: k, SKU: fmt.Sprintf("SKU-%d", 1+(j+k)%5), Qty: cents(qty), UnitPrice: cents(price)}
			a, _ := parseCents(amount(l.Qty, l.UnitPrice))
			total += a
			o.Lines = append(o.Lines, l)
		}
		o.Total = cents(total)
		os = append(os, o)
	}
	return cs, os
}

// crmRef is a CRM record's external id (the e2e mappings prefix "crm:"):
// the party code and sale reference the Tryton mappings write.
func crmRef(id int64) string { return "crm:" + strconv.FormatInt(id, 10) }

type trytonSale struct {
	id      int64
	party   int64
	state   string
	total   decimal.Decimal
	lines   []line
	invoice []int64
}

// trytonSales reads every sale by reference (the CRM order id).
func trytonSales(t testing.TB, c *trytonRPC) map[string][]trytonSale {
	t.Helper()
	out := map[string][]trytonSale{}
	rows := c.rows(t, "sale.sale", []any{}, "reference", "party", "state", "total_amount", "invoices",
		"lines.product.code", "lines.quantity", "lines.unit_price", "lines.sequence")
	for _, r := range rows {
		s := trytonSale{id: idOf(r["id"]), party: idOf(r["party"]), state: fmt.Sprint(r["state"]), total: dec(r["total_amount"])}
		ls, _ := r["lines."].([]any)
		for n, l := range ls {
			m, _ := l.(map[string]any)
			p, _ := m["product."].(map[string]any)
			s.lines = append(s.lines, line{LineNo: n + 1, SKU: fmt.Sprint(p["code"]),
				Qty: decimal.NewFromFloat(m["quantity"].(float64)).StringFixed(2), UnitPrice: dec(m["unit_price"]).StringFixed(2)})
		}
		for _, i := range r["invoices"].([]any) {
			s.invoice = append(s.invoice, idOf(i))
		}
		out[fmt.Sprint(r["reference"])] = append(out[fmt.Sprint(r["reference"])], s)
	}
	return out
}

// trytonParties maps the template's new parties by code.
func trytonParties(t testing.TB, c *trytonRPC, baseline []int64) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, r := range c.rows(t, "party.party", []any{[]any{"id", "not in", baseline}}, "code", "name") {
		out[fmt.Sprint(r["code"])] = r
	}
	return out
}

// checkSales compares every CRM order with its one Tryton sale: the
// party of its customer, its lines and its total.
func checkSales(crmOrders map[int64]order, sales map[string][]trytonSale, partyOf map[int64]int64) []string {
	var diffs []string
	for id, o := range crmOrders {
		ss := sales[crmRef(id)]
		if len(ss) != 1 {
			diffs = append(diffs, fmt.Sprintf("order %d: %d sales in Tryton, want 1", id, len(ss)))
			continue
		}
		s := ss[0]
		if want := partyOf[o.CustomerID]; s.party != want {
			diffs = append(diffs, fmt.Sprintf("order %d: party %d, want %d (customer %d)", id, s.party, want, o.CustomerID))
		}
		if !s.total.Equal(decimal.RequireFromString(o.Total)) {
			diffs = append(diffs, fmt.Sprintf("order %d: total %s, want %s", id, s.total, o.Total))
		}
		if s.state != "processing" {
			diffs = append(diffs, fmt.Sprintf("order %d: sale state %s, want processing", id, s.state))
		}
		if len(s.lines) != len(o.Lines) {
			diffs = append(diffs, fmt.Sprintf("order %d: %d lines, want %d", id, len(s.lines), len(o.Lines)))
			continue
		}
		for k, l := range o.Lines {
			got := s.lines[k]
			if got.SKU != l.SKU || got.Qty != l.Qty || got.UnitPrice != l.UnitPrice {
				diffs = append(diffs, fmt.Sprintf("order %d line %d: %s %s x %s, want %s %s x %s", id, k+1, got.SKU, got.Qty, got.UnitPrice, l.SKU, l.Qty, l.UnitPrice))
			}
		}
	}
	sort.Strings(diffs)
	return diffs
}

type crmInvoice struct {
	ExtRef, No, Total, Due, Payment, ERPState string
	OrderID, CustomerID                       int64
}

func readCRMInvoices(t testing.TB, d *database) map[string]crmInvoice {
	t.Helper()
	rows, err := d.db.Query(`SELECT ext_ref, COALESCE(invoice_no, ''), order_id, COALESCE(customer_id, 0), total::text,
    COALESCE(amount_due::text, ''), payment_state, COALESCE(erp_state, '') FROM invoices`)
	if err != nil {
		t.Fatalf("read CRM invoices: %v", err)
	}
	defer rows.Close()
	out := map[string]crmInvoice{}
	for rows.Next() {
		var i crmInvoice
		if err := rows.Scan(&i.ExtRef, &i.No, &i.OrderID, &i.CustomerID, &i.Total, &i.Due, &i.Payment, &i.ERPState); err != nil {
			t.Fatal(err)
		}
		out[i.ExtRef] = i
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantInvoices is what the CRM must hold of Tryton's issued invoices.
func wantInvoices(t testing.TB, c *trytonRPC, saleOrder map[int64]int64, custOf map[int64]int64) map[string]crmInvoice {
	t.Helper()
	out := map[string]crmInvoice{}
	for _, r := range c.rows(t, "account.invoice", []any{[]any{"state", "in", []string{"posted", "paid", "cancelled"}}},
		"number", "state", "total_amount", "amount_to_pay", "sales") {
		sales, _ := r["sales"].([]any)
		if len(sales) != 1 {
			t.Fatalf("invoice %v bills %d sales", r["id"], len(sales))
		}
		ord := saleOrder[idOf(sales[0])]
		total, due := dec(r["total_amount"]), dec(r["amount_to_pay"])
		pay := "UNPAID"
		switch st := fmt.Sprint(r["state"]); {
		case st == "paid":
			pay = "PAID"
		case st == "cancelled":
			pay = "VOID"
		case !due.Equal(total) && !due.IsZero():
			pay = "PARTIAL"
		}
		id := strconv.FormatInt(idOf(r["id"]), 10)
		out[id] = crmInvoice{ExtRef: id, No: fmt.Sprint(r["number"]), Total: total.StringFixed(2), Due: due.StringFixed(2),
			Payment: pay, ERPState: fmt.Sprint(r["state"]), OrderID: ord, CustomerID: custOf[ord]}
	}
	return out
}

func diffInvoices(want, got map[string]crmInvoice) []string {
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, "invoice "+k+": missing in the CRM")
		case g != w:
			diffs = append(diffs, fmt.Sprintf("invoice %s: CRM has %+v, want %+v", k, g, w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "invoice "+k+": in the CRM but not issued in Tryton")
		}
	}
	sort.Strings(diffs)
	return diffs
}

// TestTrytonOrderToInvoice runs the ERP order sync against a real Tryton:
// 200 CRM orders of 50 customers become exactly 50 parties and 200
// confirmed sales with the right lines and totals; invoices Tryton issues
// (and payments on them) come back to the CRM's invoices table; a changed
// quantity amends the same sale; an order Tryton refuses is dead-lettered
// with Tryton's own message while the others go on; and a rerun from
// scratch (the hub's state and topics lost) creates nothing new.
func TestTrytonOrderToInvoice(t *testing.T) {
	t.Parallel()
	erp := newTryton(t)
	crm := newPostgres(t)
	crm.execScript(t, crmSchema[postgres])
	crm.execScript(t, trytonCRMInvoices)
	tr := erp.rpc
	var baseline []int64
	tr.must(t, &baseline, "model.party.party.search", []any{}, 0, nil, nil, tr.ctx())

	const nCust, nOrd = 50, 200
	cs, os := trytonOrders(nCust, nOrd)
	r := newTrytonRig(t, crm, erp)
	r.start()
	start := time.Now()
	insertCustomers(t, crm, cs)
	insertOrders(t, crm, os, 50)
	waitFor(t, "200 sales in Tryton", 4*time.Minute, 500*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("200 sales in Tryton")
		n := tr.count(t, "sale.sale", []any{"state", "=", "processing"})
		return n >= nOrd, fmt.Sprintf("%d processing sales", n)
	})
	took := time.Since(start)
	calls := metricSum(t, r.httpAddr, "hub_erp_calls_total", `connector="erp"`)
	inERP := metricSum(t, r.httpAddr, "hub_erp_call_seconds_total", `connector="erp"`)
	cpu := metricSum(t, r.httpAddr, "process_cpu_seconds_total")
	if calls == 0 || inERP == 0 {
		t.Errorf("/metrics: hub_erp_calls_total %v, hub_erp_call_seconds_total %v: the ERP connector's metrics are not exported", calls, inERP)
	}
	t.Logf("MEASURE 200 orders of 50 customers to processing Tryton sales in %s: %.1f orders/s; %v JSON-RPC calls, "+
		"%.1f s inside Tryton's calls (%.0f ms a call, summed over the sink's parallel workers); hub process CPU %.1f s",
		took.Round(time.Millisecond), float64(nOrd)/took.Seconds(), calls, inERP, 1000*inERP/max(calls, 1), cpu)

	parties := trytonParties(t, tr, baseline)
	if len(parties) != nCust {
		t.Fatalf("Tryton has %d new parties, want exactly %d", len(parties), nCust)
	}
	partyOf := map[int64]int64{}
	for _, c := range cs {
		p, ok := parties[crmRef(c.ID)]
		if !ok {
			t.Fatalf("customer %d: no party with code %s", c.ID, crmRef(c.ID))
		}
		if name := fmt.Sprint(p["name"]); name != strings.TrimSpace(c.Name) {
			t.Errorf("customer %d: party name %q, want %q", c.ID, name, strings.TrimSpace(c.Name))
		}
		partyOf[c.ID] = idOf(p["id"])
	}
	crmOrders := map[int64]order{}
	custOf := map[int64]int64{}
	for _, o := range os {
		crmOrders[o.ID], custOf[o.ID] = o, o.CustomerID
	}
	sales := trytonSales(t, tr)
	if d := checkSales(crmOrders, sales, partyOf); len(d) > 0 {
		t.Fatalf("Tryton's sales differ from the CRM's orders: %s", summarize(d))
	}
	saleOrder := map[int64]int64{} // sale id -> CRM order id
	invoiceOf := map[int64]int64{} // CRM order id -> its (first) invoice
	for ref, ss := range sales {
		id, err := strconv.ParseInt(strings.TrimPrefix(ref, "crm:"), 10, 64)
		if err != nil {
			t.Fatalf("sale reference %q is not the CRM order's external id", ref)
		}
		saleOrder[ss[0].id] = id
		if len(ss[0].invoice) != 1 {
			t.Fatalf("order %d: sale has invoices %v, want one draft", id, ss[0].invoice)
		}
		invoiceOf[id] = ss[0].invoice[0]
	}

	// Tryton issues invoices; a clerk takes payments. The CRM follows.
	var issue []int64
	for id := int64(1); id <= 20; id++ {
		issue = append(issue, invoiceOf[id])
	}
	tr.post(t, issue...)
	for _, id := range []int64{1, 2, 3} {
		tr.pay(t, invoiceOf[id], crmOrders[id].Total)
	}
	for _, id := range []int64{4, 5} {
		tr.pay(t, invoiceOf[id], "1.00")
	}
	inStep := func(what string) map[string]crmInvoice {
		t.Helper()
		var want map[string]crmInvoice
		waitFor(t, what, 2*time.Minute, 300*time.Millisecond, r.watching(), func() (bool, string) {
			r.failOnDeadLetters(what)
			want = wantInvoices(t, tr, saleOrder, custOf)
			d := diffInvoices(want, readCRMInvoices(t, crm))
			return len(d) == 0, summarize(d)
		})
		return want
	}
	want := inStep("the 20 issued invoices in the CRM")
	byPayment := map[string]int{}
	for _, i := range want {
		byPayment[i.Payment]++
	}
	if len(want) != 20 || byPayment["PAID"] != 3 || byPayment["PARTIAL"] != 2 || byPayment["UNPAID"] != 15 {
		t.Fatalf("issued invoices: %d, by payment state %v; want 20: 3 PAID, 2 PARTIAL, 15 UNPAID", len(want), byPayment)
	}

	// A quantity changes in the CRM: the same sale is amended. Order 30's
	// invoice is still a draft (Tryton redoes it); order 10's is issued
	// (Tryton drafts a second invoice for the extra quantity).
	bump := func(id int64, by int64) {
		t.Helper()
		o := crmOrders[id]
		q, _ := parseCents(o.Lines[0].Qty)
		o.Lines[0].Qty = cents(q + 100*by)
		var total int64
		for _, l := range o.Lines {
			a, _ := parseCents(amount(l.Qty, l.UnitPrice))
			total += a
		}
		o.Total = cents(total)
		crmOrders[id] = o
		tx, err := crm.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		mustTx(t, tx, "UPDATE order_lines SET qty = $1 WHERE order_id = $2 AND line_no = 1", o.Lines[0].Qty, id)
		mustTx(t, tx, "UPDATE orders SET total = $1 WHERE id = $2", o.Total, id)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	bump(30, 2)
	bump(10, 1)
	// The amendment and the sale's processing (which redoes or adds the
	// invoice) are separate calls: wait for both.
	waitFor(t, "the two amended sales and their invoices", 2*time.Minute, 300*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("the two amended sales")
		ss := trytonSales(t, tr)
		d := checkSales(crmOrders, ss, partyOf)
		if n := len(ss[crmRef(30)][0].invoice); n != 1 {
			d = append(d, fmt.Sprintf("order 30: %d invoices, want 1 (its draft redone)", n))
		}
		if n := len(ss[crmRef(10)][0].invoice); n != 2 {
			d = append(d, fmt.Sprintf("order 10: %d invoices, want 2 (the issued one and a draft for the extra quantity)", n))
		}
		return len(d) == 0, summarize(d)
	})
	if n := tr.count(t, "sale.amendment", []any{"state", "=", "validated"}); n != 2 {
		t.Errorf("%d validated amendments, want 2", n)
	}
	sales = trytonSales(t, tr)
	if s := sales[crmRef(30)][0]; len(s.invoice) != 1 {
		t.Errorf("order 30 (draft invoice redone): invoices %v, want one", s.invoice)
	} else {
		invoiceOf[30] = s.invoice[0]
		tr.post(t, s.invoice[0])
	}
	if s := sales[crmRef(10)][0]; len(s.invoice) != 2 {
		t.Errorf("order 10 (issued invoice): invoices %v, want the issued one and a new draft for the extra quantity", s.invoice)
	} else {
		drafts := tr.rows(t, "account.invoice", []any{[]any{"id", "in", s.invoice}, []any{"state", "=", "draft"}}, "state")
		if len(drafts) != 1 {
			t.Fatalf("order 10: invoices %v, %d of them drafts; want one new draft", s.invoice, len(drafts))
		}
		tr.post(t, idOf(drafts[0]["id"]))
	}
	want = inStep("the amended orders' invoices in the CRM")
	if len(want) != 22 {
		t.Errorf("%d issued invoices, want 22", len(want))
	}
	extra := decimal.RequireFromString(crmOrders[10].Lines[0].UnitPrice) // one more unit of line 1
	var of10 []string
	for _, i := range want {
		if i.OrderID == 10 {
			of10 = append(of10, i.Total)
		}
	}
	sort.Strings(of10)
	if len(of10) != 2 || (of10[0] != extra.StringFixed(2) && of10[1] != extra.StringFixed(2)) {
		t.Errorf("order 10's invoices in the CRM: totals %v, want the first one and %s for the extra unit", of10, extra.StringFixed(2))
	}

	// Orders Tryton refuses: a fractional quantity of a unit without
	// decimals (Tryton's own validation), and an unknown product. They
	// are dead-lettered with the reason; an order after them goes through.
	r.allowDeadLetters = true
	bad := []order{
		{ID: 201, CustomerID: 1, OrderNo: "SO-000201", OrderDate: time.Now().UTC().Format(time.DateOnly), Currency: "EUR",
			Status: "open", Total: "15.00", Lines: []line{{LineNo: 1, SKU: "SKU-1", Qty: "1.50", UnitPrice: "10.00"}}},
		{ID: 202, CustomerID: 2, OrderNo: "SO-000202", OrderDate: time.Now().UTC().Format(time.DateOnly), Currency: "EUR",
			Status: "open", Total: "10.00", Lines: []line{{LineNo: 1, SKU: "NOPE-404", Qty: "1.00", UnitPrice: "10.00"}}},
	}
	good := order{ID: 203, CustomerID: 3, OrderNo: "SO-000203", OrderDate: time.Now().UTC().Format(time.DateOnly), Currency: "EUR",
		Status: "open", Total: "20.00", Lines: []line{{LineNo: 1, SKU: "SKU-2", Qty: "2.00", UnitPrice: "10.00"}}}
	insertOrders(t, crm, append(bad, good), 3)
	crmOrders[203] = good
	var dls dlqList
	waitFor(t, "2 dead letters and order 203 in Tryton", 2*time.Minute, 300*time.Millisecond, r.watching(), func() (bool, string) {
		dls = listDeadLetters(t, r.dir, r.cfg, "open")
		n := len(trytonSales(t, tr)[crmRef(203)])
		return dls.Total >= 2 && n == 1, fmt.Sprintf("%d dead letters, order 203: %d sales", dls.Total, n)
	})
	if dls.Total != 2 {
		t.Fatalf("%d dead letters, want 2: %+v", dls.Total, dls.Items)
	}
	reasons := map[string]string{}
	for _, d := range dls.Items {
		if d.Connector != "erp" || d.Entity != "order" || d.Kind != "permanent" {
			t.Errorf("dead letter %+v, want a permanent one of sink erp, entity order", d)
		}
		reasons[d.Error] = d.HubID
	}
	var msgs []string
	for m := range reasons {
		msgs = append(msgs, m)
	}
	all := strings.Join(msgs, "\n")
	if !strings.Contains(all, `The number of digits in the value "1.5" for field "Quantity" in "Sale Line" exceeds the limit of "0".`) {
		t.Errorf("no dead letter carries Tryton's own message about the quantity 1.5; reasons:\n%s", all)
	}
	if !strings.Contains(all, `no product with code "NOPE-404" in Tryton`) {
		t.Errorf("no dead letter names the unknown product NOPE-404; reasons:\n%s", all)
	}
	if d := checkSales(crmOrders, trytonSales(t, tr), partyOf); len(d) > 0 {
		t.Errorf("after the refused orders: %s", summarize(d))
	}
	wantSales, wantInv := tr.count(t, "sale.sale"), readCRMInvoices(t, crm)
	wantParties := len(trytonParties(t, tr, baseline))
	r.hub.stop(t)

	// A rerun from scratch: a new hub with no state and no topics reads
	// the CRM and Tryton from the start. It finds every party, sale and
	// invoice by its key and creates nothing.
	r2 := newTrytonRig(t, crm, erp)
	r2.allowDeadLetters = true
	r2.start()
	// Tryton already holds every sale, so the sink answers Unchanged, which
	// hub_records_out_total does not count: the rerun is through once the
	// order sink consumed everything the source published and its batches
	// stopped (the same count of batches a second apart).
	batches := -1.0
	waitFor(t, "the rerun to go through every order", 3*time.Minute, time.Second, r2.watching(), func() (bool, string) {
		in := metricSum(t, r2.httpAddr, "hub_records_in_total", `connector="crm"`, `entity="order"`)
		lag := metricSum(t, r2.httpAddr, "hub_consumer_lag", `connector="erp"`, `entity="order"`)
		done := metricSum(t, r2.httpAddr, "hub_batch_duration_seconds_count", `connector="erp"`, `entity="order"`)
		inv := metricSum(t, r2.httpAddr, "hub_records_out_total", `connector="crm"`, `entity="invoice"`)
		dead := metricSum(t, r2.httpAddr, "hub_dead_letters_total")
		settled := done > 0 && done == batches
		batches = done
		return in >= nOrd+3 && lag == 0 && settled && inv >= float64(len(wantInv)) && dead >= 2,
			fmt.Sprintf("%v orders read, order sink lag %v after %v batches, %v invoices written, %v dead letters", in, lag, done, inv, dead)
	})
	if n := tr.count(t, "sale.sale"); n != wantSales {
		t.Errorf("the rerun changed Tryton's sales from %d to %d", wantSales, n)
	}
	if n := len(trytonParties(t, tr, baseline)); n != wantParties {
		t.Errorf("the rerun changed Tryton's parties from %d to %d", wantParties, n)
	}
	if n := tr.count(t, "sale.amendment"); n != 2 {
		t.Errorf("the rerun made amendments: %d, want 2", n)
	}
	if d := checkSales(crmOrders, trytonSales(t, tr), partyOf); len(d) > 0 {
		t.Errorf("after the rerun: %s", summarize(d))
	}
	if d := diffInvoices(wantInv, readCRMInvoices(t, crm)); len(d) > 0 {
		t.Errorf("the rerun changed the CRM's invoices: %s", summarize(d))
	}
	if l := listDeadLetters(t, r2.dir, r2.cfg, "open"); l.Total != 2 {
		t.Errorf("rerun: %d dead letters, want the same 2 refused orders: %+v", l.Total, l.Items)
	}
	r2.hub.stop(t)
}

// TestTrytonKilledMidSync kills the ERP (SIGKILL) while orders flow and
// starts it again 8 s later: every order arrives exactly once, nothing is
// dead-lettered, and the hub never stopped.
func TestTrytonKilledMidSync(t *testing.T) {
	t.Parallel()
	erp := newTryton(t)
	crm := newPostgres(t)
	crm.execScript(t, crmSchema[postgres])
	crm.execScript(t, trytonCRMInvoices)
	tr := erp.rpc
	var baseline []int64
	tr.must(t, &baseline, "model.party.party.search", []any{}, 0, nil, nil, tr.ctx())
	const nCust, nOrd = 10, 60
	cs, os := trytonOrders(nCust, nOrd)
	r := newTrytonRig(t, crm, erp)
	r.start()
	insertCustomers(t, crm, cs)
	// Orders keep coming, 10 per transaction, while Tryton goes down.
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for start := 0; start < len(os); start += 10 {
			tx, err := crm.db.Begin()
			if err != nil {
				t.Error(err)
				return
			}
			insertOrdersTx(t, crm, tx, os[start:min(start+10, len(os))])
			if err := tx.Commit(); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(150 * time.Millisecond)
		}
	}()
	waitFor(t, "some sales before the crash", 2*time.Minute, 100*time.Millisecond, r.watching(), func() (bool, string) {
		n := tr.count(t, "sale.sale")
		return n >= 20, fmt.Sprintf("%d sales", n)
	})
	erp.kill()
	down := time.Now()
	t.Logf("killed trytond with -9 at %s", down.Format(time.RFC3339Nano))
	time.Sleep(8 * time.Second)
	if r.hub.exited() {
		t.Fatalf("the hub exited while Tryton was down: %v", r.hub.err)
	}
	erp.start()
	erp.rpc.login(t)
	t.Logf("trytond back after %s", time.Since(down).Round(time.Millisecond))
	<-fed
	crmOrders := map[int64]order{}
	for _, o := range os {
		crmOrders[o.ID] = o
	}
	var partyOf map[int64]int64
	waitFor(t, "every order once in Tryton", 3*time.Minute, 500*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("every order once in Tryton")
		parties := trytonParties(t, tr, baseline)
		partyOf = map[int64]int64{}
		for _, c := range cs {
			partyOf[c.ID] = idOf(parties[crmRef(c.ID)]["id"])
		}
		d := checkSales(crmOrders, trytonSales(t, tr), partyOf)
		return len(d) == 0, summarize(d)
	})
	if n := tr.count(t, "sale.sale"); n != nOrd {
		t.Errorf("Tryton has %d sales, want exactly %d", n, nOrd)
	}
	if n := len(trytonParties(t, tr, baseline)); n != nCust {
		t.Errorf("Tryton has %d new parties, want exactly %d", n, nCust)
	}
	r.noDeadLetters()
	if f := metricSum(t, r.httpAddr, "hub_failures_total", `connector="erp"`); f == 0 {
		t.Errorf("hub_failures_total{connector=erp} is 0 after an ERP crash")
	}
	r.hub.stop(t)
}
