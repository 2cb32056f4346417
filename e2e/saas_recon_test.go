package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/internal/fxiaoketest"
	"github.com/crmhub/hub/internal/zohotest"
)

// TestZohoReconcileTryton reconciles Zoho's Sales_Orders with the sales
// the hub wrote to a real Tryton (job crm-erp-orders of the SaaS rig; the
// sink leaves the sales in draft, so a clerk can still edit or delete
// them): see checkSaaSReconcile.
func TestZohoReconcileTryton(t *testing.T) {
	t.Parallel()
	erp := newTryton(t)
	const credits = 5000
	fake := zohotest.New(zohotest.Options{ClientID: zohoClient, ClientSecret: zohoSecret, RefreshToken: zohoRefresh,
		Credits: credits, Concurrency: 5})
	t.Cleanup(fake.Close)
	const nCust, nOrd = 4, 12
	want, keys := zohoCRM(t, fake, nCust, nOrd)
	fake.Update("Sales_Orders", keys[6], map[string]any{"Description": "Deliver before noon"})
	kind := zohoKind(fake, credits)
	kind.saleState = "draft"
	c := saasRecon{name: "Zoho", prefix: "zoho:", currency: "EUR", want: want, keys: keys, cased: "Deliver before noon"}
	for i := range keys {
		c.numbers = append(c.numbers, fmt.Sprintf("SO-%06d", i+1))
	}
	c.crmTotal = func() decimal.Decimal {
		sum := decimal.Zero
		for _, id := range fake.Records("Sales_Orders") {
			so, _ := fake.Get("Sales_Orders", id)
			sum = sum.Add(decimal.RequireFromString(fmt.Sprint(so["Grand_Total"])))
		}
		return sum
	}
	checkSaaSReconcile(t, erp, kind, c)
}

// TestFxiaokeReconcileTryton is TestZohoReconcileTryton for 纷享销客's
// SalesOrderObj and CNY sales.
func TestFxiaokeReconcileTryton(t *testing.T) {
	t.Parallel()
	erp := newTryton(t)
	trytonCNY(t, erp.rpc)
	fake := fxiaoketest.New(fxiaoketest.Options{AppID: fxApp, AppSecret: fxSecret, PermanentCode: fxPermanent, OpenUserID: fxUser})
	t.Cleanup(fake.Close)
	const nCust, nOrd = 4, 12
	want, keys := fxCRM(t, fake, nCust, nOrd)
	fake.Update("SalesOrderObj", keys[6], map[string]any{"remark": "订单 7 urgent"})
	kind := fxKind(fake)
	kind.saleState = "draft"
	c := saasRecon{name: "Fxiaoke", prefix: "fx:", currency: "CNY", want: want, keys: keys, cased: "订单 7 urgent"}
	for _, id := range keys {
		so, _ := fake.Get("SalesOrderObj", id)
		c.numbers = append(c.numbers, fmt.Sprint(so["name"]))
	}
	c.crmTotal = func() decimal.Decimal {
		sum := decimal.Zero
		for _, id := range fake.Records("SalesOrderObj") {
			so, _ := fake.Get("SalesOrderObj", id)
			sum = sum.Add(decimal.RequireFromString(fmt.Sprint(so["order_amount"])))
		}
		return sum
	}
	checkSaaSReconcile(t, erp, kind, c)
}

// saasRecon is what checkSaaSReconcile needs to know of a SaaS CRM.
type saasRecon struct {
	name             string             // the CRM's
	prefix, currency string             // of the orders' external ids; of their amounts
	want             map[string]crmSale // the CRM's orders by key
	keys             []string           // their keys in creation order
	numbers          []string           // their order numbers (the job's key), in that order
	cased            string             // the 7th order's notes, with letters
	crmTotal         func() decimal.Decimal
}

// checkSaaSReconcile runs the SaaS rig with the sink leaving sales in
// draft and, after the sync, changes Tryton by hand: one sale's total
// beyond the 0.01 tolerance, one's by exactly 0.01 and one's comment in
// case only (neither may be reported), one sale deleted and one created
// that the CRM never had. The report of job crm-erp-orders names exactly
// those keys and classes, with control totals equal to what the CRM and
// Tryton hold; a left_wins run (the CRM wins) repairs the total and
// re-creates the deleted sale; the next run reports only the sale Tryton
// alone has (no hub record to repair through), and none once a person
// removed it.
func checkSaaSReconcile(t *testing.T, erp *trytonServer, kind saasKind, c saasRecon) {
	t.Helper()
	tr := erp.rpc
	nOrd := len(c.keys)
	want, keys := c.want, c.keys
	r := newSaaSRig(t, erp, kind)
	r.cliEnv = append([]string{"TRYTON_PASSWORD=admin"}, kind.env...)
	r.start()
	waitFor(t, "the sales in Tryton", 2*time.Minute, 500*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("the sales in Tryton")
		n := tr.count(t, "sale.sale", []any{"state", "=", "draft"})
		return n >= nOrd, fmt.Sprintf("%d draft sales", n)
	})
	const job = "crm-erp-orders"
	if _, code, out := r.reconcile(job); code != 0 {
		t.Fatalf("in step: exit %d, want 0:\n%s", code, out)
	}

	saleOf := func(orderNo string) map[string]any {
		rows := tr.rows(t, "sale.sale", []any{[]any{"description", "=", "Order " + orderNo}},
			"reference", "total_amount", "comment", "party", "currency", "lines")
		if len(rows) != 1 {
			t.Fatalf("sales of %s: %d", orderNo, len(rows))
		}
		return rows[0]
	}
	linesOf := func(sale map[string]any) []map[string]any {
		return tr.rows(t, "sale.line", []any{[]any{"sale", "=", idOf(sale["id"])}}, "quantity", "unit_price", "unit")
	}
	// Beyond the tolerance: one more of the 3rd order's first line.
	beyond := saleOf(c.numbers[2])
	l := linesOf(beyond)[0]
	tr.must(t, nil, "model.sale.line.write", []int64{idOf(l["id"])}, map[string]any{"quantity": l["quantity"].(float64) + 1}, tr.ctx())
	wantBeyond := dec(beyond["total_amount"]).Add(dec(l["unit_price"]))
	// Within it: a line of quantity 1 of the 4th order costs 0.01 more.
	var within map[string]any
	for _, l := range linesOf(saleOf(c.numbers[3])) {
		if l["quantity"].(float64) == 1 {
			within = l
		}
	}
	if within == nil {
		t.Fatalf("%s has no line of quantity 1", c.numbers[3])
	}
	tr.must(t, nil, "model.sale.line.write", []int64{idOf(within["id"])},
		map[string]any{"unit_price": tdec(dec(within["unit_price"]).Add(decimal.New(1, -2)).StringFixed(4))}, tr.ctx())
	// Case only, on a case_insensitive field: the 7th order's comment.
	cased := saleOf(c.numbers[6])
	if cased["comment"] != c.cased {
		t.Fatalf("%s's comment is %v, want the CRM's %q", c.numbers[6], cased["comment"], c.cased)
	}
	tr.must(t, nil, "model.sale.sale.write", []int64{idOf(cased["id"])}, map[string]any{"comment": strings.ToUpper(c.cased)}, tr.ctx())
	// Missing in Tryton: the 8th order's sale deleted.
	tr.must(t, nil, "model.sale.sale.delete", []int64{idOf(saleOf(c.numbers[7])["id"])}, tr.ctx())
	// Only in Tryton: a sale numbered like no CRM order.
	var extra []int64
	var sku1 []int64
	tr.must(t, &sku1, "model.product.product.search", []any{[]any{"code", "=", "SKU-1"}}, 0, 1, nil, tr.ctx())
	tr.must(t, &extra, "model.sale.sale.create", []map[string]any{{
		"party": beyond["party"], "currency": beyond["currency"], "company": tr.company, "description": "Order SO-900001",
		"lines": []any{[]any{"create", []map[string]any{{"type": "line", "product": sku1[0],
			"quantity": 2, "unit": l["unit"], "unit_price": tdec("10.00")}}}}}}, tr.ctx())

	t0 := time.Now()
	id, code, out := r.reconcile(job, "--report-only")
	t.Logf("MEASURE hub reconcile run of %d %s orders with %d Tryton sales: %s", nOrd, c.name, nOrd, time.Since(t0).Round(time.Millisecond))
	var run reconRun
	r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
	if got, want := run.classes(), "field_mismatch=1 missing_right=1 unmatched=1"; code != 1 || got != want {
		t.Fatalf("seeded: exit %d, classes %q, want 1 and %q:\n%s\n%s", code, got, want, out,
			r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences", nil))
	}
	var page struct {
		Differences []reconDiff `json:"differences"`
	}
	r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences", &page)
	var got []string
	for _, d := range page.Differences {
		s := d.Class + " " + d.Key
		for _, f := range d.Detail.Fields {
			s += fmt.Sprintf(" %s=%s/%s", f.Field, f.Left, f.Right)
		}
		got = append(got, s)
	}
	sort.Strings(got)
	wantDiffs := []string{
		fmt.Sprintf("field_mismatch %s total=%s/%s", c.numbers[2], want[keys[2]].total.StringFixed(2), wantBeyond.StringFixed(2)),
		"missing_right " + c.numbers[7],
		"unmatched SO-900001",
	}
	sort.Strings(wantDiffs)
	if strings.Join(got, "\n") != strings.Join(wantDiffs, "\n") {
		t.Errorf("differences:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantDiffs, "\n"))
	}
	// Control totals: the CRM's 12 orders; Tryton's 12 - 1 + 1 sales; 11 pairs.
	tot := run.Summary.Totals
	if n := int64(nOrd); tot.Left.Count != n || tot.Right.Count != n || tot.Matched != n-1 {
		t.Errorf("counts: left %d right %d matched %d, want %d %d %d", tot.Left.Count, tot.Right.Count, tot.Matched, nOrd, nOrd, nOrd-1)
	}
	trytonSum := decimal.Zero
	for _, s := range tr.rows(t, "sale.sale", []any{}, "total_amount") {
		trytonSum = trytonSum.Add(dec(s["total_amount"]))
	}
	if got, want := fmt.Sprint(tot.Left.Amounts), fmt.Sprint(map[string]string{c.currency: c.crmTotal().StringFixed(2)}); got != want {
		t.Errorf("the CRM's control totals %s, the CRM holds %s", got, want)
	}
	if got, want := fmt.Sprint(tot.Right.Amounts), fmt.Sprint(map[string]string{c.currency: trytonSum.StringFixed(2)}); got != want {
		t.Errorf("Tryton's control totals %s, Tryton holds %s", got, want)
	}

	// The CRM wins: the total is written back, the deleted sale re-created.
	id, code, out = r.reconcile(job)
	run = reconRun{}
	r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
	if code != 1 || run.Summary.Repairs != 2 || !run.Summary.Repaired {
		t.Fatalf("repair run: exit %d, repairs %d (written %v), want 1, 2, true:\n%s", code, run.Summary.Repairs, run.Summary.Repaired, out)
	}
	id, code, out = r.reconcile(job)
	run = reconRun{}
	r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
	if got, want := run.classes(), "unmatched=1"; code != 1 || got != want {
		t.Fatalf("after the repair: exit %d, classes %q, want 1 and %q:\n%s\n%s", code, got, want, out,
			r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences", nil))
	}
	for _, i := range []int{2, 7} {
		s := saleOf(c.numbers[i])
		if !dec(s["total_amount"]).Equal(want[keys[i]].total) || s["reference"] != c.prefix+keys[i] {
			t.Errorf("%s after the repair: %v, total %s; want %s%s, %s", c.numbers[i], s["reference"], dec(s["total_amount"]), c.prefix, keys[i], want[keys[i]].total)
		}
	}
	if s := saleOf(c.numbers[6]); s["comment"] != strings.ToUpper(c.cased) {
		t.Errorf("%s's comment is %v: a difference in case only was repaired", c.numbers[6], s["comment"])
	}
	// The sale only Tryton has is a person's call: removed by hand.
	tr.must(t, nil, "model.sale.sale.delete", extra, tr.ctx())
	if _, code, out := r.reconcile(job); code != 0 {
		t.Fatalf("after the clean-up: exit %d, want 0:\n%s", code, out)
	}
	if n := tr.count(t, "sale.sale"); n != nOrd {
		t.Errorf("Tryton has %d sales, want %d", n, nOrd)
	}
	r.noDeadLetters()
}

// checkReconcileAgrees runs job crm-erp-orders once the CRM's n orders
// are confirmed sales in Tryton: exit 0, n records a side, n pairs.
func checkReconcileAgrees(t *testing.T, r *saasRig, name string, n int64) {
	t.Helper()
	r.cliEnv = append([]string{"TRYTON_PASSWORD=admin"}, r.kind.env...)
	t0 := time.Now()
	id, code, out := r.reconcile("crm-erp-orders")
	t.Logf("MEASURE hub reconcile run of %d %s orders with %d processing Tryton sales: %s", n, name, n, time.Since(t0).Round(time.Millisecond))
	var run reconRun
	r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
	tot := run.Summary.Totals
	if code != 0 || tot.Left.Count != n || tot.Right.Count != n || tot.Matched != n {
		t.Errorf("reconcile: exit %d, left %d right %d matched %d, want 0 and %d each:\n%s", code, tot.Left.Count, tot.Right.Count, tot.Matched, n, out)
	}
}

// checkAmendRepaired amends a confirmed sale in Tryton by hand (one more
// of its first line, through sale_amendment, as a clerk would): job
// crm-erp-orders reports its total; a left_wins run amends it back to the
// CRM's order; the next run agrees.
func checkAmendRepaired(t *testing.T, r *saasRig, orderNo string, total decimal.Decimal) {
	t.Helper()
	tr := r.erp.rpc
	sales := tr.rows(t, "sale.sale", []any{[]any{"description", "=", "Order " + orderNo}}, "state", "total_amount")
	if len(sales) != 1 || sales[0]["state"] != "processing" || !dec(sales[0]["total_amount"]).Equal(total) {
		t.Fatalf("sales of %s: %v, want one processing of %s", orderNo, sales, total)
	}
	sale := idOf(sales[0]["id"])
	l := tr.rows(t, "sale.line", []any{[]any{"sale", "=", sale}}, "product", "quantity", "unit", "unit_price", "description")[0]
	var ids []int64
	tr.must(t, &ids, "model.sale.amendment.create", []map[string]any{{"sale": sale, "description": "by hand",
		"lines": []any{[]any{"create", []map[string]any{{"action": "line", "line": idOf(l["id"]), "product": l["product"],
			"quantity": l["quantity"].(float64) + 1, "unit": l["unit"], "unit_price": tdec(dec(l["unit_price"]).String()),
			"description": l["description"]}}}}}}, tr.ctx())
	tr.must(t, nil, "model.sale.amendment.validate_amendment", ids, tr.ctx())
	amended := total.Add(dec(l["unit_price"]))
	id, code, out := r.reconcile("crm-erp-orders", "--report-only")
	var page struct {
		Differences []reconDiff `json:"differences"`
	}
	r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences", &page)
	d := page.Differences
	if code != 1 || len(d) != 1 || d[0].Class != "field_mismatch" || d[0].Key != orderNo || len(d[0].Detail.Fields) != 1 ||
		d[0].Detail.Fields[0].Field != "total" || d[0].Detail.Fields[0].Right != amended.StringFixed(2) {
		t.Fatalf("amended %s to %s: exit %d, differences %+v:\n%s", orderNo, amended.StringFixed(2), code, d, out)
	}
	var run reconRun
	id, code, out = r.reconcile("crm-erp-orders")
	r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
	if code != 1 || run.Summary.Repairs != 1 || !run.Summary.Repaired {
		t.Fatalf("repair run: exit %d, repairs %d (written %v), want 1, 1, true:\n%s", code, run.Summary.Repairs, run.Summary.Repaired, out)
	}
	if _, code, out = r.reconcile("crm-erp-orders"); code != 0 {
		t.Fatalf("after the repair: exit %d, want 0:\n%s", code, out)
	}
	if got := dec(tr.rows(t, "sale.sale", []any{[]any{"id", "=", sale}}, "total_amount")[0]["total_amount"]); !got.Equal(total) {
		t.Errorf("%s after the repair: total %s, want %s", orderNo, got, total)
	}
}
