package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSoakERPOutageThenReplay (issue 11): 10,000 orders flow from a
// PostgreSQL CRM (outbox capture) to a PostgreSQL ERP. When a fifth of
// them are in, the ERP's orders table goes away for 40 s; meanwhile the
// rest of the orders arrive in the CRM, every tenth order is paid, every
// hundredth deleted, and 20 new orders carry a decimal comma the mapping
// does not take. The outage pauses the order sink (no dead letters); the
// 20 are dead-lettered at the source. Then the mapping is fixed, the
// running hub reloads it, and one bulk replay takes the 20: the ERP ends
// equal to the CRM record by record, every delete a cancelled order, each
// order once.
func TestSoakERPOutageThenReplay(t *testing.T) {
	t.Parallel()
	crm, erp := pgPair(t)
	crm.execScript(t, `ALTER TABLE orders ALTER COLUMN total TYPE TEXT`)
	r := newRig(t, rigOpts{crm: crm, erp: erp, capture: "outbox", retryMax: "1s"})
	runHub(t, r.dir, "sql", "install-capture", "-c", r.cfg, "--connector", "crm")
	r.allowDeadLetters = true
	const nCust, nOrd, nBad = 200, 10000, 20
	cs, os := genData(nCust, nOrd)
	insertCustomers(t, crm, cs)
	r.start()

	var outage sync.WaitGroup
	var restoreErr error
	outage.Add(1)
	feed(t, r, crm, os, 250, action{at: nOrd / 5, what: "the ERP's orders table goes away for 40 s", do: func() {
		erp.mustExec(t, "ALTER TABLE erp_orders RENAME TO erp_orders_away")
		time.AfterFunc(40*time.Second, func() {
			defer outage.Done()
			_, restoreErr = erp.db.Exec("ALTER TABLE erp_orders_away RENAME TO erp_orders")
		})
	}})

	// During the outage: updates, deletes of orders the ERP holds, and
	// orders the mapping refuses. (An order created and deleted while the
	// ERP is away may never reach it, which is right but not what this
	// test counts.)
	inERP := map[string]bool{}
	rows, err := erp.db.Query("SELECT order_no FROM erp_orders_away")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var no string
		if err := rows.Scan(&no); err != nil {
			t.Fatal(err)
		}
		inERP[no] = true
	}
	rows.Close()
	exp := expectation{deleted: map[int64]order{}, skipVersion: map[string]bool{}}
	before := readCRM(t, crm)
	for j := 1; j <= nOrd; j++ {
		switch {
		case j%100 == 7 && inERP[before.orders[int64(j)].OrderNo]:
			exp.deleted[int64(j)] = before.orders[int64(j)]
			tx, err := crm.db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			mustTx(t, tx, crm.rebind("DELETE FROM order_lines WHERE order_id = ?"), j)
			mustTx(t, tx, crm.rebind("DELETE FROM orders WHERE id = ?"), j)
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		case j%10 == 1:
			crm.mustExec(t, "UPDATE orders SET status = 'paid' WHERE id = ?", j)
		}
	}
	var bad []order
	for j := nOrd + 1; j <= nOrd+nBad; j++ {
		o := genOrder(j, nCust)
		o.Total = strings.Replace(o.Total, ".", ",", 1)
		bad = append(bad, o)
		exp.skipVersion[o.OrderNo] = true // replayed: versioned by the replay
	}
	insertOrders(t, crm, bad, nBad)
	t.Logf("during the outage: %d orders deleted, %d paid, %d malformed", len(exp.deleted), nOrd/10, nBad)
	if n := erp.count(t, "erp_customers"); n != nCust {
		t.Errorf("the ERP holds %d customers during the orders' outage, want %d (their sink is not paused)", n, nCust)
	}
	outage.Wait()
	if restoreErr != nil {
		t.Fatalf("restore the ERP's orders table: %v", restoreErr)
	}
	r.waitReadyz(200, 2*time.Minute)

	// Only the 20 malformed orders are dead letters: the outage made none.
	var dls dlqList
	waitFor(t, "the malformed orders dead-lettered", time.Minute, 300*time.Millisecond, r.watching(), func() (bool, string) {
		dls = listDeadLetters(t, r.dir, r.cfg, "open")
		return dls.Total >= nBad, itoa(dls.Total) + " open"
	})
	for _, d := range dls.Items {
		if d.Connector != "crm-orders" || d.Stage != "map_in" || !strings.Contains(d.Error, "not a decimal") {
			t.Errorf("dead letter %d: %s %s %s %q; want only the malformed orders (crm-orders, map_in, not a decimal)", d.ID, d.Connector, d.Entity, d.Stage, d.Error)
		}
	}
	if dls.Total != nBad {
		t.Fatalf("%d open dead letters, want %d", dls.Total, nBad)
	}

	// The fix, taken by the running hub, and one bulk replay.
	rewrite(t, r.dir+"/mappings/crm-order-in.yaml",
		"  total: {from: total, type: decimal, required: true}",
		"  total: {from: total, transform: [{replace: {pattern: ',', with: '.'}}], type: decimal, required: true}")
	if out, errOut, err := runHubEnv(t, r.dir, []string{"HUB_API_TOKEN=e2e-admin-token-0001"}, "reload", "-c", r.cfg); err != nil {
		t.Fatalf("hub reload: %v\n%s%s", err, out, errOut)
	}
	out := runHub(t, r.dir, "dlq", "replay", "--connector", "crm-orders", "--error", "not a decimal", "-c", r.cfg, "--actor", "e2e")
	if !strings.Contains(out, "20 replayed") {
		t.Errorf("hub dlq replay: %s", out)
	}
	fixed := func() expectation {
		e := exp
		e.crm = readCRM(t, crm)
		for id, o := range e.crm.orders {
			if id > nOrd {
				o.Total = strings.Replace(o.Total, ",", ".", 1)
				e.crm.orders[id] = o
			}
		}
		return e
	}
	r.waitInStep("every order, update and delete mirrored, each once", 3*time.Minute, fixed)
	if l := listDeadLetters(t, r.dir, r.cfg, "open"); l.Total != 0 {
		t.Errorf("%d dead letters open after the replay: %+v", l.Total, l.Items)
	}
	r.hub.stop(t)
}
