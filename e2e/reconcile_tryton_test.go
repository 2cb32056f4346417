package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReconcileTryton compares a PostgreSQL CRM's orders with the sales a
// real Tryton holds (the sink leaves them in draft, so a clerk could edit
// or delete them): with the CRM's source paused, one difference of every
// class is seeded on either side, plus a total 0.01 off; the report
// counts each class exactly, the control totals match what each side
// holds, and after a repair run (Tryton made like the CRM) a run reports
// only what the policy may not repair, and none once that is removed.
func TestReconcileTryton(t *testing.T) {
	t.Parallel()
	erp := newTryton(t)
	crm := newPostgres(t)
	crm.execScript(t, crmSchema[postgres])
	crm.execScript(t, trytonCRMInvoices)
	tr := erp.rpc
	const nCust, nOrd = 5, 12
	cs, os := trytonOrders(nCust, nOrd)
	r := newTrytonRig(t, crm, erp)
	cfg, err := readFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = strings.Replace(cfg, "    retry_max_wait: 2s\n", "    retry_max_wait: 2s\n    sale_state: draft\n", 1)
	cfg += `reconcile:
  orders:
    entity: order
    left: crm
    right: erp
    right_mapping: mappings/tryton-sale-in.yaml
    key: order_no
    fields:
      total: tolerance 0.01
      currency: exact
      order_date: exact
    repair: left_wins
`
	writeFile(t, r.cfg, cfg)
	r.cliEnv = []string{"TRYTON_PASSWORD=admin"}
	var baseline []int64
	tr.must(t, &baseline, "model.party.party.search", []any{}, 0, nil, nil, tr.ctx())
	insertCustomers(t, crm, cs)
	r.start()
	waitFor(t, "the parties in Tryton", 2*time.Minute, 500*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("the parties in Tryton")
		n := len(trytonParties(t, tr, baseline))
		return n >= nCust, fmt.Sprintf("%d parties", n)
	})
	insertOrders(t, crm, os, 50)
	waitFor(t, "the sales in Tryton", 3*time.Minute, 500*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("the sales in Tryton")
		n := tr.count(t, "sale.sale", []any{"state", "=", "draft"})
		return n >= nOrd, fmt.Sprintf("%d draft sales", n)
	})
	if _, code, out := r.reconcile("orders"); code != 0 {
		t.Fatalf("in step: exit %d, want 0:\n%s", code, out)
	}

	out, errOut, err := runHubEnv(t, r.dir, []string{"HUB_API_TOKEN=e2e-operator-token", "TRYTON_PASSWORD=admin"}, "pause", "source", "crm-orders", "-c", r.cfg)
	if err != nil {
		t.Fatalf("pause: %v\n%s%s", err, out, errOut)
	}
	saleOf := func(orderNo string) int64 {
		rows := tr.rows(t, "sale.sale", []any{[]any{"description", "=", "Order " + orderNo}}, "id")
		if len(rows) != 1 {
			t.Fatalf("sales of %s: %d", orderNo, len(rows))
		}
		return idOf(rows[0]["id"])
	}
	// Tryton: a sale's date changed (field_mismatch), a sale deleted (missing_right).
	tr.must(t, nil, "model.sale.sale.write", []int64{saleOf("SO-000003")},
		map[string]any{"sale_date": map[string]any{"__class__": "date", "year": 2020, "month": 1, "day": 1}}, tr.ctx())
	tr.must(t, nil, "model.sale.sale.delete", []int64{saleOf("SO-000008")}, tr.ctx())
	// The CRM: a total 0.01 off (not a difference), an order deleted
	// (missing_left), an order Tryton never saw (unmatched) and one numbered
	// like SO-000006 (duplicate_key).
	crm.mustExec(t, "UPDATE orders SET total = total + 0.01 WHERE id = ?", 4)
	crm.mustExec(t, "DELETE FROM order_lines WHERE order_id = ?", 5)
	crm.mustExec(t, "DELETE FROM orders WHERE id = ?", 5)
	crm.mustExec(t, "INSERT INTO orders (id, customer_id, order_no, order_date, currency, total) VALUES (?, 1, ?, ?, 'EUR', 10)", 999, "SO-999999", os[0].OrderDate)
	crm.mustExec(t, "INSERT INTO orders (id, customer_id, order_no, order_date, currency, total) VALUES (?, 1, ?, ?, 'EUR', 10)", 998, "SO-000006", os[0].OrderDate)

	id, code, outRun := r.reconcile("orders", "--report-only")
	var run reconRun
	r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
	want := "duplicate_key=1 field_mismatch=1 missing_left=1 missing_right=1 unmatched=1"
	if got := run.classes(); code != 1 || got != want {
		t.Fatalf("seeded: exit %d, classes %q, want 1 and %q:\n%s", code, got, want, outRun)
	}
	var page struct {
		Differences []reconDiff `json:"differences"`
	}
	r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences?class=field_mismatch", &page)
	if len(page.Differences) != 1 || page.Differences[0].Key != "SO-000003" || len(page.Differences[0].Detail.Fields) != 1 ||
		page.Differences[0].Detail.Fields[0].Field != "order_date" || page.Differences[0].Detail.Fields[0].Right != "2020-01-01" {
		t.Errorf("field mismatch: %+v", page.Differences)
	}
	// Tryton is no SQL table: method auto (the default) streams.
	if run.Summary.Method != "stream" {
		t.Errorf("method %q, want stream", run.Summary.Method)
	}
	tot := run.Summary.Totals
	// The CRM holds 12 - 1 + 2 orders; Tryton 12 - 1 sales; 10 pairs.
	if tot.Left.Count != nOrd+1 || tot.Right.Count != nOrd-1 || tot.Matched != nOrd-2 {
		t.Errorf("counts: left %d right %d matched %d, want %d %d %d", tot.Left.Count, tot.Right.Count, tot.Matched, nOrd+1, nOrd-1, nOrd-2)
	}
	n, sums := sideTotals(t, crm, "orders")
	if n != tot.Left.Count || fmt.Sprint(sums) != fmt.Sprint(tot.Left.Amounts) {
		t.Errorf("CRM control totals %v, the database holds %v", tot.Left.Amounts, sums)
	}
	var trytonSum = map[string]string{}
	var total = dec(0.0)
	for _, s := range tr.rows(t, "sale.sale", []any{}, "total_amount") {
		total = total.Add(dec(s["total_amount"]))
	}
	trytonSum["EUR"] = total.StringFixed(2)
	if fmt.Sprint(trytonSum) != fmt.Sprint(tot.Right.Amounts) {
		t.Errorf("Tryton control totals %v, Tryton holds %v", tot.Right.Amounts, trytonSum)
	}

	id, code, outRun = r.reconcile("orders")
	run = reconRun{}
	r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
	if code != 1 || run.Summary.Repairs != 2 || !run.Summary.Repaired {
		t.Fatalf("repair run: exit %d, repairs %d (written %v), want 1, 2, true:\n%s", code, run.Summary.Repairs, run.Summary.Repaired, outRun)
	}
	id, code, outRun = r.reconcile("orders")
	run = reconRun{}
	r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
	if got, want := run.classes(), "duplicate_key=1 missing_left=1 unmatched=1"; code != 1 || got != want {
		t.Fatalf("after the repair: exit %d, classes %q, want 1 and %q:\n%s\n%s", code, got, want, outRun,
			r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences", nil))
	}
	crm.mustExec(t, "DELETE FROM orders WHERE id IN (998, 999)")
	tr.must(t, nil, "model.sale.sale.delete", []int64{saleOf("SO-000005")}, tr.ctx())
	if _, code, outRun := r.reconcile("orders"); code != 0 {
		t.Fatalf("after the clean-up: exit %d, want 0:\n%s", code, outRun)
	}
	r.noDeadLetters()
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

func writeFile(t testing.TB, p, body string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
