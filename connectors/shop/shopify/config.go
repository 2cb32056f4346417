package shopify

import (
	"fmt"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

// Config is the settings block of a shopify connector:
//
//	webhook_secret: ${SHOPIFY_WEBHOOK_SECRET}
//	shop: example.myshopify.com          # optional: refuse other shops' deliveries
//	entities: [order, customer]
//	api:                                 # optional: polling and backfill
//	  url: https://example.myshopify.com
//	  token: ${SHOPIFY_ADMIN_TOKEN}
//	  api_version: "2025-01"
//	  poll_interval: 1m
type Config struct {
	WebhookSecret string     `mapstructure:"webhook_secret" yaml:"webhook_secret" secret:"true" doc:"the app's client secret, which signs the webhooks (X-Shopify-Hmac-Sha256); required to receive them"`
	WebhookPath   string     `mapstructure:"webhook_path" yaml:"webhook_path" defaultdoc:"/webhooks/shopify/<connector name>" doc:"where the webhooks are received (under /webhooks/)"`
	Shop          string     `mapstructure:"shop" yaml:"shop" doc:"the shop's myshopify.com domain: deliveries whose X-Shopify-Shop-Domain names another shop are refused (401); unset takes any shop the secret signs for"`
	Entities      []string   `mapstructure:"entities" yaml:"entities" default:"order,customer" enum:"order|customer" doc:"what the connector takes: orders (orders/create, orders/updated, orders/cancelled) and customers (customers/create, customers/update; and an order's buyer, taken before the order). Each needs a source"`
	MaxBodyBytes  int64      `mapstructure:"max_body_bytes" yaml:"max_body_bytes" default:"1048576" doc:"the largest delivery taken; larger ones are answered 413 (http.max_body_bytes caps it too)"`
	DedupeSize    int        `mapstructure:"dedupe_size" yaml:"dedupe_size" default:"100000" doc:"how many delivery ids (X-Shopify-Webhook-Id) are remembered to answer a repeat at once; a repeat past them goes through the pipeline and changes nothing"`
	API           *APIConfig `mapstructure:"api" yaml:"api" doc:"the Admin API, for polling and backfill; without it the connector only receives webhooks"`
}

// APIConfig is the Admin API: GraphQL for polling, bulk operations for
// backfill.
type APIConfig struct {
	erp.HTTPConfig `mapstructure:",squash" yaml:",inline"`
	Token          string         `mapstructure:"token" yaml:"token" required:"true" secret:"true" doc:"the Admin API access token (X-Shopify-Access-Token)"`
	APIVersion     string         `mapstructure:"api_version" yaml:"api_version" default:"2025-01" doc:"the Admin API version in the path (/admin/api/<version>/graphql.json)"`
	PollInterval   time.Duration  `mapstructure:"poll_interval" yaml:"poll_interval" default:"1m" doc:"how often a source asks again while nothing changed: the safety net for webhooks that never came"`
	PageSize       int            `mapstructure:"page_size" yaml:"page_size" default:"25" doc:"records per GraphQL page, 1 to 250; with line_items, an order page must stay under the API's 1,000-point query cost"`
	LineItems      int            `mapstructure:"line_items" yaml:"line_items" default:"25" doc:"line items read with each order; an order with more is completed with further queries"`
	LookBack       *time.Duration `mapstructure:"look_back" yaml:"look_back" default:"2m" doc:"how far behind its cursor a poll asks again (Shopify's search index lags a little behind writes)"`
	BulkInterval   time.Duration  `mapstructure:"bulk_interval" yaml:"bulk_interval" default:"2s" doc:"how often a backfill asks whether its bulk operation has finished"`
	Bulk           *bool          `mapstructure:"bulk" yaml:"bulk" default:"true" doc:"backfill through a bulk operation (one export, streamed); false pages through GraphQL queries instead"`
}

// maxQueryCost is the most a single GraphQL query may cost.
const maxQueryCost = 1000

// pageCost is what the poller reckons a page of orders costs: per order
// one point, its line items and about ten objects (money sets, addresses,
// the customer); two for the connection.
func pageCost(pageSize, lineItems int) int { return 2 + pageSize*(lineItems+10) }

// check fills in what depends on the connector's name and checks what
// the spec cannot.
func (c *Config) check(name string, p *connectors.FieldErrors) {
	if c.WebhookPath == "" {
		c.WebhookPath = "/webhooks/shopify/" + name
	}
	if !strings.HasPrefix(c.WebhookPath, "/webhooks/") || strings.ContainsAny(c.WebhookPath, " {}") {
		p.Add("webhook_path", "%q is not a path under /webhooks/", c.WebhookPath)
	}
	if c.MaxBodyBytes < 1024 {
		p.Add("max_body_bytes", "must be at least 1024")
	}
	if c.DedupeSize < 1 {
		p.Add("dedupe_size", "must be at least 1")
	}
	if len(c.Entities) == 0 {
		p.Add("entities", "names nothing: order, customer or both")
	}
	if c.API == nil {
		return
	}
	a := *c.API
	var hp erp.Problems
	a.HTTPConfig = a.HTTPConfig.WithDefaults(&hp)
	for _, e := range hp {
		p.Add("api."+e.Key, "%s", e.Msg)
	}
	if a.PageSize < 1 || a.PageSize > 250 {
		p.Add("api.page_size", "must be between 1 and 250")
	}
	if a.LineItems < 1 || a.LineItems > 250 {
		p.Add("api.line_items", "must be between 1 and 250")
	}
	if cost := pageCost(a.PageSize, a.LineItems); cost > maxQueryCost {
		p.Add("api.page_size", "%d orders with %d line items cost about %d points, over the %d a query may: lower page_size or line_items", a.PageSize, a.LineItems, cost, maxQueryCost)
	}
	if a.PollInterval <= 0 {
		p.Add("api.poll_interval", "must be positive")
	}
	if a.BulkInterval <= 0 {
		p.Add("api.bulk_interval", "must be positive")
	}
	if a.LookBack != nil && *a.LookBack < 0 {
		p.Add("api.look_back", "must not be negative")
	}
	if strings.ContainsAny(a.APIVersion, "/ ") {
		p.Add("api.api_version", "%q is not a version such as 2025-01", a.APIVersion)
	}
	c.API = &a
}

func (c *Config) has(entity string) bool {
	for _, e := range c.Entities {
		if e == entity {
			return true
		}
	}
	return false
}

// endpoint is the GraphQL endpoint's path.
func (a *APIConfig) endpoint() string {
	return fmt.Sprintf("/admin/api/%s/graphql.json", a.APIVersion)
}
