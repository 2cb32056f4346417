package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/internal/zohotest"
)

// TestZohoReconcileTryton reconciles Zoho's Sales_Orders with the sales
// the hub wrote to a real Tryton (job crm-erp-orders of the SaaS rig; the
// sink leaves the sales in draft, so a clerk can still edit or delete
// them). After the sync, Tryton is changed by hand: one sale's total
// beyond the 0.01 tolerance, one's by exactly 0.01 and one's comment in
// case only (neither may be reported), one sale deleted and one created
// that Zoho never had. The report names exactly those keys and classes,
// with control totals equal to what Zoho and Tryton hold; a left_wins run
// (Zoho wins) repairs the total and re-creates the deleted sale; the next
// run reports only the sale Tryton alone has (no hub record to repair
// through), and none once a person removed it.
func TestZohoReconcileTryton(t *testing.T) {
	t.Parallel()
	erp := newTryton(t)
	tr := erp.rpc
	const credits = 5000
	fake := zohotest.New(zohotest.Options{ClientID: zohoClient, ClientSecret: zohoSecret, RefreshToken: zohoRefresh,
		Credits: credits, Concurrency: 5})
	t.Cleanup(fake.Close)
	const nCust, nOrd = 4, 12
	want, keys := zohoCRM(t, fake, nCust, nOrd)
	fake.Update("Sales_Orders", keys[6], map[string]any{"Description": "Deliver before noon"})
	kind := zohoKind(fake, credits)
	kind.saleState = "draft"
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
	// Beyond the tolerance: one more of SO-000003's first line.
	beyond := saleOf("SO-000003")
	l := linesOf(beyond)[0]
	tr.must(t, nil, "model.sale.line.write", []int64{idOf(l["id"])}, map[string]any{"quantity": l["quantity"].(float64) + 1}, tr.ctx())
	wantBeyond := dec(beyond["total_amount"]).Add(dec(l["unit_price"]))
	// Within it: a line of quantity 1 of SO-000004 costs 0.01 more.
	var within map[string]any
	for _, l := range linesOf(saleOf("SO-000004")) {
		if l["quantity"].(float64) == 1 {
			within = l
		}
	}
	if within == nil {
		t.Fatal("SO-000004 has no line of quantity 1")
	}
	tr.must(t, nil, "model.sale.line.write", []int64{idOf(within["id"])},
		map[string]any{"unit_price": tdec(dec(within["unit_price"]).Add(decimal.New(1, -2)).StringFixed(4))}, tr.ctx())
	// Case only, on a case_insensitive field: SO-000007's comment.
	cased := saleOf("SO-000007")
	if cased["comment"] != "Deliver before noon" {
		t.Fatalf("SO-000007's comment is %v, want Zoho's Description", cased["comment"])
	}
	tr.must(t, nil, "model.sale.sale.write", []int64{idOf(cased["id"])}, map[string]any{"comment": "DELIVER BEFORE NOON"}, tr.ctx())
	// Missing in Tryton: SO-000008 deleted.
	tr.must(t, nil, "model.sale.sale.delete", []int64{idOf(saleOf("SO-000008")["id"])}, tr.ctx())
	// Only in Tryton: a sale keyed like no Zoho order.
	var extra []int64
	var sku1 []int64
	tr.must(t, &sku1, "model.product.product.search", []any{[]any{"code", "=", "SKU-1"}}, 0, 1, nil, tr.ctx())
	tr.must(t, &extra, "model.sale.sale.create", []map[string]any{{
		"party": beyond["party"], "currency": beyond["currency"], "company": tr.company, "description": "Order SO-900001",
		"lines": []any{[]any{"create", []map[string]any{{"type": "line", "product": sku1[0],
			"quantity": 2, "unit": l["unit"], "unit_price": tdec("10.00")}}}}}}, tr.ctx())

	id, code, out := r.reconcile(job, "--report-only")
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
		fmt.Sprintf("field_mismatch SO-000003 total=%s/%s", want[keys[2]].total.StringFixed(2), wantBeyond.StringFixed(2)),
		"missing_right SO-000008",
		"unmatched SO-900001",
	}
	if strings.Join(got, "\n") != strings.Join(wantDiffs, "\n") {
		t.Errorf("differences:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantDiffs, "\n"))
	}
	// Control totals: Zoho's 12 orders; Tryton's 12 - 1 + 1 sales; 11 pairs.
	tot := run.Summary.Totals
	if tot.Left.Count != nOrd || tot.Right.Count != nOrd || tot.Matched != nOrd-1 {
		t.Errorf("counts: left %d right %d matched %d, want %d %d %d", tot.Left.Count, tot.Right.Count, tot.Matched, nOrd, nOrd, nOrd-1)
	}
	zohoSum := decimal.Zero
	for _, id := range fake.Records("Sales_Orders") {
		so, _ := fake.Get("Sales_Orders", id)
		zohoSum = zohoSum.Add(decimal.RequireFromString(fmt.Sprint(so["Grand_Total"])))
	}
	trytonSum := decimal.Zero
	for _, s := range tr.rows(t, "sale.sale", []any{}, "total_amount") {
		trytonSum = trytonSum.Add(dec(s["total_amount"]))
	}
	if got, want := fmt.Sprint(tot.Left.Amounts), fmt.Sprint(map[string]string{"EUR": zohoSum.StringFixed(2)}); got != want {
		t.Errorf("Zoho's control totals %s, Zoho holds %s", got, want)
	}
	if got, want := fmt.Sprint(tot.Right.Amounts), fmt.Sprint(map[string]string{"EUR": trytonSum.StringFixed(2)}); got != want {
		t.Errorf("Tryton's control totals %s, Tryton holds %s", got, want)
	}

	// Zoho wins: the total is written back, the deleted sale re-created.
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
	for _, c := range []struct {
		no, key string
	}{{"SO-000003", keys[2]}, {"SO-000008", keys[7]}} {
		s := saleOf(c.no)
		if !dec(s["total_amount"]).Equal(want[c.key].total) || s["reference"] != "zoho:"+c.key {
			t.Errorf("%s after the repair: %v, total %s; want zoho:%s, %s", c.no, s["reference"], dec(s["total_amount"]), c.key, want[c.key].total)
		}
	}
	if s := saleOf("SO-000007"); s["comment"] != "DELIVER BEFORE NOON" {
		t.Errorf("SO-000007's comment is %v: a difference in case only was repaired", s["comment"])
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
