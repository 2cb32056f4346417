package rest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// Kind is the connector kind this package registers.
const Kind = "rest"

// Register registers kind "rest" with its settings spec (Config).
func Register(r *connectors.Registry) error {
	k, err := connectors.Declare(Kind, "any ERP with a REST API described in config (ERPNext, WooCommerce, ...)",
		func(p connectors.Params, cfg Config) (*Conn, error) { return New(p.Name, cfg, erp.Options{}) })
	if err != nil {
		return err
	}
	return r.Register(k)
}

// Conn is one configured rest connector: a connectors.Reader and
// Writer, safe for concurrent use once started.
type Conn struct {
	name  string
	cfg   Config
	ents  map[string]*entity
	names []string
	opts  erp.Options
	log   *slog.Logger

	mu     sync.RWMutex
	client *erp.Client
}

var (
	_ connectors.Reader    = (*Conn)(nil)
	_ connectors.Writer    = (*Conn)(nil)
	_ prometheus.Collector = (*Conn)(nil)
)

// New validates cfg and returns a connector that connects on Start.
// Errors name every bad key. opts may set a logger, a transport or the
// clock; its Auth, when nil, comes from cfg.Auth.
func New(name string, cfg Config, opts erp.Options) (*Conn, error) {
	c, ents, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for n := range ents {
		names = append(names, n)
	}
	sort.Strings(names)
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Conn{name: name, cfg: c, ents: ents, names: names, opts: opts, log: log.With("connector", name)}, nil
}

// Name is the connector's configured name.
func (c *Conn) Name() string { return c.name }

// Config returns the connector's config with every default filled in.
func (c *Conn) Config() Config { return c.cfg }

// Reads lists the configured entities; deletes are not seen.
func (c *Conn) Reads() []connectors.ReadSpec {
	var out []connectors.ReadSpec
	for _, n := range c.names {
		out = append(out, connectors.ReadSpec{Entity: n})
	}
	return out
}

// Writes lists the entities that are not read_only; deletes where a
// delete mode is configured. There is no version guard.
func (c *Conn) Writes() []connectors.WriteSpec {
	var out []connectors.WriteSpec
	for _, n := range c.names {
		ec := c.ents[n].cfg
		if !ec.ReadOnly {
			out = append(out, connectors.WriteSpec{Entity: n, Deletes: ec.Delete.Mode != "" && ec.Delete.Mode != DeleteNone})
		}
	}
	return out
}

// Durable is told that a batch is in Kafka; there is nothing to forget.
func (c *Conn) Durable(context.Context, string, string) error { return nil }

// Check lists one record of the first entity.
func (c *Conn) Check(ctx context.Context) error {
	cl, e, err := c.started(c.names[0])
	if err != nil {
		return err
	}
	err = list(ctx, cl, e, e.query(nil, "", ""), listOpts{op: "list " + e.name, size: 1, onePage: true},
		func([]mapping.Value) (bool, error) { return false, nil })
	if err != nil {
		return fmt.Errorf("rest %s: check: list %s: %w", c.name, e.name, listFault(err))
	}
	return nil
}

// listFault classifies a failure of the list that Start and Check probe:
// no record is involved, so what would be a record's fault elsewhere (the
// list's path not found, a reply the config does not describe) is the
// system's or the config's, Unavailable.
func listFault(err error) error {
	if k, _ := connectors.Classify(err); k == connectors.KindPermanent {
		return connectors.Unavailable(err)
	}
	return err
}

// Start makes the HTTP client and lists one record of the first entity,
// so wrong credentials or a wrong path show at once.
func (c *Conn) Start(ctx context.Context) error {
	opts := c.opts
	if opts.Auth == nil {
		opts.Auth = erp.NewAuth(c.cfg.Auth)
	}
	base := opts.Transport
	if base == nil {
		base = http.DefaultTransport
		if t, ok := base.(*http.Transport); ok {
			base = t.Clone() // idle connections of its own, closed by Close
		}
	}
	opts.Transport = captureTransport{base: base}
	cl, err := erp.New(c.name, c.cfg.HTTPConfig, opts)
	if err != nil {
		return fmt.Errorf("rest %s: %w", c.name, err)
	}
	e := c.ents[c.names[0]]
	err = list(ctx, cl, e, e.query(nil, "", ""), listOpts{op: "list " + e.name, size: 1, onePage: true},
		func([]mapping.Value) (bool, error) { return false, nil })
	if err != nil {
		cl.Close()
		if s := statusOf(err); s == http.StatusUnauthorized || s == http.StatusForbidden {
			return connectors.Unavailable(fmt.Errorf("rest %s: start: the server refused the credentials (auth:): %w", c.name, err))
		}
		return fmt.Errorf("rest %s: start: list %s at %s: %w", c.name, e.name, e.cfg.List, listFault(err))
	}
	c.mu.Lock()
	old := c.client
	c.client = cl
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close releases idle connections.
func (c *Conn) Close() error {
	c.mu.Lock()
	cl := c.client
	c.client = nil
	c.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	return nil
}

// started returns the client and the entity, or an error when the
// connector is not started or does not serve entity.
func (c *Conn) started(entity string) (*erp.Client, *entity, error) {
	c.mu.RLock()
	cl := c.client
	c.mu.RUnlock()
	if cl == nil {
		return nil, nil, fmt.Errorf("rest %s: not started", c.name)
	}
	e, ok := c.ents[entity]
	if !ok {
		return nil, nil, connectors.Permanent(fmt.Errorf("rest %s: entity %q is not configured (have %s)", c.name, entity, strings.Join(c.names, ", ")))
	}
	return cl, e, nil
}

// Stats returns the HTTP client's counters (zero before Start).
func (c *Conn) Stats() erp.Stats {
	c.mu.RLock()
	cl := c.client
	c.mu.RUnlock()
	if cl == nil {
		return erp.Stats{}
	}
	return cl.Stats()
}

// Describe implements prometheus.Collector (the erp client's metrics).
func (c *Conn) Describe(ch chan<- *prometheus.Desc) {
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
