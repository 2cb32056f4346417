package e2e

// Connectors that recover on their own (issue 10): a fault of the whole ERP
// pauses its sink (no dead letters, visible in /readyz and
// hub_connector_up) and the records arrive once it is fixed; an ERP down at
// start delays only its own sink; a stop finishes within
// hub.shutdown_timeout however a system hangs.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readyz returns /readyz's status code and body.
func readyz(t testing.TB, httpAddr string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + httpAddr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReadyz waits until /readyz answers code with a body holding every
// part.
func (r *rig) waitReadyz(code int, d time.Duration, parts ...string) string {
	r.t.Helper()
	var body string
	waitFor(r.t, fmt.Sprintf("/readyz %d naming %q", code, parts), d, 200*time.Millisecond, r.watching(), func() (bool, string) {
		var got int
		got, body = readyz(r.t, r.httpAddr)
		if got != code {
			return false, fmt.Sprintf("%d %s", got, body)
		}
		for _, p := range parts {
			if !strings.Contains(body, p) {
				return false, body
			}
		}
		return true, ""
	})
	return body
}

// TestERPTableRenamedMidRun: the ERP's customers table is renamed while
// customers and orders flow. Every customer write now fails the same way:
// the ERP sink's circuit opens (/readyz 503 naming the sink and the
// reason, hub_connector_up{connector="erp"} 0) and nothing is
// dead-lettered. Renamed back, the waiting records arrive, each once.
func TestERPTableRenamedMidRun(t *testing.T) {
	t.Parallel()
	crm, erp := pgPair(t)
	r := newRig(t, rigOpts{crm: crm, erp: erp, retryMax: "1s"})
	cs, os := genData(60, 200)
	insertCustomers(t, crm, cs[:20])
	r.start()
	r.waitCount("erp_customers", 20, time.Minute)

	erp.mustExec(t, "ALTER TABLE erp_customers RENAME TO erp_customers_away")
	insertCustomers(t, crm, cs[20:])
	insertOrders(t, crm, os, 50)
	body := r.waitReadyz(503, time.Minute, "sink erp/customer", "circuit open", "erp_customers")
	t.Logf("/readyz while the table is away: %s", body)
	if up := metricSum(t, r.httpAddr, "hub_connector_up", `connector="erp"`); up != 0 {
		t.Errorf(`hub_connector_up{connector="erp"} = %v while the table is away, want 0`, up)
	}
	if up := metricSum(t, r.httpAddr, "hub_connector_up", `connector="crm"`); up != 1 {
		t.Errorf(`hub_connector_up{connector="crm"} = %v, want 1 (the CRM is fine)`, up)
	}
	time.Sleep(5 * time.Second) // several more tries of the paused sink
	if n := metricSum(t, r.httpAddr, "hub_dead_letters_total"); n != 0 {
		t.Fatalf("%v records dead-lettered for a table that is away", n)
	}

	erp.mustExec(t, "ALTER TABLE erp_customers_away RENAME TO erp_customers")
	r.waitInStep("every customer and order, once", 2*time.Minute, func() expectation { return expectation{crm: readCRM(t, crm)} })
	r.waitReadyz(200, time.Minute)
	if up := metricSum(t, r.httpAddr, "hub_connector_up", `connector="erp"`); up != 1 {
		t.Errorf(`hub_connector_up{connector="erp"} = %v after the table is back, want 1`, up)
	}
	r.noDeadLetters()
	r.hub.stop(t)
}

// TestERPDownAtStart: the ERP cannot be reached when the hub starts. The
// hub starts anyway: the CRM's sources and the other sink (a mirror) run,
// /readyz names the ERP as not started; once the ERP answers, its sink
// catches up.
func TestERPDownAtStart(t *testing.T) {
	t.Parallel()
	crm, erp := pgPair(t)
	mirror := newPostgres(t)
	mirror.execScript(t, erpSchema[postgres])
	u, err := url.Parse(erp.dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newProxy(t, u.Host)
	proxy.setDown(true)
	u.Host = proxy.addr()
	r := newRig(t, rigOpts{crm: crm, erp: erp, erpDSN: u.String(), mirror: mirror})
	cs, os := genData(30, 100)
	insertCustomers(t, crm, cs)
	insertOrders(t, crm, os, 50)
	r.hub = startProc(t, "hub", r.dir, nil, "run", "-c", r.cfg)
	waitHTTP(t, r.hub, "http://"+r.httpAddr+"/healthz", 200, time.Minute)
	body := r.waitReadyz(503, time.Minute, "connector erp", "not started")
	t.Logf("/readyz with the ERP down: %s", body)

	waitFor(t, "the mirror to hold every order", 2*time.Minute, 250*time.Millisecond, r.watching(), func() (bool, string) {
		n := mirror.count(t, "erp_orders")
		return n == len(os), fmt.Sprintf("%d of %d", n, len(os))
	})
	if diffs := diffERP(expectation{crm: readCRM(t, crm)}, readERP(t, mirror)); len(diffs) > 0 {
		t.Fatalf("mirror: %s", summarize(diffs))
	}
	if n := erp.count(t, "erp_orders"); n != 0 {
		t.Fatalf("the ERP holds %d orders while it cannot be reached", n)
	}

	proxy.setDown(false)
	r.waitInStep("the ERP to catch up", 2*time.Minute, func() expectation { return expectation{crm: readCRM(t, crm)} })
	r.waitReadyz(200, time.Minute)
	r.noDeadLetters()
	r.hub.stop(t)
}

// TestStopWithHungTarget: a lock on the ERP's orders table makes the order
// sink's write hang. SIGINT must end the hub within hub.shutdown_timeout
// (20 s in the rig); the hung batch is not committed, so after the lock
// goes and the hub starts again every order arrives, once.
func TestStopWithHungTarget(t *testing.T) {
	t.Parallel()
	crm, erp := pgPair(t)
	r := newRig(t, rigOpts{crm: crm, erp: erp})
	cs, os := genData(20, 60)
	insertCustomers(t, crm, cs)
	r.start()
	r.waitCount("erp_customers", len(cs), time.Minute)

	lock, err := erp.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.Exec("LOCK TABLE erp_orders IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	insertOrders(t, crm, os, 30)
	// The order sink is now waiting on the lock.
	waitFor(t, "the order sink to hang on the lock", time.Minute, 200*time.Millisecond, r.watching(), func() (bool, string) {
		var waiting int
		if err := erp.db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%erp_orders%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		return waiting > 0, fmt.Sprint(waiting, " waiting")
	})
	start := time.Now()
	_ = r.hub.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-r.hub.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("the hub did not stop within 40s of SIGINT (shutdown_timeout 20s); output:\n%s", r.hub.tail(40))
	}
	took := time.Since(start)
	t.Logf("stopped %s after SIGINT with a sink hung on the ERP (exit: %v)", took.Round(time.Millisecond), r.hub.err)
	if took > 22*time.Second {
		t.Errorf("the stop took %s; hub.shutdown_timeout is 20s", took.Round(time.Millisecond))
	}
	if !strings.Contains(r.hub.out.String(), "abandoning sink writes") {
		t.Errorf("the hub did not say it abandoned the hung write; output:\n%s", r.hub.tail(30))
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.waitInStep("every order, once, after the restart", 2*time.Minute, func() expectation { return expectation{crm: readCRM(t, crm)} })
	r.noDeadLetters()
	r.hub.stop(t)
}
