package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// StoredRecord is the hub's last canonical version of one record of a
// two-way entity (see the records table).
type StoredRecord struct {
	HubID   string
	Data    string // canonical JSON
	Fields  string // JSON: field -> {"s": system, "v": version}
	Hash    string
	PubHash string // the hash last acknowledged by Kafka
	Version string // the newest version merged in (RFC 3339)
	Rev     int64  // 0: not stored yet
	Seen    string // system -> newest version merged from it (JSON)
}

// LoadRecords returns the stored records of hub ids; unknown ids are absent.
func (s *Store) LoadRecords(ctx context.Context, entity string, hubIDs []string) (map[string]StoredRecord, error) {
	out := make(map[string]StoredRecord, len(hubIDs))
	for _, chunk := range chunks(dedupe(hubIDs), maxParams-1) {
		q, args := inQuery("SELECT hub_id, data, fields, hash, pub_hash, version, rev, seen FROM records WHERE entity = ? AND hub_id IN (%s)", chunk, entity)
		rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
		if err != nil {
			return nil, fmt.Errorf("store: load %d %s records: %w", len(chunk), entity, err)
		}
		for rows.Next() {
			var r StoredRecord
			if err := rows.Scan(&r.HubID, &r.Data, &r.Fields, &r.Hash, &r.PubHash, &r.Version, &r.Rev, &r.Seen); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: load %s records: %w", entity, err)
			}
			out[r.HubID] = r
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: load %s records: %w", entity, err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: load %s records: %w", entity, err)
		}
	}
	return out, nil
}

// RecordHashes returns the hash of the stored record of each hub id;
// unknown ids are absent. A sink asks it to tell a merge that a newer one
// has replaced since it was published.
func (s *Store) RecordHashes(ctx context.Context, entity string, hubIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(hubIDs))
	for _, chunk := range chunks(dedupe(hubIDs), maxParams-1) {
		q, args := inQuery("SELECT hub_id, hash FROM records WHERE entity = ? AND hub_id IN (%s)", chunk, entity)
		rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
		if err != nil {
			return nil, fmt.Errorf("store: hashes of %d %s records: %w", len(chunk), entity, err)
		}
		for rows.Next() {
			var id, hash string
			if err := rows.Scan(&id, &hash); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: hashes of %s records: %w", entity, err)
			}
			out[id] = hash
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: hashes of %s records: %w", entity, err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: hashes of %s records: %w", entity, err)
		}
	}
	return out, nil
}

// SaveRecords stores merged records in one transaction, each only if its
// stored revision is still Rev (0: not stored yet); the stored revision
// becomes Rev+1. The hub ids of records someone else saved first are
// returned in stale, untouched: merge them again from a fresh load.
func (s *Store) SaveRecords(ctx context.Context, entity string, recs []StoredRecord) (stale []string, err error) {
	if len(recs) == 0 {
		return nil, nil
	}
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: save %d %s records: %w", len(recs), entity, err)
	}
	defer end()
	now := s.tv(s.now())
	for _, r := range recs {
		var res sql.Result
		if r.Rev == 0 {
			res, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO records (entity, hub_id, data, fields, hash, pub_hash, version, seen, rev, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING`), entity, r.HubID, r.Data, r.Fields, r.Hash, r.PubHash, r.Version, r.Seen, now)
		} else {
			res, err = tx.ExecContext(ctx, s.rebind(`UPDATE records SET data = ?, fields = ?, hash = ?, pub_hash = ?, version = ?, seen = ?, rev = rev + 1, updated_at = ?
WHERE entity = ? AND hub_id = ? AND rev = ?`), r.Data, r.Fields, r.Hash, r.PubHash, r.Version, r.Seen, now, entity, r.HubID, r.Rev)
		}
		if err != nil {
			return nil, fmt.Errorf("store: save %s record %s: %w", entity, r.HubID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("store: save %s record %s: %w", entity, r.HubID, err)
		}
		if n == 0 {
			stale = append(stale, r.HubID)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: save %d %s records: commit: %w", len(recs), entity, err)
	}
	return stale, nil
}

// MarkPublished records that Kafka acknowledged the records with these
// hashes (hub id -> hash); a record merged again since keeps its mark.
func (s *Store) MarkPublished(ctx context.Context, entity string, hashes map[string]string) error {
	if len(hashes) == 0 {
		return nil
	}
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("store: mark %d %s records published: %w", len(hashes), entity, err)
	}
	defer end()
	stmt, err := tx.PreparexContext(ctx, s.rebind("UPDATE records SET pub_hash = ? WHERE entity = ? AND hub_id = ? AND hash = ?"))
	if err != nil {
		return fmt.Errorf("store: mark %s records published: %w", entity, err)
	}
	defer stmt.Close()
	for hub, h := range hashes {
		if _, err := stmt.ExecContext(ctx, h, entity, hub, h); err != nil {
			return fmt.Errorf("store: mark %s record %s published: %w", entity, hub, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: mark %d %s records published: commit: %w", len(hashes), entity, err)
	}
	return nil
}

// MatchKey is one normalised match value of a record.
type MatchKey struct {
	HubID string
	Rule  string // the rule's name (e.g. email, phone, tax_id)
	Value string // normalised; empty deletes the key
}

// PutMatchKeys sets match keys (one value per record and rule).
func (s *Store) PutMatchKeys(ctx context.Context, entity string, keys []MatchKey) error {
	if len(keys) == 0 {
		return nil
	}
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("store: put %d %s match keys: %w", len(keys), entity, err)
	}
	defer end()
	for _, k := range keys {
		if k.Value == "" {
			_, err = tx.ExecContext(ctx, s.rebind("DELETE FROM match_keys WHERE entity = ? AND hub_id = ? AND rule = ?"), entity, k.HubID, k.Rule)
		} else {
			_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO match_keys (entity, hub_id, rule, value) VALUES (?, ?, ?, ?)
ON CONFLICT (entity, hub_id, rule) DO UPDATE SET value = excluded.value`), entity, k.HubID, k.Rule, k.Value)
		}
		if err != nil {
			return fmt.Errorf("store: put %s match key %s of %s: %w", entity, k.Rule, k.HubID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: put %d %s match keys: commit: %w", len(keys), entity, err)
	}
	return nil
}

// FindMatches returns, per value, the hub ids whose match key of rule has
// that value.
func (s *Store) FindMatches(ctx context.Context, entity, rule string, values []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, chunk := range chunks(dedupe(values), maxParams-2) {
		q, args := inQuery("SELECT value, hub_id FROM match_keys WHERE entity = ? AND rule = ? AND value IN (%s) ORDER BY hub_id", chunk, entity, rule)
		if err := s.scanPairs(ctx, q, args, func(v, hub string) { out[v] = append(out[v], hub) }); err != nil {
			return nil, fmt.Errorf("store: find %s matches by %s: %w", entity, rule, err)
		}
	}
	return out, nil
}

// MatchKeysOf returns the match keys of hub ids: hub id -> rule -> value.
func (s *Store) MatchKeysOf(ctx context.Context, entity string, hubIDs []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, chunk := range chunks(dedupe(hubIDs), maxParams-1) {
		q, args := inQuery("SELECT hub_id, rule || char(9) || value FROM match_keys WHERE entity = ? AND hub_id IN (%s)", chunk, entity)
		if s.dialect == DialectPostgres {
			q = strings.Replace(q, "char(9)", "chr(9)", 1)
		}
		err := s.scanPairs(ctx, q, args, func(hub, rv string) {
			rule, v, _ := strings.Cut(rv, "\t")
			if out[hub] == nil {
				out[hub] = map[string]string{}
			}
			out[hub][rule] = v
		})
		if err != nil {
			return nil, fmt.Errorf("store: match keys of %d %s records: %w", len(chunk), entity, err)
		}
	}
	return out, nil
}

func (s *Store) scanPairs(ctx context.Context, q string, args []any, fn func(a, b string)) error {
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		fn(a, b)
	}
	if err := rows.Err(); err != nil {
		return errors.Join(err, rows.Close())
	}
	return nil
}
