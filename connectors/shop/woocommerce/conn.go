package woocommerce

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/erp/rest"
	"github.com/crmhub/hub/connectors/shop"
	"github.com/crmhub/hub/mapping"
)

// Kind is the connector kind this package registers.
const Kind = "woocommerce"

// Register registers kind "woocommerce" with its settings spec (Config).
func Register(r *connectors.Registry) error {
	k, err := connectors.Declare(Kind, "a WooCommerce shop: orders and customers by webhook and REST polling",
		func(p connectors.Params, cfg Config) (*Conn, error) {
			return New(p.Name, cfg, erp.Options{Logger: p.Log})
		})
	if err != nil {
		return err
	}
	return r.Register(k)
}

// Conn is one configured woocommerce connector: a Pusher, and with a url
// a Reader and Backfiller (the rest kind's source underneath).
type Conn struct {
	name    string
	cfg     Config
	log     *slog.Logger
	seen    *shop.Seen
	metrics *shop.Metrics
	api     *rest.Conn // nil without a url
	// buyers reads the orders for their guest buyers (with customers);
	// its metrics are not collected (they would repeat api's names).
	buyers *rest.Conn
}

var (
	_ connectors.Pusher     = (*Conn)(nil)
	_ connectors.Backfiller = (*Conn)(nil)
	_ prometheus.Collector  = (*Conn)(nil)
)

// The REST API's paths.
const (
	OrdersPath    = "/wp-json/wc/v3/orders"
	CustomersPath = "/wp-json/wc/v3/customers"
	gmtLayout     = "2006-01-02T15:04:05"
)

// New validates cfg and returns a connector; it connects on Start. opts
// go to the REST client (tests set the transport and the sleeps).
func New(name string, cfg Config, opts erp.Options) (*Conn, error) {
	errs := connectors.Resolve(&cfg)
	cfg.check(name, &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Conn{name: name, cfg: cfg, log: opts.Logger.With("connector", name), seen: shop.NewSeen(cfg.DedupeSize), metrics: shop.NewMetrics()}
	if cfg.URL != "" {
		api, err := rest.New(name, restConfig(cfg, false), opts)
		if err != nil {
			return nil, err
		}
		c.api = api
		if cfg.has("customer") {
			if c.buyers, err = rest.New(name, restConfig(cfg, true), opts); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// restConfig is the rest kind's config for the shop's REST API v3; with
// buyers, only the orders (read again for their guest buyers, buyers.go).
func restConfig(cfg Config, buyers bool) rest.Config {
	page := rest.PageConfig{Type: rest.PageNumber, Size: cfg.PerPage, TotalPagesHeader: "X-WP-TotalPages"}
	updated := rest.TimeField{Field: "date_modified_gmt", Format: gmtLayout}
	ents := map[string]rest.EntityConfig{}
	if cfg.has("order") || buyers {
		ents["order"] = rest.EntityConfig{List: OrdersPath, ReadOnly: true, UpdatedAt: updated,
			UpdatedSince: rest.SinceConfig{Param: "modified_after", Exclusive: true},
			Params:       map[string]string{"dates_are_gmt": "true", "orderby": "modified", "order": "asc"},
			Pagination:   page, LookBack: cfg.LookBack, BatchSize: 1000}
	}
	if cfg.has("customer") && !buyers {
		// The customers list takes no modified_after: every poll lists
		// them all (by id) and the source keeps what changed.
		ents["customer"] = rest.EntityConfig{List: CustomersPath, ReadOnly: true, UpdatedAt: updated,
			Params:     map[string]string{"orderby": "id", "order": "asc", "role": "all"},
			Pagination: page, LookBack: cfg.LookBack, BatchSize: 1000}
	}
	return rest.Config{
		HTTPConfig:   erp.HTTPConfig{URL: cfg.URL, Timeout: cfg.Timeout},
		Auth:         erp.AuthConfig{Type: erp.AuthBasic, Username: cfg.ConsumerKey, Password: cfg.ConsumerSecret},
		PollInterval: cfg.PollInterval,
		Entities:     ents,
	}
}

// Name is the connector's configured name.
func (c *Conn) Name() string { return c.name }

// Metrics are the connector's webhook counters.
func (c *Conn) Metrics() *shop.Metrics { return c.metrics }

// Start opens the REST client and lists one record (wrong credentials
// show at once); without a url there is nothing to open.
func (c *Conn) Start(ctx context.Context) error {
	if c.api == nil {
		return nil
	}
	if err := c.api.Start(ctx); err != nil {
		return err
	}
	if c.buyers != nil {
		return c.buyers.Start(ctx)
	}
	return nil
}

// Check lists one record (nothing without a url).
func (c *Conn) Check(ctx context.Context) error {
	if c.api == nil {
		return nil
	}
	return c.api.Check(ctx)
}

// Close releases idle connections.
func (c *Conn) Close() error {
	if c.api == nil {
		return nil
	}
	if c.buyers != nil {
		_ = c.buyers.Close()
	}
	return c.api.Close()
}

// Pushes lists the configured entities.
func (c *Conn) Pushes() []connectors.ReadSpec {
	out := make([]connectors.ReadSpec, 0, len(c.cfg.Entities))
	for _, e := range c.cfg.Entities {
		out = append(out, connectors.ReadSpec{Entity: e})
	}
	return out
}

// Reads lists the configured entities when a url is set.
func (c *Conn) Reads() []connectors.ReadSpec {
	if c.api == nil {
		return nil
	}
	return c.Pushes()
}

func (c *Conn) reader() (*rest.Conn, error) {
	if c.api == nil {
		return nil, connectors.Permanent(fmt.Errorf("woocommerce %s: no url, so nothing can be read", c.name))
	}
	return c.api, nil
}

// Read lists what changed after cursor (the rest kind's source) and gives
// every order its buyer_key; customers include the guest buyers of the
// orders that changed (buyers.go).
func (c *Conn) Read(ctx context.Context, entity, cursor string, max int) (connectors.Batch, error) {
	api, err := c.reader()
	if err != nil {
		return connectors.Batch{}, err
	}
	if entity == "customer" && c.buyers != nil {
		return c.readCustomers(ctx, api, cursor, max)
	}
	b, err := api.Read(ctx, entity, cursor, max)
	if err != nil {
		return b, err
	}
	if entity == "order" {
		for i := range b.Records {
			b.Records[i].Data = withBuyerKey(b.Records[i].Data)
		}
	}
	return b, nil
}

// Durable is told a batch is in Kafka; there is nothing to forget.
func (c *Conn) Durable(context.Context, string, string) error { return nil }

// Backfill returns a cursor from since on; WooCommerce lists count
// (X-WP-Total) only page by page, so the total is unknown.
func (c *Conn) Backfill(_ context.Context, entity string, since time.Time) (string, int64, error) {
	if _, err := c.reader(); err != nil {
		return "", 0, err
	}
	if entity == "customer" {
		return customerSince(since), -1, nil
	}
	return rest.SinceCursor(since), -1, nil
}

// CaughtUp: the REST lists are the shop's present; an empty read ends a
// backfill.
func (c *Conn) CaughtUp(string, string) bool { return true }

// Describe implements prometheus.Collector.
func (c *Conn) Describe(ch chan<- *prometheus.Desc) { c.metrics.Describe(ch) }

// Collect implements prometheus.Collector.
func (c *Conn) Collect(ch chan<- prometheus.Metric) {
	c.metrics.Collect(ch)
	if c.api != nil {
		c.api.Collect(ch)
	}
}

// ---- webhooks ----

// The webhook headers WooCommerce sends (class-wc-webhook.php).
const (
	HeaderSignature = "X-WC-Webhook-Signature"
	HeaderTopic     = "X-WC-Webhook-Topic"
	HeaderDelivery  = "X-WC-Webhook-Delivery-ID"
)

var topics = map[string]string{
	"order.created":    "order",
	"order.updated":    "order",
	"customer.created": "customer",
	"customer.updated": "customer",
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
		SignatureHeader: HeaderSignature, TopicHeader: HeaderTopic, IDHeader: HeaderDelivery,
		Topics: shop.Topics(taken), Seen: c.seen, Metrics: c.metrics, Log: c.log, Ping: ping, DeliveryKey: deliveryKey,
		Take: func(ctx context.Context, d shop.Delivery) shop.Reply { return c.take(ctx, in, d) },
	}
	return []connectors.Route{{Pattern: "POST " + c.cfg.WebhookPath, Handler: h, Public: true}}
}

// deliveryKey is a delivery's id and signature: WooCommerce's delivery id
// is wp_hash(webhook id, the current second), so two deliveries of one
// webhook in the same second (two orders saved at once) share it; the
// signature tells their bodies apart.
func deliveryKey(r *http.Request) string {
	return r.Header.Get(HeaderDelivery) + "/" + r.Header.Get(HeaderSignature)
}

// ping recognises the request WooCommerce sends when a webhook is
// created: unsigned, form-encoded, webhook_id=<id>.
func ping(r *http.Request, body []byte) bool {
	if r.Header.Get(HeaderSignature) != "" {
		return false
	}
	s := strings.TrimSpace(string(body))
	id, ok := strings.CutPrefix(s, "webhook_id=")
	return ok && id != "" && strings.Trim(id, "0123456789") == ""
}

func (c *Conn) take(ctx context.Context, in connectors.Ingest, d shop.Delivery) shop.Reply {
	entity := topics[d.Topic]
	body := d.Body
	if entity == "order" {
		body = withBuyerKey(body)
	}
	rec, err := record(entity, body)
	if err != nil {
		return shop.Malformed("%s: %v", d.Topic, err)
	}
	recs := []connectors.Record{rec}
	if entity == "order" && c.cfg.has("customer") {
		if b, ok := buyer(body, rec.Version); ok {
			recs = []connectors.Record{b, rec}
		}
	}
	return shop.Take(ctx, in, recs)
}

func record(entity string, v mapping.Value) (connectors.Record, error) {
	key := idText(v.Get("id"))
	if key == "" || key == "0" {
		return connectors.Record{}, fmt.Errorf("the %s has no id", entity)
	}
	field := "date_modified_gmt"
	if v.Get(field).Kind() == mapping.Null && v.Get("date_created_gmt").Kind() == mapping.String {
		field = "date_created_gmt" // a customer never modified since it registered
	}
	s := v.Get(field).Str()
	t, err := time.Parse(gmtLayout, s)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("%s %s: %s %q is not a time (the hub orders deliveries by it)", entity, key, field, s)
	}
	return connectors.Record{Entity: entity, Key: key, Op: connectors.OpUpsert, Version: t.UTC(), Data: v}, nil
}

func idText(v mapping.Value) string {
	switch v.Kind() {
	case mapping.Number, mapping.String:
		return strings.TrimSpace(v.Str())
	}
	return ""
}

// buyerKey is an order's buyer: its customer id, or guest:<email>.
func buyerKey(order mapping.Value) string {
	if id := idText(order.Get("customer_id")); id != "" && id != "0" {
		return id
	}
	if e := strings.ToLower(strings.TrimSpace(order.Get("billing").Get("email").Str())); e != "" {
		return "guest:" + e
	}
	return ""
}

func withBuyerKey(order mapping.Value) mapping.Value {
	k := buyerKey(order)
	if k == "" || order.Kind() != mapping.Object {
		return order
	}
	ms := append(order.Members(), mapping.Member{Key: "buyer_key", Value: mapping.StringValue(k)})
	return mapping.ObjectValue(ms...)
}

// buyer is an order's buyer as a customer record, at the order's version.
func buyer(order mapping.Value, ver time.Time) (connectors.Record, bool) {
	k := buyerKey(order)
	if k == "" {
		return connectors.Record{}, false
	}
	b := order.Get("billing")
	data := mapping.ObjectValue(
		mapping.Member{Key: "id", Value: mapping.StringValue(k)},
		mapping.Member{Key: "email", Value: b.Get("email")},
		mapping.Member{Key: "first_name", Value: b.Get("first_name")},
		mapping.Member{Key: "last_name", Value: b.Get("last_name")},
		mapping.Member{Key: "billing", Value: b},
		mapping.Member{Key: "date_modified_gmt", Value: order.Get("date_modified_gmt")},
	)
	return connectors.Record{Entity: "customer", Key: k, Op: connectors.OpUpsert, Version: ver, Data: data}, true
}
