// Package connectors owns the contract between the pipeline and the systems
// it connects: Source (read native records from a resumable cursor), Sink
// (write a batch, reporting success, retryable or permanent failure per
// record), Scanner (list every record of an entity, for reconciliation) and
// Lookup (find records by a field, for screen-pop and matching), and the
// Registry through which each kind of connector makes itself known by name,
// in the manner of database/sql drivers.
//
// Connectors deal in native records (mapping.Value in the system's own
// shape); the pipeline maps them to and from the canonical model, assigns hub
// ids and talks to Kafka. Sub-packages (sqlstore, erp, shop, callcenter, ...)
// implement the contract; this package must not import any of them, nor the
// pipeline or the store.
package connectors

import (
	"context"
	"errors"
	"fmt"
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

// Record is one native record read from a system.
type Record struct {
	Entity string // canonical entity: customer, order, invoice, interaction
	// Key is the record's id in its own system (the external id).
	Key     string
	Op      Op
	Version time.Time     // the system's own change time, used for ordering and conflicts
	Data    mapping.Value // native fields; for a delete, at least the key
}

// Batch is what one Read returns: records in cursor order and the cursor to
// resume from once the pipeline has published all of them.
type Batch struct {
	Records []Record
	Cursor  string
}

// Source reads changes from a system. Read returns the records after cursor
// ("" for the beginning), at most max of them, waiting at most until ctx is
// done when there are none. The pipeline stores Batch.Cursor only after Kafka
// acknowledged every record of the batch, so a source must tolerate being
// asked again from an older cursor (re-reads are harmless: writes are
// idempotent).
type Source interface {
	Entities() []string
	Read(ctx context.Context, entity, cursor string, max int) (Batch, error)
}

// WriteRecord is one record for a sink, already mapped to the target's shape.
type WriteRecord struct {
	Entity     string
	HubID      string
	ExternalID string // the target's id when xref knows it, else ""
	Op         Op
	Version    time.Time
	Data       mapping.Value
	// Refs are the target's external ids of referenced records, by entity
	// (e.g. "customer" -> the target's customer id).
	Refs map[string]string
}

// Result is a sink's verdict on one record, in the order of the batch.
type Result struct {
	// ExternalID is the record's id in the target after a successful write.
	ExternalID string
	// Err is nil on success; classify it with Retryable or Permanent.
	Err error
	// Skipped is true when the write changed nothing because the target
	// already held a newer version (a version guard, not a failure).
	Skipped bool
}

// Sink writes records to a system. Write must be idempotent: writing the
// same record twice leaves the target as writing it once, and an older
// version never overwrites a newer one. It returns one Result per record;
// an error return means the whole batch failed the same way.
type Sink interface {
	Entities() []string
	Write(ctx context.Context, entity string, recs []WriteRecord) ([]Result, error)
}

// Scanner lists every record of an entity, for reconciliation.
type Scanner interface {
	Scan(ctx context.Context, entity string, fn func(Record) error) error
}

// Lookup finds records whose field equals value (e.g. a phone number).
type Lookup interface {
	Lookup(ctx context.Context, entity, field, value string) ([]Record, error)
}

// Connector is one configured instance of a kind. Start prepares it (opens
// connections, checks the live schema); Close releases everything. A
// connector offers its capabilities by also implementing Source, Sink,
// Scanner or Lookup.
type Connector interface {
	Name() string
	Start(ctx context.Context) error
	Close() error
}

// Params is what a factory receives: the connector's name, its raw settings
// and where they came from, for errors that name the file and line.
type Params struct {
	Name string
	// Decode decodes the settings block into a config struct, rejecting
	// unknown keys; errors name the key, file and line.
	Decode func(into any) error
	// Where returns "file:line" of a settings key, or "".
	Where func(key string) string
	// Dir is the config file's folder: relative file names in settings are
	// relative to it.
	Dir string
	Env Env
}

// Settings decodes p's settings block into a new C: the first step of
// every kind's factory.
func Settings[C any](p Params) (C, error) {
	var cfg C
	if p.Decode == nil {
		return cfg, errors.New("no settings")
	}
	err := p.Decode(&cfg)
	return cfg, err
}

// Env is what the hub lends connectors.
type Env struct {
	// Getenv reads secrets referenced by the config.
	Getenv func(string) (string, bool)
}

// Factory builds a connector from its params. It validates the config and
// returns an error naming every bad key; it must not connect to anything
// (Start does).
type Factory func(p Params) (Connector, error)

// Registry maps kind names ("sqlstore", "tryton", ...) to factories. The
// binary builds one at start and registers the kinds it ships; there is no
// package-level registry.
type Registry struct {
	kinds map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]Factory{}} }

// Register adds a kind. Registering a name twice is a programming error.
func (r *Registry) Register(kind string, f Factory) error {
	if kind == "" || f == nil {
		return errors.New("connectors: register: empty kind or nil factory")
	}
	if _, dup := r.kinds[kind]; dup {
		return fmt.Errorf("connectors: kind %q registered twice", kind)
	}
	r.kinds[kind] = f
	return nil
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New builds a connector of kind.
func (r *Registry) New(kind string, p Params) (Connector, error) {
	f, ok := r.kinds[kind]
	if !ok {
		return nil, fmt.Errorf("unknown connector kind %q (known: %v)", kind, r.Kinds())
	}
	c, err := f(p)
	if err != nil {
		return nil, fmt.Errorf("connector %s (%s): %w", p.Name, kind, err)
	}
	return c, nil
}

// ErrorKind classifies a failure for the pipeline's retry policy.
type ErrorKind int

// The kinds of failure.
const (
	// KindRetryable failures (timeouts, 5xx, 429, broken connections) are
	// retried with backoff.
	KindRetryable ErrorKind = iota
	// KindPermanent failures (validation, 4xx, constraint violations) go
	// straight to the dead-letter store.
	KindPermanent
)

func (k ErrorKind) String() string {
	if k == KindPermanent {
		return "permanent"
	}
	return "retryable"
}

// Error is a classified failure.
type Error struct {
	Kind ErrorKind
	// RetryAfter is the wait a system asked for (429 Retry-After), or 0.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindPermanent, Err: err}
}

// Retryable marks err as transient; after is the wait the system asked for.
func Retryable(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindRetryable, RetryAfter: after, Err: err}
}

// Classify returns the kind of err. Unclassified errors are retryable: a
// failure nobody understood should be retried, then dead-lettered, not
// dropped at once.
func Classify(err error) (ErrorKind, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, e.RetryAfter
	}
	return KindRetryable, 0
}
