package e2e

// A rig is one hub set up between a CRM and an ERP database: its folder,
// config, mappings, ports, and helpers to run it and wait for the ERP to be
// in step with the CRM.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

type rigOpts struct {
	crm, erp *database
	capture  string // cursor (default) or outbox
	brokers  string // an external broker's address; "" runs the embedded one
	// stateDSN is a shared state store (several hubs); "" is a SQLite
	// file in the rig's folder
	stateDSN string
	leaseTTL string // hub.lease_ttl; "" is the default
	erpDSN   string // the ERP DSN the hub uses, when not erp.dsn (a proxy)
	// mirror, when set, is a second ERP-shaped database with a sink of
	// its own (the "other sink" of fault tests)
	mirror *database
	// sink retry (the hub's defaults unless retryMax is set) and batches
	retryAttempts int
	retryMax      string
	sinkBatch     int
	sourceBatch   int
	partitions    int // default 6
}

type rig struct {
	t         testing.TB
	o         rigOpts
	dir       string // the hub's folder: config, mappings, data
	cfg       string // config path
	httpAddr  string
	kafkaAddr string
	hub       *proc
	watch     []*proc // processes whose death fails a wait
	// allowDeadLetters: a wait does not stop at the first dead letter
	allowDeadLetters bool
	// cliEnv is the environment of the hub commands a test runs (secrets
	// the config references)
	cliEnv []string
}

var configTmpl = template.Must(template.New("hub.yaml").Parse(`# written by the e2e tests
hub:
  data_dir: {{.Dir}}/data
  shutdown_timeout: 20s
{{- if .LeaseTTL}}
  lease_ttl: {{.LeaseTTL}}
{{- end}}
log:
  level: info
  format: text
http:
  addr: {{.HTTPAddr}}
api:
  tokens:
    - {name: e2e-operator, role: operator, token: e2e-operator-token}
    - {name: e2e-admin, role: admin, token: e2e-admin-token-0001}
kafka:
  topic_prefix: e2e
  partitions: {{.Partitions}}
{{- if .Brokers}}
  brokers: [{{.Brokers}}]
{{- else}}
  embedded:
    addr: {{.KafkaAddr}}
{{- end}}
state:
{{- if .StateDSN}}
  dsn: '{{.StateDSN}}'
{{- else}}
  dsn: sqlite:{{.Dir}}/data/hub.db
{{- end}}
connectors:
  crm:
    kind: sqlstore
    driver: {{.CRM.Driver}}
    dsn: '{{.CRM.DSN}}'
    poll_interval: 100ms
    entities:
      customer:
        table: customers
        capture: {{.Capture}}
        look_back: 2s
        batch_size: {{.SourceBatch}}
      order:
        table: orders
        capture: {{.Capture}}
        look_back: 2s
        batch_size: {{.SourceBatch}}
        lines: {table: order_lines, parent_key: order_id, key: line_no}
  erp:
    kind: sqlstore
    driver: {{.ERP.Driver}}
    dsn: '{{.ERP.DSN}}'
    entities:
      customer:
        table: erp_customers
        key: ext_ref
      order:
        table: erp_orders
        key: ext_ref
        delete: {mode: soft, column: status, value: CANCELLED}
        lines: {table: erp_order_lines, parent_key: order_ref, key: line_no}
{{- if .Mirror}}
  mirror:
    kind: sqlstore
    driver: {{.Mirror.Driver}}
    dsn: '{{.Mirror.DSN}}'
    entities:
      customer:
        table: erp_customers
        key: ext_ref
      order:
        table: erp_orders
        key: ext_ref
        delete: {mode: soft, column: status, value: CANCELLED}
        lines: {table: erp_order_lines, parent_key: order_ref, key: line_no}
{{- end}}
sources:
  crm-customers:
    connector: crm
    entity: customer
    mapping: mappings/crm-customer-in.yaml
    interval: 100ms
    batch_size: {{.SourceBatch}}
  crm-orders:
    connector: crm
    entity: order
    mapping: mappings/crm-order-in.yaml
    interval: 100ms
    batch_size: {{.SourceBatch}}
    refs: {customer: customer_id}
sinks:
  erp:
    connector: erp
    batch_size: {{.SinkBatch}}
{{- if .RetryMax}}
    retry: {max_attempts: {{.RetryAttempts}}, initial: 100ms, max: {{.RetryMax}}}
{{- end}}
    entities:
      customer: {mapping: mappings/erp-customer-out.yaml}
      order: {mapping: mappings/erp-order-out.yaml}
{{- if .Mirror}}
  mirror:
    connector: mirror
    batch_size: {{.SinkBatch}}
    entities:
      customer: {mapping: mappings/erp-customer-out.yaml}
      order: {mapping: mappings/erp-order-out.yaml}
{{- end}}
`))

type dbRef struct{ Driver, DSN string }

func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	if o.capture == "" {
		o.capture = "cursor"
	}
	if o.retryAttempts == 0 {
		o.retryAttempts = 8
	}
	if o.sinkBatch == 0 {
		o.sinkBatch = 500
	}
	if o.sourceBatch == 0 {
		o.sourceBatch = 500
	}
	if o.partitions == 0 {
		o.partitions = 6
	}
	r := &rig{t: t, o: o, dir: t.TempDir(), httpAddr: freeAddr(t)}
	if o.brokers == "" {
		r.kafkaAddr = freeAddr(t)
	} else {
		r.kafkaAddr = o.brokers
	}
	copyDir(t, "testdata/mappings", filepath.Join(r.dir, "mappings"))
	erpDSN := o.erp.dsn
	if o.erpDSN != "" {
		erpDSN = o.erpDSN
	}
	var b bytes.Buffer
	err := configTmpl.Execute(&b, map[string]any{
		"Dir": r.dir, "HTTPAddr": r.httpAddr, "KafkaAddr": r.kafkaAddr, "Brokers": o.brokers,
		"CRM": dbRef{o.crm.driver, o.crm.dsn}, "ERP": dbRef{o.erp.driver, erpDSN},
		"Capture": o.capture, "SourceBatch": o.sourceBatch, "SinkBatch": o.sinkBatch,
		"RetryAttempts": o.retryAttempts, "RetryMax": o.retryMax, "Partitions": o.partitions,
		"Mirror": mirrorRef(o.mirror), "StateDSN": o.stateDSN, "LeaseTTL": o.leaseTTL,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.cfg = filepath.Join(r.dir, "hub.yaml")
	if err := os.WriteFile(r.cfg, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func mirrorRef(d *database) *dbRef {
	if d == nil {
		return nil
	}
	return &dbRef{d.driver, d.dsn}
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatalf("copy %s to %s: %v", from, to, err)
	}
}

// start runs `hub run` and waits until /readyz answers 200.
func (r *rig) start() *proc {
	r.t.Helper()
	r.hub = startProc(r.t, "hub", r.dir, nil, "run", "-c", r.cfg)
	waitHTTP(r.t, r.hub, "http://"+r.httpAddr+"/readyz", 200, 60*time.Second)
	return r.hub
}

func (r *rig) watching() []*proc {
	w := append([]*proc(nil), r.watch...)
	if r.hub != nil {
		w = append(w, r.hub)
	}
	return w
}

// waitInStep waits until the ERP equals what exp says, record by record.
func (r *rig) waitInStep(what string, d time.Duration, exp func() expectation) {
	r.t.Helper()
	waitFor(r.t, what, d, 300*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters(what)
		diffs := diffERP(exp(), readERP(r.t, r.o.erp))
		return len(diffs) == 0, summarize(diffs)
	})
}

// waitCount waits until the ERP holds n orders (a cheap poll before a full
// comparison).
func (r *rig) waitCount(table string, n int, d time.Duration) {
	r.t.Helper()
	waitFor(r.t, "the ERP to hold "+table, d, 250*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("the ERP to hold " + table)
		got := r.o.erp.count(r.t, table)
		return got >= n, "has " + itoa(got) + " of " + itoa(n)
	})
}

// failOnDeadLetters stops a wait that cannot succeed: the hub's metrics
// count a dead letter.
func (r *rig) failOnDeadLetters(what string) {
	r.t.Helper()
	if r.allowDeadLetters || r.hub == nil || r.hub.exited() {
		return
	}
	n, err := scrapeSum(r.httpAddr, "hub_dead_letters_total")
	if err != nil || n == 0 {
		return
	}
	l := listDeadLetters(r.t, r.dir, r.cfg, "all")
	var first []string
	for i, d := range l.Items {
		if i == 5 {
			break
		}
		first = append(first, fmt.Sprintf("#%d %s/%s key=%s stage=%s kind=%s: %s", d.ID, d.Connector, d.Entity, d.Key, d.Stage, d.Kind, d.Error))
	}
	r.t.Fatalf("waiting for %s: the hub dead-lettered %d record(s) (hub_dead_letters_total %v), first:\n  %s\nhub output (tail):\n%s",
		what, l.Total, n, strings.Join(first, "\n  "), r.hub.tail(40))
}

// noDeadLetters fails when the dead-letter store holds anything.
func (r *rig) noDeadLetters() {
	r.t.Helper()
	l := listDeadLetters(r.t, r.dir, r.cfg, "all")
	if l.Total != 0 {
		r.t.Errorf("dead letters: %d, want none; first: %+v", l.Total, l.Items[0])
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
