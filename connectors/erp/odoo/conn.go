package odoo

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

// Kind is the connector kind this package registers.
const Kind = "odoo"

// Register registers kind "odoo" with its settings spec (Config).
func Register(r *connectors.Registry) error {
	k, err := connectors.Declare(Kind, "an Odoo ERP over JSON-RPC or JSON-2: partners, sale orders, invoices",
		func(p connectors.Params, cfg Config) (*Conn, error) { return New(p.Name, cfg, erp.Options{}) })
	if err != nil {
		return err
	}
	return r.Register(k)
}

// Conn is one configured odoo connector: a connectors.Reader, Writer
// and Scanner, safe for concurrent use once started.
type Conn struct {
	name string
	cfg  Config
	opts erp.Options
	now  func() time.Time

	mu     sync.RWMutex
	rpc    *rpc
	client *erp.Client
	// caches of reference data, reset at every Start
	products  *codeTable // product.product by default_code
	countries *codeTable // res.country by ISO code
}

var (
	_ connectors.Reader    = (*Conn)(nil)
	_ connectors.Writer    = (*Conn)(nil)
	_ connectors.Scanner   = (*Conn)(nil)
	_ prometheus.Collector = (*Conn)(nil)
)

// New validates cfg and returns a connector that connects on Start. Errors
// name every bad key. opts may set a logger, a transport or a clock; its
// Auth is replaced by the protocol's own.
func New(name string, cfg Config, opts erp.Options) (*Conn, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Conn{name: name, cfg: c, opts: opts, now: now,
		products:  newCodeTable("product.product", "default_code", "products", false, true),
		countries: newCodeTable("res.country", "code", "countries", true, false)}, nil
}

// Name is the connector's configured name.
func (c *Conn) Name() string { return c.name }

// Config returns the connector's config with every default filled in.
func (c *Conn) Config() Config { return c.cfg }

// Reads lists the configured entities; Odoo's deletes are not seen.
func (c *Conn) Reads() []connectors.ReadSpec {
	var out []connectors.ReadSpec
	for _, e := range c.cfg.Entities {
		out = append(out, connectors.ReadSpec{Entity: e})
	}
	return out
}

// Writes lists the configured entities it can write (customers and
// orders; invoices are read-only). A delete archives the partner or cancels
// (or deletes) the order; there is no version guard.
func (c *Conn) Writes() []connectors.WriteSpec {
	var out []connectors.WriteSpec
	for _, e := range c.cfg.Entities {
		if e == EntityCustomer || e == EntityOrder {
			out = append(out, connectors.WriteSpec{Entity: e, Deletes: true})
		}
	}
	return out
}

// Durable is told that a batch is in Kafka; there is nothing to forget.
func (c *Conn) Durable(context.Context, string, string) error { return nil }

// Check asks for the user's context again.
func (c *Conn) Check(ctx context.Context) error {
	c.mu.RLock()
	r := c.rpc
	c.mu.RUnlock()
	if r == nil {
		return fmt.Errorf("odoo %s: not started", c.name)
	}
	var uctx Row
	if err := r.call(ctx, "res.users", "context_get", nil, map[string]any{}, &uctx); err != nil {
		return fmt.Errorf("odoo %s: check: %w", c.name, err)
	}
	return nil
}

// Start builds the client and checks the credentials: with jsonrpc it logs
// in (common.login), then both protocols ask for the user's context
// (res.users.context_get), which fails at once on a wrong key.
func (c *Conn) Start(ctx context.Context) error {
	opts := c.opts
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	base := opts.Transport
	if base == nil {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			base = t.Clone()
		} else {
			base = http.DefaultTransport
		}
	}
	opts.Transport = captureTransport{base: base}
	opts.Auth = nil
	if c.cfg.Protocol == ProtocolJSON2 {
		opts.Auth = bearer{key: c.cfg.APIKey}
	}
	opts.Redact = append(append([]string(nil), opts.Redact...), "password", "api_key")
	cl, err := erp.New(c.name, c.cfg.HTTPConfig, opts)
	if err != nil {
		return fmt.Errorf("odoo %s: %w", c.name, err)
	}
	r := &rpc{c: cl, proto: c.cfg.Protocol, db: c.cfg.Database, login: c.cfg.Login, secret: c.cfg.secret(),
		log: log.With("connector", c.name), debug: c.cfg.Debug}
	var uctx Row
	if err := r.call(ctx, "res.users", "context_get", nil, map[string]any{}, &uctx); err != nil {
		cl.Close()
		return fmt.Errorf("odoo %s: start: read the user's context: %w", c.name, err)
	}
	c.mu.Lock()
	old := c.client
	c.rpc, c.client = r, cl
	c.mu.Unlock()
	c.products.reset()
	c.countries.reset()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close drops idle connections (Odoo keeps no session for either protocol).
func (c *Conn) Close() error {
	c.mu.Lock()
	cl := c.client
	c.rpc, c.client = nil, nil
	c.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	return nil
}

// started returns the RPC client and the call context, or an error when
// the connector is not started or does not serve entity.
func (c *Conn) started(entity string) (*rpc, map[string]any, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.rpc == nil {
		return nil, nil, fmt.Errorf("odoo %s: not started", c.name)
	}
	if entity != "" && !slices.Contains(c.cfg.Entities, entity) {
		return nil, nil, connectors.Permanent(fmt.Errorf("odoo %s: entity %q is not configured (have %s)", c.name, entity, strings.Join(c.cfg.Entities, ", ")))
	}
	octx := map[string]any{}
	if c.cfg.Company > 0 {
		octx["allowed_company_ids"] = []int64{c.cfg.Company}
	}
	return c.rpc, octx, nil
}

// withContext returns a copy of octx with key set to v.
func withContext(octx map[string]any, key string, v any) map[string]any {
	out := make(map[string]any, len(octx)+1)
	for k, x := range octx {
		out[k] = x
	}
	out[key] = v
	return out
}

// CallStats are the calls made since Start, the time Odoo took for them
// and the logins repeated after Odoo refused a session (jsonrpc).
type CallStats struct {
	Calls    int64
	Time     time.Duration
	Relogins int64
}

// CallStats returns the calls made since Start.
func (c *Conn) CallStats() CallStats {
	c.mu.RLock()
	r := c.rpc
	c.mu.RUnlock()
	if r == nil {
		return CallStats{}
	}
	return CallStats{Calls: r.calls.Load(), Time: time.Duration(r.nanos.Load()), Relogins: r.relogins.Load()}
}

// Describe implements prometheus.Collector (the erp client's metrics).
func (c *Conn) Describe(ch chan<- *prometheus.Desc) {
	// The client exists only once started; describe through a throwaway.
	if cl, err := erp.New(c.name, c.cfg.HTTPConfig, erp.Options{}); err == nil {
		cl.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Conn) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	cl := c.client
	c.mu.RUnlock()
	if cl != nil {
		cl.Collect(ch)
	}
}
