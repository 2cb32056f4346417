package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/reconcile"
	"github.com/crmhub/hub/store"
)

// seedRecon stores two finished runs of "orders": the first with one
// field mismatch, the second with 55 missing_left, 4 field_mismatch (one
// of them the first run's again, so two runs old) and 1 duplicate_key.
func seedRecon(t *testing.T, st *store.Store) (first, second int64) {
	t.Helper()
	ctx := context.Background()
	mismatch := func(i int, left, right string) store.ReconDiff {
		return store.ReconDiff{Job: "orders", Class: "field_mismatch", Ident: fmt.Sprintf("fm-%d", i), Key: fmt.Sprintf("SO-%d", i),
			HubID: fmt.Sprintf("hub-%d", i), LeftID: fmt.Sprintf("L%d", i), RightID: fmt.Sprintf("R%d", i),
			Detail: json.RawMessage(fmt.Sprintf(`{"fields":[{"field":"total","left":%q,"right":%q}]}`, left, right))}
	}
	finish := func(run int64, sum pipeline.ReconSummary) {
		b, _ := json.Marshal(sum)
		if err := st.FinishReconRun(ctx, run, store.ReconDiffs, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if first, err = st.StartReconRun(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := st.AddReconDiffs(ctx, first, 0, []store.ReconDiff{mismatch(1, "10.00", "11.00")}); err != nil {
		t.Fatal(err)
	}
	finish(first, pipeline.ReconSummary{Job: "orders", Entity: "order", Left: "crm", Right: "erp",
		Totals: reconcile.Totals{Matched: 9, Classes: map[reconcile.Class]int64{reconcile.FieldMismatch: 1}}})
	if second, err = st.StartReconRun(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	var diffs []store.ReconDiff
	for i := 1; i <= 4; i++ {
		diffs = append(diffs, mismatch(i, fmt.Sprintf("%d0.00", i), fmt.Sprintf("%d2.50", i)))
	}
	for i := 1; i <= 55; i++ {
		diffs = append(diffs, store.ReconDiff{Job: "orders", Class: "missing_left", Ident: fmt.Sprintf("ml-%d", i),
			Key: fmt.Sprintf("ML-%02d", i), RightID: fmt.Sprintf("E%d", i), Side: "right"})
	}
	diffs = append(diffs, store.ReconDiff{Job: "orders", Class: "duplicate_key", Ident: "dk", Key: "SO-DUP", Side: "left",
		Detail: json.RawMessage(`{"ids":["L7","L8"]}`)})
	if err := st.AddReconDiffs(ctx, second, first, diffs); err != nil {
		t.Fatal(err)
	}
	finish(second, pipeline.ReconSummary{Job: "orders", Entity: "order", Left: "crm", Right: "erp", Seconds: 1.25,
		Totals: reconcile.Totals{
			Left:    reconcile.SideTotals{Count: 100, Amounts: map[string]string{"EUR": "1234.50"}},
			Right:   reconcile.SideTotals{Count: 98, Amounts: map[string]string{"EUR": "1200.00", "USD": "7.00"}},
			Matched: 95, ScannedLeft: 120, ScannedRight: 118,
			Classes: map[reconcile.Class]int64{reconcile.MissingLeft: 55, reconcile.FieldMismatch: 4, reconcile.DuplicateKey: 1},
		}})
	return first, second
}

// get fetches path with c and returns the status and body.
func (r *rig) get(c *http.Client, path string) (int, string) {
	r.t.Helper()
	resp, err := c.Get(r.ts.URL + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post sends a form from the console's own page (same origin) with c.
func (r *rig) post(c *http.Client, path string, form url.Values) *http.Response {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", r.ts.URL)
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestReconciliationPage: a viewer sees the job (schedule, next run, last
// result by class), its history, and a run's control totals, matched
// count, differences by class and age, and its differences with both
// values, 50 to a page, filtered by class, with a CSV link that exports
// what the filter shows; only operators get the run-now button.
func TestReconciliationPage(t *testing.T) {
	r := newRig(t, false)
	first, second := seedRecon(t, r.st)
	viewer := r.client()
	r.login(viewer, "u-viewer", testPassword, "")

	code, body := r.get(viewer, "/console/reconciliation")
	if code != http.StatusOK {
		t.Fatalf("jobs page: %d\n%s", code, body)
	}
	job := section(t, body, `<tr id="job-orders">`, `</tr>`)
	for _, want := range []string{"order: crm ↔ erp", "<code>0 30 2 * * *</code>", "Europe/Berlin", "2031-01-02 01:30:00 UTC",
		fmt.Sprintf(`run %d</a> <span class="state diffs">diffs</span>`, second),
		fmt.Sprintf(`<a href="/console/reconciliation/runs/%d?class=missing_left">missing_left</a> <b>55</b>`, second),
		`field_mismatch</a> <b>4</b>`, `duplicate_key</a> <b>1</b>`} {
		if !strings.Contains(job, want) {
			t.Errorf("the job's row lacks %q:\n%s", want, job)
		}
	}
	if strings.Contains(body, "Run now") || strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, `href="/console/reconciliation" class="on">Reconciliation`) {
		t.Errorf("the viewer's jobs page: a run-now button, or no navigation entry:\n%s", body)
	}
	_, hist := r.get(viewer, "/console/reconciliation?job=orders")
	for _, id := range []int64{first, second} {
		if !strings.Contains(hist, fmt.Sprintf(`<tr id="run-%d">`, id)) {
			t.Errorf("the history of orders lacks run %d", id)
		}
	}
	if row := section(t, hist, fmt.Sprintf(`<tr id="run-%d">`, first), `</tr>`); !strings.Contains(row, `<td class="num">9</td>`) || !strings.Contains(row, `field_mismatch</a> <b>1</b>`) {
		t.Errorf("the first run's row (matched 9, one mismatch):\n%s", row)
	}

	runPath := fmt.Sprintf("/console/reconciliation/runs/%d", second)
	code, page := r.get(viewer, runPath)
	if code != http.StatusOK || strings.Contains(page, `http-equiv="refresh"`) {
		t.Fatalf("run page: %d\n%s", code, page)
	}
	for _, want := range []string{`id="count-left">100<`, `id="count-right">98<`, `id="matched">95<`,
		`<th>Amount EUR</th><td class="num">1234.50</td><td class="num">1200.00</td>`,
		`<th>Amount USD</th><td class="num">—</td><td class="num">7.00</td>`,
		"Differences: 60", "60 difference(s), 1–50 shown", `href="?offset=50#differences" rel="next"`,
		fmt.Sprintf(`href="/api/v1/reconciliations/runs/%d/differences?format=csv" id="csv"`, second)} {
		if !strings.Contains(page, want) {
			t.Errorf("the run page lacks %q", want)
		}
	}
	// By class and age: the mismatch of SO-1 is in both runs (2 runs old).
	ages := map[string]string{
		"field_mismatch": `<td class="num">4</td><td class="num">3</td><td class="num">1</td><td class="num"></td><td class="num"></td>`,
		"missing_left":   `<td class="num">55</td><td class="num">55</td><td class="num"></td>`,
		"missing_right":  `<td class="num">0</td><td class="num"></td><td class="num"></td><td class="num"></td><td class="num"></td></tr>`,
	}
	for class, want := range ages {
		if row := section(t, page, `<tr id="class-`+class+`">`, `</tr>`); !strings.Contains(row+"</tr>", want) {
			t.Errorf("%s by age: %s, want %s", class, row, want)
		}
	}
	if n := strings.Count(page, `<tr id="diff-`); n != 50 {
		t.Errorf("the first page shows %d differences, want 50", n)
	}
	// The first difference stored: SO-1's total, both values side by side.
	d := section(t, page, `<tr id="diff-2">`, `</tr>`)
	for _, want := range []string{"<b>SO-1</b>", `<dt>total</dt><dd class="left">10.00</dd>`, `<dt>total</dt><dd class="right">12.50</dd>`,
		`id <a href="/console/trace?id=L1">L1</a>`, `id <a href="/console/trace?id=R1">R1</a>`, "2 runs"} {
		if !strings.Contains(d, want) {
			t.Errorf("SO-1's difference lacks %q:\n%s", want, d)
		}
	}
	_, page2 := r.get(viewer, runPath+"?offset=50")
	if n := strings.Count(page2, `<tr id="diff-`); n != 10 || !strings.Contains(page2, "51–60 shown") || !strings.Contains(page2, `href="?offset=0#differences" rel="prev"`) || strings.Contains(page2, `rel="next"`) {
		t.Errorf("the second page: %d differences (want 10, 51–60, a previous link and no next)", n)
	}
	if !strings.Contains(page2, "<b>SO-DUP</b>") || !strings.Contains(page2, "ids sharing the key: L7, L8") {
		t.Errorf("the second page lacks the duplicate key with its ids")
	}
	_, fm := r.get(viewer, runPath+"?class=field_mismatch")
	if n := strings.Count(fm, `<tr id="diff-`); n != 4 || strings.Contains(fm, "ML-01") || !strings.Contains(fm, "field_mismatch: 4 difference(s)") ||
		!strings.Contains(fm, `<dd class="left">40.00</dd>`) || !strings.Contains(fm, `<dd class="right">42.50</dd>`) {
		t.Errorf("filtered by field_mismatch: %d rows, want SO-1..SO-4 only", n)
	}
	csvLink := fmt.Sprintf("/api/v1/reconciliations/runs/%d/differences?class=field_mismatch&format=csv", second)
	if !strings.Contains(fm, `href="`+strings.ReplaceAll(csvLink, "&", "&amp;")+`"`) {
		t.Errorf("the filtered page's CSV link is not %s", csvLink)
	}
	code, csv := r.get(viewer, csvLink)
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if code != http.StatusOK || len(lines) != 5 || !strings.Contains(lines[1], "field_mismatch,SO-1,hub-1,L1,R1,,2,") {
		t.Errorf("the CSV export with the viewer's session: %d\n%s", code, csv)
	}
	if code, _ := r.get(viewer, runPath+"?offset=-3"); code != http.StatusBadRequest {
		t.Errorf("a negative offset: %d, want 400", code)
	}
	if code, _ := r.get(viewer, "/console/reconciliation/runs/999"); code != http.StatusNotFound {
		t.Errorf("an unknown run: %d, want 404", code)
	}
}

// TestReconciliationRunNow: an operator's button starts a run through the
// API's run-now, which shows and is audited; a second press while it runs
// starts none; a viewer's post and a cross-site one are refused (403),
// audited, and start nothing.
func TestReconciliationRunNow(t *testing.T) {
	r := newRig(t, false)
	ctx := context.Background()
	_, second := seedRecon(t, r.st)
	op := r.client()
	r.login(op, "u-operator", testPassword, "")
	_, jobs := r.get(op, "/console/reconciliation")
	if !strings.Contains(jobs, `<form method="post" action="/console/reconciliation/run" class="inline"><input type="hidden" name="job" value="orders"><button type="submit"  aria-label="run orders now">Run now</button>`) {
		t.Errorf("the operator's jobs page lacks an enabled run-now button for orders:\n%s", jobs)
	}
	resp := r.post(op, "/console/reconciliation/run", url.Values{"job": {"orders"}})
	runs, err := r.st.ListReconRuns(ctx, "orders", 10)
	if err != nil || len(runs) != 3 || runs[0].ID <= second || runs[0].Status != store.ReconRunning {
		t.Fatalf("after run now: runs %+v %v, want a third, running", runs, err)
	}
	started := runs[0].ID
	want := fmt.Sprintf("/console/reconciliation/runs/%d?done=", started)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), want) {
		t.Errorf("run now: %s to %q, want 303 to %s...", resp.Status, resp.Header.Get("Location"), want)
	}
	entries, err := r.st.ListAudit(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if e := entries[0]; e.Actor != "u-operator" || e.Action != "http.request" || e.Subject != "POST /console/reconciliation/run" || !strings.Contains(e.Detail, "303") {
		t.Errorf("the request's audit entry: %+v", e)
	}
	if e := entries[1]; e.Actor != "u-operator" || e.Action != "recon.run" || e.Subject != "job:orders" || e.Detail != fmt.Sprintf("run %d", started) {
		t.Errorf("the run's audit entry: %+v", e)
	}
	_, page := r.get(op, resp.Header.Get("Location"))
	if !strings.Contains(page, fmt.Sprintf("run %d of orders started", started)) || !strings.Contains(page, `<span class="state running">running</span>`) {
		t.Errorf("the new run's page does not say it started and runs:\n%s", page)
	}
	if !strings.Contains(page, `<meta http-equiv="refresh" content="3">`) {
		t.Errorf("the running run's page does not reload itself")
	}
	if _, jobs := r.get(op, "/console/reconciliation"); !strings.Contains(jobs, `disabled aria-label="run orders now"`) || !strings.Contains(jobs, `http-equiv="refresh"`) {
		t.Errorf("while the job runs its button is not disabled, or the page does not reload itself")
	}
	// Pressed again while it runs: refused by the job, nothing started.
	resp = r.post(op, "/console/reconciliation/run", url.Values{"job": {"orders"}})
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/console/reconciliation?") || !strings.Contains(loc, "not+started") {
		t.Errorf("run now while running: sent to %q", loc)
	}
	viewer := r.client()
	r.login(viewer, "u-viewer", testPassword, "")
	if resp := r.post(viewer, "/console/reconciliation/run", url.Values{"job": {"orders"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's run now: %s, want 403", resp.Status)
	}
	if e := r.lastAudit(); e.Actor != "u-viewer" || e.Action != "http.refused" || e.Subject != "POST /console/reconciliation/run" || !strings.Contains(e.Detail, "403") {
		t.Errorf("the viewer's refusal's audit entry: %+v", e)
	}
	req, _ := http.NewRequest(http.MethodPost, r.ts.URL+"/console/reconciliation/run", strings.NewReader("job=orders"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := op.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site run now with the operator's session: %v %v, want 403", resp, err)
	}
	if e := r.lastAudit(); e.Actor != "u-operator" || !strings.Contains(e.Detail, "cross-origin") {
		t.Errorf("the cross-site refusal's audit entry: %+v", e)
	}
	if runs, _ := r.st.ListReconRuns(ctx, "orders", 10); len(runs) != 3 {
		t.Errorf("%d runs after the refused posts, want 3", len(runs))
	}
}

// section is body from the first from to the following to.
func section(t *testing.T, body, from, to string) string {
	t.Helper()
	i := strings.Index(body, from)
	if i < 0 {
		t.Errorf("no %q in the page", from)
		return ""
	}
	rest := body[i:]
	if j := strings.Index(rest, to); j >= 0 {
		return rest[:j]
	}
	return rest
}
