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

const (
	zohoClient  = "1000.E2ECLIENT"
	zohoSecret  = "e2e-zoho-client-secret"
	zohoRefresh = "1000.e2e-refresh-token"
)

// zohoCRM seeds a stand-in Zoho with the template's products (SKU-1..5),
// nCust contacts and nOrd sales orders of them in EUR, and returns the
// orders as Tryton must show them, by Zoho id, in creation order.
func zohoCRM(t *testing.T, fake *zohotest.Server, nCust, nOrd int) (map[string]crmSale, []string) {
	t.Helper()
	products := map[string]string{}
	for i := 1; i <= 5; i++ {
		code := fmt.Sprintf("SKU-%d", i)
		products[code] = fake.Put("Products", map[string]any{"Product_Name": "Product " + code, "Product_Code": code})
	}
	first := []string{"小明", "Ada", "娜娜", "Grace", "伟", "Linus"}
	last := []string{"王", "Lovelace", "欧阳", "Hopper", "张", "Example"}
	var contacts []string
	for i := 1; i <= nCust; i++ {
		c := map[string]any{"First_Name": first[i%len(first)], "Last_Name": fmt.Sprintf("%s%d", last[i%len(last)], i),
			"Email": fmt.Sprintf("contact%d@example.com", i), "Mobile": fmt.Sprintf("139 1234 %04d", i),
			"Mailing_Street": fmt.Sprintf("Street %d", i), "Mailing_City": "Berlin", "Mailing_Zip": "10115", "Mailing_Country": "Germany"}
		contacts = append(contacts, fake.Put("Contacts", c))
	}
	want := map[string]crmSale{}
	var keys []string
	for j := 1; j <= nOrd; j++ {
		contact := contacts[(j*7)%nCust]
		var items []any
		total := decimal.Zero
		for k := 1; k <= 1+j%3; k++ {
			qty := 1 + (j+k)%5
			price := decimal.New(int64(500+(j*37+k*11)%9000), -2)
			items = append(items, map[string]any{"Product_Name": map[string]any{"id": products[fmt.Sprintf("SKU-%d", 1+(j+k)%5)]},
				"Quantity": qty, "List_Price": price.StringFixed(2)})
			total = total.Add(price.Mul(decimal.NewFromInt(int64(qty))))
		}
		id := fake.Put("Sales_Orders", map[string]any{"Subject": fmt.Sprintf("SO-%06d", j), "Contact_Name": map[string]any{"id": contact},
			"Status": "Approved", "Currency": "EUR", "Ordered_Items": items})
		want[id] = crmSale{customer: "zoho:" + contact, total: total, lines: len(items)}
		keys = append(keys, id)
	}
	return want, keys
}

// zohoInvoices reads the stand-in's invoices by Subject.
func zohoInvoices(fake *zohotest.Server) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, id := range fake.Records("Invoices") {
		r, _ := fake.Get("Invoices", id)
		out[fmt.Sprint(r["Subject"])] = r
	}
	return out
}

// diffZohoInvoices compares Tryton's issued invoices with Zoho's.
func diffZohoInvoices(want map[string]issued, got map[string]map[string]any) []string {
	var diffs []string
	for n, w := range want {
		g, ok := got[n]
		if !ok {
			diffs = append(diffs, "invoice "+n+": missing in Zoho")
			continue
		}
		so, _ := g["Sales_Order"].(map[string]any)
		total, _ := decimal.NewFromString(fmt.Sprint(g["Grand_Total"]))
		due, _ := decimal.NewFromString(fmt.Sprint(g["Amount_Due"]))
		if fmt.Sprint(so["id"]) != w.order || !total.Equal(w.total) || !due.Equal(w.due) || g["Payment_State"] != w.payment {
			diffs = append(diffs, fmt.Sprintf("invoice %s: Zoho has order %v, total %s, due %s, %v; want order %s, %s, %s, %s",
				n, so["id"], total, due, g["Payment_State"], w.order, w.total, w.due, w.payment))
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			diffs = append(diffs, "invoice "+n+": in Zoho but not issued in Tryton")
		}
	}
	sort.Strings(diffs)
	return diffs
}

// zohoKind is the rig's Zoho connector on the stand-in fake, with a
// budget of credits a day.
func zohoKind(fake *zohotest.Server, credits int) saasKind {
	crm := fmt.Sprintf(`    kind: zoho
    data_center: eu
    accounts_url: %s
    client_id: %s
    client_secret: ${ZOHO_CLIENT_SECRET}
    refresh_token: ${ZOHO_REFRESH_TOKEN}
    daily_credits: %d
    concurrency: 5
    poll_interval: 500ms
    settle: 1s
    retry_wait: 100ms
    retry_max_wait: 1s
    entities:
      customer: {module: Contacts}
      order: {module: Sales_Orders}
      invoice: {module: Invoices}`, fake.AccountsURL, zohoClient, credits)
	return saasKind{crm: crm, customerIn: "zoho-contact-in.yaml", orderIn: "zoho-sales-order-in.yaml", invoice: "zoho-invoice-out.yaml",
		customerRef: "Contact_Name.id", env: []string{"ZOHO_CLIENT_SECRET=" + zohoSecret, "ZOHO_REFRESH_TOKEN=" + zohoRefresh}}
}

// TestZohoOrderToInvoice runs Zoho CRM -> hub -> Tryton with the hub
// binary: 200 sales orders of 50 contacts become exactly 50 parties and
// 200 confirmed sales, while every access token expires and the org
// answers 429 (concurrency) and 429 LIMIT_REACHED (credits) in the middle
// of the sync; Tryton's issued and paid invoices come back to Zoho's
// Invoices with their payment state; the org's credits are never
// exceeded; and a rerun from scratch (the hub's state and topics lost)
// creates nothing in Tryton or Zoho.
func TestZohoOrderToInvoice(t *testing.T) {
	t.Parallel()
	erp := newTryton(t)
	tr := erp.rpc
	var baseline []int64
	tr.must(t, &baseline, "model.party.party.search", []any{}, 0, nil, nil, tr.ctx())
	const credits = 20000
	fake := zohotest.New(zohotest.Options{ClientID: zohoClient, ClientSecret: zohoSecret, RefreshToken: zohoRefresh,
		Credits: credits, Concurrency: 5})
	t.Cleanup(fake.Close)
	const nCust, nOrd = 50, 200
	want, keys := zohoCRM(t, fake, nCust, nOrd)
	kind := zohoKind(fake, credits)
	r := newSaaSRig(t, erp, kind)
	r.start()
	start := time.Now()
	faulted := false
	waitFor(t, "200 sales in Tryton", 4*time.Minute, 500*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("200 sales in Tryton")
		n := tr.count(t, "sale.sale", []any{"state", "=", "processing"})
		if n >= 20 && !faulted {
			// Mid-sync: every token expires; the org refuses calls.
			faulted = true
			fake.ExpireTokens()
			fake.FailNext(zohotest.Fault{Status: 429, Code: "TOO_MANY_REQUESTS", Match: "POST /crm/v8/coql"},
				zohotest.Fault{Status: 429, Code: "TOO_MANY_REQUESTS", Match: "POST /crm/v8/coql"},
				zohotest.Fault{Status: 429, Code: "LIMIT_REACHED", Match: "GET /crm/v8/Sales_Orders"})
		}
		return n >= nOrd, fmt.Sprintf("%d processing sales", n)
	})
	t.Logf("MEASURE %d Zoho sales orders of %d contacts to processing Tryton sales in %s", nOrd, nCust, time.Since(start).Round(time.Millisecond))
	if d := checkCRMSales(t, tr, "zoho:", want, baseline); len(d) > 0 {
		t.Fatalf("Tryton's sales differ from Zoho's orders: %s", summarize(d))
	}
	if n := len(trytonParties(t, tr, baseline)); n != nCust {
		t.Fatalf("Tryton has %d new parties, want exactly %d", n, nCust)
	}
	if n := tr.count(t, "sale.sale"); n != nOrd {
		t.Fatalf("Tryton has %d sales, want exactly %d", n, nOrd)
	}

	// Tryton issues 20 invoices; 3 are paid, 2 in part: Zoho follows.
	issueInvoices(t, tr, "zoho:", keys, 20, 3, 2)
	var issuedNow map[string]issued
	waitFor(t, "the 20 issued invoices in Zoho", 2*time.Minute, 300*time.Millisecond, r.watching(), func() (bool, string) {
		r.failOnDeadLetters("the invoices in Zoho")
		issuedNow = trytonIssued(t, tr, "zoho:")
		d := diffZohoInvoices(issuedNow, zohoInvoices(fake))
		return len(d) == 0, summarize(d)
	})
	byState := map[string]int{}
	for _, i := range issuedNow {
		byState[i.payment]++
	}
	if len(issuedNow) != 20 || byState["PAID"] != 3 || byState["PARTIAL"] != 2 {
		t.Fatalf("issued invoices: %d, by payment state %v; want 20: 3 PAID, 2 PARTIAL", len(issuedNow), byState)
	}
	r.noDeadLetters()
	var refused, minted int
	for _, c := range fake.Calls() {
		if c.Code == "LIMIT_REACHED" && c.Status == 429 && !strings.Contains(c.Path, "Sales_Orders") {
			refused++
		}
	}
	minted = fake.Mints()
	if used := fake.CreditsUsed(); used > credits || refused > 0 {
		t.Errorf("credits: %d used of %d, %d calls refused for credits besides the injected one", used, credits, refused)
	}
	if spent := metricSum(t, r.httpAddr, "hub_saas_quota_spent_total", `connector="crm"`, `quota="credits"`); spent == 0 {
		t.Errorf("hub_saas_quota_spent_total{quota=credits} is 0: the credits spent are not exported")
	}
	t.Logf("MEASURE Zoho: %d credits, %d access tokens minted, %d calls", fake.CreditsUsed(), minted, len(fake.Calls()))
	// Zoho and Tryton agree: two scan pages of Zoho, 200 confirmed sales.
	checkReconcileAgrees(t, r, "Zoho", nOrd)
	// A clerk amends a confirmed sale: Zoho wins, through an amendment.
	checkAmendRepaired(t, r, "SO-000031", want[keys[30]].total)
	zohoInvCount, tSales, tParties := len(fake.Records("Invoices")), tr.count(t, "sale.sale"), len(trytonParties(t, tr, baseline))
	r.hub.stop(t)

	// A rerun from scratch finds everything by its key and creates nothing.
	r2 := newSaaSRig(t, erp, kind)
	r2.start()
	r2.waitSettled(nOrd)
	waitFor(t, "the rerun's invoices", time.Minute, time.Second, r2.watching(), func() (bool, string) {
		d := diffZohoInvoices(trytonIssued(t, tr, "zoho:"), zohoInvoices(fake))
		return len(d) == 0, summarize(d)
	})
	if n := tr.count(t, "sale.sale"); n != tSales {
		t.Errorf("the rerun changed Tryton's sales from %d to %d", tSales, n)
	}
	if n := len(trytonParties(t, tr, baseline)); n != tParties {
		t.Errorf("the rerun changed Tryton's parties from %d to %d", tParties, n)
	}
	if n := len(fake.Records("Invoices")); n != zohoInvCount {
		t.Errorf("the rerun changed Zoho's invoices from %d to %d", zohoInvCount, n)
	}
	if n := len(fake.Records("Sales_Orders")); n != nOrd {
		t.Errorf("Zoho has %d sales orders, want %d", n, nOrd)
	}
	r2.noDeadLetters()
	r2.hub.stop(t)
}
