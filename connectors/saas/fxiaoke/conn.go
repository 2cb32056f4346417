package fxiaoke

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
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
const Kind = "fxiaoke"

// Register registers kind "fxiaoke" with its settings spec (Config).
func Register(r *connectors.Registry) error {
	k, err := connectors.Declare(Kind, "纷享销客 (Fxiaoke) CRM OpenAPI: accounts, contacts, sales orders with lines, invoice requests and payments, both ways, within its call limits",
		func(p connectors.Params, cfg Config) (*Conn, error) { return New(p.Name, cfg, Options{Logger: p.Log}) })
	if err != nil {
		return err
	}
	return r.Register(k)
}

// Options are what a Conn takes besides its config.
type Options struct {
	Logger    *slog.Logger
	Transport http.RoundTripper
	// Clock replaces the clock of the quotas and the token (tests).
	Clock saas.Clock
}

type entity struct {
	name string
	cfg  EntityConfig
}

func (e *entity) deletes() bool { return e.cfg.Deletes == nil || *e.cfg.Deletes }

// Conn is one configured fxiaoke connector: a Reader, Writer and
// Scanner, safe for concurrent use once started.
type Conn struct {
	name  string
	cfg   Config
	ents  map[string]*entity
	names []string
	opts  Options
	log   *slog.Logger
	clock saas.Clock

	tok      token
	daily    *saas.Window
	wmu      sync.Mutex
	windows  map[string]*saas.Window
	products *productCache
	lastOK   atomic.Int64

	mu sync.RWMutex
	cl *erp.Client
}

var (
	_ connectors.Reader      = (*Conn)(nil)
	_ connectors.Writer      = (*Conn)(nil)
	_ connectors.Scanner     = (*Conn)(nil)
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
	c := &Conn{name: name, cfg: cfg, ents: map[string]*entity{}, opts: opts, log: log.With("connector", name), clock: opts.Clock,
		windows: map[string]*saas.Window{}}
	if c.clock.Now == nil {
		c.clock.Now = time.Now
	}
	for n, e := range cfg.Entities {
		c.ents[n] = &entity{name: n, cfg: e}
		c.names = append(c.names, n)
	}
	sort.Strings(c.names)
	c.daily = saas.NewWindow("calls", cfg.DailyCalls, 24*time.Hour, c.clock)
	c.products = &productCache{byID: map[string]string{}, byCode: map[string]string{}}
	return c, nil
}

// Name is the connector's configured name.
func (c *Conn) Name() string { return c.name }

func (c *Conn) client() (*erp.Client, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.cl == nil {
		return nil, fmt.Errorf("fxiaoke %s: not started", c.name)
	}
	return c.cl, nil
}

func (c *Conn) entity(name string) (*entity, error) {
	e, ok := c.ents[name]
	if !ok {
		return nil, connectors.Permanent(fmt.Errorf("fxiaoke %s: entity %q is not configured (have %s)", c.name, name, strings.Join(c.names, ", ")))
	}
	return e, nil
}

// Start makes the HTTP client, fetches a token (so refused credentials
// show at once) and queries one record of the first entity's object.
func (c *Conn) Start(ctx context.Context) error {
	var p erp.Problems
	cl, err := erp.New(c.name, c.cfg.http(&p), erp.Options{Logger: c.log, Transport: c.opts.Transport,
		Redact: []string{"appSecret", "permanentCode", "corpAccessToken"}})
	if err != nil {
		return fmt.Errorf("fxiaoke %s: %w", c.name, err)
	}
	c.mu.Lock()
	old := c.cl
	c.cl = cl
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	if err := c.probe(ctx); err != nil {
		return fmt.Errorf("fxiaoke %s: start: %w", c.name, err)
	}
	return nil
}

// probe queries one record of the first entity's object.
func (c *Conn) probe(ctx context.Context) error {
	e := c.ents[c.names[0]]
	_, _, err := c.query(ctx, "probe "+e.cfg.Object, e.cfg.Object, nil, nil, 0, 1)
	if k, _ := connectors.Classify(err); err != nil && k == connectors.KindPermanent {
		return connectors.Unavailable(err) // an object the tenant does not have: the config's fault
	}
	return err
}

// Check probes only when no call succeeded for check_every.
func (c *Conn) Check(ctx context.Context) error {
	if _, err := c.client(); err != nil {
		return err
	}
	if last := c.lastOK.Load(); last != 0 && c.clock.Now().Sub(time.Unix(0, last)) < c.cfg.CheckEvery {
		return nil
	}
	if err := c.probe(ctx); err != nil {
		return fmt.Errorf("fxiaoke %s: check: %w", c.name, err)
	}
	return nil
}

// Close releases idle connections.
func (c *Conn) Close() error {
	c.mu.Lock()
	cl := c.cl
	c.cl = nil
	c.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	return nil
}

// Reads lists the entities; voided records arrive as deletes where the
// entity reads them.
func (c *Conn) Reads() []connectors.ReadSpec {
	out := make([]connectors.ReadSpec, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, connectors.ReadSpec{Entity: n, Deletes: c.ents[n].deletes()})
	}
	return out
}

// Writes lists the entities that are not read-only, with deletes (a
// delete voids the record).
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
	HTTP          erp.Stats
	Daily         saas.State
	TokensFetched int64
}

// Stats returns the connector's counters.
func (c *Conn) Stats() Stats {
	c.tok.mu.Lock()
	s := Stats{Daily: c.daily.State(), TokensFetched: c.tok.fetched}
	c.tok.mu.Unlock()
	if cl, err := c.client(); err == nil {
		s.HTTP = cl.Stats()
	}
	return s
}

// Describe implements prometheus.Collector.
func (c *Conn) Describe(ch chan<- *prometheus.Desc) {
	if cl, err := erp.New(c.name, erp.HTTPConfig{URL: "http://x"}, erp.Options{}); err == nil {
		cl.Describe(ch)
	}
	saas.DescribeWindows(ch)
}

// Collect implements prometheus.Collector: the HTTP client's calls, the
// daily quota and each endpoint's window.
func (c *Conn) Collect(ch chan<- prometheus.Metric) {
	if cl, err := c.client(); err == nil {
		cl.Collect(ch)
	}
	saas.CollectWindow(ch, c.name, "daily", c.daily)
	c.wmu.Lock()
	paths := make([]string, 0, len(c.windows))
	for p := range c.windows {
		paths = append(paths, p)
	}
	c.wmu.Unlock()
	sort.Strings(paths)
	for _, p := range paths {
		saas.CollectWindow(ch, c.name, p, c.window(p))
	}
}
