package e2e

import (
	"fmt"
	"testing"
	"time"
)

// openDB opens a fresh database of a dialect for a test.
func openDB(t testing.TB, dialect, dir, name string) *database {
	t.Helper()
	switch dialect {
	case postgres:
		return newPostgres(t)
	case mariadb:
		return newMariaDB(t)
	}
	return newSQLite(t, dir, name)
}

// TestSync runs the whole flow on each pair of databases: 200 customers and
// 1,000 orders of 3 lines (half before the hub starts, half while it runs),
// then updates of customers, orders and lines, new lines, cancellations,
// hard deletes (outbox capture sees them), and new customers committed
// together with their first orders. After each phase the ERP must equal the
// CRM record by record, with no dead letters.
func TestSync(t *testing.T) {
	cases := []struct {
		name, crm, erp, capture string
	}{
		{"postgres-to-postgres/cursor", postgres, postgres, "cursor"},
		{"postgres-to-postgres/outbox", postgres, postgres, "outbox"},
		{"postgres-to-mariadb/cursor", postgres, mariadb, "cursor"},
		{"postgres-to-mariadb/outbox", postgres, mariadb, "outbox"}, // deletes into MariaDB
		{"sqlite-to-sqlite/cursor", sqlite, sqlite, "cursor"},
		{"sqlite-to-sqlite/outbox", sqlite, sqlite, "outbox"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dbDir := t.TempDir()
			crm := openDB(t, tc.crm, dbDir, "crm.db")
			erp := openDB(t, tc.erp, dbDir, "erp.db")
			crm.execScript(t, crmSchema[tc.crm])
			erp.execScript(t, erpSchema[tc.erp])
			r := newRig(t, rigOpts{crm: crm, erp: erp, capture: tc.capture})
			if tc.capture == "outbox" {
				out := runHub(t, r.dir, "sql", "install-capture", "-c", r.cfg, "--connector", "crm")
				t.Logf("%s", out)
			}

			const nCust, nOrd = 200, 1000
			var cs []customer
			for i := 1; i <= nCust; i++ {
				cs = append(cs, genCustomer(i))
			}
			var os []order
			for j := 1; j <= nOrd; j++ {
				os = append(os, genOrder(j, nCust))
			}
			insertCustomers(t, crm, cs)
			insertOrders(t, crm, os[:nOrd/2], 100)
			start := time.Now()
			r.start()
			insertOrders(t, crm, os[nOrd/2:], 50)
			exp := expectation{deleted: map[int64]order{}}
			current := func() expectation { e := exp; e.crm = readCRM(t, crm); return e }
			r.waitCount("erp_orders", nOrd, 2*time.Minute)
			r.waitInStep("the initial load", time.Minute, current)
			t.Logf("initial load of %d customers and %d orders in step after %s", nCust, nOrd, time.Since(start).Round(time.Millisecond))

			// Phase 2: changes of every kind.
			start = time.Now()
			for i := 1; i <= nCust; i += 5 {
				crm.mustExec(t, "UPDATE customers SET name = ?, phone = ? WHERE id = ?",
					fmt.Sprintf(" Kunde %04d AG", i), fmt.Sprintf("+49 30 %03d %04d", 200+i%700, 9000+i), i)
			}
			before := readCRM(t, crm)
			for j := 1; j <= nOrd; j++ {
				o := before.orders[int64(j)]
				switch {
				case j%10 == 1: // paid, and line 2's quantity changed
					tx, err := crm.db.Begin()
					if err != nil {
						t.Fatal(err)
					}
					l := o.Lines[1]
					q, _ := parseCents(l.Qty)
					l.Qty = cents(q + 100)
					o.Lines[1] = l
					mustTx(t, tx, crm.rebind("UPDATE order_lines SET qty = ? WHERE order_id = ? AND line_no = 2"), l.Qty, j)
					mustTx(t, tx, crm.rebind("UPDATE orders SET status = 'paid', total = ? WHERE id = ?"), orderTotal(o.Lines), j)
					if err := tx.Commit(); err != nil {
						t.Fatal(err)
					}
				case j%50 == 3: // cancelled in the CRM
					crm.mustExec(t, "UPDATE orders SET status = 'cancelled' WHERE id = ?", j)
				case j%100 == 5: // a fourth line
					tx, err := crm.db.Begin()
					if err != nil {
						t.Fatal(err)
					}
					l := line{LineNo: 4, SKU: "SKU-EXTRA", Qty: "1.50", UnitPrice: "19.99"}
					mustTx(t, tx, crm.rebind("INSERT INTO order_lines (order_id, line_no, sku, qty, unit_price) VALUES (?, ?, ?, ?, ?)"), j, l.LineNo, l.SKU, l.Qty, l.UnitPrice)
					mustTx(t, tx, crm.rebind("UPDATE orders SET total = ? WHERE id = ?"), orderTotal(append(o.Lines, l)), j)
					if err := tx.Commit(); err != nil {
						t.Fatal(err)
					}
				case j%100 == 7 && tc.capture == "outbox": // deleted; the ERP cancels it
					exp.deleted[int64(j)] = o
					tx, err := crm.db.Begin()
					if err != nil {
						t.Fatal(err)
					}
					mustTx(t, tx, crm.rebind("DELETE FROM order_lines WHERE order_id = ?"), j)
					mustTx(t, tx, crm.rebind("DELETE FROM orders WHERE id = ?"), j)
					if err := tx.Commit(); err != nil {
						t.Fatal(err)
					}
				}
			}
			// New customers, each committed together with its first order.
			for i := nCust + 1; i <= nCust+10; i++ {
				c := genCustomer(i)
				o := genOrder(nOrd+i-nCust, nCust)
				o.CustomerID = c.ID
				tx, err := crm.db.Begin()
				if err != nil {
					t.Fatal(err)
				}
				crm.insertRows(t, tx, "customers", []string{"id", "name", "email", "phone", "country"}, [][]any{{c.ID, c.Name, c.Email, c.Phone, c.Country}})
				insertOrdersTx(t, crm, tx, []order{o})
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			r.waitInStep("the changes", time.Minute, current)
			t.Logf("changes in step after %s", time.Since(start).Round(time.Millisecond))
			r.noDeadLetters()
			r.hub.stop(t)
		})
	}
}

func orderTotal(ls []line) string {
	var sum int64
	for _, l := range ls {
		a, _ := parseCents(amount(l.Qty, l.UnitPrice))
		sum += a
	}
	return cents(sum)
}
