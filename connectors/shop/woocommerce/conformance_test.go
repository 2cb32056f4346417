package woocommerce

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/connectortest"
	"github.com/crmhub/hub/internal/shoptest"
)

// TestConformance runs the connector suite against the WooCommerce
// stand-in: orders and customers read by the REST poller (webhooks are
// tested in TestWebhookDeliveries; a shop is never written), and a shop
// answering 503 (WordPress's maintenance mode) to every request is a
// system that is down, not a fault of the records.
func TestConformance(t *testing.T) {
	f := &wooFixture{}
	connectortest.Run(t, connectortest.Harness{
		New: f.start, Insert: f.insert, Update: f.update, Break: f.maintenance,
	})
}

type wooFixture struct {
	w *shoptest.WooCommerce
}

func (f *wooFixture) start(t *testing.T) connectors.Connector {
	f.w = shoptest.NewWooCommerce()
	t.Cleanup(f.w.Close)
	c := apiConn(t, f.w, f.w.Key, f.w.Secret, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// person is buyer i of a kind: an order's guest buyer is never a customer
// the customer checks register.
func person(kind string, i int) shoptest.Buyer {
	return shoptest.Buyer{First: kind, Last: strconv.Itoa(i), Email: fmt.Sprintf("%s%d@example.com", kind, i)}
}

func (f *wooFixture) insert(t *testing.T, entity string, i int) string {
	switch entity {
	case "customer":
		return strconv.Itoa(f.w.CreateCustomer(person("customer", i)))
	case "order":
		return strconv.Itoa(f.w.CreateOrder(0, person("guest", i), shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"}))
	}
	t.Fatalf("no %s records in a shop", entity)
	return ""
}

func (f *wooFixture) update(t *testing.T, entity, key string) bool {
	id, err := strconv.Atoi(key)
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	switch entity {
	case "customer":
		f.w.UpdateCustomer(id, func(c map[string]any) { c["last_name"] = "Changed" })
	case "order":
		f.w.UpdateOrder(id, func(o map[string]any) { o["customer_note"] = "changed" })
	default:
		return false
	}
	return true
}

func (f *wooFixture) maintenance(*testing.T) func() {
	f.w.FailNext(100000, 503, "")
	return f.w.ResetFailures
}
