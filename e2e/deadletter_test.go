package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMalformedRowsDeadLetteredAndReplayed puts malformed orders among good
// ones in the same batches (totals written "12,50", a missing currency):
// exactly those are dead-lettered by the source's mapping with a reason
// naming the field, every other order is delivered. Then the operator fixes
// the mapping (a replace transform, a default), restarts the hub and runs
// `hub dlq replay ID...`: the orders are delivered and the dead letters are
// marked replayed.
func TestMalformedRowsDeadLetteredAndReplayed(t *testing.T) {
	t.Parallel()
	crm, erp := pgPair(t)
	// This CRM keeps money as text and lets the currency be empty.
	crm.execScript(t, `ALTER TABLE orders ALTER COLUMN total TYPE TEXT
--
ALTER TABLE orders ALTER COLUMN currency DROP NOT NULL
--
ALTER TABLE orders ALTER COLUMN currency DROP DEFAULT`)
	r := newRig(t, rigOpts{crm: crm, erp: erp})
	r.allowDeadLetters = true

	const nCust, nOrd = 100, 300
	cs, os := genData(nCust, nOrd)
	badTotal := map[int64]bool{10: true, 20: true, 30: true, 140: true, 250: true}
	noCurrency := map[int64]bool{60: true, 170: true, 280: true}
	for i := range os {
		switch o := &os[i]; {
		case badTotal[o.ID]:
			o.Total = strings.Replace(o.Total, ".", ",", 1)
		case noCurrency[o.ID]:
			o.Currency = ""
		}
	}
	insertCustomers(t, crm, cs)
	insertOrders(t, crm, os, 100)
	// An empty currency is NULL in the CRM.
	crm.mustExec(t, "UPDATE orders SET currency = NULL WHERE currency = ''")
	r.start()

	isBad := func(id int64) bool { return badTotal[id] || noCurrency[id] }
	goodOnly := func() expectation {
		st := readCRM(t, crm)
		for id := range st.orders {
			if isBad(id) {
				delete(st.orders, id)
			}
		}
		return expectation{crm: st}
	}
	r.waitInStep("every good order delivered", time.Minute, goodOnly)
	var dls dlqList
	waitFor(t, "8 open dead letters", 30*time.Second, 200*time.Millisecond, r.watching(), func() (bool, string) {
		dls = listDeadLetters(t, r.dir, r.cfg, "open")
		return dls.Total >= len(badTotal)+len(noCurrency), strconv.Itoa(dls.Total) + " open"
	})
	if dls.Total != len(badTotal)+len(noCurrency) {
		t.Fatalf("%d open dead letters, want %d: %+v", dls.Total, len(badTotal)+len(noCurrency), dls.Items)
	}
	var ids []string
	for _, d := range dls.Items {
		id, _ := strconv.ParseInt(d.Key, 10, 64)
		want := "total"
		if noCurrency[id] {
			want = "currency"
		}
		if d.Connector != "crm-orders" || d.Entity != "order" || d.Stage != "map_in" || !isBad(id) || !strings.Contains(d.Error, want) {
			t.Errorf("dead letter %d: source=%s entity=%s key=%s stage=%s error=%q; want source crm-orders, entity order, a malformed order's key, stage map_in, an error naming %q",
				d.ID, d.Connector, d.Entity, d.Key, d.Stage, d.Error, want)
		}
		ids = append(ids, strconv.FormatInt(d.ID, 10))
	}
	r.noDoublesOf(ids)
	// The metrics say the same: filed under the source's connector (the
	// CRM) and the source, the open ones as a gauge.
	openLabels := []string{`connector="crm"`, `runner="crm-orders"`, `entity="order"`}
	if n := metricSum(t, r.httpAddr, "hub_dead_letters_total", append(openLabels, `stage="map_in"`)...); n != float64(len(ids)) {
		t.Errorf("hub_dead_letters_total of crm-orders at map_in = %v, want %d", n, len(ids))
	}
	if n := metricSum(t, r.httpAddr, "hub_dead_letters_open", openLabels...); n != float64(len(ids)) {
		t.Errorf("hub_dead_letters_open of crm-orders = %v, want %d", n, len(ids))
	}

	// Meanwhile someone corrects one malformed order in the CRM itself (and
	// changes its status): the hub syncs that at once, and closes its dead
	// letter as superseded: replaying it would bring the old content back.
	const corrected = 250
	crm.mustExec(t, "UPDATE orders SET total = REPLACE(total, ',', '.'), status = 'cancelled' WHERE id = ?", corrected)
	r.waitInStep("the corrected order delivered", time.Minute, func() expectation {
		e := goodOnly()
		st := readCRM(t, crm)
		e.crm.orders[corrected] = st.orders[corrected]
		return e
	})
	var supersededID string
	waitFor(t, "the corrected order's dead letter superseded", 30*time.Second, 200*time.Millisecond, r.watching(), func() (bool, string) {
		l := listDeadLetters(t, r.dir, r.cfg, "superseded")
		if l.Total == 1 && l.Items[0].Key == strconv.Itoa(corrected) {
			supersededID = strconv.FormatInt(l.Items[0].ID, 10)
			return true, ""
		}
		return false, fmt.Sprintf("%+v", l.Items)
	})
	if n := metricSum(t, r.httpAddr, "hub_dead_letters_open", openLabels...); n != float64(len(ids)-1) {
		t.Errorf("hub_dead_letters_open of crm-orders after one was superseded = %v, want %d", n, len(ids)-1)
	}
	r.hub.stop(t)
	var still []string
	for _, id := range ids {
		if id != supersededID {
			still = append(still, id)
		}
	}
	ids = still

	// The fix: decimal commas and a default currency.
	mp := filepath.Join(r.dir, "mappings", "crm-order-in.yaml")
	rewrite(t, mp,
		"  currency: {from: currency, transform: [upper], required: true}",
		"  currency: {from: currency, transform: [upper, {default: EUR}], required: true}",
		"  total: {from: total, type: decimal, required: true}",
		"  total: {from: total, transform: [{replace: {pattern: ',', with: '.'}}], type: decimal, required: true}")
	r.start()
	// A replay of the superseded one says so and exits non-zero.
	if _, stderr, err := runHubCode(t, r.dir, "dlq", "replay", "-c", r.cfg, "--actor", "e2e", supersededID); err == nil || !strings.Contains(stderr, "superseded") {
		t.Errorf("hub dlq replay of the superseded dead letter: %v\n%s", err, stderr)
	}
	out := runHub(t, r.dir, append([]string{"dlq", "replay", "-c", r.cfg, "--actor", "e2e"}, ids...)...)
	t.Logf("hub dlq replay:\n%s", out)

	fixed := func() expectation {
		st := readCRM(t, crm)
		skip := map[string]bool{}
		for id, o := range st.orders {
			if isBad(id) && id != corrected {
				o.Total = strings.Replace(o.Total, ",", ".", 1)
				if o.Currency == "" {
					o.Currency = "EUR"
				}
				st.orders[id] = o
				skip[o.OrderNo] = true // a replay is versioned by its own time
			}
		}
		return expectation{crm: st, skipVersion: skip}
	}
	r.waitCount("erp_orders", nOrd, time.Minute)
	// Every replayed record has been through the sink (written or skipped):
	// the counters started at 0 with the restart, and nothing else flows.
	waitFor(t, "the sink to take the 8 replayed orders", 30*time.Second, 200*time.Millisecond, r.watching(), func() (bool, string) {
		w := metricSum(t, r.httpAddr, "hub_records_out_total", `connector="erp"`, `entity="order"`)
		s := metricSum(t, r.httpAddr, "hub_records_suppressed_total", `connector="erp"`, `entity="order"`)
		return int(w+s) >= len(ids), "written " + strconv.Itoa(int(w)) + ", suppressed " + strconv.Itoa(int(s))
	})
	if l := listDeadLetters(t, r.dir, r.cfg, "replayed"); l.Total != len(ids) {
		t.Errorf("%d dead letters replayed, want %d: %+v", l.Total, len(ids), l.Items)
	}
	if l := listDeadLetters(t, r.dir, r.cfg, "open"); l.Total != 0 {
		t.Errorf("%d dead letters still open after the replay, want 0: %+v", l.Total, l.Items)
	}
	if diffs := diffERP(fixed(), readERP(t, erp)); len(diffs) > 0 {
		msg := summarize(diffs)
		only250 := true
		for _, d := range diffs {
			only250 = only250 && strings.Contains(d, "SO-000250")
		}
		if only250 {
			msg = "BUG: replaying the dead letter of an order that was corrected in the CRM since brings its old content back " +
				"(pipeline/replay.go stamps a replayed map_in record with time.Now() as its version, so the version guard " +
				"lets the stale payload overwrite the newer row): " + msg
		}
		t.Errorf("after the replay the ERP is not in step with the CRM: %s", msg)
	}
	r.hub.stop(t)
}

// rewrite replaces old with new in file, pair by pair; each old must occur.
func rewrite(t testing.TB, file string, pairs ...string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s has no line %q", file, pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// noDoublesOf fails when the ids repeat.
func (r *rig) noDoublesOf(ids []string) {
	r.t.Helper()
	s := append([]string(nil), ids...)
	sort.Strings(s)
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			r.t.Errorf("dead letter %s listed twice", s[i])
		}
	}
}
