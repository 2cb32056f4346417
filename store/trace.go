package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Trace event kinds (TraceEvent.Event). Others may be used.
const (
	TracePublished    = "published"     // a source published the record (as read, merged)
	TraceSuppressed   = "suppressed"    // a source or sink had nothing to do; Detail says why
	TraceWritten      = "written"       // a sink wrote the record; ExternalID is the target's id
	TraceSkipped      = "skipped"       // the target held a newer version (version guard)
	TraceFailed       = "failed"        // an attempt failed; it will be retried
	TraceDeadLettered = "dead_lettered" // the record went to the dead-letter store
	TraceMatched      = "matched"       // first contact matched to an existing hub id
	TraceConflict     = "conflict"      // fields kept or refused by ownership or the conflict policy
	TraceMerged       = "merged"        // another hub id of the same record was merged into this one
)

// TraceEvent is one line of a record's journey.
type TraceEvent struct {
	ID         int64
	At         time.Time
	Entity     string
	HubID      string
	System     string // the system read from or written to
	Connector  string // the source or sink (config name)
	ExternalID string // the record's id in System
	Event      string
	Version    string // the record's version as read or written (RFC 3339)
	Hash       string
	Detail     string
}

const traceCols = 10

// AppendTrace stores events with multi-row inserts in one transaction
// (prepared statements of a few sizes, stmts.go). At defaults to now.
func (s *Store) AppendTrace(ctx context.Context, events []TraceEvent) error {
	if len(events) == 0 {
		return nil
	}
	now := s.now()
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("store: append %d trace events: %w", len(events), err)
	}
	defer end()
	rest := events
	for _, n := range rowChunks(len(events), maxParams/traceCols) {
		chunk := rest[:n]
		rest = rest[n:]
		args := make([]any, 0, n*traceCols)
		for _, e := range chunk {
			at := e.At
			if at.IsZero() {
				at = now
			}
			args = append(args, s.tv(at), e.Entity, e.HubID, e.System, e.Connector, e.ExternalID, e.Event, e.Version, e.Hash, e.Detail)
		}
		q := s.rebind("INSERT INTO trace_events (at, entity, hub_id, system, connector, external_id, event, version, hash, detail) VALUES " +
			valuesList(n, traceCols))
		st, err := s.prepared(ctx, q)
		if err == nil {
			_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		}
		if err != nil {
			return fmt.Errorf("store: append %d trace events: %w", n, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: append %d trace events: commit: %w", len(events), err)
	}
	return nil
}

// PruneTrace deletes trace events older than before and returns how many.
func (s *Store) PruneTrace(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.execWrite(ctx, s.rebind("DELETE FROM trace_events WHERE at < ?"), s.tv(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune trace events before %s: %w", before.Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune trace events: %w", err)
	}
	return n, nil
}

// TraceLink is one system's id of a traced record.
type TraceLink struct {
	System     string
	ExternalID string
	LastHash   string
	Version    string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// RecordTrace is the journey of one record: its ids in every system, its
// events in order and its dead letters.
type RecordTrace struct {
	Entity      string
	HubID       string
	Links       []TraceLink
	Events      []TraceEvent
	DeadLetters []DeadLetter
}

// Trace finds every record that id names (a hub id, or any system's
// external id) and returns the journey of each, ordered by entity and hub
// id. entity, when not empty, narrows the search. A record parked before
// it got a hub id (an ambiguous first contact) is found by its dead
// letters, as a RecordTrace without HubID. An id nothing knows gives no
// records and no error.
func (s *Store) Trace(ctx context.Context, id, entity string) ([]RecordTrace, error) {
	if id == "" {
		return nil, fmt.Errorf("store: trace: an id is required")
	}
	type key struct{ entity, hub string }
	found := map[key]bool{}
	add := func(q string, args ...any) error {
		if entity != "" {
			q += " AND entity = ?"
			args = append(args, entity)
		}
		rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
		if err != nil {
			return fmt.Errorf("store: trace %q: %w", id, err)
		}
		defer rows.Close()
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.entity, &k.hub); err != nil {
				return fmt.Errorf("store: trace %q: %w", id, err)
			}
			found[k] = true
		}
		return rows.Err()
	}
	if err := add("SELECT DISTINCT entity, hub_id FROM xref WHERE (hub_id = ? OR external_id = ?)", id, id); err != nil {
		return nil, err
	}
	if err := add("SELECT DISTINCT entity, hub_id FROM trace_events WHERE (hub_id = ? OR external_id = ?)", id, id); err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return s.traceParked(ctx, id, entity)
	}
	keys := make([]key, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].entity != keys[j].entity {
			return keys[i].entity < keys[j].entity
		}
		return keys[i].hub < keys[j].hub
	})
	out := make([]RecordTrace, 0, len(keys))
	for _, k := range keys {
		rt, err := s.traceOne(ctx, k.entity, k.hub)
		if err != nil {
			return nil, err
		}
		out = append(out, rt)
	}
	return out, nil
}

// traceParked finds a record known only by its dead letters: one parked
// before it got a hub id (an ambiguous first contact). It returns one
// RecordTrace per entity, without a hub id.
func (s *Store) traceParked(ctx context.Context, id, entity string) ([]RecordTrace, error) {
	q, args := "SELECT "+deadLetterCols+", payload FROM dead_letters WHERE record_key = ?", []any{id}
	if entity != "" {
		q += " AND entity = ?"
		args = append(args, entity)
	}
	rows, err := s.db.QueryxContext(ctx, s.rebind(q+" ORDER BY entity, id"), args...)
	if err != nil {
		return nil, fmt.Errorf("store: trace %q: dead letters: %w", id, err)
	}
	defer rows.Close()
	var out []RecordTrace
	for rows.Next() {
		d, err := scanDeadLetter(rows, true)
		if err != nil {
			return nil, fmt.Errorf("store: trace %q: dead letters: %w", id, err)
		}
		if len(out) == 0 || out[len(out)-1].Entity != d.Entity {
			out = append(out, RecordTrace{Entity: d.Entity})
		}
		out[len(out)-1].DeadLetters = append(out[len(out)-1].DeadLetters, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: trace %q: dead letters: %w", id, err)
	}
	return out, nil
}

func (s *Store) traceOne(ctx context.Context, entity, hubID string) (RecordTrace, error) {
	rt := RecordTrace{Entity: entity, HubID: hubID}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT system, external_id, last_hash, version, created_at, updated_at
FROM xref WHERE entity = ? AND hub_id = ? ORDER BY created_at, system`), entity, hubID)
	if err != nil {
		return rt, fmt.Errorf("store: trace %s %s: links: %w", entity, hubID, err)
	}
	for rows.Next() {
		var l TraceLink
		if err := rows.Scan(&l.System, &l.ExternalID, &l.LastHash, &l.Version, timeCol{&l.CreatedAt}, timeCol{&l.UpdatedAt}); err != nil {
			rows.Close()
			return rt, fmt.Errorf("store: trace %s %s: links: %w", entity, hubID, err)
		}
		rt.Links = append(rt.Links, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rt, fmt.Errorf("store: trace %s %s: links: %w", entity, hubID, err)
	}

	rows, err = s.db.QueryContext(ctx, s.rebind(`SELECT id, at, entity, hub_id, system, connector, external_id, event, version, hash, detail
FROM trace_events WHERE hub_id = ? AND entity = ? ORDER BY id`), hubID, entity)
	if err != nil {
		return rt, fmt.Errorf("store: trace %s %s: events: %w", entity, hubID, err)
	}
	for rows.Next() {
		var e TraceEvent
		if err := rows.Scan(&e.ID, timeCol{&e.At}, &e.Entity, &e.HubID, &e.System, &e.Connector, &e.ExternalID,
			&e.Event, &e.Version, &e.Hash, &e.Detail); err != nil {
			rows.Close()
			return rt, fmt.Errorf("store: trace %s %s: events: %w", entity, hubID, err)
		}
		rt.Events = append(rt.Events, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rt, fmt.Errorf("store: trace %s %s: events: %w", entity, hubID, err)
	}

	// Dead letters filed under the hub id, or under one of the record's
	// external ids (a source's dead letter knows only the native key).
	conds := []string{"hub_id = ?"}
	args := []any{entity, hubID}
	for _, l := range rt.Links {
		conds = append(conds, "record_key = ?")
		args = append(args, l.ExternalID)
	}
	dl, err := s.db.QueryxContext(ctx, s.rebind("SELECT "+deadLetterCols+", payload FROM dead_letters WHERE entity = ? AND ("+
		strings.Join(conds, " OR ")+") ORDER BY id"), args...)
	if err != nil {
		return rt, fmt.Errorf("store: trace %s %s: dead letters: %w", entity, hubID, err)
	}
	defer dl.Close()
	for dl.Next() {
		d, err := scanDeadLetter(dl, true)
		if err != nil {
			return rt, fmt.Errorf("store: trace %s %s: dead letters: %w", entity, hubID, err)
		}
		rt.DeadLetters = append(rt.DeadLetters, d)
	}
	if err := dl.Err(); err != nil {
		return rt, fmt.Errorf("store: trace %s %s: dead letters: %w", entity, hubID, err)
	}
	return rt, nil
}
