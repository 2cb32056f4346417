package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// sourceStates asks a hub's API which of its sources run and which stand
// by.
func (r *rig) sourceStates(t testing.TB) map[string]string {
	t.Helper()
	code, body := apiCall(t, r.httpAddr, "GET", "/api/v1/status", "e2e-operator-token", "")
	if code != http.StatusOK {
		return nil
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /api/v1/status: %v\n%s", err, body)
	}
	out := map[string]string{}
	for _, x := range st.Runners {
		if x.Runner == "source crm-customers" || x.Runner == "source crm-orders" {
			out[x.Runner] = x.State
		}
	}
	return out
}

// TestTwoHubsShareOneStateStore runs two hubs with the same config on one
// PostgreSQL state store and one broker (issue 15): each source runs in
// exactly one of them, the other stands by. The one that reads the orders
// is killed (kill -9) while 10,000 orders flow: the other takes the source
// over within the lease time, and every order reaches the ERP once.
func TestTwoHubsShareOneStateStore(t *testing.T) {
	t.Parallel()
	crm, erp := pgPair(t)
	state := newPostgres(t)
	kafkaAddr := freeAddr(t)
	broker := startProc(t, "broker", "", nil, "broker", "--addr", kafkaAddr, "--data-dir", filepath.Join(t.TempDir(), "kafka"))
	waitListen(t, broker, kafkaAddr, 30*time.Second)
	const ttl = 5 * time.Second
	opts := rigOpts{crm: crm, erp: erp, brokers: kafkaAddr, stateDSN: state.dsn, leaseTTL: ttl.String()}
	a, b := newRig(t, opts), newRig(t, opts)
	a.watch, b.watch = []*proc{broker}, []*proc{broker}
	const nCust, nOrd = 200, 10000
	cs, os := genData(nCust, nOrd)
	insertCustomers(t, crm, cs)
	a.start()
	b.start()

	// Every source runs in exactly one hub.
	var owner, other *rig
	waitFor(t, "each source running in exactly one hub", 30*time.Second, 200*time.Millisecond, []*proc{a.hub, b.hub, broker}, func() (bool, string) {
		sa, sb := a.sourceStates(t), b.sourceStates(t)
		for _, src := range []string{"source crm-customers", "source crm-orders"} {
			if !(sa[src] == "running" && sb[src] == "standby") && !(sa[src] == "standby" && sb[src] == "running") {
				return false, fmt.Sprintf("a: %v, b: %v", sa, sb)
			}
		}
		owner, other = a, b
		if sb["source crm-orders"] == "running" {
			owner, other = b, a
		}
		return true, ""
	})
	a.watch, b.watch = append(a.watch, b.hub), append(b.watch, a.hub)

	var killedAt time.Time
	feed(t, owner, crm, os, 250, action{at: nOrd * 30 / 100, what: "kill -9 the hub that reads the orders", do: func() {
		killedAt = time.Now()
		owner.hub.kill(t)
		other.watch = []*proc{broker}
	}})
	var tookOver time.Duration
	waitFor(t, "the other hub to take the orders over", 3*ttl, 100*time.Millisecond, other.watching(), func() (bool, string) {
		st := other.sourceStates(t)
		if st["source crm-orders"] == "running" {
			tookOver = time.Since(killedAt)
			return true, ""
		}
		return false, fmt.Sprintf("%v", st)
	})
	t.Logf("the other hub took the orders over %s after the kill (lease %s)", tookOver.Round(time.Millisecond), ttl)
	// The lease is renewed every third of its time, and the standby tries
	// every quarter second: it expires at most ttl after the kill.
	if tookOver > ttl+time.Second {
		t.Errorf("the orders were taken over %s after the kill; the lease is %s", tookOver, ttl)
	}
	other.waitCount("erp_orders", nOrd, 4*time.Minute)
	other.waitInStep("every order exactly once", time.Minute, func() expectation { return expectation{crm: readCRM(t, crm)} })
	other.noDeadLetters()
	other.hub.stop(t)
}
