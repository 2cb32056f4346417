package odoo

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/connectortest"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/erp/odoo/internal/odoofake"
)

// TestConformance runs the connector suite against the stand-in Odoo over
// both protocols: partners (archived on delete) and sale orders left as
// quotations (deleted on delete); invoices are read and scanned.
func TestConformance(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			connectortest.Run(t, (&odooFixture{proto: proto}).harness())
		})
	}
}

type odooFixture struct {
	proto string
	fake  *odoofake.Server

	mu       sync.Mutex
	partners map[int]int64 // sample index -> the partner its orders belong to
}

func (f *odooFixture) harness() connectortest.Harness {
	return connectortest.Harness{
		New: f.start, Sample: f.sample, Lookup: f.lookup, Count: f.count, Refused: f.refused, Remove: f.remove,
		Insert: f.insert, Update: f.update, Delete: f.delete,
		Break: f.revoke, BreakUnavailable: true,
	}
}

// model is the Odoo model of a sample entity.
func model(entity string) string {
	return map[string]string{EntityCustomer: "res.partner", EntityOrder: "sale.order", EntityInvoice: "account.move"}[entity]
}

func (f *odooFixture) start(t *testing.T) connectors.Connector {
	f.fake = odoofake.Start(odoofake.Options{DB: "odoo", Login: "hub", Password: testPassword, APIKey: testAPIKey})
	t.Cleanup(f.fake.Close)
	// Odoo's own validation refuses these (a ValidationError, the whole
	// call rolled back).
	f.fake.Refuse("res.partner", func(r odoofake.Record) string {
		if r.Str("ref") == "REFUSED" {
			return "The VAT number [XX0] does not seem to be valid."
		}
		return ""
	})
	f.fake.Refuse("sale.order", func(r odoofake.Record) string {
		if r.Str("client_order_ref") == "shop:refused" {
			return "The customer reference is on the blocklist."
		}
		return ""
	})
	retries := 1
	cfg := Config{HTTPConfig: erp.HTTPConfig{URL: f.fake.URL, Timeout: 5 * time.Second, Retries: &retries, RetryWait: time.Millisecond},
		Protocol: f.proto, Database: "odoo", SaleState: SaleDraft, PollInterval: 20 * time.Millisecond}
	if f.proto == ProtocolJSON2 {
		cfg.APIKey = testAPIKey
	} else {
		cfg.Login, cfg.Password = "hub", testPassword
	}
	c, err := New("odoo-conformance", cfg, erp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// partner returns the partner the orders of sample i belong to, made
// directly in Odoo on first use.
func (f *odooFixture) partner(i int) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.partners == nil {
		f.partners = map[int]int64{}
	}
	if id, ok := f.partners[i]; ok {
		return id
	}
	id := f.fake.Put("res.partner", map[string]any{"name": fmt.Sprintf("Buyer %d", i), "ref": fmt.Sprintf("B%04d", i)})
	f.partners[i] = id
	return id
}

func (f *odooFixture) sample(t *testing.T, entity string, i, v int) connectortest.Sample {
	switch entity {
	case EntityCustomer:
		name := fmt.Sprintf("Customer %d v%d", i, v)
		return connectortest.Sample{Mark: name, Rec: connectors.WriteRecord{HubID: fmt.Sprintf("hub-c-%d", i),
			Data: obj("ref", fmt.Sprintf("C%04d", i), "name", name, "email", fmt.Sprintf("c%d@example.com", i))}}
	case EntityOrder:
		p := idString(f.partner(i))
		rec := order(i, p, line{"SKU-1", strconv.Itoa(v), "10.00"})
		return connectortest.Sample{Mark: fmt.Sprintf("%d/1", v), Rec: rec}
	}
	t.Skipf("%s records are not written", entity)
	return connectortest.Sample{}
}

func (f *odooFixture) refused(t *testing.T, entity string) connectors.WriteRecord {
	if entity == EntityCustomer {
		return connectors.WriteRecord{HubID: "hub-c-refused", Data: obj("ref", "REFUSED", "name", "Refused")}
	}
	return connectors.WriteRecord{HubID: "hub-o-refused", Data: obj("client_order_ref", "shop:refused", "partner_id", idString(f.partner(99)),
		"lines", []any{map[string]any{"product": "SKU-1", "product_uom_qty": "1", "price_unit": "1.00"}})}
}

func (f *odooFixture) id(t *testing.T, key string) int64 {
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		t.Fatalf("odoo id %q: %v", key, err)
	}
	return id
}

func (f *odooFixture) lookup(t *testing.T, entity, ext string) connectortest.State {
	r, ok := f.fake.Get(model(entity), f.id(t, ext))
	if !ok {
		return connectortest.State{}
	}
	if entity == EntityCustomer {
		return connectortest.State{Found: true, Deleted: !r.Bool("active"), Mark: r.Str("name")}
	}
	ls := linesOfOrder(f.fake, r.ID())
	mark := fmt.Sprintf("0/%d", len(ls))
	if len(ls) > 0 {
		mark = fmt.Sprintf("%g/%d", ls[0].Float("product_uom_qty"), len(ls))
	}
	return connectortest.State{Found: true, Deleted: r.Str("state") == "cancel", Mark: mark}
}

func (f *odooFixture) count(_ *testing.T, entity string) int {
	return len(f.fake.Records(model(entity)))
}

func (f *odooFixture) remove(t *testing.T, entity, ext string) { f.delete(t, entity, ext) }

func (f *odooFixture) insert(t *testing.T, entity string, i int) string {
	switch entity {
	case EntityCustomer:
		return idString(f.fake.Put("res.partner", map[string]any{"name": fmt.Sprintf("Native %d", i), "ref": fmt.Sprintf("N%04d", i)}))
	case EntityOrder:
		id := f.fake.Put("sale.order", map[string]any{"partner_id": f.partner(i), "client_order_ref": fmt.Sprintf("native:%d", i)})
		f.fake.Put("sale.order.line", map[string]any{"order_id": id, "product_id": int64(1), "product_uom_qty": 1.0, "price_unit": 199.0})
		return idString(id)
	case EntityInvoice:
		id := f.fake.Put("account.move", map[string]any{"move_type": "out_invoice", "partner_id": f.partner(i), "state": "posted",
			"name": fmt.Sprintf("INV/2026/%05d", i), "amount_total": 10.0, "amount_residual": 10.0})
		f.fake.Put("account.move.line", map[string]any{"move_id": id, "product_id": int64(1), "quantity": 1.0, "price_unit": 10.0})
		return idString(id)
	}
	t.Fatalf("no %s records here", entity)
	return ""
}

func (f *odooFixture) update(t *testing.T, entity, key string) bool {
	vals := map[string]any{"name": "Changed"}
	switch entity {
	case EntityOrder:
		vals = map[string]any{"origin": "changed"}
	case EntityInvoice:
		vals = map[string]any{"payment_state": "paid", "amount_residual": 0.0}
	}
	f.fake.Set(model(entity), f.id(t, key), vals)
	return true
}

func (f *odooFixture) delete(t *testing.T, entity, key string) bool {
	f.fake.Delete(model(entity), f.id(t, key))
	return true
}

// revoke revokes the connector's API key and password in Odoo.
func (f *odooFixture) revoke(*testing.T) func() {
	f.fake.RevokeKey()
	return f.fake.ReinstateKey
}
