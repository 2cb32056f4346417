package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// reconJob is the rig's reconciliation job of orders, CRM (left) against
// ERP (right), the ERP made like the CRM.
const reconJob = `reconcile:
  orders:
    entity: order
    left: crm
    right: erp
    right_mapping: mappings/erp-order-in.yaml
    key: order_no
    fields:
      total: tolerance 0.01
      currency: exact
      status: case_insensitive
      order_date: exact
    repair: left_wins
`

// addToConfig appends YAML to the rig's config.
func (r *rig) addToConfig(yaml string) {
	r.t.Helper()
	f, err := os.OpenFile(r.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		r.t.Fatal(err)
	}
}

var runLine = regexp.MustCompile(`(?m)^run (\d+) of `)

// reconcile runs `hub reconcile run JOB` and returns its run id and exit
// status.
func (r *rig) reconcile(job string, args ...string) (string, int, string) {
	r.t.Helper()
	stdout, stderr, err := runHubEnv(r.t, r.dir, r.cliEnv, append([]string{"reconcile", "run", job, "-q", "-c", r.cfg}, args...)...)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	m := runLine.FindStringSubmatch(stdout)
	if m == nil {
		r.t.Fatalf("hub reconcile run %s: no run in the output (exit %d):\n%s%s", job, code, stdout, stderr)
	}
	return m[1], code, stdout + stderr
}

// apiGet reads an API answer with the operator's token.
func (r *rig) apiGet(path string, out any) string {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.httpAddr+path, nil)
	req.Header.Set("Authorization", "Bearer e2e-operator-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
	}
	return string(b)
}

// apiPost starts something with the operator's token and returns the run
// id of a 202 answer.
func (r *rig) apiPost(path string) int64 {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.httpAddr+path, nil)
	req.Header.Set("Authorization", "Bearer e2e-operator-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Run int64 `json:"run"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &out) != nil || out.Run == 0 {
		r.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return out.Run
}

type reconRun struct {
	Status  string `json:"status"`
	Summary struct {
		Totals struct {
			Left, Right struct {
				Count   int64             `json:"count"`
				Amounts map[string]string `json:"amounts"`
			}
			Matched int64            `json:"matched"`
			Classes map[string]int64 `json:"classes"`
		} `json:"totals"`
		Repairs  int  `json:"repairs"`
		Repaired bool `json:"repaired"`
		// Method is how the run compared (stream or checksum).
		Method string `json:"method"`
	} `json:"summary"`
}

type reconDiff struct {
	Class  string `json:"class"`
	Key    string `json:"key"`
	Side   string `json:"side"`
	Age    int    `json:"age"`
	Repair string `json:"repair"`
	Detail struct {
		Fields []struct {
			Field       string
			Left, Right string
		} `json:"fields"`
		IDs []string `json:"ids"`
	} `json:"detail"`
}

// classes are a run's counts of every class, zeros left out.
func (run reconRun) classes() string {
	var out []string
	for c, n := range run.Summary.Totals.Classes {
		if n != 0 {
			out = append(out, fmt.Sprintf("%s=%d", c, n))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// sideTotals sums a table's orders by currency, as the database holds them.
func sideTotals(t testing.TB, d *database, table string) (int64, map[string]string) {
	t.Helper()
	rows, err := d.db.Query("SELECT currency, " + text(d.dialect, "total") + " FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int64
	sums := map[string]decimal.Decimal{}
	for rows.Next() {
		var cur, total string
		if err := rows.Scan(&cur, &total); err != nil {
			t.Fatal(err)
		}
		n++
		cur = strings.ToUpper(cur)
		sums[cur] = sums[cur].Add(decimal.RequireFromString(total))
	}
	out := map[string]string{}
	for c, s := range sums {
		out[c] = s.StringFixed(2)
	}
	return n, out
}

// TestReconcileSeeded syncs 40 orders from a PostgreSQL CRM to an ERP
// database, seeds one difference of every class (and two that the rules
// let pass), and checks the report class by class and record by record,
// the control totals against the databases' own sums, the CSV export, and
// that a run with repairs makes the next run report nothing the policy can
// repair; the rest (a duplicate, a stray ERP order, an order the CRM no
// longer has, which deletes: false keeps) is reported with its age until
// an operator removes it, and then a run agrees (exit 0).
func TestReconcileSeeded(t *testing.T) {
	for _, erpDialect := range []string{sqlite, mariadb} {
		t.Run("postgres-to-"+erpDialect, func(t *testing.T) {
			t.Parallel()
			dbDir := t.TempDir()
			crm := newPostgres(t)
			erp := openDB(t, erpDialect, dbDir, "erp.db")
			crm.execScript(t, crmSchema[postgres])
			erp.execScript(t, erpSchema[erpDialect])
			r := newRig(t, rigOpts{crm: crm, erp: erp})
			r.addToConfig(reconJob)
			var cs []customer
			for i := 1; i <= 10; i++ {
				cs = append(cs, genCustomer(i))
			}
			var os []order
			for j := 1; j <= 40; j++ {
				os = append(os, genOrder(j, len(cs)))
			}
			insertCustomers(t, crm, cs)
			insertOrders(t, crm, os, 40)
			r.start()
			exp := expectation{deleted: map[int64]order{}}
			r.waitInStep("the initial load", time.Minute, func() expectation { e := exp; e.crm = readCRM(t, crm); return e })

			if _, code, out := r.reconcile("orders"); code != 0 {
				t.Fatalf("in step: exit %d, want 0:\n%s", code, out)
			}
			seedDifferences(t, crm, erp)

			id, code, out := r.reconcile("orders", "--report-only")
			if code != 1 {
				t.Fatalf("seeded: exit %d, want 1:\n%s", code, out)
			}
			var run reconRun
			run = reconRun{}
			r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
			want := "duplicate_key=1 field_mismatch=2 missing_left=1 missing_right=1 unmatched=1"
			if got := run.classes(); got != want || run.Status != "diffs" {
				t.Errorf("classes %q (status %s), want %q", got, run.Status, want)
			}
			tot := run.Summary.Totals
			// 40 pairs, less the order gone from the ERP and the one gone from the CRM.
			if tot.Matched != 38 {
				t.Errorf("matched %d, want 38", tot.Matched)
			}
			for _, side := range []struct {
				name string
				got  int64
				amt  map[string]string
				d    *database
				tbl  string
			}{{"crm", tot.Left.Count, tot.Left.Amounts, crm, "orders"}, {"erp", tot.Right.Count, tot.Right.Amounts, erp, "erp_orders"}} {
				n, sums := sideTotals(t, side.d, side.tbl)
				if side.got != n || fmt.Sprint(side.amt) != fmt.Sprint(sums) {
					t.Errorf("%s control totals: %d %v, the database holds %d %v", side.name, side.got, side.amt, n, sums)
				}
			}
			var page struct {
				Total       int         `json:"total"`
				Differences []reconDiff `json:"differences"`
			}
			r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences?class=field_mismatch", &page)
			var mism []string
			for _, d := range page.Differences {
				for _, f := range d.Detail.Fields {
					mism = append(mism, d.Key+" "+f.Field+" "+f.Left+" "+f.Right)
				}
			}
			sort.Strings(mism)
			wantMism := []string{"SO-000003 total " + os[2].Total + " " + plus(os[2].Total, "5.00"), "SO-000007 currency " +
				strings.ToUpper(os[6].Currency) + " CHF"}
			if page.Total != 2 || fmt.Sprint(mism) != fmt.Sprint(wantMism) {
				t.Errorf("field mismatches (%d): %v, want %v", page.Total, mism, wantMism)
			}
			byClass := map[string]string{}
			var page1, page2 struct {
				Differences []reconDiff `json:"differences"`
			}
			r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences?limit=2&offset=0", &page1)
			r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences?limit=100&offset=2", &page2)
			first, all := len(page1.Differences), append(page1.Differences, page2.Differences...)
			for _, d := range all {
				byClass[d.Class] += d.Side + ":" + d.Key + strings.Join(d.Detail.IDs, ",") + " "
			}
			if first != 2 || len(all) != 6 || byClass["missing_left"] != "right:SO-000015 " || byClass["missing_right"] != "left:SO-000013 " ||
				byClass["unmatched"] != "right:SO-999999 " || !strings.HasPrefix(byClass["duplicate_key"], "right:SO-000020") {
				t.Errorf("differences by class (first page %d, all %d): %v", first, len(all), byClass)
			}
			csv := r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences?format=csv", nil)
			if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 7 || !strings.HasPrefix(lines[0], "run,job,class,key") {
				t.Errorf("CSV export: %d lines:\n%s", len(lines), csv)
			}

			// Repair: the ERP is made like the CRM where the policy can.
			id, code, out = r.reconcile("orders")
			run = reconRun{}
			r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
			if code != 1 || run.Summary.Repairs != 3 || !run.Summary.Repaired {
				t.Fatalf("repair run: exit %d, repairs %d (written %v), want 1, 3, true:\n%s", code, run.Summary.Repairs, run.Summary.Repaired, out)
			}
			id, code, out = r.reconcile("orders")
			run = reconRun{}
			r.apiGet("/api/v1/reconciliations/runs/"+id, &run)
			if got, want := run.classes(), "duplicate_key=1 missing_left=1 unmatched=1"; code != 1 || got != want {
				t.Fatalf("after the repair: exit %d, classes %q, want 1 and %q:\n%s", code, got, want, out)
			}
			page.Differences = nil
			r.apiGet("/api/v1/reconciliations/runs/"+id+"/differences", &page)
			for _, d := range page.Differences {
				if d.Age != 3 {
					t.Errorf("%s %s: age %d, want 3 (reported by three runs in a row)", d.Class, d.Key, d.Age)
				}
			}
			// The operator removes what the policy may not.
			for _, ref := range []string{"dup-1", "stray-1"} {
				erp.mustExec(t, "DELETE FROM erp_orders WHERE ext_ref = ?", ref)
			}
			gone := erpRef(t, erp, "SO-000015")
			erp.mustExec(t, "DELETE FROM erp_order_lines WHERE order_ref = ?", gone)
			erp.mustExec(t, "DELETE FROM erp_orders WHERE ext_ref = ?", gone)
			if _, code, out := r.reconcile("orders"); code != 0 {
				t.Fatalf("after the clean-up: exit %d, want 0:\n%s", code, out)
			}
			// An operator starts a run through the API: it agrees too.
			started := r.apiPost("/api/v1/reconciliations/orders/run")
			waitFor(t, "the run started through the API", 30*time.Second, 200*time.Millisecond, r.watching(), func() (bool, string) {
				run = reconRun{}
				r.apiGet(fmt.Sprintf("/api/v1/reconciliations/runs/%d", started), &run)
				return run.Status == "ok", run.Status
			})
			var audit struct {
				Entries []struct{ Actor, Action, Subject string } `json:"items"`
			}
			r.apiGet("/api/v1/audit", &audit)
			found := false
			for _, e := range audit.Entries {
				found = found || (e.Action == "recon.run" && e.Actor == "e2e-operator" && e.Subject == "job:orders")
			}
			if !found {
				t.Errorf("the audit log lacks the operator's run: %+v", audit.Entries)
			}
			r.noDeadLetters()
		})
	}
}

func plus(a, b string) string {
	return decimal.RequireFromString(a).Add(decimal.RequireFromString(b)).StringFixed(2)
}

func erpRef(t testing.TB, erp *database, orderNo string) string {
	t.Helper()
	var ref string
	if err := erp.db.QueryRow(erp.rebind("SELECT ext_ref FROM erp_orders WHERE order_no = ?"), orderNo).Scan(&ref); err != nil {
		t.Fatalf("ERP order %s: %v", orderNo, err)
	}
	return ref
}

// seedDifferences makes one difference of every class between the CRM
// and the ERP, and two the rules let pass.
func seedDifferences(t testing.TB, crm, erp *database) {
	t.Helper()
	// field_mismatch: a total 5.00 off, another currency
	erp.mustExec(t, "UPDATE erp_orders SET total = total + 5 WHERE order_no = ?", "SO-000003")
	erp.mustExec(t, "UPDATE erp_orders SET currency = 'CHF' WHERE order_no = ?", "SO-000007")
	// not differences: a total 0.01 off (the tolerance), a status in another case
	erp.mustExec(t, "UPDATE erp_orders SET total = total + 0.01 WHERE order_no = ?", "SO-000010")
	erp.mustExec(t, "UPDATE erp_orders SET status = LOWER(status) WHERE order_no = ?", "SO-000011")
	// missing_right: gone from the ERP
	ref := erpRef(t, erp, "SO-000013")
	erp.mustExec(t, "DELETE FROM erp_order_lines WHERE order_ref = ?", ref)
	erp.mustExec(t, "DELETE FROM erp_orders WHERE ext_ref = ?", ref)
	// missing_left: gone from the CRM (cursor capture does not see it)
	crm.mustExec(t, "DELETE FROM order_lines WHERE order_id = ?", 15)
	crm.mustExec(t, "DELETE FROM orders WHERE id = ?", 15)
	// duplicate_key: a second ERP order numbered like SO-000020;
	// unmatched: an ERP order the hub never saw, with a number the CRM lacks
	var cust, date string
	if err := erp.db.QueryRow(erp.rebind("SELECT customer_ref, "+text(erp.dialect, "order_date")+" FROM erp_orders WHERE order_no = ?"), "SO-000020").Scan(&cust, &date); err != nil {
		t.Fatal(err)
	}
	date = date[:10]
	now := time.Now().UTC().Format("2006-01-02 15:04:05")
	for _, o := range [][2]string{{"dup-1", "SO-000020"}, {"stray-1", "SO-999999"}} {
		erp.mustExec(t, "INSERT INTO erp_orders (ext_ref, customer_ref, order_no, order_date, currency, total, status, updated_at) VALUES (?, ?, ?, ?, 'EUR', 10, 'OPEN', ?)",
			o[0], cust, o[1], date, now)
	}
}
