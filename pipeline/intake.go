package pipeline

import (
	"context"
	"log/slog"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// Intake is how native records of one entity from one system enter the
// hub, whoever brings them: a pull Source reads them from a cursor, a Push
// takes what a webhook delivered, a replay re-injects a dead letter. A
// batch goes through the source steps in data-flow order, each in its own
// file:
//
//  1. build: map each record in (build.go, mapIn; a pull source does it
//     a batch ahead, in its map stage);
//  2. identity: give every key and reference a hub id, matching first
//     contacts (identity.go, match.go);
//  3. build: make the envelopes and drop what is unchanged (build.go);
//  4. merge: settle a two-way entity by the policy (merge.go);
//
// then publish (publish.go) sends them to Kafka and records what the
// system now holds.
type Intake struct {
	Name   string // the source's config name: its cursor and dead letters are filed under it
	System string // the connector's name: the records' origin and xref system
	Entity string
	Plan   *mapping.Plan
	// Refs names, per referenced entity, the native field holding the
	// referenced record's key (an order's customer_id).
	Refs    map[string]string
	Store   *store.Store
	Writer  *bus.Writer
	DLQ     *DeadLetters
	Metrics *Metrics
	Log     *slog.Logger
	// Journal records each record's journey; nil traces nothing.
	Journal *Journal
	// Policy merges each change into the hub's record by field ownership
	// and the conflict policy, and matches first contacts; nil publishes
	// records as read (one-way sync).
	Policy *Policy
	// MaxMessageBytes is the largest envelope the bus can publish (the
	// producer's batch limit); a record whose envelope is larger is
	// dead-lettered before publishing, so that it never stalls the rest.
	// 0 checks nothing.
	MaxMessageBytes int
	// NewerOnly drops a record older than the version last taken from its
	// system: pushed records come at least once and out of order (a late
	// retry of an older webhook must not undo a newer one). Pull sources
	// read in cursor order and leave it off.
	NewerOnly bool

	// Live, when set, holds the mapping a config reload gave (SetPlan),
	// which then takes the place of Plan.
	Live *LivePlan

	// unsettled, set on a source run's own copy (Source.prepareStage),
	// holds what the run published and has not recorded yet; identify
	// judges reads against it.
	unsettled *unsettled
	// linkStamps, set on a source run's own copy too, links a batch's new
	// records with their stamps in one write (linkFresh), for the run's
	// settle stage to confirm once they are published.
	linkStamps bool
	// fence is the source's lease, when nodes share it: links are
	// stamped only while this node holds it.
	fence store.Fence
}

// prep is what preparing a batch decided.
type prep struct {
	envs    []*Envelope
	bad     map[int]error      // dead letters (mapping errors, ambiguous matches)
	trace   []store.TraceEvent // suppressions and other notes
	merged  map[string]string  // hub id -> merged hash, to mark published
	stamps  []store.Written    // suppressed records whose read hash to record
	reviews []store.DeadLetter // conflicts the policy could not decide
	held    map[string]*held   // hub id -> what this system held as last known (two-way entities)

	canon    []mapping.Value     // each record mapped in (build; shared with the batch's mapped)
	keys     map[string][]string // entity -> native keys to give hub ids (build; shared too)
	ids      map[string]map[string]string
	lastHash map[string]string // hub id -> the hash last read from or written to this system (identity)
	lastVer  map[string]string // hub id -> the system's version of it as last known (identity)

	// Links whose writing waits for the envelopes (deferLinks): fresh
	// maps the native keys of new records to the hub ids minted for them;
	// once written, pending is the id of their stamps' pending row and
	// prestamped the hub ids stamped with it.
	fresh      map[string]string
	pending    int64
	prestamped map[string]bool
}

// prepare takes a batch through the source steps. A nil envelope means
// nothing to publish: an unchanged re-read, an echo of the hub's own write,
// a delete of a record never published, or a record the mapping rejected
// or that matched ambiguously (then bad says why). An error means the
// state store failed and the batch should be tried again.
func (in *Intake) prepare(ctx context.Context, recs []connectors.Record) (prep, error) {
	return in.prepareMapped(ctx, recs, in.mapIn(ctx, recs))
}

// prepareMapped is prepare of a batch already mapped in (m, which it
// leaves as it was: a failed try starts again from it).
func (in *Intake) prepareMapped(ctx context.Context, recs []connectors.Record, m *mapped) (prep, error) {
	p := m.prep()
	if err := in.identify(ctx, recs, &p); err != nil {
		return p, err
	}
	in.buildEnvelopes(recs, &p)
	in.dropUnchanged(&p)
	if in.NewerOnly {
		in.dropOlder(&p)
	}
	if in.merging() {
		if err := in.merge(ctx, recs, &p); err != nil {
			return p, err
		}
	}
	if in.matching() {
		if err := in.putMatchKeys(ctx, p.envs); err != nil {
			return p, err
		}
	}
	in.encode(&p)
	if p.fresh != nil {
		if err := in.linkFresh(ctx, recs, &p); err != nil {
			return p, err
		}
	}
	return p, nil
}

func (in *Intake) merging() bool  { return in.Policy != nil && in.Policy.Merge }
func (in *Intake) matching() bool { return in.Policy != nil && len(in.Policy.Match) > 0 }

// deferLinks says whether the new records' links wait for their envelopes,
// to be written with their stamps (linkFresh): on a source run, for an
// entity that neither merges (its stamps are the merge's) nor matches
// (matching links under a lock) nor references itself (a record's link
// is then part of another's envelope).
func (in *Intake) deferLinks() bool {
	return in.linkStamps && !in.merging() && !in.matching() && in.Refs[in.Entity] == ""
}

// note adds a trace event about env to the batch's journal.
func (in *Intake) note(p *prep, env *Envelope, event, detail string) {
	if in.Journal == nil {
		return
	}
	p.trace = append(p.trace, store.TraceEvent{Entity: in.Entity, HubID: env.ID, System: in.System, Connector: in.Name,
		ExternalID: env.SourceID, Event: event, Version: versionText(env.readVersion), Hash: env.Hash, Detail: detail})
}
