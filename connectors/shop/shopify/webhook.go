package shopify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/shop"
	"github.com/crmhub/hub/mapping"
)

// The webhook headers Shopify sends.
const (
	HeaderHmac    = "X-Shopify-Hmac-Sha256"
	HeaderTopic   = "X-Shopify-Topic"
	HeaderID      = "X-Shopify-Webhook-Id"
	HeaderShop    = "X-Shopify-Shop-Domain"
	HeaderVersion = "X-Shopify-API-Version"
)

// topics are the webhook topics taken, by the entity they carry.
var topics = map[string]string{
	"orders/create":    "order",
	"orders/updated":   "order",
	"orders/cancelled": "order",
	"customers/create": "customer",
	"customers/update": "customer",
}

// Routes mounts the webhook endpoint.
func (c *Conn) Routes(in connectors.Ingest) []connectors.Route {
	taken := map[string]string{}
	for t, e := range topics {
		if c.cfg.has(e) {
			taken[t] = e
		}
	}
	h := &shop.Hook{
		Connector: c.name, Secret: []byte(c.cfg.WebhookSecret), MaxBytes: c.cfg.MaxBodyBytes,
		SignatureHeader: HeaderHmac, TopicHeader: HeaderTopic, IDHeader: HeaderID,
		Topics: shop.Topics(taken), Seen: c.seen, Metrics: c.metrics, Log: c.log,
		Take: func(ctx context.Context, d shop.Delivery) shop.Reply { return c.take(ctx, in, d) },
	}
	return []connectors.Route{{Pattern: "POST " + c.cfg.WebhookPath, Handler: c.checkShop(h), Public: true}}
}

// checkShop refuses deliveries for another shop than the configured one.
func (c *Conn) checkShop(next http.Handler) http.Handler {
	if c.cfg.Shop == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := r.Header.Get(HeaderShop); d != "" && !strings.EqualFold(d, c.cfg.Shop) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"outcome":"bad_signature","reason":"the delivery is for another shop than this connector's"}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// take turns a verified delivery into records, the order's buyer first,
// and hands them to the hub.
func (c *Conn) take(ctx context.Context, in connectors.Ingest, d shop.Delivery) shop.Reply {
	entity := topics[d.Topic]
	rec, err := record(entity, d.Body)
	if err != nil {
		return shop.Malformed("%s: %v", d.Topic, err)
	}
	recs := []connectors.Record{rec}
	if entity == "order" && c.cfg.has("customer") {
		if b, ok := buyer(d.Body); ok {
			recs = []connectors.Record{b, rec}
		}
	}
	return shop.Take(ctx, in, recs)
}

// record makes a record of a payload: its id is the key, its updated_at
// the version.
func record(entity string, v mapping.Value) (connectors.Record, error) {
	key := idText(v.Get("id"))
	if key == "" {
		return connectors.Record{}, fmt.Errorf("the %s has no id", entity)
	}
	ver, err := version(v.Get("updated_at"))
	if err != nil {
		return connectors.Record{}, fmt.Errorf("%s %s: updated_at: %v", entity, key, err)
	}
	return connectors.Record{Entity: entity, Key: key, Op: connectors.OpUpsert, Version: ver, Data: v}, nil
}

// buyer is an order's customer as a customer record (its own id and
// updated_at).
func buyer(order mapping.Value) (connectors.Record, bool) {
	cust := order.Get("customer")
	if cust.Kind() != mapping.Object {
		return connectors.Record{}, false
	}
	key := idText(cust.Get("id"))
	if key == "" {
		return connectors.Record{}, false
	}
	ver, _ := version(cust.Get("updated_at"))
	return connectors.Record{Entity: "customer", Key: key, Op: connectors.OpUpsert, Version: ver, Data: cust}, true
}

// idText is an id's text: a number's literal or a string.
func idText(v mapping.Value) string {
	switch v.Kind() {
	case mapping.Number, mapping.String:
		return strings.TrimSpace(v.Str())
	}
	return ""
}

func version(v mapping.Value) (time.Time, error) {
	if v.Kind() != mapping.String {
		return time.Time{}, fmt.Errorf("missing (the hub orders deliveries by it)")
	}
	t, err := time.Parse(time.RFC3339Nano, v.Str())
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", v.Str())
	}
	return t.UTC(), nil
}
