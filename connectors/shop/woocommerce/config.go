package woocommerce

import (
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
)

// Config is the settings block of a woocommerce connector:
//
//	url: https://shop.example.com
//	consumer_key: ${WC_CONSUMER_KEY}
//	consumer_secret: ${WC_CONSUMER_SECRET}
//	webhook_secret: ${WC_WEBHOOK_SECRET}
//	entities: [order, customer]
type Config struct {
	URL            string         `mapstructure:"url" yaml:"url" doc:"the shop's base URL (the REST API is under /wp-json/wc/v3); required for polling and backfill"`
	ConsumerKey    string         `mapstructure:"consumer_key" yaml:"consumer_key" secret:"true" doc:"the REST API consumer key (ck_...)"`
	ConsumerSecret string         `mapstructure:"consumer_secret" yaml:"consumer_secret" secret:"true" doc:"the REST API consumer secret (cs_...)"`
	WebhookSecret  string         `mapstructure:"webhook_secret" yaml:"webhook_secret" secret:"true" doc:"the secret the webhooks are signed with (X-WC-Webhook-Signature); required to receive them"`
	WebhookPath    string         `mapstructure:"webhook_path" yaml:"webhook_path" defaultdoc:"/webhooks/woocommerce/<connector name>" doc:"where the webhooks are received (under /webhooks/)"`
	Entities       []string       `mapstructure:"entities" yaml:"entities" default:"order,customer" enum:"order|customer" doc:"what the connector takes: orders (order.created, order.updated) and customers (customer.created, customer.updated; and an order's buyer, taken before the order). Each needs a source"`
	MaxBodyBytes   int64          `mapstructure:"max_body_bytes" yaml:"max_body_bytes" default:"1048576" doc:"the largest delivery taken; larger ones are answered 413"`
	DedupeSize     int            `mapstructure:"dedupe_size" yaml:"dedupe_size" default:"100000" doc:"how many delivery ids (X-WC-Webhook-Delivery-ID) are remembered to answer a repeat at once"`
	PollInterval   time.Duration  `mapstructure:"poll_interval" yaml:"poll_interval" default:"1m" doc:"how often a source lists again while nothing changed"`
	PerPage        int            `mapstructure:"per_page" yaml:"per_page" default:"100" doc:"records per page, 1 to 100 (WooCommerce's maximum)"`
	LookBack       *time.Duration `mapstructure:"look_back" yaml:"look_back" default:"10s" doc:"how far behind its cursor a source lists again"`
	Timeout        time.Duration  `mapstructure:"timeout" yaml:"timeout" default:"30s" doc:"bounds one request"`
}

func (c *Config) check(name string, p *connectors.FieldErrors) {
	if c.WebhookPath == "" {
		c.WebhookPath = "/webhooks/woocommerce/" + name
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
	if c.PerPage < 1 || c.PerPage > 100 {
		p.Add("per_page", "must be between 1 and 100")
	}
	if c.URL != "" && (c.ConsumerKey == "" || c.ConsumerSecret == "") {
		p.Add("consumer_key", "polling (url) needs consumer_key and consumer_secret")
	}
}

func (c *Config) has(entity string) bool {
	for _, e := range c.Entities {
		if e == entity {
			return true
		}
	}
	return false
}
