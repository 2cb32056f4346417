// Package connectors owns the contract between the runtime and the systems
// it connects, in the manner of database/sql and its drivers: a Kind
// declares a connector kind (its name, its settings and a constructor;
// Declare derives the settings' Spec from the kind's config struct, see
// spec.go) and registers in a Registry; an instance is a Connector that
// offers some of five capabilities, each a small interface the runtime
// checks when it builds the plan:
//
//   - Reader pulls changes from a resumable cursor and is told when a batch
//     is durable in Kafka;
//   - Pusher mounts HTTP routes and hands pushed records (webhooks) to an
//     Ingest that returns only once they are durable in Kafka;
//   - Writer writes mapped records, declares per entity what it
//     guarantees (a version guard, deletes) and answers each record with
//     an Outcome from a closed set;
//   - Scanner lists every record of an entity in pages, resumable from a
//     position (reconciliation);
//   - View is a read model fed from the entity topics, with its own query
//     routes and a rebuild from the start of the topics (screen-pop).
//
// Errors are classified (errors.go): a record's fault (Permanent) goes to
// the dead-letter store, a passing fault (Retryable) is retried, and a
// fault of the whole system (Unavailable: a missing table, refused
// credentials) pauses the runner that met it and shows in readiness.
//
// Connectors deal in native records (mapping.Value in the system's own
// shape); the runtime maps them to and from the canonical model, assigns
// hub ids and talks to Kafka. Sub-packages (sqlstore, erp/..., shop/...,
// callcenter/...) implement the contract; connectortest is the suite that
// proves it. This package must not import any of them, nor the pipeline or
// the store.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/crmhub/hub/mapping"
)

// Op is what happened to a record.
type Op string

// The operations a record can carry.
const (
	OpUpsert Op = "upsert"
	OpDelete Op = "delete"
)

// Record is one native record read from (or pushed by) a system.
type Record struct {
	Entity string // canonical entity: see package canonical
	// Key is the record's id in its own system (the external id).
	Key     string
	Op      Op
	Version time.Time     // the system's own change time, used for ordering and conflicts
	Data    mapping.Value // native fields; for a delete, at least the key
	// Raw, when set, is the record's data as a JSON object's text, for the
	// hub to decode (see RawReader): Data is null then.
	Raw []byte
	// Refs are hub ids of records this one references, by entity, that
	// the connector found itself (a call matched to a customer by the
	// caller's number in the connector's own read model). A source's refs
	// setting, which resolves native keys, wins over them.
	Refs map[string]string
	// Err, when set, says the connector could not make a record of what
	// it read (a message that is not JSON, a row without its key): the
	// hub dead-letters the record with this reason and Data, which holds
	// what arrived, instead of mapping it.
	Err error
}

// Connector is one configured instance of a kind. Start opens it
// (connections, a check of the live schema or of the credentials); the
// runtime calls it again, with backoff, until it succeeds, so a system
// that is down at start delays only its own runners. Check is a cheap
// probe of whether the system answers now (readiness, and telling a bad
// record from a system that is down). Close releases everything; it may be
// called without a successful Start.
//
// A connector offers its capabilities by also implementing Reader,
// Pusher, Writer, Scanner or View.
type Connector interface {
	Name() string
	Start(ctx context.Context) error
	Check(ctx context.Context) error
	Close() error
}

// Params is what a kind's constructor receives.
type Params struct {
	// Name is the connector's configured name.
	Name string
	// Decode decodes the settings block into a config struct, rejecting
	// unknown keys and wrong types as FieldErrors.
	Decode func(into any) error
	// Dir is the config file's folder: relative file names in settings are
	// relative to it.
	Dir string
	// Log is the connector's logger (it carries the connector's name).
	Log *slog.Logger
}

// Settings decodes p's settings block into a new C: the first step of
// every kind's constructor.
func Settings[C any](p Params) (C, error) {
	var cfg C
	if p.Decode == nil {
		return cfg, errors.New("no settings")
	}
	err := p.Decode(&cfg)
	return cfg, err
}

// Kind declares one connector kind.
type Kind struct {
	// Name is what a config's `kind:` says: sqlstore, tryton, ...
	Name string
	// Summary is one line for listings: what systems the kind connects.
	Summary string
	// Spec declares the settings: keys, types, defaults, docs. Declare
	// derives it from the kind's config struct.
	Spec Spec
	// Capabilities are what an instance can offer (reader, pusher,
	// writer, scanner, view), for listings; Declare finds them on the
	// constructor's connector type. An instance offers them for the
	// entities its settings name.
	Capabilities []string
	// New builds an instance from its params. It validates the settings
	// and returns FieldErrors naming every bad key; it must not connect
	// to anything (Start does).
	New func(p Params) (Connector, error)
}

// Registry maps kind names to their declarations. The binary builds one at
// start and registers the kinds it ships; there is no package-level
// registry.
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]Kind{}} }

// Register adds a kind. Registering a name twice is a programming error.
func (r *Registry) Register(k Kind) error {
	if k.Name == "" || k.New == nil {
		return errors.New("connectors: register: a kind needs a name and a constructor")
	}
	if _, dup := r.kinds[k.Name]; dup {
		return fmt.Errorf("connectors: kind %q registered twice", k.Name)
	}
	r.kinds[k.Name] = k
	return nil
}

// Kinds lists the registered kind names, sorted.
func (r *Registry) Kinds() []string {
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Kind returns the declaration of a registered kind.
func (r *Registry) Kind(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// New builds a connector of kind.
func (r *Registry) New(kind string, p Params) (Connector, error) {
	k, ok := r.kinds[kind]
	if !ok {
		return nil, fmt.Errorf("unknown connector kind %q (known: %v)", kind, r.Kinds())
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	c, err := k.New(p)
	if err != nil {
		return nil, fmt.Errorf("connector %s (%s): %w", p.Name, kind, err)
	}
	return c, nil
}

// FieldError is one problem with a connector's settings: the key
// (relative to the connector's settings block, e.g.
// "entities.order.table") and what is wrong with it. The hub adds the
// config file and line.
type FieldError struct {
	Key string
	Msg string
}

func (e FieldError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

// FieldErrors is every problem a constructor found, in the order of the
// settings.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

// Add appends a problem about key.
func (es *FieldErrors) Add(key, format string, args ...any) {
	*es = append(*es, FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Err returns es as an error, or nil when there are none.
func (es FieldErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// AsFieldErrors reports whether err carries field errors.
func AsFieldErrors(err error) (FieldErrors, bool) {
	var fe FieldErrors
	if errors.As(err, &fe) {
		return fe, true
	}
	return nil, false
}
