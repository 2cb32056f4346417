package rest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/connectortest"
	"github.com/crmhub/hub/connectors/erp"
)

// TestConformance runs the connector suite against the ERPNext stand-in
// with the ERPNext config of docs/connectors/rest.md (offset pages of 3):
// customers (disabled on delete), sales orders kept as drafts (cancelled
// on delete) and submitted sales invoices (read only, read_each).
func TestConformance(t *testing.T) {
	f := &frappeFixture{}
	connectortest.Run(t, connectortest.Harness{
		New: f.start, Sample: f.sample, Lookup: f.lookup, Count: f.count, Refused: f.refused, Remove: f.remove,
		Insert: f.insert, Update: f.update, Delete: f.delete,
		Break: f.changeSecret, BreakUnavailable: true,
	})
}

type frappeFixture struct {
	site *frappeSite

	mu     sync.Mutex
	buyers map[int]string // sample index -> the customer its orders belong to
}

// doctype is the DocType of a sample entity.
func doctype(entity string) string {
	return map[string]string{"customer": "Customer", "order": "Sales Order", "invoice": "Sales Invoice"}[entity]
}

func (f *frappeFixture) start(t *testing.T) connectors.Connector {
	f.site = newFrappe(t)
	c, _ := start(t, erpnextConfig(f.site, 3), erp.Options{})
	return c
}

// buyer returns the customer the orders of sample i belong to, made
// directly in ERPNext on first use.
func (f *frappeFixture) buyer(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.buyers == nil {
		f.buyers = map[int]string{}
	}
	if name, ok := f.buyers[i]; ok {
		return name
	}
	d := f.site.insert("Customer", frappeDoc{"customer_name": fmt.Sprintf("Buyer %d", i), "customer_type": "Company"})
	f.buyers[i] = d["name"].(string)
	return f.buyers[i]
}

func (f *frappeFixture) sample(t *testing.T, entity string, i, v int) connectortest.Sample {
	switch entity {
	case "customer":
		rec := erpCustomer(i)
		name := fmt.Sprintf("Customer %d v%d", i, v)
		rec.Data = path{"customer_name"}.set(rec.Data, obj("x", name).Get("x"))
		return connectortest.Sample{Mark: name, Rec: rec}
	case "order":
		rec := erpOrder(i, f.buyer(i), [3]any{"SKU-1", fmt.Sprint(v), "10.00"})
		rec.Data = path{"docstatus"}.set(rec.Data, obj("x", 0).Get("x")) // a draft can still change
		return connectortest.Sample{Mark: fmt.Sprintf("%d/1", v), Rec: rec}
	}
	t.Skipf("%s records are read only", entity)
	return connectortest.Sample{}
}

func (f *frappeFixture) refused(_ *testing.T, entity string) connectors.WriteRecord {
	if entity == "customer" { // Customer Name is mandatory
		return connectors.WriteRecord{HubID: "hub-c-refused", Data: obj("customer_type", "Company")}
	}
	return connectors.WriteRecord{HubID: "hub-o-refused", Data: obj("customer", f.buyer(98), "transaction_date", "2026-03-01",
		"delivery_date", "2026-03-05", "po_no", "shop:refused", "items", []any{map[string]any{"item_code": "NOPE-404", "qty": 1, "rate": 1}})}
}

func (f *frappeFixture) lookup(_ *testing.T, entity, ext string) connectortest.State {
	d := f.site.doc(doctype(entity), ext)
	if d == nil {
		return connectortest.State{}
	}
	if entity == "customer" {
		return connectortest.State{Found: true, Deleted: num(d["disabled"]) == 1, Mark: fmt.Sprint(d["customer_name"])}
	}
	items, _ := d["items"].([]any)
	mark := fmt.Sprintf("0/%d", len(items))
	if len(items) > 0 {
		mark = fmt.Sprintf("%g/%d", num(items[0].(map[string]any)["qty"]), len(items))
	}
	return connectortest.State{Found: true, Deleted: num(d["docstatus"]) == 2, Mark: mark}
}

func (f *frappeFixture) count(_ *testing.T, entity string) int {
	return len(f.site.all(doctype(entity)))
}

func (f *frappeFixture) remove(t *testing.T, entity, ext string) { f.delete(t, entity, ext) }

func (f *frappeFixture) insert(_ *testing.T, entity string, i int) string {
	var d frappeDoc
	switch entity {
	case "customer":
		d = frappeDoc{"customer_name": fmt.Sprintf("Native %d", i), "customer_type": "Individual"}
	case "order":
		d = frappeDoc{"customer": f.buyer(i), "transaction_date": "2026-03-01", "delivery_date": "2026-03-05",
			"po_no": fmt.Sprintf("native:%d", i), "items": []any{map[string]any{"item_code": "SKU-2", "qty": 1.0, "rate": 25.5}}}
	default:
		d = frappeDoc{"customer": f.buyer(i), "posting_date": "2026-03-02", "docstatus": 1.0, "status": "Unpaid",
			"grand_total": 10.0, "outstanding_amount": 10.0, "items": []any{map[string]any{"item_code": "SKU-1", "qty": 1.0, "rate": 10.0}}}
	}
	return f.site.insert(doctype(entity), d)["name"].(string)
}

// update changes a doc as an ERPNext user would: its modified moves on.
func (f *frappeFixture) update(t *testing.T, entity, name string) bool {
	s := f.site
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.find(doctype(entity), name)
	if d == nil {
		t.Fatalf("no %s %s", doctype(entity), name)
	}
	d["remarks"] = "changed"
	d["modified"] = s.stamp()
	return true
}

func (f *frappeFixture) delete(_ *testing.T, entity, name string) bool {
	s := f.site
	s.mu.Lock()
	defer s.mu.Unlock()
	dt := doctype(entity)
	s.docs[dt] = slices.DeleteFunc(s.docs[dt], func(d frappeDoc) bool { return d["name"] == name })
	return true
}

// changeSecret changes the API secret in ERPNext: the connector's is
// refused (401 AuthenticationError) until it is changed back.
func (f *frappeFixture) changeSecret(*testing.T) func() {
	s := f.site
	s.mu.Lock()
	old := s.secret
	s.secret = "rotated"
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.secret = old
		s.mu.Unlock()
	}
}

// TestConformanceWoo runs the suite against the WooCommerce stand-in with
// its config of docs/connectors/rest.md paged by number (5 a page):
// orders, deleted for good (force=true), found by customer_note.
func TestConformanceWoo(t *testing.T) {
	f := &wooFixture{}
	connectortest.Run(t, connectortest.Harness{
		New: f.start, Sample: f.sample, Lookup: f.lookup, Count: f.count, Refused: f.refused, Remove: f.remove,
		Insert: f.insert, Update: f.update, Delete: f.delete,
		Break: f.changeSecret, BreakUnavailable: true,
	})
}

type wooFixture struct {
	shop *wooShop
}

func (f *wooFixture) start(t *testing.T) connectors.Connector {
	f.shop = newWoo(t)
	c, _ := start(t, wooConfig(f.shop, PageConfig{Type: PageNumber, Size: 5, TotalPagesHeader: "X-WP-TotalPages"}), erp.Options{})
	return c
}

func (f *wooFixture) sample(_ *testing.T, _ string, i, v int) connectortest.Sample {
	total := fmt.Sprintf("%d.00", 10+v)
	return connectortest.Sample{Mark: total, Rec: connectors.WriteRecord{HubID: fmt.Sprintf("hub-o-%d", i),
		Data: obj("currency", "EUR", "total", total, "customer_note", fmt.Sprintf("crm:%04d", i),
			"billing", map[string]any{"email": fmt.Sprintf("b%d@example.com", i)})}}
}

func (f *wooFixture) refused(*testing.T, string) connectors.WriteRecord {
	return connectors.WriteRecord{HubID: "hub-o-refused", Data: obj("currency", "EUR", "total", "1.00", "customer_note", "crm:refused",
		"billing", map[string]any{"email": "not an address"})}
}

func (f *wooFixture) order(id string) wooOrder {
	for _, o := range f.shop.all() {
		if fmt.Sprintf("%.0f", o["id"]) == id {
			return o
		}
	}
	return nil
}

func (f *wooFixture) lookup(_ *testing.T, _, ext string) connectortest.State {
	o := f.order(ext)
	if o == nil {
		return connectortest.State{}
	}
	return connectortest.State{Found: true, Deleted: o["status"] == "trash", Mark: fmt.Sprint(o["total"])}
}

func (f *wooFixture) count(*testing.T, string) int { return len(f.shop.all()) }

func (f *wooFixture) insert(_ *testing.T, _ string, i int) string {
	o := f.shop.add(wooOrder{"currency": "EUR", "total": "5.00", "customer_note": fmt.Sprintf("native:%d", i)})
	return fmt.Sprintf("%.0f", o["id"])
}

func (f *wooFixture) update(t *testing.T, _, id string) bool {
	f.shop.touch(wooID(t, id))
	return true
}

func (f *wooFixture) delete(t *testing.T, _, id string) bool {
	f.shop.remove(wooID(t, id))
	return true
}

func (f *wooFixture) remove(t *testing.T, entity, id string) { f.delete(t, entity, id) }

func wooID(t *testing.T, id string) int {
	var n int
	if _, err := fmt.Sscan(id, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// changeSecret rotates the consumer secret in WooCommerce.
func (f *wooFixture) changeSecret(*testing.T) func() {
	w := f.shop
	w.mu.Lock()
	old := w.cs
	w.cs = "cs_rotated"
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		w.cs = old
		w.mu.Unlock()
	}
}
