package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// Replayer re-injects dead letters once their cause is fixed, and discards
// the ones an operator gives up on. Every action is written to the audit log.
type Replayer struct {
	Store  *store.Store
	Bus    *bus.Bus
	Prefix string // topic prefix
	// Sources by name: a record the inbound mapping rejected is mapped
	// again by its source (with the mapping as it is now) and published.
	Sources map[string]*Intake
	DLQ     *DeadLetters
	Log     *slog.Logger
}

// ErrNotReplayable is returned for dead letters that cannot be re-injected.
var ErrNotReplayable = errors.New("not replayable")

// ErrNotOpen is returned for dead letters already replayed or discarded.
var ErrNotOpen = errors.New("not open")

// ErrFailedAgain is returned when a replayed record fails again: a new
// dead letter holds it (with the new reason).
var ErrFailedAgain = errors.New("failed again")

// ErrSuperseded is returned for a dead letter whose record has since been
// delivered in a newer version or deleted in its system: it is closed as
// superseded, not replayed, since replaying it would bring back an older
// state.
var ErrSuperseded = errors.New("superseded")

// Replay re-injects dead letter id and marks it replayed. It returns a
// sentence saying what it did.
func (r *Replayer) Replay(ctx context.Context, id int64, actor string) (string, error) {
	dl, err := r.Store.GetDeadLetter(ctx, id)
	if err != nil {
		return "", err
	}
	if dl.Status != store.StatusOpen {
		return "", fmt.Errorf("dead letter %d is %s: %w", id, dl.Status, ErrNotOpen)
	}
	why, err := r.supersededBy(ctx, dl)
	if err != nil {
		return "", fmt.Errorf("replay dead letter %d: %w", id, err)
	}
	if why != "" {
		if err := r.Store.MarkDeadLetter(ctx, id, store.StatusSuperseded); err != nil {
			return "", err
		}
		if err := r.Store.AppendAudit(ctx, actor, "dlq.replay", "dead_letter:"+strconv.FormatInt(id, 10), "closed as superseded: "+why); err != nil {
			r.Log.Warn("audit replay", "id", id, "err", err)
		}
		return "", fmt.Errorf("dead letter %d not replayed, closed: %s: %w", id, why, ErrSuperseded)
	}
	// Marked first: if the record fails again it becomes a new dead letter
	// rather than folding into this one.
	if err := r.Store.MarkDeadLetter(ctx, id, store.StatusReplayed); err != nil {
		return "", err
	}
	what, err := r.reinject(ctx, dl)
	if errors.Is(err, ErrFailedAgain) {
		// The record is a new open dead letter with the new reason; this
		// one stays replayed.
		if aerr := r.Store.AppendAudit(ctx, actor, "dlq.replay", "dead_letter:"+strconv.FormatInt(id, 10), "failed again: "+err.Error()); aerr != nil {
			r.Log.Warn("audit replay", "id", id, "err", aerr)
		}
		return "", fmt.Errorf("replay dead letter %d: %w", id, err)
	}
	if err != nil {
		if rerr := r.Store.MarkDeadLetter(context.WithoutCancel(ctx), id, store.StatusOpen); rerr != nil {
			err = errors.Join(err, fmt.Errorf("reopen dead letter %d: %w", id, rerr))
		}
		return "", fmt.Errorf("replay dead letter %d: %w", id, err)
	}
	if err := r.Store.AppendAudit(ctx, actor, "dlq.replay", "dead_letter:"+strconv.FormatInt(id, 10), what); err != nil {
		r.Log.Warn("audit replay", "id", id, "err", err)
	}
	return what, nil
}

// supersededBy says why a dead letter of an envelope (a sink's) must not be
// replayed: its origin has since deleted the record, or the hub has read a
// newer version of it there. "" when it may be replayed.
func (r *Replayer) supersededBy(ctx context.Context, dl store.DeadLetter) (string, error) {
	switch dl.Stage {
	case StageSourceMap, StageMatch, StagePrepare, StagePublish, StageDecode:
		return "", nil // native records: mapped again as they are now
	}
	env, err := DecodeEnvelope(dl.Payload)
	if err != nil {
		return "", nil // reinject says why it cannot
	}
	links, err := r.Store.LookupExternals(ctx, env.Entity, env.Origin, []string{env.ID})
	if err != nil {
		return "", err
	}
	l, ok := links[env.ID]
	if !ok {
		return "", nil
	}
	if l.LastHash == Tombstone {
		return fmt.Sprintf("%s %s was deleted in %s since", env.Entity, env.SourceID, env.Origin), nil
	}
	if known, err := time.Parse(time.RFC3339Nano, l.Version); err == nil && !env.Version.IsZero() && known.After(env.Version) {
		return fmt.Sprintf("the hub has read a newer version of %s %s from %s (%s, this one is %s)",
			env.Entity, env.SourceID, env.Origin, versionText(known), versionText(env.Version)), nil
	}
	return "", nil
}

func (r *Replayer) reinject(ctx context.Context, dl store.DeadLetter) (string, error) {
	switch dl.Stage {
	case StageSourceMap, StageMatch, StagePrepare, StagePublish:
		// A record the mapping rejected, or a first contact parked as an
		// ambiguous match: its source maps (and matches) it again.
		src, ok := r.Sources[dl.Connector]
		if !ok {
			return "", fmt.Errorf("source %q is not in the config: %w", dl.Connector, ErrNotReplayable)
		}
		data, err := mapping.ParseJSON(dl.Payload)
		if err != nil {
			return "", fmt.Errorf("payload is not JSON (%v): %w", err, ErrNotReplayable)
		}
		s := *src
		s.Writer = r.Bus.NewWriter(r.Prefix + "." + dl.Entity)
		defer s.Writer.Close()
		s.DLQ = r.DLQ
		// The record keeps its own version: a change made in its system
		// since it was dead-lettered is newer, and the sinks' version
		// guard keeps it rather than bring this content back.
		version := dl.FirstSeen // older dead letters: not before the record's version, before any later change
		if dl.Version != "" {
			if version, err = time.Parse(time.RFC3339Nano, dl.Version); err != nil {
				return "", fmt.Errorf("version %q: %v: %w", dl.Version, err, ErrNotReplayable)
			}
		}
		rec := connectors.Record{Entity: dl.Entity, Key: dl.RecordKey, Op: connectors.OpUpsert, Version: version, Data: data}
		parts, err := s.prepareAll(ctx, []connectors.Record{rec}, nil, 0)
		if err != nil {
			return "", err
		}
		if err := s.publish(ctx, parts); err != nil {
			return "", err
		}
		if why, bad := parts[0].bad[0]; bad {
			return "", fmt.Errorf("%s %s failed again and is a dead letter again: %v: %w", dl.Entity, dl.RecordKey, why, ErrFailedAgain)
		}
		return fmt.Sprintf("mapped %s %s again with source %s and published it", dl.Entity, dl.RecordKey, dl.Connector), nil
	case StageDecode:
		return "", fmt.Errorf("the record is not a valid envelope; discard it: %w", ErrNotReplayable)
	default:
		env, err := DecodeEnvelope(dl.Payload)
		if err != nil {
			return "", fmt.Errorf("payload is not an envelope (%v): %w", err, ErrNotReplayable)
		}
		w := r.Bus.NewWriter(r.Prefix + "." + env.Entity)
		defer w.Close()
		msg := bus.Message{Key: []byte(env.ID), Value: dl.Payload,
			Headers: []bus.Header{{Key: HeaderReplayFor, Value: []byte(dl.Connector)}}}
		if err := w.Write(ctx, msg); err != nil {
			return "", err
		}
		return fmt.Sprintf("sent %s %s back to sink %s", env.Entity, env.ID, dl.Connector), nil
	}
}

// Link resolves a match review by hand: the parked first contact (dead
// letter id, stage match) is linked to the hub record hubID, or to a new
// hub record when hubID is "", and then mapped and published by its source
// like any known record (merged into that hub record). It returns a
// sentence saying what it did.
func (r *Replayer) Link(ctx context.Context, id int64, hubID, actor string) (string, error) {
	dl, err := r.Store.GetDeadLetter(ctx, id)
	if err != nil {
		return "", err
	}
	if dl.Status != store.StatusOpen {
		return "", fmt.Errorf("dead letter %d is %s: %w", id, dl.Status, ErrNotOpen)
	}
	if dl.Stage != StageMatch {
		return "", fmt.Errorf("dead letter %d is not a match review (stage %s); only a first contact parked by matching is linked by hand: %w",
			id, dl.Stage, ErrNotReplayable)
	}
	src, ok := r.Sources[dl.Connector]
	if !ok {
		return "", fmt.Errorf("source %q is not in the config: %w", dl.Connector, ErrNotReplayable)
	}
	what := "a new hub record"
	if hubID == "" {
		nid, err := uuid.NewV7()
		if err != nil {
			return "", fmt.Errorf("new hub id: %w", err)
		}
		hubID = nid.String()
	} else {
		if merged, err := r.Store.ResolveAliases(ctx, dl.Entity, []string{hubID}); err != nil {
			return "", err
		} else if m, ok := merged[hubID]; ok {
			hubID = m
		}
		known, err := r.Store.KnownHubIDs(ctx, dl.Entity, []string{hubID})
		if err != nil {
			return "", err
		}
		if !known[hubID] {
			return "", fmt.Errorf("%s %s is not a hub id (hub trace <id> shows a record's hub id): %w", dl.Entity, hubID, ErrNotReplayable)
		}
		has, err := r.Store.LookupExternals(ctx, dl.Entity, src.System, []string{hubID})
		if err != nil {
			return "", err
		}
		if e, ok := has[hubID]; ok && e.ExternalID != dl.RecordKey {
			return "", fmt.Errorf("hub record %s is %s %s already; a hub record has one record per system: %w",
				hubID, src.System, e.ExternalID, ErrNotReplayable)
		}
		what = "hub record " + hubID
	}
	// Linked as a sink links what it wrote: a hub id the record got only
	// as a reference (known to this system alone) becomes an alias. The
	// stamp is not empty, so that the source does not take the link for
	// such a placeholder and match the record again.
	linked, err := r.Store.RecordWritten(ctx, dl.Entity, src.System, []store.Written{{HubID: hubID, ExternalID: dl.RecordKey, Hash: "linked-by-hand"}})
	if err != nil {
		return "", err
	}
	if len(linked.Conflicts) > 0 {
		got, _, _ := r.Store.LookupHubID(ctx, dl.Entity, src.System, dl.RecordKey)
		return "", fmt.Errorf("%s %s is linked to hub record %s already, which other systems know too: %w", src.System, dl.RecordKey, got, ErrNotReplayable)
	}
	done, err := r.Replay(ctx, id, actor)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("linked %s %s %s to %s; %s", dl.Entity, src.System, dl.RecordKey, what, done)
	if err := r.Store.AppendAudit(ctx, actor, "dlq.link", "dead_letter:"+strconv.FormatInt(id, 10), msg); err != nil {
		r.Log.Warn("audit link", "id", id, "err", err)
	}
	return msg, nil
}

// Discard marks dead letter id discarded: an operator decided it is not to
// be delivered.
func (r *Replayer) Discard(ctx context.Context, id int64, actor, reason string) error {
	dl, err := r.Store.GetDeadLetter(ctx, id)
	if err != nil {
		return err
	}
	if dl.Status != store.StatusOpen {
		return fmt.Errorf("dead letter %d is %s: %w", id, dl.Status, ErrNotOpen)
	}
	if err := r.Store.MarkDeadLetter(ctx, id, store.StatusDiscarded); err != nil {
		return err
	}
	return r.Store.AppendAudit(ctx, actor, "dlq.discard", "dead_letter:"+strconv.FormatInt(id, 10), reason)
}

// BulkResult is what a bulk replay or discard did.
type BulkResult struct {
	Matched    int      `json:"matched"`
	Done       int      `json:"done"`       // replayed or discarded
	Superseded int      `json:"superseded"` // closed instead of replayed
	Failed     int      `json:"failed"`     // failed again, or could not be replayed
	Errors     []string `json:"errors,omitempty"`
	DryRun     bool     `json:"dry_run,omitempty"`
}

// maxBulk bounds one bulk operation.
const maxBulk = 100_000

// Bulk replays (discard false) or discards the open dead letters matching
// f. With dryRun it only counts them. progress, when set, is told after
// each one. The ids are taken first: a record that fails again becomes a
// new dead letter, which this run does not replay again.
func (r *Replayer) Bulk(ctx context.Context, f store.DeadLetterFilter, discard, dryRun bool, actor, reason string, progress func(done, total int)) (BulkResult, error) {
	f.Status, f.Payload, f.Offset = store.StatusOpen, false, 0
	f.Limit = maxBulk
	dls, err := r.Store.ListDeadLetters(ctx, f)
	if err != nil {
		return BulkResult{}, err
	}
	res := BulkResult{Matched: len(dls), DryRun: dryRun}
	if dryRun {
		return res, nil
	}
	for i, dl := range dls {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		var err error
		if discard {
			err = r.Discard(ctx, dl.ID, actor, reason)
		} else {
			_, err = r.Replay(ctx, dl.ID, actor)
		}
		switch {
		case err == nil:
			res.Done++
		case errors.Is(err, ErrSuperseded):
			res.Superseded++
		case errors.Is(err, ErrNotOpen):
			// closed meanwhile (superseded by a newer version, or by another operator)
		default:
			res.Failed++
			if len(res.Errors) < 20 {
				res.Errors = append(res.Errors, fmt.Sprintf("%d: %v", dl.ID, err))
			}
		}
		if progress != nil {
			progress(i+1, len(dls))
		}
	}
	return res, nil
}
