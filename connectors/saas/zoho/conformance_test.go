package zoho

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/connectortest"
	"github.com/crmhub/hub/internal/zohotest"
)

// TestConformance runs the connector suite against the stand-in Zoho:
// contacts, sales orders and invoices are written (upsert by the
// duplicate check field, update by id with line items aligned, delete to
// the recycle bin), read from a cursor with their deletes, and scanned
// by id.
func TestConformance(t *testing.T) {
	t.Parallel()
	f := &zohoFixture{}
	connectortest.Run(t, connectortest.Harness{
		New: f.start, Sample: f.sample, Lookup: f.lookup, Count: f.count, Refused: f.refused, Remove: f.remove,
		Insert: f.insert, Update: f.update, Delete: f.delete,
		Break: f.revoke, BreakUnavailable: true,
	})
}

type zohoFixture struct {
	*fixture
	mu       sync.Mutex
	contacts map[int]string // sample index -> the contact its orders belong to
}

var modules = map[string]string{"customer": "Contacts", "order": "Sales_Orders", "invoice": "Invoices"}

func (f *zohoFixture) start(t *testing.T) connectors.Connector {
	f.fixture = newFixture(t, zohotest.Options{}, nil)
	return f.conn
}

// contact is the contact sample i's orders belong to, made in Zoho on
// first use.
func (f *zohoFixture) contact(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.contacts == nil {
		f.contacts = map[int]string{}
	}
	if id, ok := f.contacts[i]; ok {
		return id
	}
	id := f.fake.Put("Contacts", map[string]any{"Last_Name": fmt.Sprintf("Buyer %d", i), "Email": fmt.Sprintf("buyer%d@example.com", i)})
	f.contacts[i] = id
	return id
}

func items(li, sku string, qty int) []any {
	return []any{map[string]any{"Product_Name": map[string]any{"Product_Code": sku}, "Quantity": qty, "List_Price": "12.50"}}
}

func (f *zohoFixture) sample(_ *testing.T, entity string, i, v int) connectortest.Sample {
	switch entity {
	case "customer":
		name := fmt.Sprintf("Customer %d v%d", i, v)
		return connectortest.Sample{Mark: name, Rec: connectors.WriteRecord{HubID: fmt.Sprintf("hub-c-%d", i),
			Data: obj("Last_Name", name, "Email", fmt.Sprintf("c%d@example.com", i))}}
	case "order":
		return connectortest.Sample{Mark: fmt.Sprintf("%d/1", v), Rec: connectors.WriteRecord{HubID: fmt.Sprintf("hub-o-%d", i),
			Data: obj("Subject", fmt.Sprintf("SO-%d", i), "Contact_Name", map[string]any{"id": f.contact(i)}, "Ordered_Items", items("", "SKU-1", v))}}
	}
	return connectortest.Sample{Mark: fmt.Sprintf("%d/1", v), Rec: connectors.WriteRecord{HubID: fmt.Sprintf("hub-i-%d", i),
		Data: obj("Subject", fmt.Sprintf("INV-%d", i), "Contact_Name", map[string]any{"id": f.contact(i)}, "Invoiced_Items", items("", "SKU-2", v))}}
}

func (f *zohoFixture) refused(_ *testing.T, entity string) connectors.WriteRecord {
	if entity == "customer" {
		return connectors.WriteRecord{HubID: "hub-c-refused", Data: obj("Last_Name", "Refused", "Email", "not-an-e-mail")}
	}
	li := map[string]string{"order": "Ordered_Items", "invoice": "Invoiced_Items"}[entity]
	return connectors.WriteRecord{HubID: "hub-refused", Data: obj("Subject", "REFUSED-"+entity, li, items("", "NOPE-404", 1))}
}

func (f *zohoFixture) lookup(_ *testing.T, entity, ext string) connectortest.State {
	r, ok := f.fake.Get(modules[entity], ext)
	if !ok {
		return connectortest.State{}
	}
	if entity == "customer" {
		return connectortest.State{Found: true, Mark: fmt.Sprint(r["Last_Name"])}
	}
	li := map[string]string{"order": "Ordered_Items", "invoice": "Invoiced_Items"}[entity]
	ls, _ := r[li].([]any)
	mark := fmt.Sprintf("0/%d", len(ls))
	if len(ls) > 0 {
		mark = fmt.Sprintf("%v/%d", ls[0].(map[string]any)["Quantity"], len(ls))
	}
	return connectortest.State{Found: true, Mark: mark}
}

func (f *zohoFixture) count(_ *testing.T, entity string) int {
	return len(f.fake.Records(modules[entity]))
}

func (f *zohoFixture) remove(_ *testing.T, entity, ext string) { f.fake.Delete(modules[entity], ext) }

func (f *zohoFixture) insert(_ *testing.T, entity string, i int) string {
	switch entity {
	case "customer":
		return f.fake.Put("Contacts", map[string]any{"Last_Name": fmt.Sprintf("Native %d", i), "Email": fmt.Sprintf("n%d@example.com", i)})
	case "order":
		return f.fake.Put("Sales_Orders", map[string]any{"Subject": fmt.Sprintf("Native SO %d", i), "Contact_Name": map[string]any{"id": f.contact(i)},
			"Ordered_Items": []any{map[string]any{"Product_Name": map[string]any{"id": f.skus["SKU-3"]}, "Quantity": 2, "List_Price": "30.00"}}})
	}
	return f.fake.Put("Invoices", map[string]any{"Subject": fmt.Sprintf("Native INV %d", i), "Contact_Name": map[string]any{"id": f.contact(i)},
		"Invoiced_Items": []any{map[string]any{"Product_Name": map[string]any{"id": f.skus["SKU-4"]}, "Quantity": 1, "List_Price": "40.00"}}})
}

func (f *zohoFixture) update(_ *testing.T, entity, key string) bool {
	return f.fake.Update(modules[entity], key, map[string]any{"Description": "changed " + strings.Repeat("!", 3)})
}

func (f *zohoFixture) delete(_ *testing.T, entity, key string) bool {
	return f.fake.Delete(modules[entity], key)
}

// revoke revokes the connector's refresh token, as a user removing the
// client's access would.
func (f *zohoFixture) revoke(*testing.T) func() {
	f.fake.Revoke()
	return f.fake.Reinstate
}
