package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/connectortest"
	"github.com/crmhub/hub/mapping"
)

// TestConformance runs the connector suite on each database: customers
// captured through the outbox (deletes arrive) and hard-deleted, orders
// with lines read by cursor and soft-deleted (cancelled).
func TestConformance(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		connectortest.Run(t, sqlHarness(td))
	})
}

func sqlHarness(td *testDB) connectortest.Harness {
	h := &sqlFixture{td: td}
	return connectortest.Harness{
		New: h.start, Sample: h.sample, Lookup: h.lookup, Count: h.count, Refused: h.refused, Remove: h.remove,
		Insert: h.insert, Update: h.update, Delete: h.delete,
		Break: h.breakTables, BreakUnavailable: true,
	}
}

type sqlFixture struct {
	td *testDB
}

func (h *sqlFixture) start(t *testing.T) connectors.Connector {
	td := h.td
	td.exec(t,
		`CREATE TABLE customers (ext VARCHAR(64) NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL, updated_at {ts})`,
		`CREATE TABLE orders (id {autoid}, ext VARCHAR(64) NOT NULL UNIQUE, status VARCHAR(16) NOT NULL, total NUMERIC(14,2), updated_at {ts})`,
		`CREATE TABLE order_lines (order_id BIGINT NOT NULL, line_no INTEGER NOT NULL, sku VARCHAR(32), qty INTEGER, PRIMARY KEY (order_id, line_no))`,
	)
	cfg := Config{Driver: td.driver, DSN: td.dsn, PollInterval: 20 * time.Millisecond, Entities: map[string]EntityConfig{
		"customer": {Table: "customers", Key: "ext", Capture: CaptureOutbox, LookBack: dur(time.Second)},
		"order": {Table: "orders", ExternalID: "ext", LookBack: dur(time.Second),
			Delete: DeleteConfig{Mode: DeleteSoft, Column: "status", Value: "cancelled"},
			Lines:  &LinesConfig{Table: "order_lines", ParentKey: "order_id", Key: "line_no"}},
	}}
	c, err := New("crm", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.InstallCapture(t.Context()); err != nil {
		t.Fatal(err)
	}
	return startConn(t, td, cfg)
}

func (h *sqlFixture) sample(_ *testing.T, entity string, i, v int) connectortest.Sample {
	if entity == "customer" {
		name := fmt.Sprintf("Customer %d v%d", i, v)
		return connectortest.Sample{Mark: name, Rec: connectors.WriteRecord{HubID: fmt.Sprintf("hub-c-%d", i), Data: obj("name", name)}}
	}
	line := obj("line_no", 1, "sku", fmt.Sprintf("SKU-%d", v), "qty", v)
	return connectortest.Sample{Mark: fmt.Sprintf("%d.00/1", v), Rec: connectors.WriteRecord{HubID: fmt.Sprintf("hub-o-%d", i),
		Data: obj("status", "open", "total", num(fmt.Sprintf("%d.00", v)), "lines", mapping.ArrayValue([]mapping.Value{line}))}}
}

func (h *sqlFixture) refused(_ *testing.T, entity string) connectors.WriteRecord {
	if entity == "customer" { // name is NOT NULL
		return connectors.WriteRecord{HubID: "hub-c-refused", Data: obj("name", mapping.Value{})}
	}
	return connectors.WriteRecord{HubID: "hub-o-refused", Data: obj("status", mapping.Value{}, "total", num("1.00"))}
}

func (h *sqlFixture) lookup(t *testing.T, entity, ext string) connectortest.State {
	td := h.td
	if entity == "customer" {
		var name string
		err := td.db.QueryRowx(td.d.rebind("SELECT name FROM customers WHERE ext = ?"), ext).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return connectortest.State{}
		}
		if err != nil {
			t.Fatal(err)
		}
		return connectortest.State{Found: true, Mark: name}
	}
	var id int64
	var status, total string
	err := td.db.QueryRowx(td.d.rebind("SELECT id, status, total FROM orders WHERE ext = ?"), ext).Scan(&id, &status, &total)
	if errors.Is(err, sql.ErrNoRows) {
		return connectortest.State{}
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := td.count(t, "SELECT COUNT(*) FROM order_lines WHERE order_id = ?", id)
	if td.kind == "sqlite" { // a REAL there: 2.0
		total = fmt.Sprintf("%.2f", mustFloat(t, total))
	}
	return connectortest.State{Found: true, Deleted: status == "cancelled", Mark: fmt.Sprintf("%s/%d", total, lines)}
}

func mustFloat(t *testing.T, s string) float64 {
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return f
}

func (h *sqlFixture) count(t *testing.T, entity string) int {
	return h.td.count(t, "SELECT COUNT(*) FROM "+map[string]string{"customer": "customers", "order": "orders"}[entity])
}

func (h *sqlFixture) remove(t *testing.T, entity, ext string) {
	if entity == "customer" {
		h.td.execArgs(t, "DELETE FROM customers WHERE ext = ?", ext)
		return
	}
	h.td.execArgs(t, "DELETE FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE ext = ?)", ext)
	h.td.execArgs(t, "DELETE FROM orders WHERE ext = ?", ext)
}

// orderID is the key of native order i: far above the ids the database
// hands out to the connector's inserts.
func orderID(i int) int { return 1000000 + i }

func (h *sqlFixture) insert(t *testing.T, entity string, i int) string {
	now := h.td.ts(time.Now())
	if entity == "customer" {
		key := fmt.Sprintf("native-%d", i)
		h.td.execArgs(t, "INSERT INTO customers (ext, name, updated_at) VALUES (?, ?, ?)", key, fmt.Sprintf("Native %d", i), now)
		return key
	}
	h.td.execArgs(t, "INSERT INTO orders (id, ext, status, total, updated_at) VALUES (?, ?, ?, ?, ?)",
		orderID(i), fmt.Sprintf("native-o-%d", i), "open", "5.00", now)
	h.td.execArgs(t, "INSERT INTO order_lines (order_id, line_no, sku, qty) VALUES (?, ?, ?, ?)", orderID(i), 1, "SKU-1", 1)
	return fmt.Sprint(orderID(i))
}

func (h *sqlFixture) update(t *testing.T, entity, key string) bool {
	now := h.td.ts(time.Now())
	if entity == "customer" {
		h.td.execArgs(t, "UPDATE customers SET name = ?, updated_at = ? WHERE ext = ?", "Changed", now, key)
		return true
	}
	h.td.execArgs(t, "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?", "paid", now, key)
	return true
}

func (h *sqlFixture) delete(t *testing.T, entity, key string) bool {
	if entity == "customer" {
		h.td.execArgs(t, "DELETE FROM customers WHERE ext = ?", key)
		return true
	}
	h.td.execArgs(t, "DELETE FROM order_lines WHERE order_id = ?", key)
	h.td.execArgs(t, "DELETE FROM orders WHERE id = ?", key)
	return true
}

// breakTables renames the entities' tables away, as a migration gone
// wrong would.
func (h *sqlFixture) breakTables(t *testing.T) func() {
	h.td.exec(t, "ALTER TABLE customers RENAME TO customers_away", "ALTER TABLE orders RENAME TO orders_away")
	return func() {
		h.td.exec(t, "ALTER TABLE customers_away RENAME TO customers", "ALTER TABLE orders_away RENAME TO orders")
	}
}
