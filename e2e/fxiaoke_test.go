package e2e

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/internal/fxiaoketest"
)

const (
	fxApp       = "FSAID_E2E0001"
	fxSecret    = "e2e-fxiaoke-app-secret"
	fxPermanent = "E2E-PERMANENT-CODE"
	fxUser      = "FSUID_E2E0001"
)

// trytonCNY gives the test's Tryton the yuan, with a rate against the
// company's euro: the sales of a Chinese CRM are in CNY.
func trytonCNY(t testing.TB, tr *trytonRPC) {
	t.Helper()
	day := map[string]any{"__class__": "date", "year": 2020, "month": 1, "day": 1}
	rate := func(r string) []any {
		return []any{[]any{"create", []any{map[string]any{"date": day, "rate": tdec(r)}}}}
	}
	var eur []int64
	tr.must(t, &eur, "model.currency.currency.search", []any{[]any{"code", "=", "EUR"}}, 0, nil, nil, tr.ctx())
	tr.must(t, nil, "model.currency.currency.write", eur, map[string]any{"rates": rate("1")}, tr.ctx())
	tr.must(t, nil, "model.currency.currency.create", []any{map[string]any{"name": "Yuan Renminbi", "code": "CNY", "symbol": "¥",
		"rounding": tdec("0.01"), "digits": 2, "rates": rate("7.8")}}, tr.ctx())
}

// fxCRM seeds a stand-in Fxiaoke with the template's products (SKU-1..5),
// nCust accounts and nOrd sales orders of them with their lines, and
// returns the orders as Tryton must show them, by _id, in creation order.
func fxCRM(t *testing.T, fake *fxiaoketest.Server, nCust, nOrd int) (map[string]crmSale, []string) {
	t.Helper()
	products := map[string]string{}
	for i := 1; i <= 5; i++ {
		code := fmt.Sprintf("SKU-%d", i)
		products[code] = fake.Put("ProductObj", map[string]any{"name": "产品 " + code, "product_code": code})
	}
	cities := []string{"上海", "杭州", "深圳", "北京", "成都"}
	var accounts, numbers []string
	for i := 1; i <= nCust; i++ {
		no := fmt.Sprintf("KH-%04d", i)
		accounts = append(accounts, fake.Put("AccountObj", map[string]any{"name": fmt.Sprintf("%s第%d贸易有限公司", cities[i%len(cities)], i),
			"account_no": no, "tel": fmt.Sprintf("021-6288 %04d", i), "mobile": fmt.Sprintf("1391234%04d", i),
			"address": fmt.Sprintf("人民路 %d 号", i), "city": cities[i%len(cities)]}))
		numbers = append(numbers, no)
	}
	want := map[string]crmSale{}
	var keys []string
	for j := 1; j <= nOrd; j++ {
		c := (j * 7) % nCust
		var lines []any
		total := decimal.Zero
		for k := 1; k <= 1+j%3; k++ {
			qty := 1 + (j+k)%5
			price := decimal.New(int64(500+(j*37+k*11)%9000), -2)
			lines = append(lines, map[string]any{"product_id": products[fmt.Sprintf("SKU-%d", 1+(j+k)%5)],
				"quantity": fmt.Sprint(qty), "sales_price": price.StringFixed(2)})
			total = total.Add(price.Mul(decimal.NewFromInt(int64(qty))))
		}
		id := fake.Put("SalesOrderObj", map[string]any{"account_id": accounts[c], "remark": fmt.Sprintf("订单 %d", j),
			"order_time": time.Now().UnixMilli(), "details": lines})
		want[id] = crmSale{customer: numbers[c], total: total, lines: len(lines)}
		keys = append(keys, id)
	}
	return want, keys
}

// fxInvoices reads the stand-in's invoice requests by invoice number.
func fxInvoices(fake *fxiaoketest.Server) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, id := range fake.Records("InvoiceApplicationObj") {
		r, _ := fake.Get("InvoiceApplicationObj", id)
		out[fmt.Sprint(r["invoice_no__c"])] = r
	}
	return out
}

func diffFxInvoices(want map[string]issued, got map[string]map[string]any) []string {
	var diffs []string
	for n, w := range want {
		g, ok := got[n]
		if !ok {
			diffs = append(diffs, "invoice "+n+": missing in Fxiaoke")
			continue
		}
		total, _ := decimal.NewFromString(fmt.Sprint(g["invoice_applied_amount"]))
		due, _ := decimal.NewFromString(fmt.Sprint(g["amount_due__c"]))
		if fmt.Sprint(g["order_id"]) != w.order || !total.Equal(w.total) || !due.Equal(w.due) || g["payment_state__c"] != w.payment {
			diffs = append(diffs, fmt.Sprintf("invoice %s: Fxiaoke has order %v, %s, due %s, %v; want order %s, %s, %s, %s",
				n, g["order_id"], total, due, g["payment_state__c"], w.order, w.total, w.due, w.payment))
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			diffs = append(diffs, "invoice "+n+": in Fxiaoke but not issued in Tryton")
		}
	}
	sort.Strings(diffs)
	return diffs
}

// fxKind is the rig's Fxiaoke connector on the stand-in fake.
func fxKind(fake *fxiaoketest.Server) saasKind {
	crm := fmt.Sprintf(`    kind: fxiaoke
    url: %s
    app_id: %s
    app_secret: ${FX_APP_SECRET}
    permanent_code: ${FX_PERMANENT_CODE}
    open_user_id: %s
    poll_interval: 500ms
    retry_wait: 100ms
    retry_max_wait: 1s
    entities:
      customer: {object: AccountObj, match_field: account_no}
      order: {object: SalesOrderObj, match_field: remark}
      invoice: {object: InvoiceApplicationObj, match_field: external_ref__c}`, fake.URL, fxApp, fxUser)
	return saasKind{crm: crm, customerIn: "fxiaoke-account-in.yaml", orderIn: "fxiaoke-sales-order-in.yaml", invoice: "fxiaoke-invoice-out.yaml",
		customerRef: "account_id", env: []string{"FX_APP_SECRET=" + fxSecret, "FX_PERMANENT_CODE=" + fxPermanent}}
}

// TestFxiaokeOrderToInvoice runs 纷享销客 -> hub -> Tryton with the hub
// binary: 200 SalesOrderObj with their lines, of 50 AccountObj, become
// exactly 50 parties and 200 confirmed CNY sales, while the token is
// refused (errorCode 20016) and the endpoint limit answered (20025) in the
// middle of the sync; Tryton's issued invoices come back as
// InvoiceApplicationObj with their payment state (3 paid in part); no call is refused for
// the 100-per-20-s limit the connector keeps; and a rerun from scratch
// creates nothing in Tryton or Fxiaoke.
func TestFxiaokeOrderToInvoice(t *testing.T) {
	t.Parallel()
	erp := newTryton(t)
	tr := erp.rpc
	trytonCNY(t, tr)
	var baseline []int64
	tr.must(t, &baseline, "model.party.party.search", []any{}, 0, nil, nil, tr.ctx())
	fake := fxiaoketest.New(fxiaoketest.Options{AppID: fxApp, AppSecret: fxSecret, PermanentCode: fxPermanent, OpenUserID: fxUser})
	t.Cleanup(fake.Close)
	const nCust, nOrd = 50, 200
	want, keys := fxCRM(t, fake, nCust, nOrd)
	kind := fxKind(fake)
	r := newSaaSRig(t, erp, kind)
	r.start()
	start := time.Now()
	faulted := false
	waitFor(t, "200 sales in Tryton", 4*time.Minute, 500*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("200 sales in Tryton")
		n := tr.count(t, "sale.sale", []any{"state", "=", "processing"})
		if n >= 20 && !faulted {
			faulted = true
			fake.ExpireTokens()
			fake.FailNext(fxiaoketest.Fault{Code: fxiaoketest.CodeRateLimit, Match: "/data/query"},
				fxiaoketest.Fault{Code: fxiaoketest.CodeBusy, Match: "/data/query"})
		}
		return n >= nOrd, fmt.Sprintf("%d processing sales", n)
	})
	t.Logf("MEASURE %d Fxiaoke sales orders of %d accounts to processing Tryton sales in %s", nOrd, nCust, time.Since(start).Round(time.Millisecond))
	if d := checkCRMSales(t, tr, "fx:", want, baseline); len(d) > 0 {
		t.Fatalf("Tryton's sales differ from Fxiaoke's orders: %s", summarize(d))
	}
	if n := len(trytonParties(t, tr, baseline)); n != nCust {
		t.Fatalf("Tryton has %d new parties, want exactly %d", n, nCust)
	}
	if n := tr.count(t, "sale.sale", []any{"currency.code", "=", "CNY"}); n != nOrd {
		t.Fatalf("Tryton has %d CNY sales, want exactly %d", n, nOrd)
	}

	// Three are paid in part (a payment in full of a CNY invoice in a
	// EUR company leaves an exchange difference Tryton does not reconcile
	// by itself).
	issueInvoices(t, tr, "fx:", keys, 20, 0, 3)
	var issuedNow map[string]issued
	waitFor(t, "the 20 issued invoices in Fxiaoke", 2*time.Minute, 300*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("the invoices in Fxiaoke")
		issuedNow = trytonIssued(t, tr, "fx:")
		d := diffFxInvoices(issuedNow, fxInvoices(fake))
		return len(d) == 0, summarize(d)
	})
	partial := 0
	for _, i := range issuedNow {
		if i.payment == "PARTIAL" {
			partial++
		}
	}
	if len(issuedNow) != 20 || partial != 3 {
		t.Fatalf("%d issued invoices, %d PARTIAL; want 20, 3 of them PARTIAL", len(issuedNow), partial)
	}
	r.noDeadLetters()
	var limited int
	for _, c := range fake.Calls() {
		if c.ErrorCode == fxiaoketest.CodeRateLimit {
			limited++
		}
	}
	if limited != 1 {
		t.Errorf("%d calls refused for the endpoint limit, want only the injected one", limited)
	}
	t.Logf("MEASURE Fxiaoke: %d calls, %d tokens", len(fake.Calls()), fake.Tokens())
	checkReconcileAgrees(t, r, "Fxiaoke", nOrd)
	so, _ := fake.Get("SalesOrderObj", keys[30])
	checkAmendRepaired(t, r, fmt.Sprint(so["name"]), want[keys[30]].total)
	invCount, tSales, tParties := fake.Count("InvoiceApplicationObj"), tr.count(t, "sale.sale"), len(trytonParties(t, tr, baseline))
	r.hub.stop(t)

	r2 := newSaaSRig(t, erp, kind)
	r2.start()
	r2.waitSettled(nOrd)
	waitFor(t, "the rerun's invoices", time.Minute, time.Second, r2.watching(), func() (bool, string) {
		d := diffFxInvoices(trytonIssued(t, tr, "fx:"), fxInvoices(fake))
		return len(d) == 0, summarize(d)
	})
	if n := tr.count(t, "sale.sale"); n != tSales {
		t.Errorf("the rerun changed Tryton's sales from %d to %d", tSales, n)
	}
	if n := len(trytonParties(t, tr, baseline)); n != tParties {
		t.Errorf("the rerun changed Tryton's parties from %d to %d", tParties, n)
	}
	if n := fake.Count("InvoiceApplicationObj"); n != invCount {
		t.Errorf("the rerun changed Fxiaoke's invoice requests from %d to %d", invCount, n)
	}
	r2.noDeadLetters()
	r2.hub.stop(t)
}
