package tryton

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

// Kind is the connector kind this package registers.
const Kind = "tryton"

// Register registers kind "tryton" with its settings spec (Config).
func Register(r *connectors.Registry) error {
	k, err := connectors.Declare(Kind, "a Tryton ERP (6.0 and later) over JSON-RPC: parties, sales, invoices",
		func(p connectors.Params, cfg Config) (*Conn, error) { return New(p.Name, cfg, erp.Options{}) })
	if err != nil {
		return err
	}
	return r.Register(k)
}

// Conn is one configured tryton connector: a connectors.Reader, Writer
// and Scanner, safe for concurrent use once started.
type Conn struct {
	name string
	cfg  Config
	opts erp.Options

	mu      sync.RWMutex
	rpc     *rpc
	client  *erp.Client
	company int64
	// caches of reference data, by code
	productCache map[string]product
	units        map[string]int64 // symbol -> id
	unitSym      map[int64]string
	currencies   map[string]int64 // ISO code -> id
	countries    map[string]int64 // ISO code -> id
	amendments   *bool            // sale_amendment activated; nil: not asked yet
}

type product struct {
	id, unit int64
}

var (
	_ connectors.Reader    = (*Conn)(nil)
	_ connectors.Writer    = (*Conn)(nil)
	_ connectors.Scanner   = (*Conn)(nil)
	_ prometheus.Collector = (*Conn)(nil)
)

// New validates cfg and returns a connector that logs in on Start. Errors
// name every bad key. opts may set a logger or a transport; its Auth is
// replaced by Tryton's session login.
func New(name string, cfg Config, opts erp.Options) (*Conn, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Conn{name: name, cfg: c, opts: opts}, nil
}

// Name is the connector's configured name.
func (c *Conn) Name() string { return c.name }

// Config returns the connector's config with every default filled in.
func (c *Conn) Config() Config { return c.cfg }

// Reads lists the configured entities; Tryton's deletes are not seen.
func (c *Conn) Reads() []connectors.ReadSpec {
	var out []connectors.ReadSpec
	for _, e := range c.cfg.Entities {
		out = append(out, connectors.ReadSpec{Entity: e})
	}
	return out
}

// Writes lists the configured entities it can write (customers and
// orders; invoices are read-only). A delete archives the party or cancels
// the sale; there is no version guard.
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

// Check reads the user's preferences again.
func (c *Conn) Check(ctx context.Context) error {
	r, _, err := c.started("")
	if err != nil {
		return err
	}
	var prefs Row
	if err := r.call(ctx, "model.res.user.get_preferences", []any{true, map[string]any{}}, &prefs); err != nil {
		return fmt.Errorf("tryton %s: check: %w", c.name, err)
	}
	return nil
}

// Start logs in and reads the user's preferences (the company every call
// runs in).
func (c *Conn) Start(ctx context.Context) error {
	r := &rpc{path: "/" + c.cfg.Database + "/", user: c.cfg.User}
	opts := c.opts
	session := &erp.Session{Login: r.login(c.cfg.Password, c.cfg.Language)}
	opts.Auth = session
	opts.Redact = append(opts.Redact, "password")
	cl, err := erp.New(c.name, c.cfg.HTTPConfig, opts)
	if err != nil {
		return fmt.Errorf("tryton %s: %w", c.name, err)
	}
	r.c = cl
	var prefs Row
	if err := r.call(ctx, "model.res.user.get_preferences", []any{true, map[string]any{}}, &prefs); err != nil {
		cl.Close()
		return fmt.Errorf("tryton %s: start: read the user's preferences: %w", c.name, err)
	}
	company := c.cfg.Company
	if company == 0 {
		company = erp.AsInt(prefs["company"])
	}
	if company == 0 {
		cl.Close()
		return connectors.Permanent(fmt.Errorf("tryton %s: start: user %q has no company (set one in Tryton or `company:`)", c.name, c.cfg.User))
	}
	c.mu.Lock()
	old := c.client
	c.rpc, c.client, c.company = r, cl, company
	c.productCache, c.units, c.unitSym = map[string]product{}, nil, nil
	c.currencies, c.countries = map[string]int64{}, map[string]int64{}
	c.amendments = nil
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close drops the session and idle connections.
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
		return nil, nil, fmt.Errorf("tryton %s: not started", c.name)
	}
	if entity != "" && !c.serves(entity) {
		return nil, nil, connectors.Permanent(fmt.Errorf("tryton %s: entity %q is not configured (have %s)", c.name, entity, strings.Join(c.cfg.Entities, ", ")))
	}
	return c.rpc, map[string]any{"company": c.company, "language": c.cfg.Language}, nil
}

func (c *Conn) serves(entity string) bool {
	for _, e := range c.cfg.Entities {
		if e == entity {
			return true
		}
	}
	return false
}

// CallStats are the JSON-RPC calls made since Start and the time Tryton
// took for them (the HTTP round trip on loopback).
type CallStats struct {
	Calls int64
	Time  time.Duration
}

// CallStats returns the calls made since Start.
func (c *Conn) CallStats() CallStats {
	c.mu.RLock()
	r := c.rpc
	c.mu.RUnlock()
	if r == nil {
		return CallStats{}
	}
	return CallStats{Calls: r.calls.Load(), Time: time.Duration(r.nanos.Load())}
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
