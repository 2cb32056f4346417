package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// scheduleConfig is a hub with two PostgreSQL connectors and one job that
// compares them every 2 seconds, report only. The ERP side reads a view
// that takes 5 seconds to answer (pg_sleep), so each run takes 5.
const scheduleConfig = `hub:
  data_dir: %[1]s/data
  node_id: %[2]s
  lease_ttl: 3s
  check_interval: 0s
log: {level: info, format: text}
http: {addr: %[3]s}
api:
  tokens:
    - {name: e2e-operator, role: operator, token: e2e-operator-token}
kafka:
  topic_prefix: e2e
  embedded: {addr: %[4]s}
state: {dsn: '%[5]s'}
connectors:
  crm:
    kind: sqlstore
    driver: pgx
    dsn: '%[6]s'
    entities:
      order: {table: orders}
  erp:
    kind: sqlstore
    driver: pgx
    dsn: '%[7]s'
    entities:
      order: {table: erp_orders_slow, key: ext_ref}
reconcile:
  orders:
    entity: order
    left: crm
    right: erp
    left_mapping: left.yaml
    right_mapping: right.yaml
    key: order_no
    fields: {total: tolerance 0.01}
    schedule: "*/2 * * * * *"
`

const leftMapping = `name: left
system: crm
entity: order
direction: in
fields:
  external_id: {from: id, type: string, required: true}
  order_no: {from: order_no, required: true}
  currency: {from: currency, transform: [upper], required: true}
  total: {from: total, type: decimal, required: true}
`

const rightMapping = `name: right
system: erp
entity: order
direction: in
fields:
  external_id: {from: ext_ref, type: string, required: true}
  order_no: {from: order_no, required: true}
  currency: {from: currency, transform: [upper], required: true}
  total: {from: total, type: decimal, required: true}
`

type runsAnswer struct {
	Runs []struct {
		ID         int64      `json:"id"`
		Status     string     `json:"status"`
		StartedAt  time.Time  `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at"`
	} `json:"runs"`
}

// TestReconcileScheduledOnce runs two hubs that share a PostgreSQL state
// store, each with the same job scheduled every 2 seconds whose run takes
// 5: the job runs on one node at a time, a run never overlaps the one
// before, and the scheduled times that find a run in progress are skipped
// and counted.
func TestReconcileScheduledOnce(t *testing.T) {
	t.Parallel()
	crm, erp, state := newPostgres(t), newPostgres(t), newPostgres(t)
	crm.execScript(t, crmSchema[postgres])
	erp.execScript(t, erpSchema[postgres])
	erp.execScript(t, `CREATE VIEW erp_orders_slow AS SELECT o.* FROM erp_orders o CROSS JOIN (SELECT pg_sleep(5)) AS s`)
	crm.mustExec(t, "INSERT INTO customers (id, name) VALUES (1, 'A')")
	erp.mustExec(t, "INSERT INTO erp_customers (ext_ref, name, updated_at) VALUES ('c1', 'A', now())")
	for i := 1; i <= 5; i++ {
		crm.mustExec(t, "INSERT INTO orders (id, customer_id, order_no, order_date, total) VALUES (?, 1, ?, '2026-12-01', 10)", i, fmt.Sprintf("SO-%d", i))
		erp.mustExec(t, "INSERT INTO erp_orders (ext_ref, customer_ref, order_no, order_date, currency, total, status, updated_at) VALUES (?, 'c1', ?, '2026-12-01', 'EUR', 10, 'OPEN', now())",
			fmt.Sprintf("e%d", i), fmt.Sprintf("SO-%d", i))
	}
	type node struct {
		http string
		hub  *proc
	}
	var nodes []node
	for _, name := range []string{"a", "b"} {
		dir := t.TempDir()
		for f, body := range map[string]string{"left.yaml": leftMapping, "right.yaml": rightMapping,
			"hub.yaml": fmt.Sprintf(scheduleConfig, dir, name, "%s", "%s", state.dsn, crm.dsn, erp.dsn)} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		httpAddr := freeAddr(t)
		cfg := filepath.Join(dir, "hub.yaml")
		b, _ := os.ReadFile(cfg)
		body := strings.Replace(strings.Replace(string(b), "addr: %s}", "addr: "+httpAddr+"}", 1), "addr: %s}", "addr: "+freeAddr(t)+"}", 1)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		p := startProc(t, "hub "+name, dir, nil, "run", "-c", cfg)
		waitHTTP(t, p, "http://"+httpAddr+"/readyz", 200, time.Minute)
		nodes = append(nodes, node{httpAddr, p})
	}
	watch := []*proc{nodes[0].hub, nodes[1].hub}
	skipped := func() float64 {
		var n float64
		for _, nd := range nodes {
			n += metricSum(t, nd.http, "hub_reconcile_skipped_total", `reason="overlap"`)
		}
		return n
	}
	// Two runs finished (about 12 s): every 2 s a time came, at most one
	// run at a time took it.
	var runs runsAnswer
	rg := &rig{t: t, httpAddr: nodes[0].http}
	waitFor(t, "two finished runs", 90*time.Second, 500*time.Millisecond, watch, func() (bool, string) {
		runs = runsAnswer{}
		rg.apiGet("/api/v1/reconciliations?job=orders", &runs)
		done := 0
		for _, r := range runs.Runs {
			if r.FinishedAt != nil {
				done++
			}
		}
		return done >= 2, fmt.Sprintf("%d runs, %d finished", len(runs.Runs), done)
	})
	sort.Slice(runs.Runs, func(i, j int) bool { return runs.Runs[i].ID < runs.Runs[j].ID })
	finished := 0
	for i, r := range runs.Runs {
		if r.FinishedAt != nil {
			finished++
			if r.Status != "ok" {
				t.Errorf("run %d: status %s, want ok", r.ID, r.Status)
			}
			if d := r.FinishedAt.Sub(r.StartedAt); d < 5*time.Second {
				t.Errorf("run %d took %s: the slow view should take 5s", r.ID, d)
			}
		}
		if i > 0 {
			prev := runs.Runs[i-1]
			if prev.FinishedAt == nil || r.StartedAt.Before(*prev.FinishedAt) {
				t.Errorf("run %d started at %s, before run %d finished (%v): overlapped", r.ID, r.StartedAt, prev.ID, prev.FinishedAt)
			}
		}
	}
	var counted float64
	for _, nd := range nodes {
		counted += metricSum(t, nd.http, "hub_reconcile_runs_total", `job="orders"`)
	}
	if int(counted) != finished {
		t.Errorf("the nodes counted %v runs, the state store holds %d finished", counted, finished)
	}
	if n := skipped(); n < 1 {
		t.Errorf("hub_reconcile_skipped_total{reason=overlap} = %v: the times that came during a run should be skipped and counted", n)
	}
	t.Logf("%d runs, %v scheduled times skipped", len(runs.Runs), skipped())
	for _, nd := range nodes {
		nd.hub.stop(t)
	}
}
