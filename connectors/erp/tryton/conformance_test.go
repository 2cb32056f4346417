package tryton

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/connectortest"
	"github.com/crmhub/hub/connectors/erp"
)

// TestConformance runs the connector suite against the real Tryton, on a
// fresh copy of the template database: parties (archived on delete),
// sales left as quotations (cancelled on delete) and invoices (read and
// scanned; the harness makes them as a clerk would: a sale quoted,
// confirmed and its invoice posted). Breaking the system moves the
// database file away: Tryton answers "Database ... doesn't exist!".
func TestConformance(t *testing.T) {
	f := &trytonFixture{}
	connectortest.Run(t, connectortest.Harness{
		New: f.start, Sample: f.sample, Lookup: f.lookup, Count: f.count, Refused: f.refused, Remove: f.remove,
		Insert: f.insert, Update: f.update, Delete: f.delete,
		Break: f.moveDatabase, BreakUnavailable: true,
	})
}

type trytonFixture struct {
	c *Conn

	mu     sync.Mutex
	buyers map[int]int64 // sample index -> the party its orders belong to
}

func (f *trytonFixture) start(t *testing.T) connectors.Connector {
	f.c = newLive(t, func(cfg *Config) {
		cfg.SaleState = SaleQuotation
		cfg.PollInterval = 200 * time.Millisecond
	})
	return f.c
}

// call calls model.method(args..., context) in Tryton directly.
func (f *trytonFixture) call(t *testing.T, model, method string, out any, args ...any) {
	t.Helper()
	r, tctx, err := f.c.started("")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.model(t.Context(), model, method, withActiveTest(tctx), out, args...); err != nil {
		t.Fatalf("%s.%s: %v", model, method, err)
	}
}

// buyer returns the party the orders of sample i belong to, made directly
// in Tryton (with an address) on first use.
func (f *trytonFixture) buyer(t *testing.T, i int) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.buyers == nil {
		f.buyers = map[int]int64{}
	}
	if id, ok := f.buyers[i]; ok {
		return id
	}
	var ids []int64
	f.call(t, "party.party", "create", &ids, []map[string]any{{"name": fmt.Sprintf("Buyer %d", i), "code": fmt.Sprintf("B%04d", i),
		"addresses": []any{[]any{"create", []any{map[string]any{"street": "Friedrichstrasse 1", "city": "Berlin"}}}}}})
	f.buyers[i] = ids[0]
	return ids[0]
}

func (f *trytonFixture) sample(t *testing.T, entity string, i, v int) connectortest.Sample {
	switch entity {
	case EntityCustomer:
		rec := customer(i)
		name := fmt.Sprintf("Customer %d v%d", i, v)
		rec.Data = obj("code", fmt.Sprintf("C%04d", i), "name", name, "email", fmt.Sprintf("c%d@example.com", i))
		return connectortest.Sample{Mark: name, Rec: rec}
	case EntityOrder:
		rec := order(i, idString(f.buyer(t, i)), line{"SKU-1", strconv.Itoa(v), "10.00"})
		return connectortest.Sample{Mark: fmt.Sprintf("%d/1", v), Rec: rec}
	}
	t.Skipf("%s records are read only", entity)
	return connectortest.Sample{}
}

// refused is a customer whose country Tryton does not have (the
// connector refuses it), or an order in a unit the product is not sold in
// (Tryton refuses it).
func (f *trytonFixture) refused(t *testing.T, entity string) connectors.WriteRecord {
	if entity == EntityCustomer {
		return connectors.WriteRecord{HubID: "hub-c-refused", Data: obj("code", "REFUSED", "name", "Refused",
			"address", obj("city", "Nowhere", "country", "XX"))}
	}
	return connectors.WriteRecord{HubID: "hub-o-refused", Refs: map[string]string{"customer": idString(f.buyer(t, 98))},
		Data: obj("reference", "shop:refused", "party", idString(f.buyer(t, 98)),
			"lines", []any{map[string]any{"product": "SKU-3", "quantity": "1", "unit": "kg", "unit_price": "1.00"}})}
}

func (f *trytonFixture) id(t *testing.T, key string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		t.Fatalf("tryton id %q: %v", key, err)
	}
	return id
}

func (f *trytonFixture) lookup(t *testing.T, entity, ext string) connectortest.State {
	fields := []string{"name", "active"}
	if entity == EntityOrder {
		fields = []string{"state", "lines.type", "lines.quantity"}
	}
	var rows []Row
	f.call(t, modelOf(entity), "search_read", &rows, []any{[]any{"id", "=", f.id(t, ext)}}, 0, nil, nil, fields)
	if len(rows) == 0 {
		return connectortest.State{}
	}
	row := rows[0]
	if entity == EntityCustomer {
		return connectortest.State{Found: true, Deleted: !asBool(row["active"]), Mark: asString(row["name"])}
	}
	var qty []string
	for _, l := range sub(row, "lines") {
		if l["type"] == "line" {
			d, _ := decimal.NewFromString(asString(l["quantity"]))
			qty = append(qty, d.String())
		}
	}
	mark := fmt.Sprintf("0/%d", len(qty))
	if len(qty) > 0 {
		mark = fmt.Sprintf("%s/%d", qty[0], len(qty))
	}
	return connectortest.State{Found: true, Deleted: asString(row["state"]) == "cancelled", Mark: mark}
}

func (f *trytonFixture) count(t *testing.T, entity string) int {
	var n int
	f.call(t, modelOf(entity), "search_count", &n, []any{})
	return n
}

func (f *trytonFixture) remove(t *testing.T, entity, ext string) {
	if entity == EntityOrder { // a quotation goes back to draft to be deleted
		f.call(t, "sale.sale", "draft", nil, []int64{f.id(t, ext)})
	}
	f.call(t, modelOf(entity), "delete", nil, []int64{f.id(t, ext)})
}

// newSale creates a draft sale of one line for the buyer of sample i, as a
// clerk would.
func (f *trytonFixture) newSale(t *testing.T, i int) int64 {
	r, tctx, err := f.c.started("")
	if err != nil {
		t.Fatal(err)
	}
	prods, err := f.c.lookupProducts(t.Context(), r, tctx, []string{"SKU-2"})
	if err != nil || prods["SKU-2"].id == 0 {
		t.Fatalf("product SKU-2: %v", err)
	}
	eur, err := f.c.codeID(t.Context(), r, tctx, "currency.currency", "EUR")
	if err != nil {
		t.Fatal(err)
	}
	party := f.buyer(t, i)
	var addrs []Row
	f.call(t, "party.address", "search_read", &addrs, []any{[]any{"party", "=", party}}, 0, 1, nil, []string{"id"})
	var ids []int64
	f.call(t, "sale.sale", "create", &ids, []map[string]any{{"company": tctx["company"], "party": party, "currency": eur,
		"invoice_address": addrs[0].ID(), "shipment_address": addrs[0].ID(), "reference": fmt.Sprintf("native:%d", i),
		"lines": []any{[]any{"create", []any{map[string]any{"type": "line", "product": prods["SKU-2"].id, "quantity": 2,
			"unit": prods["SKU-2"].unit, "unit_price": Decimal("25.50")}}}}}})
	return ids[0]
}

func (f *trytonFixture) insert(t *testing.T, entity string, i int) string {
	switch entity {
	case EntityCustomer:
		var ids []int64
		f.call(t, "party.party", "create", &ids, []map[string]any{{"name": fmt.Sprintf("Native %d", i), "code": fmt.Sprintf("N%04d", i)}})
		return idString(ids[0])
	case EntityOrder:
		return idString(f.newSale(t, i))
	}
	// An invoice: a sale quoted and confirmed drafts it; posting issues it.
	sale := f.newSale(t, i)
	f.call(t, "sale.sale", "quote", nil, []int64{sale})
	f.call(t, "sale.sale", "confirm", nil, []int64{sale})
	var rows []Row
	f.call(t, "sale.sale", "search_read", &rows, []any{[]any{"id", "=", sale}}, 0, 1, nil, []string{"invoices"})
	invs, _ := rows[0]["invoices"].([]any)
	if len(invs) != 1 {
		t.Fatalf("sale %d has invoices %v, want one draft", sale, invs)
	}
	inv := []int64{erp.AsInt(invs[0])}
	f.call(t, "account.invoice", "post", nil, inv)
	return idString(inv[0])
}

// update renames a party or comments a sale; a posted invoice does not
// change by hand.
func (f *trytonFixture) update(t *testing.T, entity, key string) bool {
	switch entity {
	case EntityCustomer:
		f.call(t, "party.party", "write", nil, []int64{f.id(t, key)}, map[string]any{"name": "Changed"})
	case EntityOrder:
		f.call(t, "sale.sale", "write", nil, []int64{f.id(t, key)}, map[string]any{"comment": "changed"})
	default:
		return false
	}
	return true
}

// delete deletes a party or a draft sale; a posted invoice cannot be.
func (f *trytonFixture) delete(t *testing.T, entity, key string) bool {
	if entity == EntityInvoice {
		return false
	}
	f.call(t, modelOf(entity), "delete", nil, []int64{f.id(t, key)})
	return true
}

// moveDatabase moves the database file away (Tryton then answers every
// call "Database ... doesn't exist!") and returns what moves it back.
func (f *trytonFixture) moveDatabase(t *testing.T) func() {
	db := filepath.Join(os.Getenv("HUB_TEST_TRYTON_DBDIR"), f.c.cfg.Database+".sqlite")
	if err := os.Rename(db, db+".away"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(db + ".away") })
	return func() {
		if err := os.Rename(db+".away", db); err != nil {
			t.Fatal(err)
		}
	}
}
