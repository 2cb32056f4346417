package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Merge is one hub id merged into another: Alias (known to one system
// only, as ExternalID) turned out to be the record HubID already is.
type Merge struct {
	Alias, HubID       string
	System, ExternalID string
}

// Linked is what RecordWritten did beyond the plain links and stamps.
type Linked struct {
	// Conflicts are records left unlinked: their hub id has another
	// external id in the system, or their external id belongs to another
	// hub id that other systems know too (two hub records claim one
	// target record; an operator has to look).
	Conflicts []Written
	// Merged are hub ids merged into the written records' (see Merge).
	Merged []Merge
}

// merge tries to resolve the conflict of w: the system says w.HubID is
// w.ExternalID, which is linked to another hub id. When that hub id is
// linked in this system only (it was minted when a source of this system
// saw the record, for instance as a reference, before any sink had linked
// it) and w.HubID has no link in this system, both are one record: the
// link moves to w.HubID and the other hub id becomes its alias. ok is
// false when the conflict stands.
func (s *Store) merge(ctx context.Context, tx *sqlx.Tx, entity, system string, w Written, now any) (m Merge, ok bool, err error) {
	var other string
	err = tx.GetContext(ctx, &other, s.rebind("SELECT hub_id FROM xref WHERE entity = ? AND system = ? AND external_id = ?"),
		entity, system, w.ExternalID)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && other == w.HubID) {
		return Merge{}, false, nil
	}
	if err != nil {
		return Merge{}, false, fmt.Errorf("store: merge %s %s/%s: %w", entity, system, w.ExternalID, err)
	}
	var elsewhere, here int
	if err := tx.GetContext(ctx, &elsewhere, s.rebind("SELECT COUNT(*) FROM xref WHERE entity = ? AND hub_id = ? AND system <> ?"),
		entity, other, system); err != nil {
		return Merge{}, false, fmt.Errorf("store: merge %s %s into %s: %w", entity, other, w.HubID, err)
	}
	if err := tx.GetContext(ctx, &here, s.rebind("SELECT COUNT(*) FROM xref WHERE entity = ? AND hub_id = ? AND system = ?"),
		entity, w.HubID, system); err != nil {
		return Merge{}, false, fmt.Errorf("store: merge %s %s into %s: %w", entity, other, w.HubID, err)
	}
	if elsewhere > 0 || here > 0 {
		return Merge{}, false, nil
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE xref SET hub_id = ?, last_hash = ?, version = ?, fields = ?, updated_at = ? WHERE entity = ? AND system = ? AND external_id = ?",
			[]any{w.HubID, w.Hash, w.Version, w.Fields, now, entity, system, w.ExternalID}},
		{"UPDATE hub_aliases SET hub_id = ? WHERE entity = ? AND hub_id = ?", []any{w.HubID, entity, other}},
		{"INSERT INTO hub_aliases (entity, alias, hub_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
			[]any{entity, other, w.HubID, now}},
	} {
		if _, err := tx.ExecContext(ctx, s.rebind(q.sql), q.args...); err != nil {
			return Merge{}, false, fmt.Errorf("store: merge %s %s into %s: %w", entity, other, w.HubID, err)
		}
	}
	return Merge{Alias: other, HubID: w.HubID, System: system, ExternalID: w.ExternalID}, true, nil
}

// ResolveAliases returns, for each of ids that was merged into another
// hub id, that hub id.
func (s *Store) ResolveAliases(ctx context.Context, entity string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	err := s.queryIn(ctx, nil, "SELECT alias, hub_id FROM hub_aliases WHERE entity = ? AND alias IN (%s)", ids, func(rows *sql.Rows) error {
		var alias, hub string
		if err := rows.Scan(&alias, &hub); err != nil {
			return err
		}
		out[alias] = hub
		return nil
	}, entity)
	if err != nil {
		return nil, fmt.Errorf("store: resolve %d %s aliases: %w", len(ids), entity, err)
	}
	return out, nil
}
