package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/crmhub/hub/internal/sqlbatch"
)

// The batch forms of the xref calls: one round trip (or one transaction)
// for a whole pipeline batch instead of one per record. Keys are chunked so
// that no statement carries more than maxParams parameters.
const maxParams = 900

// XrefEntry is what a system holds for a hub id.
type XrefEntry struct {
	ExternalID string
	LastHash   string
	// Version is the system's version of the record as last read or
	// written, Fields what it held field by field (JSON; two-way
	// entities only).
	Version string
	Fields  string
}

// LookupHubIDs returns the hub ids of a system's external ids; ids not
// linked yet are absent from the map.
func (s *Store) LookupHubIDs(ctx context.Context, entity, system string, externalIDs []string) (map[string]string, error) {
	links, err := s.LookupLinks(ctx, entity, system, externalIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(links))
	for ext, l := range links {
		out[ext] = l.HubID
	}
	return out, nil
}

// Link is what the xref holds for one external id of a system.
type Link struct {
	HubID    string
	LastHash string // the content last read from or written to the system
	Version  string // the system's version of it
	Fields   string // its fields' hashes, JSON (two-way entities only)
}

// LookupLinks returns the links of a system's external ids; ids not linked
// yet are absent from the map.
func (s *Store) LookupLinks(ctx context.Context, entity, system string, externalIDs []string) (map[string]Link, error) {
	return s.lookupLinks(ctx, nil, entity, system, externalIDs)
}

// lookupLinks is LookupLinks in tx (nil: outside one).
func (s *Store) lookupLinks(ctx context.Context, tx *sql.Tx, entity, system string, externalIDs []string) (map[string]Link, error) {
	out := make(map[string]Link, len(externalIDs))
	err := s.queryIn(ctx, tx, "SELECT external_id, hub_id, last_hash, version, fields FROM xref WHERE entity = ? AND system = ? AND external_id IN (%s)",
		externalIDs, func(rows *sql.Rows) error {
			var ext string
			var l Link
			if err := rows.Scan(&ext, &l.HubID, &l.LastHash, &l.Version, &l.Fields); err != nil {
				return err
			}
			out[ext] = l
			return nil
		}, entity, system)
	if err != nil {
		return nil, fmt.Errorf("store: look up %d hub ids of %s in %s: %w", len(externalIDs), entity, system, err)
	}
	return out, nil
}

// LookupExternals returns what system holds for each hub id; hub ids the
// system does not know are absent. A hub id merged into another (an alias)
// answers with what the system holds for that one.
func (s *Store) LookupExternals(ctx context.Context, entity, system string, hubIDs []string) (map[string]XrefEntry, error) {
	out, err := s.lookupExternals(ctx, entity, system, hubIDs)
	if err != nil || len(out) == len(hubIDs) {
		return out, err
	}
	var missing []string
	for _, id := range hubIDs {
		if _, ok := out[id]; !ok {
			missing = append(missing, id)
		}
	}
	aliases, err := s.ResolveAliases(ctx, entity, missing)
	if err != nil || len(aliases) == 0 {
		return out, err
	}
	targets := make([]string, 0, len(aliases))
	for _, hub := range aliases {
		targets = append(targets, hub)
	}
	found, err := s.lookupExternals(ctx, entity, system, targets)
	if err != nil {
		return nil, err
	}
	for alias, hub := range aliases {
		if e, ok := found[hub]; ok {
			out[alias] = e
		}
	}
	return out, nil
}

func (s *Store) lookupExternals(ctx context.Context, entity, system string, hubIDs []string) (map[string]XrefEntry, error) {
	out := make(map[string]XrefEntry, len(hubIDs))
	err := s.queryIn(ctx, nil, "SELECT hub_id, external_id, last_hash, version, fields FROM xref WHERE entity = ? AND system = ? AND hub_id IN (%s)",
		hubIDs, func(rows *sql.Rows) error {
			var hub string
			var e XrefEntry
			if err := rows.Scan(&hub, &e.ExternalID, &e.LastHash, &e.Version, &e.Fields); err != nil {
				return err
			}
			out[hub] = e
			return nil
		}, entity, system)
	if err != nil {
		return nil, fmt.Errorf("store: look up %d %s ids of %s: %w", len(hubIDs), system, entity, err)
	}
	return out, nil
}

// LinkMany links each external id of links (external id -> proposed hub
// id) in one transaction and returns the hub id now linked to each: the
// proposed one, or the one that won a race. Like Link it never relinks.
//
// It inserts in multi-row statements that return what they inserted; only
// the external ids some other writer linked first are looked up again.
func (s *Store) LinkMany(ctx context.Context, entity, system string, links map[string]string) (map[string]string, error) {
	return s.link(ctx, entity, system, links, nil, nil)
}

// link is LinkMany that also gives the links it makes the stamps of
// stamps (hub id -> stamp; Hash and Version are used), and, in the same
// transaction, calls inserted with the hub ids it stamped, when there are
// any.
func (s *Store) link(ctx context.Context, entity, system string, links map[string]string, stamps map[string]Written,
	inserted func(tx *sql.Tx, stamped []string) error) (map[string]string, error) {
	out := make(map[string]string, len(links))
	if len(links) == 0 {
		return out, nil
	}
	exts := make([]string, 0, len(links))
	for ext, hub := range links {
		if ext == "" || hub == "" {
			return nil, fmt.Errorf("store: link %s %s/%q to %q: external id and hub id are required", entity, system, ext, hub)
		}
		exts = append(exts, ext)
	}
	// In one order for every writer: two linking the same new external
	// ids at once (a source of customers, and one of orders linking the
	// customers they reference) then wait for each other on PostgreSQL
	// instead of deadlocking (TestLinkManyConcurrentNoDeadlock).
	slices.Sort(exts)
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: link %d %s in %s: %w", len(links), entity, system, err)
	}
	defer end()
	// entity, system and now boxed once: appended to args row after row,
	// each would otherwise be a value of its own on the heap.
	ent, sys, now := any(entity), any(system), s.tv(s.now())
	const cols = 8
	var stamped []string
	rest := exts
	for _, n := range sqlbatch.Chunks(len(exts), maxParams/cols) {
		chunk := rest[:n]
		rest = rest[n:]
		args := make([]any, 0, n*cols)
		for _, ext := range chunk {
			hub := links[ext]
			w := stamps[hub]
			args = append(args, ent, sys, ext, hub, w.Hash, w.Version, now, now)
		}
		q := s.rebind("INSERT INTO xref (entity, system, external_id, hub_id, last_hash, version, created_at, updated_at) VALUES " +
			valuesList(n, cols) + " ON CONFLICT DO NOTHING RETURNING external_id, hub_id")
		err := s.queryStmt(ctx, tx.Tx, q, args, func(rs *sql.Rows) error {
			var ext, hub string
			if err := rs.Scan(&ext, &hub); err != nil {
				return err
			}
			out[ext] = hub
			if stamps[hub].Hash != "" {
				stamped = append(stamped, hub)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: link %d %s in %s: %w", n, entity, system, err)
		}
	}
	// The external ids some other writer linked first are looked up in
	// the same transaction: a conflict then stamps nothing.
	var lost []string
	for _, ext := range exts {
		if _, ok := out[ext]; !ok {
			lost = append(lost, ext)
		}
	}
	if len(lost) > 0 {
		found, err := s.lookupLinks(ctx, tx.Tx, entity, system, lost)
		if err != nil {
			return nil, err
		}
		for _, ext := range lost {
			l, ok := found[ext]
			if !ok {
				return nil, fmt.Errorf("%w: link %s %s/%s to %s: hub id is already linked to another %s id",
					ErrConflict, entity, system, ext, links[ext], system)
			}
			out[ext] = l.HubID
		}
	}
	if len(stamped) > 0 && inserted != nil {
		if err := inserted(tx.Tx, stamped); err != nil {
			return nil, fmt.Errorf("store: link %d %s in %s: %w", len(links), entity, system, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: link %d %s in %s: commit: %w", len(links), entity, system, err)
	}
	s.grew("xref", len(out)-len(lost))
	return out, nil
}

// Written is one record a sink wrote (or a source published): its hub id,
// the target's external id (empty: leave the link as it is) and what was
// written.
type Written struct {
	HubID      string
	ExternalID string
	Hash       string
	Version    string
	Fields     string // the fields' hashes, JSON (two-way entities only)
	// IfVersion, when set, makes the stamp conditional: it is applied only
	// while the link's version is still IfVersion. A sink that wrote on
	// the strength of that version uses it, so that its stamp never
	// replaces a newer state the system's source recorded meanwhile. Such
	// a record must be linked already; an unmatched one is left alone.
	IfVersion string
}

// RecordWritten links and stamps many records of one system: for each,
// the external id is linked to the hub id (if it is not yet) and the last
// hash and version are set. A record whose external id is linked to a hub
// id that only this system knows is merged with it (see Linked.Merged);
// records whose hub id is linked to a different external id, or whose
// external id belongs to a hub id other systems know too, are left alone
// and returned as conflicts. A record without ExternalID only has its
// stamp updated, if it is linked.
//
// It writes multi-row upserts (one statement per few hundred records) and
// goes record by record for what that left over (a new link refused by the
// external id's unique index, a merge).
func (s *Store) RecordWritten(ctx context.Context, entity, system string, ws []Written) (Linked, error) {
	if len(ws) == 0 {
		return Linked{}, nil
	}
	// The multi-row statement takes plain links and stamps; stamps without
	// an external id, and conditional ones, go one by one.
	var linked, oneByOne []Written
	for _, w := range ws {
		if w.ExternalID == "" || w.IfVersion != "" {
			oneByOne = append(oneByOne, w)
		} else {
			linked = append(linked, w)
		}
	}
	if len(oneByOne) == 0 && distinctHubs(linked) {
		left, err := s.recordWrittenBulk(ctx, entity, system, linked)
		if err == nil {
			if len(left) == 0 {
				return Linked{}, nil
			}
			return s.recordWrittenEach(ctx, entity, system, left)
		}
	}
	return s.recordWrittenEach(ctx, entity, system, ws)
}

func distinctHubs(ws []Written) bool {
	seen := make(map[string]bool, len(ws))
	for _, w := range ws {
		if seen[w.HubID] {
			return false
		}
		seen[w.HubID] = true
	}
	return true
}

// recordWrittenBulk upserts on (entity, hub_id, system): a new link is
// inserted with its stamp; an existing one with the same external id is
// restamped; one with another external id is left alone and returned.
func (s *Store) recordWrittenBulk(ctx context.Context, entity, system string, ws []Written) ([]Written, error) {
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: record %d %s written to %s: %w", len(ws), entity, system, err)
	}
	defer end()
	ent, sys, now := any(entity), any(system), s.tv(s.now()) // boxed once (see link)
	const cols = 9
	done := make(map[string]bool, len(ws))
	rest := ws
	for _, n := range sqlbatch.Chunks(len(ws), maxParams/cols) {
		chunk := rest[:n]
		rest = rest[n:]
		args := make([]any, 0, n*cols)
		for _, w := range chunk {
			args = append(args, ent, sys, w.ExternalID, w.HubID, w.Hash, w.Version, w.Fields, now, now)
		}
		q := s.rebind(`INSERT INTO xref (entity, system, external_id, hub_id, last_hash, version, fields, created_at, updated_at)
VALUES ` + valuesList(n, cols) + `
ON CONFLICT (entity, hub_id, system) DO UPDATE SET last_hash = excluded.last_hash, version = excluded.version, fields = excluded.fields, updated_at = excluded.updated_at
WHERE xref.external_id = excluded.external_id
RETURNING hub_id`)
		err := s.queryStmt(ctx, tx.Tx, q, args, func(rs *sql.Rows) error {
			var hub string
			if err := rs.Scan(&hub); err != nil {
				return err
			}
			done[hub] = true
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: record %d %s written to %s: %w", n, entity, system, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: record %d %s written to %s: commit: %w", len(ws), entity, system, err)
	}
	s.grew("xref", len(ws)) // (an upper bound: some were restamped)
	var conflicts []Written
	for _, w := range ws {
		if !done[w.HubID] {
			conflicts = append(conflicts, w)
		}
	}
	return conflicts, nil
}

// recordWrittenEach is RecordWritten one statement at a time.
func (s *Store) recordWrittenEach(ctx context.Context, entity, system string, ws []Written) (Linked, error) {
	var out Linked
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return out, fmt.Errorf("store: record %d %s written to %s: %w", len(ws), entity, system, err)
	}
	defer end()
	now := s.tv(s.now())
	link, err := tx.PreparexContext(ctx, s.rebind(`INSERT INTO xref (entity, system, external_id, hub_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`))
	if err != nil {
		return out, fmt.Errorf("store: record written: prepare: %w", err)
	}
	defer link.Close()
	stamp, err := tx.PreparexContext(ctx, s.rebind(`UPDATE xref SET last_hash = ?, version = ?, fields = ?, updated_at = ?
WHERE entity = ? AND system = ? AND hub_id = ? AND (? = '' OR external_id = ?) AND (? = '' OR version = ?)`))
	if err != nil {
		return out, fmt.Errorf("store: record written: prepare: %w", err)
	}
	defer stamp.Close()
	for _, w := range ws {
		if w.ExternalID != "" && w.IfVersion == "" {
			if _, err := link.ExecContext(ctx, entity, system, w.ExternalID, w.HubID, now, now); err != nil {
				return out, fmt.Errorf("store: link %s %s/%s to %s: %w", entity, system, w.ExternalID, w.HubID, err)
			}
		}
		res, err := stamp.ExecContext(ctx, w.Hash, w.Version, w.Fields, now, entity, system, w.HubID, w.ExternalID, w.ExternalID, w.IfVersion, w.IfVersion)
		if err != nil {
			return out, fmt.Errorf("store: stamp %s %s in %s: %w", entity, w.HubID, system, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return out, fmt.Errorf("store: stamp %s %s in %s: %w", entity, w.HubID, system, err)
		}
		if n > 0 || w.ExternalID == "" || w.IfVersion != "" {
			continue // (a conditional stamp that did not apply: a newer one stands)
		}
		m, ok, err := s.merge(ctx, tx, entity, system, w, now)
		if err != nil {
			return out, err
		}
		if ok {
			out.Merged = append(out.Merged, m)
		} else {
			out.Conflicts = append(out.Conflicts, w)
		}
	}
	if err := tx.Commit(); err != nil {
		return Linked{}, fmt.Errorf("store: record %d %s written to %s: commit: %w", len(ws), entity, system, err)
	}
	return out, nil
}

func inQuery(format string, keys []string, head ...any) (string, []any) {
	ph := strings.TrimSuffix(strings.Repeat("?,", len(keys)), ",")
	args := make([]any, 0, len(head)+len(keys))
	args = append(args, head...)
	for _, k := range keys {
		args = append(args, k)
	}
	return fmt.Sprintf(format, ph), args
}

func chunks(keys []string, n int) [][]string {
	var out [][]string
	for len(keys) > n {
		out = append(out, keys[:n])
		keys = keys[n:]
	}
	if len(keys) > 0 {
		out = append(out, keys)
	}
	return out
}

func dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// KnownHubIDs returns which of ids are hub ids of the entity (linked in
// any system). A source uses it to recognise a record a sink just created
// under the hub id, before the sink has recorded the link.
func (s *Store) KnownHubIDs(ctx context.Context, entity string, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.queryIn(ctx, nil, "SELECT DISTINCT hub_id FROM xref WHERE entity = ? AND hub_id IN (%s)", ids, func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		out[id] = true
		return nil
	}, entity)
	if err != nil {
		return nil, fmt.Errorf("store: look up %d %s hub ids: %w", len(ids), entity, err)
	}
	return out, nil
}
