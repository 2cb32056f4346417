package fxiaoke

import (
	"fmt"
	"sync"
	"testing"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/connectortest"
	"github.com/crmhub/hub/internal/fxiaoketest"
)

// TestConformance runs the connector suite against the stand-in Fxiaoke:
// accounts, sales orders with their lines and invoice requests are
// written (found by their match field, created, updated after a compare,
// voided on delete), read from a cursor with voided ones as deletes, and
// scanned by _id.
func TestConformance(t *testing.T) {
	t.Parallel()
	f := &fxFixture{}
	connectortest.Run(t, connectortest.Harness{
		New: f.start, Sample: f.sample, Lookup: f.lookup, Count: f.count, Refused: f.refused, Remove: f.remove,
		Insert: f.insert, Update: f.update, Delete: f.delete,
		Break: f.revoke, BreakUnavailable: true,
	})
}

var objects = map[string]string{"customer": "AccountObj", "order": "SalesOrderObj", "invoice": "InvoiceApplicationObj"}

type fxFixture struct {
	fake *fxiaoketest.Server
	skus map[string]string

	mu       sync.Mutex
	accounts map[int]string
}

func (f *fxFixture) start(t *testing.T) connectors.Connector {
	// The contract, not the rate limit (TestRateLimit has that): a
	// looser limit keeps the suite quick.
	f.fake, f.skus = newFake(t, fxiaoketest.Options{PerEndpoint: 100000})
	cfg := testConfig(f.fake)
	cfg.PerEndpoint = 100000
	return start(t, cfg, Options{})
}

// account is the account sample i's orders and invoices belong to.
func (f *fxFixture) account(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.accounts == nil {
		f.accounts = map[int]string{}
	}
	if id, ok := f.accounts[i]; ok {
		return id
	}
	id := f.fake.Put("AccountObj", map[string]any{"name": fmt.Sprintf("买家 %d", i), "account_no": fmt.Sprintf("B%04d", i)})
	f.accounts[i] = id
	return id
}

func lines(sku string, qty int) []any {
	return []any{map[string]any{"product_code": sku, "quantity": fmt.Sprint(qty), "sales_price": "12.50"}}
}

func (f *fxFixture) sample(_ *testing.T, entity string, i, v int) connectortest.Sample {
	switch entity {
	case "customer":
		name := fmt.Sprintf("客户 %d v%d", i, v)
		return connectortest.Sample{Mark: name, Rec: connectors.WriteRecord{HubID: fmt.Sprintf("hub-c-%d", i),
			Data: obj("name", name, "account_no", fmt.Sprintf("C%04d", i))}}
	case "order":
		return connectortest.Sample{Mark: fmt.Sprintf("%d/1", v), Rec: connectors.WriteRecord{HubID: fmt.Sprintf("hub-o-%d", i),
			Data: obj("account_id", f.account(i), "remark", fmt.Sprintf("SO-%d", i), "SalesOrderProductObj", lines("SKU-1", v))}}
	}
	amount := fmt.Sprintf("%d.00", 100*v)
	return connectortest.Sample{Mark: amount, Rec: connectors.WriteRecord{HubID: fmt.Sprintf("hub-i-%d", i),
		Data: obj("account_id", f.account(i), "external_ref__c", fmt.Sprintf("INV-%d", i), "invoice_applied_amount", amount)}}
}

func (f *fxFixture) refused(_ *testing.T, entity string) connectors.WriteRecord {
	switch entity {
	case "customer":
		return connectors.WriteRecord{HubID: "hub-c-refused", Data: obj("account_no", "REFUSED")} // no name
	case "order":
		return connectors.WriteRecord{HubID: "hub-o-refused", Data: obj("account_id", f.account(99), "remark", "REFUSED", "SalesOrderProductObj", lines("NOPE-404", 1))}
	}
	return connectors.WriteRecord{HubID: "hub-i-refused", Data: obj("external_ref__c", "REFUSED", "account_id", "no-such-account")}
}

func (f *fxFixture) lookup(_ *testing.T, entity, ext string) connectortest.State {
	r, ok := f.fake.Get(objects[entity], ext)
	if !ok {
		return connectortest.State{}
	}
	st := connectortest.State{Found: true, Deleted: r["is_deleted"] == true}
	switch entity {
	case "customer":
		st.Mark = fmt.Sprint(r["name"])
	case "order":
		ls, _ := r["details"].([]any)
		st.Mark = fmt.Sprintf("0/%d", len(ls))
		if len(ls) > 0 {
			st.Mark = fmt.Sprintf("%v/%d", ls[0].(map[string]any)["quantity"], len(ls))
		}
	default:
		st.Mark = fmt.Sprint(r["invoice_applied_amount"])
	}
	return st
}

func (f *fxFixture) count(_ *testing.T, entity string) int { return f.fake.Count(objects[entity]) }

func (f *fxFixture) remove(_ *testing.T, entity, ext string) { f.fake.Remove(objects[entity], ext) }

func (f *fxFixture) insert(_ *testing.T, entity string, i int) string {
	switch entity {
	case "customer":
		return f.fake.Put("AccountObj", map[string]any{"name": fmt.Sprintf("原生客户 %d", i), "account_no": fmt.Sprintf("N%04d", i)})
	case "order":
		return f.fake.Put("SalesOrderObj", map[string]any{"account_id": f.account(i), "remark": fmt.Sprintf("native-%d", i),
			"details": []any{map[string]any{"product_id": f.skus["SKU-3"], "quantity": "2", "sales_price": "30.00"}}})
	}
	return f.fake.Put("InvoiceApplicationObj", map[string]any{"account_id": f.account(i), "invoice_applied_amount": "88.00"})
}

func (f *fxFixture) update(_ *testing.T, entity, key string) bool {
	return f.fake.Update(objects[entity], key, map[string]any{"remark": "已修改"})
}

func (f *fxFixture) delete(_ *testing.T, entity, key string) bool {
	return f.fake.Invalid(objects[entity], key)
}

// revoke withdraws the app's authorization.
func (f *fxFixture) revoke(*testing.T) func() {
	f.fake.Revoke()
	return f.fake.Reinstate
}
