package shopify

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/connectortest"
	"github.com/crmhub/hub/internal/shoptest"
)

// TestConformance runs the connector suite against the Shopify stand-in:
// orders and customers read by the GraphQL poller (webhooks are tested in
// TestWebhookAnswers; a shop is never written), and a revoked access token
// is a system that is down, not a fault of the records.
func TestConformance(t *testing.T) {
	f := &shopFixture{}
	connectortest.Run(t, connectortest.Harness{
		New: f.start, Insert: f.insert, Update: f.update,
		Break: f.revoke, BreakUnavailable: true,
	})
}

type shopFixture struct {
	sh *shoptest.Shopify
}

func (f *shopFixture) start(t *testing.T) connectors.Connector {
	f.sh = shoptest.NewShopify()
	t.Cleanup(f.sh.Close)
	return apiConn(t, f.sh, nil)
}

// buyerOf is person i of a kind: the suite uses the same i for each
// entity, and an order's buyer must not be a customer the customer checks
// create (which the shop would find by email, unchanged).
func buyerOf(kind string, i int) shoptest.Buyer {
	return shoptest.Buyer{First: kind, Last: strconv.Itoa(i), Email: fmt.Sprintf("%s%d@example.com", kind, i)}
}

func (f *shopFixture) insert(t *testing.T, entity string, i int) string {
	switch entity {
	case "customer":
		return strconv.FormatInt(f.sh.CreateCustomer(buyerOf("customer", i)), 10)
	case "order":
		id := f.sh.CreateOrder(buyerOf("buyer", i), shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1 + i%3, Price: "10.00"})
		return strconv.FormatInt(id, 10)
	}
	t.Fatalf("no %s records in a shop", entity)
	return ""
}

func (f *shopFixture) update(t *testing.T, entity, key string) bool {
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	switch entity {
	case "customer":
		f.sh.UpdateCustomer(id, func(c map[string]any) { c["note"] = "changed" })
	case "order":
		f.sh.UpdateOrder(id, func(o map[string]any) { o["note"] = "changed" })
	default:
		return false
	}
	return true
}

func (f *shopFixture) revoke(*testing.T) func() {
	f.sh.Revoke(true)
	return func() { f.sh.Revoke(false) }
}
