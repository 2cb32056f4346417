package zoho

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/saas"
)

// Kind is the connector kind this package registers.
const Kind = "zoho"

// Register registers kind "zoho" with its settings spec (Config).
func Register(r *connectors.Registry) error {
	k, err := connectors.Declare(Kind, "Zoho CRM (REST API v8): contacts, accounts, sales orders and invoices, both ways, within the org's credits",
		func(p connectors.Params, cfg Config) (*Conn, error) { return New(p.Name, cfg, Options{Logger: p.Log}) })
	if err != nil {
		return err
	}
	return r.Register(k)
}

// Options are what a Conn takes besides its config.
type Options struct {
	Logger *slog.Logger
	// Transport replaces the HTTP transport (tests).
	Transport http.RoundTripper
	// Clock replaces the clock of the credit window and the tokens (tests
	// of the quota).
	Clock saas.Clock
}

// entity is one configured entity.
type entity struct {
	name   string
	module string
	cfg    EntityConfig
}

func (e *entity) deletes() bool { return e.cfg.Deletes == nil || *e.cfg.Deletes }

// Conn is one configured zoho connector: a Reader, Writer, Scanner and
// (with notifications) Pusher, safe for concurrent use once started.
type Conn struct {
	name  string
	cfg   Config
	ents  map[string]*entity
	names []string
	opts  Options
	log   *slog.Logger
	clock saas.Clock

	auth     *oauth
	credits  *saas.Window
	slots    *saas.Slots
	products *productCache
	lastOK   atomic.Int64

	mu     sync.RWMutex
	cl     *erp.Client
	notify *notifier
}

var (
	_ connectors.Reader      = (*Conn)(nil)
	_ connectors.Writer      = (*Conn)(nil)
	_ connectors.Scanner     = (*Conn)(nil)
	_ connectors.Pusher      = (*Conn)(nil)
	_ connectors.CursorCodec = (*Conn)(nil)
	_ prometheus.Collector   = (*Conn)(nil)
)

// New validates cfg and returns a connector that connects on Start.
func New(name string, cfg Config, opts Options) (*Conn, error) {
	var p connectors.FieldErrors
	p = append(p, connectors.Resolve(&cfg)...)
	cfg.check(&p)
	var hp erp.Problems
	cfg.http(&hp)
	p = append(p, hp...)
	if err := p.Err(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Conn{name: name, cfg: cfg, ents: map[string]*entity{}, opts: opts, log: log.With("connector", name), clock: opts.Clock}
	if c.clock.Now == nil {
		c.clock.Now = time.Now
	}
	for n, e := range cfg.Entities {
		c.ents[n] = &entity{name: n, module: e.Module, cfg: e}
		c.names = append(c.names, n)
	}
	sort.Strings(c.names)
	c.auth = newOAuth(cfg, c.clock)
	c.credits = saas.NewWindow("credits", cfg.DailyCredits, 24*time.Hour, c.clock)
	c.slots = saas.NewSlots(cfg.Concurrency)
	c.products = newProductCache(cfg.ProductsModule, cfg.ProductCode)
	return c, nil
}

// Name is the connector's configured name.
func (c *Conn) Name() string { return c.name }

// Config returns the connector's config with its defaults.
func (c *Conn) Config() Config { return c.cfg }

func (c *Conn) client() (*erp.Client, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.cl == nil {
		return nil, fmt.Errorf("zoho %s: not started", c.name)
	}
	return c.cl, nil
}

// entity returns the configured entity or a Permanent error.
func (c *Conn) entity(name string) (*entity, error) {
	e, ok := c.ents[name]
	if !ok {
		return nil, connectors.Permanent(fmt.Errorf("zoho %s: entity %q is not configured (have %s)", c.name, name, strings.Join(c.names, ", ")))
	}
	return e, nil
}

// Start makes the HTTP client, mints an access token (so wrong
// credentials show at once) and reads one record id of the first
// entity's module; with notifications it subscribes the channel and
// keeps it renewed until Close.
func (c *Conn) Start(ctx context.Context) error {
	var p erp.Problems
	cl, err := erp.New(c.name, c.cfg.http(&p), erp.Options{Auth: c.auth, Logger: c.log, Transport: c.opts.Transport,
		Redact: []string{"refresh_token", "client_secret", "code"}})
	if err != nil {
		return fmt.Errorf("zoho %s: %w", c.name, err)
	}
	c.mu.Lock()
	old := c.cl
	c.cl = cl
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	if err := c.probe(ctx); err != nil {
		return fmt.Errorf("zoho %s: start: %w", c.name, err)
	}
	if c.cfg.Notifications != nil {
		c.mu.Lock()
		if c.notify == nil {
			c.notify = c.startNotifier()
		}
		c.mu.Unlock()
	}
	return nil
}

// probe lists one id of the first entity's module.
func (c *Conn) probe(ctx context.Context) error {
	e := c.ents[c.names[0]]
	_, err := c.call(ctx, erp.Request{Op: "probe " + e.module, Method: http.MethodGet, Path: "/" + url.PathEscape(e.module),
		Query: url.Values{"fields": {"id"}, "per_page": {"1"}}, Idempotent: true}, 1)
	if k, _ := connectors.Classify(err); err != nil && k == connectors.KindPermanent {
		// No record is involved: a module that does not exist is the
		// config's fault, for every call alike.
		return connectors.Unavailable(err)
	}
	return err
}

// Check is free while calls succeed: it probes only when none did for
// check_every.
func (c *Conn) Check(ctx context.Context) error {
	if _, err := c.client(); err != nil {
		return err
	}
	if last := c.lastOK.Load(); last != 0 && c.clock.Now().Sub(time.Unix(0, last)) < c.cfg.CheckEvery {
		return nil
	}
	if err := c.probe(ctx); err != nil {
		return fmt.Errorf("zoho %s: check: %w", c.name, err)
	}
	return nil
}

// Close stops the channel renewal and releases idle connections.
func (c *Conn) Close() error {
	c.mu.Lock()
	cl, n := c.cl, c.notify
	c.cl, c.notify = nil, nil
	c.mu.Unlock()
	if n != nil {
		n.stop()
	}
	if cl != nil {
		cl.Close()
	}
	return nil
}

// Reads lists the entities; deletes arrive where the entity reads them.
func (c *Conn) Reads() []connectors.ReadSpec {
	out := make([]connectors.ReadSpec, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, connectors.ReadSpec{Entity: n, Deletes: c.ents[n].deletes()})
	}
	return out
}

// Writes lists the entities that are not read-only: upserts and deletes,
// without a version guard.
func (c *Conn) Writes() []connectors.WriteSpec {
	var out []connectors.WriteSpec
	for _, n := range c.names {
		if !c.ents[n].cfg.ReadOnly {
			out = append(out, connectors.WriteSpec{Entity: n, Deletes: true})
		}
	}
	return out
}

// Scans lists every entity.
func (c *Conn) Scans() []string { return append([]string(nil), c.names...) }

// Durable is told a batch is in Kafka; there is nothing to forget.
func (c *Conn) Durable(context.Context, string, string) error { return nil }

// Stats are the connector's counters.
type Stats struct {
	HTTP    erp.Stats
	Credits saas.State
	Minted  int64
}

// Stats returns the connector's counters.
func (c *Conn) Stats() Stats {
	s := Stats{Credits: c.credits.State(), Minted: c.auth.Minted()}
	if cl, err := c.client(); err == nil {
		s.HTTP = cl.Stats()
	}
	return s
}

var descMinted = prometheus.NewDesc("hub_zoho_tokens_minted_total", "Access tokens a zoho connector minted from its refresh token.", []string{"connector"}, nil)

// Describe implements prometheus.Collector.
func (c *Conn) Describe(ch chan<- *prometheus.Desc) {
	if cl, err := erp.New(c.name, erp.HTTPConfig{URL: "http://x"}, erp.Options{}); err == nil {
		cl.Describe(ch)
	}
	saas.DescribeWindows(ch)
	ch <- descMinted
}

// Collect implements prometheus.Collector: the HTTP client's calls and
// failures, the credits spent and left, the tokens minted.
func (c *Conn) Collect(ch chan<- prometheus.Metric) {
	if cl, err := c.client(); err == nil {
		cl.Collect(ch)
	}
	saas.CollectWindow(ch, c.name, "credits", c.credits)
	ch <- prometheus.MustNewConstMetric(descMinted, prometheus.CounterValue, float64(c.auth.Minted()), c.name)
}
