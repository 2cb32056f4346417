package e2e

// SaaS CRMs (Zoho CRM, 纷享销客) as the CRM side, through the hub binary,
// to a real Tryton: the CRM's customers and sales orders become Tryton
// parties and sales, Tryton's issued invoices go back to the CRM. The
// CRM is a stand-in of internal/zohotest or internal/fxiaoketest in the
// test process (neither service can run here); each test runs a trytond
// of its own.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/shopspring/decimal"
)

var saasConfig = template.Must(template.New("hub.yaml").Parse(`# written by the e2e SaaS tests
hub: {data_dir: {{.Dir}}/data, shutdown_timeout: 20s}
log: {level: info, format: text}
http: {addr: {{.HTTPAddr}}}
api:
  tokens:
    - {name: e2e-operator, role: operator, token: e2e-operator-token}
kafka:
  topic_prefix: saas
  partitions: 3
  embedded: {addr: {{.KafkaAddr}}}
state: {dsn: 'sqlite:{{.Dir}}/data/hub.db'}
connectors:
  crm:
{{.CRM}}
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
{{- if .SaleState}}
    sale_state: {{.SaleState}}
{{- end}}
sources:
  crm-customers: {connector: crm, entity: customer, mapping: mappings/{{.CustomerIn}}, interval: 200ms}
  crm-orders:
    connector: crm
    entity: order
    mapping: mappings/{{.OrderIn}}
    interval: 200ms
    refs: {customer: {{.CustomerRef}}}
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
    retry: {max_attempts: 8, initial: 100ms, max: 2s}
    entities:
      invoice: {mapping: mappings/{{.InvoiceOut}}, deletes: ignore}
reconcile:
  crm-erp-orders:
    entity: order
    left: crm
    right: erp
    right_mapping: mappings/tryton-sale-in.yaml
    key: order_no
    fields:
      total: tolerance 0.01
      currency: exact
      order_date: days 1
      notes: case_insensitive
    repair: left_wins
`))

// saasKind is what differs between the SaaS CRMs in a rig.
type saasKind struct {
	crm                          string // the crm connector's settings, indented
	customerIn, orderIn, invoice string // mapping files under configs/mappings
	customerRef                  string // the order's native field naming its customer
	env                          []string
	saleState                    string // the Tryton sink's sale_state; "" for its default (confirmed)
}

// saasRig is a hub between a SaaS CRM stand-in and a Tryton.
type saasRig struct {
	*rig
	erp  *trytonServer
	kind saasKind
}

func newSaaSRig(t *testing.T, erp *trytonServer, k saasKind) *saasRig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), httpAddr: freeAddr(t)}
	r.kafkaAddr = freeAddr(t)
	if err := os.MkdirAll(filepath.Join(r.dir, "mappings"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"tryton-party-out.yaml", "tryton-sale-out.yaml", "tryton-invoice-in.yaml", "tryton-sale-in.yaml", k.customerIn, k.orderIn, k.invoice} {
		b, err := os.ReadFile(filepath.Join("..", "configs", "mappings", m))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.dir, "mappings", m), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := saasConfig.Execute(&b, map[string]any{"Dir": r.dir, "HTTPAddr": r.httpAddr, "KafkaAddr": r.kafkaAddr,
		"CRM": k.crm, "TrytonURL": erp.url, "TrytonDB": erp.db, "CustomerIn": k.customerIn, "OrderIn": k.orderIn,
		"InvoiceOut": k.invoice, "CustomerRef": k.customerRef, "SaleState": k.saleState}); err != nil {
		t.Fatal(err)
	}
	r.cfg = filepath.Join(r.dir, "hub.yaml")
	if err := os.WriteFile(r.cfg, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runHubEnv(t, r.dir, append([]string{"TRYTON_PASSWORD=admin"}, k.env...), "validate", "-c", r.cfg); err != nil {
		t.Fatalf("hub validate: %v\n%s", err, out)
	}
	return &saasRig{rig: r, erp: erp, kind: k}
}

// start runs the hub with the secrets in its environment.
func (r *saasRig) start() {
	r.t.Helper()
	r.hub = startProc(r.t, "hub", r.dir, append([]string{"TRYTON_PASSWORD=admin"}, r.kind.env...), "run", "-c", r.cfg)
	waitHTTP(r.t, r.hub, "http://"+r.httpAddr+"/readyz", 200, 60*time.Second)
}

// crmSale is what a CRM sales order must become in Tryton.
type crmSale struct {
	customer string // the code of its customer's party
	total    decimal.Decimal
	lines    int
}

// checkCRMSales compares Tryton's sales with the CRM's orders by
// reference (prefix + the CRM's order key), and their parties' codes.
func checkCRMSales(t testing.TB, tr *trytonRPC, prefix string, want map[string]crmSale, baseline []int64) []string {
	t.Helper()
	parties := trytonParties(t, tr, baseline)
	partyOf := map[int64]string{}
	for code, p := range parties {
		partyOf[idOf(p["id"])] = code
	}
	sales := trytonSales(t, tr)
	var diffs []string
	for key, w := range want {
		ss := sales[prefix+key]
		if len(ss) != 1 {
			diffs = append(diffs, fmt.Sprintf("order %s: %d sales in Tryton, want 1", key, len(ss)))
			continue
		}
		s := ss[0]
		if got := partyOf[s.party]; got != w.customer {
			diffs = append(diffs, fmt.Sprintf("order %s: party %q, want %q", key, got, w.customer))
		}
		if !s.total.Equal(w.total) || len(s.lines) != w.lines || s.state != "processing" {
			diffs = append(diffs, fmt.Sprintf("order %s: %s, %d lines, %s; want %s, %d lines, processing", key, s.total, len(s.lines), s.state, w.total, w.lines))
		}
	}
	return diffs
}

// issued is one of Tryton's issued invoices as the CRM must show it.
type issued struct {
	number, order string // the invoice's number; the CRM's key of the order it bills
	total, due    decimal.Decimal
	payment       string
}

// trytonIssued reads Tryton's posted and paid invoices, with the CRM key
// of the order each bills (from its sale's reference, after prefix).
func trytonIssued(t testing.TB, tr *trytonRPC, prefix string) map[string]issued {
	t.Helper()
	refs := map[int64]string{}
	for _, s := range tr.rows(t, "sale.sale", []any{}, "reference") {
		refs[idOf(s["id"])] = strings.TrimPrefix(fmt.Sprint(s["reference"]), prefix)
	}
	out := map[string]issued{}
	for _, r := range tr.rows(t, "account.invoice", []any{[]any{"state", "in", []string{"posted", "paid"}}},
		"number", "state", "total_amount", "amount_to_pay", "sales") {
		sales, _ := r["sales"].([]any)
		total, due := dec(r["total_amount"]), dec(r["amount_to_pay"])
		pay := "UNPAID"
		switch {
		case fmt.Sprint(r["state"]) == "paid":
			pay = "PAID"
		case !due.Equal(total) && !due.IsZero():
			pay = "PARTIAL"
		}
		order := ""
		if len(sales) == 1 {
			order = refs[idOf(sales[0])]
		}
		n := fmt.Sprint(r["number"])
		out[n] = issued{number: n, order: order, total: total, due: due, payment: pay}
	}
	return out
}

// issueInvoices posts the first n sales' invoices (by CRM order key, in
// keys' order), pays the first full of them in full and the next part in
// part.
func issueInvoices(t testing.TB, tr *trytonRPC, prefix string, keys []string, n, full, part int) {
	t.Helper()
	sales := trytonSales(t, tr)
	var posted []int64
	for _, k := range keys[:n] {
		ss := sales[prefix+k]
		if len(ss) != 1 || len(ss[0].invoice) != 1 {
			t.Fatalf("order %s: sales %+v, want one with one draft invoice", k, ss)
		}
		posted = append(posted, ss[0].invoice[0])
	}
	tr.post(t, posted...)
	for i, inv := range posted[:full+part] {
		amount := sales[prefix+keys[i]][0].total.StringFixed(2)
		if i >= full {
			amount = "1.00"
		}
		tr.pay(t, inv, amount)
	}
}

// waitSettled waits until a rerun has gone through every CRM order: the
// order source read them all, the sink's lag is 0 and its batches
// stopped.
func (r *saasRig) waitSettled(orders int) {
	r.t.Helper()
	batches := -1.0
	waitFor(r.t, "the rerun to go through every order", 3*time.Minute, time.Second, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("the rerun")
		in := metricSum(r.t, r.httpAddr, "hub_records_in_total", `connector="crm"`, `entity="order"`)
		lag := metricSum(r.t, r.httpAddr, "hub_consumer_lag", `connector="erp"`, `entity="order"`)
		done := metricSum(r.t, r.httpAddr, "hub_batch_duration_seconds_count", `connector="erp"`, `entity="order"`)
		inv := metricSum(r.t, r.httpAddr, "hub_batch_duration_seconds_count", `connector="crm"`, `entity="invoice"`)
		settled := done > 0 && done == batches && inv > 0
		batches = done
		return in >= float64(orders) && lag == 0 && settled,
			fmt.Sprintf("%v orders read, order sink lag %v after %v batches, %v invoice batches", in, lag, done, inv)
	})
}
