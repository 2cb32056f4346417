package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/hub/internal/sqlbatch"
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

// AppendTrace stores events in one transaction: the events of one kind,
// connector and entity as a trace_batches row with their entries, and one
// trace_keys row per record in it (migration 0010). Each entry keeps its
// place among the call's events, so that a record's journey reads in the
// order of the events however they were grouped. At defaults to now.
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
	var call int64 // the call's first row
	for _, run := range traceRuns(events) {
		id, err := s.appendRun(ctx, tx.Tx, events, run, call, now)
		if err != nil {
			return fmt.Errorf("store: append %d trace events: %w", len(events), err)
		}
		if call == 0 {
			call = id
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: append %d trace events: commit: %w", len(events), err)
	}
	return nil
}

// maxRun is the most entries one trace_batches row holds.
const maxRun = 4096

// traceRuns groups the indexes of events by entity, system, connector and
// event, in the order each group first appears, at most maxRun to a group.
func traceRuns(events []TraceEvent) [][]int {
	type key struct{ entity, system, connector, event string }
	var runs [][]int
	open := map[key]int{} // the group still taking events
	for i, e := range events {
		k := key{e.Entity, e.System, e.Connector, e.Event}
		r, ok := open[k]
		if !ok || len(runs[r]) >= maxRun {
			r = len(runs)
			runs = append(runs, make([]int, 0, 16))
			open[k] = r
		}
		runs[r] = append(runs[r], i)
	}
	return runs
}

// appendRun stores one group of events (indexes into events): its row,
// then its records' keys. call is the call's first row (0: this is it).
func (s *Store) appendRun(ctx context.Context, tx *sql.Tx, events []TraceEvent, run []int, call int64, now time.Time) (int64, error) {
	first := events[run[0]]
	at := first.At
	if at.IsZero() {
		at = now
	}
	at = at.UTC().Truncate(time.Microsecond)
	body := appendTraceBody(make([]byte, 0, 160*len(run)), events, run, at)
	args := []any{s.tv(at), first.Entity, first.System, first.Connector, first.Event, call, len(run), string(body)}
	id, err := s.insertID(ctx, tx, "INSERT INTO trace_batches (at, entity, system, connector, event, call_id, events, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", args)
	if err != nil {
		return 0, err
	}
	hubs := make([]string, 0, len(run))
	seen := make(map[string]bool, len(run))
	for _, i := range run {
		if h := events[i].HubID; h != "" && !seen[h] {
			seen[h] = true
			hubs = append(hubs, h)
		}
	}
	rest := hubs
	batch := any(id) // boxed once, not once per key
	for _, n := range sqlbatch.Chunks(len(hubs), maxParams/2) {
		args := make([]any, 0, 2*n)
		for _, h := range rest[:n] {
			args = append(args, batch, h)
		}
		rest = rest[n:]
		st, err := s.prepared(ctx, s.rebind("INSERT INTO trace_keys (batch_id, hub_id) VALUES "+valuesList(n, 2)))
		if err == nil {
			_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		}
		if err != nil {
			return 0, err
		}
	}
	return id, nil
}

// insertID runs an INSERT of one row (q, '?' placeholders, prepared once)
// in tx and returns the row's id: SQLite tells it, PostgreSQL returns it.
func (s *Store) insertID(ctx context.Context, tx *sql.Tx, q string, args []any) (int64, error) {
	var id int64
	if s.dialect == DialectPostgres {
		err := s.queryStmt(ctx, tx, s.rebind(q+" RETURNING id"), args, func(rows *sql.Rows) error { return rows.Scan(&id) })
		return id, err
	}
	st, err := s.prepared(ctx, q)
	if err != nil {
		return 0, err
	}
	res, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// appendTraceBody appends a group's entries as a JSON array of [place in
// the call, hub id, external id, version, hash, detail] arrays, with the
// entry's time last when it differs from the row's (at).
func appendTraceBody(b []byte, events []TraceEvent, run []int, at time.Time) []byte {
	b = append(b, '[')
	for n, i := range run {
		e := events[i]
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(i), 10)
		for _, f := range [...]string{e.HubID, e.ExternalID, e.Version, e.Hash, e.Detail} {
			b = append(b, ',')
			b = appendJSONString(b, f)
		}
		if t := e.At.UTC().Truncate(time.Microsecond); !e.At.IsZero() && !t.Equal(at) {
			b = append(b, ',')
			b = appendJSONString(b, t.Format(time.RFC3339Nano))
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// PruneTrace deletes trace events older than before and returns how many.
func (s *Store) PruneTrace(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.execWrite(ctx, s.rebind("DELETE FROM trace_events WHERE at < ?"), s.tv(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune trace events before %s: %w", before.Format(time.RFC3339), err)
	}
	legacy, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune trace events: %w", err)
	}
	n, err := s.pruneTraceBatches(ctx, before)
	if err != nil {
		return 0, fmt.Errorf("store: prune trace events before %s: %w", before.Format(time.RFC3339), err)
	}
	return legacy + n, nil
}

// pruneTraceBatches deletes the trace_batches rows older than before and
// their keys, and returns how many events they held. A key is found by
// the hub id its batch's body names (trace_keys is keyed by hub id first,
// for the look-ups, so that each event costs one index entry): pruning
// reads what it deletes instead of the journal keeping a second index.
// It goes pruneChunk groups per transaction, so that a long backlog of old
// events never holds the write gate for more than a moment.
func (s *Store) pruneTraceBatches(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		n, groups, err := s.pruneTraceChunk(ctx, before)
		if err != nil {
			return total, err
		}
		total += n
		if groups < pruneChunk {
			return total, nil
		}
	}
}

// pruneChunk is how many trace_batches rows one prune transaction deletes.
const pruneChunk = 256

// pruneTraceChunk deletes up to pruneChunk of the oldest groups before
// before, with their keys, and returns their events and how many groups.
func (s *Store) pruneTraceChunk(ctx context.Context, before time.Time) (events int64, groups int, err error) {
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer end()
	rows, err := tx.QueryContext(ctx, s.rebind(`DELETE FROM trace_batches WHERE id IN
(SELECT id FROM trace_batches WHERE at < ? ORDER BY id LIMIT ?) RETURNING id, events, body`), s.tv(before), pruneChunk)
	if err != nil {
		return 0, 0, err
	}
	var keys []traceKey
	for rows.Next() {
		var id, n int64
		var body string
		if err := rows.Scan(&id, &n, &body); err != nil {
			rows.Close()
			return 0, 0, err
		}
		events, groups = events+n, groups+1
		hubs, err := traceBodyHubs(body)
		if err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("trace_batches row %d: %w", id, err)
		}
		for _, h := range hubs {
			keys = append(keys, traceKey{h, id})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	if len(keys) > 0 {
		del, err := tx.PrepareContext(ctx, s.rebind("DELETE FROM trace_keys WHERE hub_id = ? AND batch_id = ?"))
		if err != nil {
			return 0, 0, err
		}
		defer del.Close()
		for _, k := range keys {
			if _, err := del.ExecContext(ctx, k.hub, k.batch); err != nil {
				return 0, 0, fmt.Errorf("delete the trace key of %s in group %d: %w", k.hub, k.batch, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	return events, groups, nil
}

type traceKey struct {
	hub   string
	batch int64
}

// traceBodyHubs lists the distinct hub ids of a trace_batches body.
func traceBodyHubs(body string) ([]string, error) {
	var entries [][]any
	if err := json.Unmarshal([]byte(body), &entries); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(entries))
	var hubs []string
	for _, en := range entries {
		if e, _, ok := traceEntry(en); ok && e.HubID != "" && !seen[e.HubID] {
			seen[e.HubID] = true
			hubs = append(hubs, e.HubID)
		}
	}
	return hubs, nil
}

// TraceEventCount is how many trace events the journal holds.
func (s *Store) TraceEventCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.GetContext(ctx, &n, "SELECT (SELECT COUNT(*) FROM trace_events) + (SELECT COALESCE(SUM(events), 0) FROM trace_batches)")
	if err != nil {
		return 0, fmt.Errorf("store: count trace events: %w", err)
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
	if err := add("SELECT DISTINCT b.entity, k.hub_id FROM trace_keys k JOIN trace_batches b ON b.id = k.batch_id WHERE k.hub_id = ?", id); err != nil {
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
	events, err := s.tracedEvents(ctx, entity, hubID)
	if err != nil {
		return rt, fmt.Errorf("store: trace %s %s: events: %w", entity, hubID, err)
	}
	rt.Events = append(rt.Events, events...)

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

// tracedEvents reads a record's events from the trace_batches rows that
// hold them (migration 0010), in the order they were appended.
func (s *Store) tracedEvents(ctx context.Context, entity, hubID string) ([]TraceEvent, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT b.id, b.call_id, b.at, b.system, b.connector, b.event, b.body
FROM trace_keys k JOIN trace_batches b ON b.id = k.batch_id WHERE k.hub_id = ? AND b.entity = ? ORDER BY b.id`), hubID, entity)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type placed struct {
		call, place int64
		e           TraceEvent
	}
	var out []placed
	for rows.Next() {
		var id, call int64
		var at time.Time
		var system, connector, event, body string
		if err := rows.Scan(&id, &call, timeCol{&at}, &system, &connector, &event, &body); err != nil {
			return nil, err
		}
		if call == 0 {
			call = id
		}
		var entries [][]any
		if err := json.Unmarshal([]byte(body), &entries); err != nil {
			return nil, fmt.Errorf("trace_batches row %d: %w", id, err)
		}
		for _, en := range entries {
			e, place, ok := traceEntry(en)
			if !ok || e.HubID != hubID {
				continue
			}
			e.Entity, e.System, e.Connector, e.Event = entity, system, connector, event
			if e.At.IsZero() {
				e.At = at
			}
			out = append(out, placed{call, place, e})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].call != out[j].call {
			return out[i].call < out[j].call
		}
		return out[i].place < out[j].place
	})
	events := make([]TraceEvent, len(out))
	for i, p := range out {
		events[i] = p.e
		events[i].ID = p.call<<20 | p.place&(1<<20-1)
	}
	return events, nil
}

// traceEntry reads one entry of a trace_batches body: [place, hub id,
// external id, version, hash, detail] and the time when it has its own.
func traceEntry(en []any) (e TraceEvent, place int64, ok bool) {
	if len(en) < 6 {
		return e, 0, false
	}
	f, ok := en[0].(float64)
	if !ok {
		return e, 0, false
	}
	text := func(v any) string { s, _ := v.(string); return s }
	e.HubID, e.ExternalID, e.Version, e.Hash, e.Detail = text(en[1]), text(en[2]), text(en[3]), text(en[4]), text(en[5])
	if len(en) > 6 {
		if t, err := time.Parse(time.RFC3339Nano, text(en[6])); err == nil {
			e.At = t.UTC()
		}
	}
	return e, int64(f), true
}
