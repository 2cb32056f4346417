package connectors

import (
	"context"
	"net/http"
	"time"

	"github.com/crmhub/hub/mapping"
)

// ReadSpec is what a Reader or Pusher delivers of one entity.
type ReadSpec struct {
	Entity string
	// Deletes is true when deletes of the entity's records arrive (as
	// OpDelete records); false when the system's deletes are invisible to
	// this connector (cursor capture, an API without a deleted-records
	// endpoint).
	Deletes bool
}

// Batch is what one Read returns: records in cursor order and the cursor to
// resume from once the runtime has published all of them.
type Batch struct {
	Records []Record
	Cursor  string
}

// Reader pulls changes of an entity from a cursor. Read returns the records
// after cursor ("" for the beginning), at most max of them, waiting at most
// until ctx is done when there are none (then it returns an empty batch and
// no error). The runtime stores Batch.Cursor only after Kafka acknowledged
// every record of the batch, then calls Durable with it; a reader must
// tolerate being asked again from an older cursor (re-reads are harmless:
// writes are idempotent).
type Reader interface {
	Reads() []ReadSpec
	Read(ctx context.Context, entity, cursor string, max int) (Batch, error)
	// Durable tells the reader that everything up to cursor is durable in
	// Kafka and stored as the entity's cursor: a reader may now forget it
	// (an outbox may prune its rows). Its error is logged, never fatal.
	Durable(ctx context.Context, entity, cursor string) error
}

// RawReader is a Reader whose records' data can be left undecoded: after
// LeaveRaw(entity), Read returns that entity's records with Record.Raw
// (the JSON object as it arrived) and a null Data, Key and Version still
// set. The hub decodes Raw itself, only the members its mapping reads, and
// dead-letters it as it arrived. The source runner asks for it once,
// before its first Read.
type RawReader interface {
	Reader
	LeaveRaw(entity string)
}

// Ingest takes pushed records of one entity into the hub: it maps them,
// gives them hub ids and publishes them, and returns only once each is
// durable (in Kafka, or as a dead letter in the state store). An error
// means nothing is durable for sure: the caller should make the sender try
// again (answer 503). It is safe for concurrent use.
type Ingest interface {
	Ingest(ctx context.Context, entity string, recs []Record) ([]IngestResult, error)
}

// IngestResult is what became of one pushed record.
type IngestResult struct {
	// Outcome is IngestPublished, IngestUnchanged or IngestRejected.
	Outcome IngestOutcome
	// HubID is the record's hub id ("" when it was rejected).
	HubID string
	// Reason says why a record was unchanged or rejected.
	Reason string
}

// IngestOutcome is the closed set of what Ingest does with a record.
type IngestOutcome uint8

// The outcomes of an ingested record.
const (
	// IngestRejected: the record is bad (its mapping failed, it has no
	// key): it is in the dead-letter store with the reason.
	IngestRejected IngestOutcome = iota
	// IngestPublished: the record is durable in Kafka.
	IngestPublished
	// IngestUnchanged: the hub already holds this content or a newer
	// version of the record (a duplicate or late delivery): nothing to do.
	IngestUnchanged
)

func (o IngestOutcome) String() string {
	switch o {
	case IngestPublished:
		return "published"
	case IngestUnchanged:
		return "unchanged"
	}
	return "rejected"
}

// Route is one HTTP route a Pusher or View mounts on the hub's server.
type Route struct {
	// Pattern is a net/http pattern with method, e.g.
	// "POST /webhooks/shopify/{connector}". A pusher's routes live under
	// /webhooks/, a view's under /api/v1/; the runtime refuses others and
	// patterns two connectors share.
	Pattern string
	// Handler serves it. A pusher authenticates its sender itself
	// (signatures, compared in constant time); a view's routes are behind
	// the hub's own access control unless Public is set.
	Handler http.Handler
	// Public routes skip the hub's API tokens: webhooks, which carry their
	// own credentials.
	Public bool
	// Roles are the roles of the hub's API tokens a route behind them
	// admits: "viewer", "operator" or "admin" admit that role and the ones
	// above it, "callcenter" call-center systems' keys (which no other
	// route admits). Empty: viewer and above. A pusher's route is public
	// unless it names Roles: then it is behind the tokens too (a
	// call-center system posting call events with its key).
	Roles []string
	// PlainErrors makes every error answer on the route, the hub's own
	// refusals included (no token, a wrong role, not started yet), an
	// empty text/plain body with the status code: for clients that show
	// whatever body they get (PBX caller-name lookups).
	PlainErrors bool
}

// Pusher receives records a system pushes (webhooks). Routes is called
// once, when the hub builds its HTTP server (maybe before Start: the hub
// answers 503 on the routes until the connector has started); the
// handlers hand records to in and answer the sender according to its
// result.
type Pusher interface {
	Pushes() []ReadSpec
	Routes(in Ingest) []Route
}

// CursorCodec is a Reader that can say in words where a cursor stands and
// make the cursor of a moment, so that an operator can read and reset a
// source's position (`hub cursor show|set`). since is UTC; a cursor made
// from it reads every change at or after it.
type CursorCodec interface {
	DescribeCursor(ctx context.Context, entity, cursor string) (string, error)
	CursorSince(ctx context.Context, entity string, since time.Time) (string, error)
}

// Streamer is a Pusher that receives over a connection it opens itself
// (Asterisk's manager interface, a message queue) rather than on HTTP
// routes. The runtime runs Stream while the hub runs, once the connector
// has started: it hands what arrives to in and returns nil when ctx ends,
// or an error when its connection fails, after which the runtime calls it
// again with backoff (and opens the source's circuit while it fails).
type Streamer interface {
	Stream(ctx context.Context, in Ingest) error
}

// WriteSpec is what a Writer guarantees for one entity it writes.
type WriteSpec struct {
	Entity string
	// VersionGuard is true when a write whose Version is older than the
	// target's current version of the record changes nothing and is
	// answered Stale. Two-way sync needs it.
	VersionGuard bool
	// Deletes is true when the writer applies OpDelete records (hard or
	// soft delete, archive, cancel); false when it cannot.
	Deletes bool
	// Log is true when the target keeps every write as a new entry of an
	// append-only log (a Kafka topic): a write never overwrites a change
	// made there, so a two-way entity needs no version guard on it; its
	// readers order the entries by the version they carry.
	Log bool
	// DeleteByID is true when a delete is addressed by the id the record
	// was written under (WriteRecord.ExternalID), which the hub knows only
	// from its stamps; false when the record's hub id addresses it. A sink
	// without stamps cannot apply deletes of such an entity.
	DeleteByID bool
}

// WriteRecord is one record for a writer, already mapped to the target's
// shape.
type WriteRecord struct {
	Entity     string
	HubID      string
	ExternalID string // the target's id when the hub knows it, else ""
	Op         Op
	Version    time.Time
	Data       mapping.Value
	// Refs are the target's external ids of referenced records, by entity
	// (e.g. "customer" -> the target's customer id).
	Refs map[string]string
}

// Outcome is the closed set of what a write did to one record.
type Outcome uint8

// The outcomes of a write. The zero value is Failed, so a Result a
// writer forgot to fill in is never taken for a success.
const (
	// Failed: the record was not written; Result.Err says why and is
	// classified (Permanent, Retryable, Unavailable).
	Failed Outcome = iota
	// Written: the target now holds the record (created, updated or
	// deleted).
	Written
	// Unchanged: the target already held exactly this; nothing was
	// written.
	Unchanged
	// Stale: the target holds a newer version of the record (the version
	// guard); nothing was written.
	Stale
	// NotFound: the record is not in the target: a delete of a record
	// already gone, or an update of an id the target no longer has.
	NotFound
)

func (o Outcome) String() string {
	switch o {
	case Written:
		return "written"
	case Unchanged:
		return "unchanged"
	case Stale:
		return "stale"
	case NotFound:
		return "not found"
	}
	return "failed"
}

// Result is a writer's answer for one record, in the order of the batch.
type Result struct {
	Outcome Outcome
	// ExternalID is the record's id in the target (after a write, or the
	// id it was found under).
	ExternalID string
	// Err says why the record Failed; nil for every other outcome.
	Err error
}

// Writer writes records to a system. Write must be idempotent: writing the
// same record twice leaves the target as writing it once; where the spec
// declares a version guard, an older version never overwrites a newer one.
// It returns one Result per record; an error return means the whole batch
// failed the same way (the target is down: classify it Retryable or
// Unavailable).
type Writer interface {
	Writes() []WriteSpec
	Write(ctx context.Context, entity string, recs []WriteRecord) ([]Result, error)
}

// Page is one page of a scan.
type Page struct {
	Records []Record
	// Next is the position to resume from: the next Scan call gets it.
	// "" means the scan is complete.
	Next string
}

// Scanner lists every record of an entity (Op upsert, current state), in
// pages of at most max records, resumable from a position ("" for the
// start). Pages follow a stable order (by the system's key), so a scan
// resumed from a position neither skips nor repeats records that did not
// change meanwhile.
type Scanner interface {
	Scans() []string
	Scan(ctx context.Context, entity, position string, max int) (Page, error)
}

// Change is one record of an entity topic as a view sees it: canonical
// data with its hub id.
type Change struct {
	Entity string
	HubID  string
	Op     Op
	// Origin is the connector the change came from, SourceID the record's
	// id there.
	Origin   string
	SourceID string
	Version  time.Time
	// Refs are the hub ids of referenced records, by entity.
	Refs map[string]string
	Data mapping.Value
}

// Positions is where a view stands in each topic it follows: topic ->
// partition -> the offset of the next record to apply.
type Positions map[string]map[int]int64

// View is a read model fed from the entity topics. Every hub node keeps
// its own: the runtime reads every partition of the followed topics from
// the positions Resume returns (from the start for a topic or partition it
// does not name) and calls Apply in order within each partition, with the
// position after the changes of that partition. Apply is called
// concurrently for different partitions. A view that keeps a snapshot
// stores the positions with it; Reset forgets everything, for a rebuild
// from the start of the topics. Routes is called once, when the hub builds
// its HTTP server.
type View interface {
	Follows() []string
	Resume(ctx context.Context) (Positions, error)
	Apply(ctx context.Context, changes []Change, at Positions) error
	Reset(ctx context.Context) error
	Routes() []Route
}

// Backfiller is a Reader that can start reading an entity at a point in
// time, for `hub backfill SOURCE --since DATE`: the backfill reads from
// the cursor Backfill returns through the source's intake, as the source
// itself does on its schedule, until a read comes back empty from a cursor
// that CaughtUp accepts. A Reader that is not a Backfiller is backfilled
// from its first cursor ("") and is caught up at its first empty read.
type Backfiller interface {
	Reader
	// Backfill returns the cursor from which Read returns every record of
	// entity changed at or after since (through a bulk export where the
	// system has one), and how many records that is, or -1 when the
	// system cannot tell cheaply.
	Backfill(ctx context.Context, entity string, since time.Time) (cursor string, total int64, err error)
	// CaughtUp reports whether a cursor Read returned is past every record
	// that existed when the backfill began (an export in progress is not),
	// so that an empty read from it ends the backfill.
	CaughtUp(entity, cursor string) bool
}

// RoleSettings is a connector whose entity settings include some that
// only a source reads, or only a sink: given for an entity no source (or
// no sink) of the connector takes, such a setting does nothing, and
// `hub validate` warns. Each map names, by entity, the settings the config
// gives (by their keys under the entity: "metadata", "header_fields").
type RoleSettings interface {
	SourceOnly() map[string][]string
	SinkOnly() map[string][]string
}
