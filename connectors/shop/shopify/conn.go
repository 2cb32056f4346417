package shopify

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/shop"
)

// Kind is the connector kind this package registers.
const Kind = "shopify"

// Register registers kind "shopify" with its settings spec (Config).
func Register(r *connectors.Registry) error {
	k, err := connectors.Declare(Kind, "a Shopify store: orders and customers by webhook, GraphQL polling and bulk backfill",
		func(p connectors.Params, cfg Config) (*Conn, error) { return New(p.Name, cfg, Options{Logger: p.Log}) })
	if err != nil {
		return err
	}
	return r.Register(k)
}

// Options are what a connector takes besides its config (tests set the
// transport and the clock).
type Options struct {
	Logger    *slog.Logger
	Transport http.RoundTripper
	Now       func() time.Time
	Sleep     func(ctx context.Context, d time.Duration) error
}

// Conn is one configured shopify connector: a Pusher, and with an api:
// block a Reader and Backfiller too.
type Conn struct {
	name    string
	cfg     Config
	opts    Options
	log     *slog.Logger
	seen    *shop.Seen
	metrics *shop.Metrics

	mu     sync.RWMutex
	client *erp.Client
	gql    *gql
	http   *http.Client
	bulk   map[string]string // bulk operation id -> its result URL, once known
}

var (
	_ connectors.Pusher     = (*Conn)(nil)
	_ connectors.Backfiller = (*Conn)(nil)
	_ prometheus.Collector  = (*Conn)(nil)
)

// New validates cfg and returns a connector; it connects on Start.
func New(name string, cfg Config, opts Options) (*Conn, error) {
	errs := connectors.Resolve(&cfg)
	cfg.check(name, &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	return &Conn{name: name, cfg: cfg, opts: opts, log: opts.Logger.With("connector", name),
		seen: shop.NewSeen(cfg.DedupeSize), metrics: shop.NewMetrics(), bulk: map[string]string{}}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Name is the connector's configured name.
func (c *Conn) Name() string { return c.name }

// Config is the connector's config with its defaults.
func (c *Conn) Config() Config { return c.cfg }

// Metrics are the connector's webhook counters.
func (c *Conn) Metrics() *shop.Metrics { return c.metrics }

// Start makes the Admin API client and asks for the shop's name, so that
// a wrong token shows at once. Without an api: block there is nothing to
// open.
func (c *Conn) Start(ctx context.Context) error {
	if c.cfg.API == nil {
		return nil
	}
	a := c.cfg.API
	tr := c.opts.Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	cl, err := erp.New(c.name, a.HTTPConfig, erp.Options{Logger: c.log, Transport: tr, Sleep: c.opts.Sleep, Now: c.opts.Now,
		Auth: erp.NewAuth(erp.AuthConfig{Type: erp.AuthAPIKey, Header: "X-Shopify-Access-Token", Key: a.Token})})
	if err != nil {
		return fmt.Errorf("shopify %s: %w", c.name, err)
	}
	g := &gql{cl: cl, path: a.endpoint(), now: c.opts.Now, sleep: c.opts.Sleep}
	if err := probe(ctx, g); err != nil {
		cl.Close()
		return fmt.Errorf("shopify %s: start: %w", c.name, err)
	}
	c.mu.Lock()
	old := c.client
	c.client, c.gql, c.http = cl, g, &http.Client{Transport: tr, Timeout: a.Timeout}
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func probe(ctx context.Context, g *gql) error {
	var out struct {
		Shop struct {
			Name string `json:"name"`
		} `json:"shop"`
	}
	return g.do(ctx, "ask for the shop", `query { shop { name } }`, nil, 1, false, &out)
}

// Check asks for the shop's name (nothing without an api: block).
func (c *Conn) Check(ctx context.Context) error {
	g, err := c.api()
	if err != nil {
		return nil
	}
	if err := probe(ctx, g); err != nil {
		return fmt.Errorf("shopify %s: check: %w", c.name, err)
	}
	return nil
}

// Close releases idle connections.
func (c *Conn) Close() error {
	c.mu.Lock()
	cl := c.client
	c.client, c.gql = nil, nil
	c.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	return nil
}

// api returns the GraphQL client once started.
func (c *Conn) api() (*gql, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.cfg.API == nil {
		return nil, connectors.Permanent(fmt.Errorf("shopify %s: no api: block, so nothing can be read", c.name))
	}
	if c.gql == nil {
		return nil, fmt.Errorf("shopify %s: not started", c.name)
	}
	return c.gql, nil
}

// Pushes lists the configured entities; deletes are not received.
func (c *Conn) Pushes() []connectors.ReadSpec {
	out := make([]connectors.ReadSpec, 0, len(c.cfg.Entities))
	for _, e := range c.cfg.Entities {
		out = append(out, connectors.ReadSpec{Entity: e})
	}
	return out
}

// Reads lists the configured entities when the api: block is set.
func (c *Conn) Reads() []connectors.ReadSpec {
	if c.cfg.API == nil {
		return nil
	}
	return c.Pushes()
}

// Durable is told a batch is in Kafka; there is nothing to forget.
func (c *Conn) Durable(context.Context, string, string) error { return nil }

// Describe implements prometheus.Collector (the webhook metrics; the API
// client's come with Collect once started).
func (c *Conn) Describe(ch chan<- *prometheus.Desc) { c.metrics.Describe(ch) }

// Collect implements prometheus.Collector.
func (c *Conn) Collect(ch chan<- prometheus.Metric) {
	c.metrics.Collect(ch)
	c.mu.RLock()
	cl := c.client
	c.mu.RUnlock()
	if cl != nil {
		cl.Collect(ch)
	}
}
