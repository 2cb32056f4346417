package e2e

// Operating a running hub as one operates Kafka Connect (issue 15): status,
// pause and resume of a source and of a sink, a cursor shown and reset in
// words, the audit log — through the CLI, against a real hub.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

type statusJSON struct {
	Runners []struct {
		Runner     string   `json:"runner"`
		State      string   `json:"state"`
		Reason     string   `json:"reason"`
		Records    int64    `json:"records"`
		LagRecords *int64   `json:"lag_records"`
		LagSeconds *float64 `json:"lag_seconds"`
	} `json:"runners"`
	Connectors []struct {
		Name string `json:"name"`
		Up   bool   `json:"up"`
	} `json:"connectors"`
}

func (r *rig) status(t testing.TB) statusJSON {
	t.Helper()
	out := runHub(t, r.dir, "status", "-c", r.cfg, "--json", "--token", "e2e-operator-token")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("hub status --json: %v\n%s", err, out)
	}
	return st
}

// waitState waits until `hub status` shows runner in state.
func (r *rig) waitState(runner, state string) statusJSON {
	r.t.Helper()
	var st statusJSON
	waitFor(r.t, runner+" "+state, 30*time.Second, 300*time.Millisecond, r.watching(), func() (bool, string) {
		st = r.status(r.t)
		for _, x := range st.Runners {
			if x.Runner == runner {
				return x.State == state, x.State + " " + x.Reason
			}
		}
		return false, "no such runner"
	})
	return st
}

func TestOperateRunningHub(t *testing.T) {
	t.Parallel()
	crm, erp := pgPair(t)
	r := newRig(t, rigOpts{crm: crm, erp: erp})
	cs, _ := genData(30, 0)
	_, os := genData(20, 60) // orders of the first 20 customers
	insertCustomers(t, crm, cs[:20])
	r.start()
	r.waitCount("erp_customers", 20, time.Minute)

	// A paused source reads nothing; its cursor is shown in words.
	if out := runHub(t, r.dir, "pause", "source", "crm-orders", "-c", r.cfg, "--reason", "ERP maintenance", "--actor", "e2e"); !strings.Contains(out, "source crm-orders: paused") {
		t.Fatalf("hub pause: %s", out)
	}
	r.waitState("source crm-orders", "paused")
	// The metrics exist from the start, at zero before the first order,
	// and say what status says.
	for _, m := range []struct {
		name   string
		labels []string
	}{
		{"hub_records_in_total", []string{`connector="crm"`, `entity="order"`}},
		{"hub_records_out_total", []string{`connector="erp"`, `entity="order"`}},
		{"hub_dead_letters_total", []string{`connector="erp"`, `runner="erp"`, `entity="order"`, `stage="write"`}},
		{"hub_dead_letters_open", []string{`connector="crm"`, `runner="crm-orders"`, `entity="order"`}},
	} {
		if v, ok := metricValue(t, r.httpAddr, m.name, m.labels...); !ok || v != 0 {
			t.Errorf("%s%v before the first order = %v (present: %v), want 0", m.name, m.labels, v, ok)
		}
	}
	if v, ok := metricValue(t, r.httpAddr, "hub_runner_state", `runner="crm-orders"`, `state="paused"`); !ok || v != 1 {
		t.Errorf("hub_runner_state of the paused crm-orders: %v (present: %v)", v, ok)
	}
	if v, ok := metricValue(t, r.httpAddr, "hub_source_freshness_seconds", `runner="crm-customers"`); !ok || v < 0 {
		t.Errorf("hub_source_freshness_seconds of crm-customers: %v (present: %v)", v, ok)
	}
	if _, ok := metricValue(t, r.httpAddr, "hub_last_success_timestamp_seconds", `runner="erp"`, `entity="customer"`); !ok {
		t.Errorf("no hub_last_success_timestamp_seconds of sink erp/customer after it wrote 20 customers")
	}
	insertOrders(t, crm, os, 30)
	time.Sleep(3 * time.Second)
	if n := erp.count(t, "erp_orders"); n != 0 {
		t.Fatalf("the ERP holds %d orders while their source is paused", n)
	}
	if out := runHub(t, r.dir, "cursor", "show", "crm-orders", "-c", r.cfg); !strings.Contains(out, "the beginning") {
		t.Errorf("hub cursor show before any order: %s", out)
	}
	runHub(t, r.dir, "resume", "source", "crm-orders", "-c", r.cfg, "--actor", "e2e")
	r.waitInStep("the orders after the resume", time.Minute, func() expectation { return expectation{crm: readCRM(t, crm)} })

	// A running source's cursor is not moved; a paused one's is, in words.
	if _, stderr, err := runHubCode(t, r.dir, "cursor", "set", "crm-orders", "--beginning", "-c", r.cfg); err == nil || !strings.Contains(stderr, "pause it first") {
		t.Errorf("hub cursor set on a running source: %v %s", err, stderr)
	}
	runHub(t, r.dir, "pause", "source", "crm-orders", "-c", r.cfg, "--actor", "e2e")
	r.waitState("source crm-orders", "paused")
	if out := runHub(t, r.dir, "cursor", "show", "crm-orders", "-c", r.cfg); !strings.Contains(out, "after the change of order") {
		t.Errorf("hub cursor show after reading: %s", out)
	}
	before := metricSum(t, r.httpAddr, "hub_records_suppressed_total", `connector="crm"`, `entity="order"`, `reason="unchanged"`)
	if out := runHub(t, r.dir, "cursor", "set", "crm-orders", "--beginning", "-c", r.cfg, "--actor", "e2e"); !strings.Contains(out, "the beginning") {
		t.Errorf("hub cursor set --beginning: %s", out)
	}
	runHub(t, r.dir, "resume", "source", "crm-orders", "-c", r.cfg, "--actor", "e2e")
	// Every order is read again and found unchanged: nothing doubled.
	waitFor(t, "the orders read again", time.Minute, 300*time.Millisecond, r.watching(), func() (bool, string) {
		n := metricSum(t, r.httpAddr, "hub_records_suppressed_total", `connector="crm"`, `entity="order"`, `reason="unchanged"`) - before
		return n >= float64(len(os)), fmt.Sprintf("%v of %d read again", n, len(os))
	})
	r.waitInStep("no order doubled", time.Minute, func() expectation { return expectation{crm: readCRM(t, crm)} })

	// A paused sink entity holds its records in Kafka, with its lag shown.
	runHub(t, r.dir, "pause", "sink", "erp", "--entity", "customer", "-c", r.cfg, "--actor", "e2e")
	r.waitState("sink erp/customer", "paused")
	insertCustomers(t, crm, cs[20:])
	var lag int64
	waitFor(t, "the paused sink's lag", 30*time.Second, 300*time.Millisecond, r.watching(), func() (bool, string) {
		st := r.status(t)
		for _, x := range st.Runners {
			if x.Runner == "sink erp/customer" && x.LagRecords != nil {
				lag = *x.LagRecords
			}
		}
		return lag > 0, fmt.Sprintf("%d in %+v; %d customers in the CRM", lag, st.Runners, crm.count(t, "customers"))
	})
	if n := erp.count(t, "erp_customers"); n != 20 {
		t.Errorf("the ERP holds %d customers while their sink is paused, want 20", n)
	}
	runHub(t, r.dir, "resume", "sink", "erp", "-c", r.cfg, "--actor", "e2e")
	r.waitInStep("the customers after the sink's resume", time.Minute, func() expectation { return expectation{crm: readCRM(t, crm)} })
	r.waitState("sink erp/customer", "running")

	audit := runHub(t, r.dir, "audit", "-c", r.cfg)
	for _, want := range []string{"pause", "resume", "cursor.set", "source crm-orders", "sink erp/customer", "ERP maintenance"} {
		if !strings.Contains(audit, want) {
			t.Errorf("hub audit lacks %q:\n%s", want, audit)
		}
	}
	r.noDeadLetters()
	r.hub.stop(t)
}
