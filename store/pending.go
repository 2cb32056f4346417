package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Pending stamps: a pull source links the new records of a batch and
// stamps them (what their system holds) in one write, before it publishes
// the batch, instead of linking them first and stamping each again once
// the batch is on Kafka. Until then the stamps are pending: a row of
// pending_stamps per batch lists their hub ids. The source's settle stage
// deletes the row once the batch is published (SettlePending); a source
// that starts takes back the stamps still pending for its system and
// entity (ClearPending), because a crash or a stop may have kept their
// batch from Kafka, and a stamp is what makes a re-read of the same
// content "unchanged".

// Fence makes a write conditional on a lease (AcquireLease): it is made
// only while Holder has the lease Lease, unexpired. The zero Fence writes
// unconditionally (one node, no leases).
type Fence struct {
	Lease, Holder string
}

// LinkStamped links each external id of ws (ExternalID -> HubID, the hub
// id proposed) as LinkMany does, and writes the stamp of ws (Hash,
// Version) on the links it makes. The stamps written are pending under
// source: it returns their row's id (0 when it stamped none) and the hub
// id now linked to each external id; an external id another writer linked
// first keeps that writer's link and stamp, and answers its hub id.
//
// With a fence, it writes nothing and returns ErrLeaseLost unless the
// fence's holder still has its lease: a node that stalled past its lease
// must not file stamps after the node that took its source over has taken
// back the pending ones. On PostgreSQL the lease's row is locked until
// the commit, so that a takeover waits for it.
func (s *Store) LinkStamped(ctx context.Context, fence Fence, source, entity, system string, ws []Written) (map[string]string, int64, error) {
	links := make(map[string]string, len(ws))
	stamps := make(map[string]Written, len(ws))
	for _, w := range ws {
		links[w.ExternalID] = w.HubID
		if w.Hash != "" {
			stamps[w.HubID] = w
		}
	}
	var pending int64
	out, err := s.link(ctx, entity, system, links, stamps, func(tx *sql.Tx, stamped []string) error {
		var err error
		pending, err = s.filePending(ctx, tx, fence, source, entity, system, stamped)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, pending, nil
}

// filePending files the pending row of the stamped hub ids in tx, if the
// fence lets it, and returns its id.
func (s *Store) filePending(ctx context.Context, tx *sql.Tx, fence Fence, source, entity, system string, stamped []string) (int64, error) {
	hubs, err := json.Marshal(stamped)
	if err != nil {
		return 0, err
	}
	now := s.tv(s.now())
	q := "INSERT INTO pending_stamps (source, entity, system, hub_ids, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id"
	args := []any{source, entity, system, string(hubs), now}
	if fence.Lease != "" {
		lock := ""
		if s.dialect == DialectPostgres {
			lock = " FOR SHARE" // a takeover (AcquireLease) waits for this transaction
		}
		q = "INSERT INTO pending_stamps (source, entity, system, hub_ids, created_at) SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM leases WHERE name = ? AND holder = ? AND expires_at > ?" + lock + ") RETURNING id"
		args = append(args, fence.Lease, fence.Holder, now)
	}
	var id int64
	err = tx.QueryRowContext(ctx, s.rebind(q), args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: %s no longer holds %s", ErrLeaseLost, fence.Holder, fence.Lease)
	}
	if err != nil {
		return 0, fmt.Errorf("file the pending stamps of %s: %w", source, err)
	}
	return id, nil
}

// SettlePending confirms the pending stamps of published batches (their
// rows' ids): they stay.
func (s *Store) SettlePending(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("store: settle %d batches of pending stamps: %w", len(ids), err)
	}
	defer end()
	q := s.rebind("DELETE FROM pending_stamps WHERE id = ?")
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("store: settle pending stamps %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: settle %d batches of pending stamps: commit: %w", len(ids), err)
	}
	return nil
}

// ClearPending takes back every stamp left pending for entity in system
// (by a run that stopped or crashed before settling them) and returns how
// many it took back: the links stay, their records count as never
// published. A source calls it as it starts, before it reads. It takes
// back the pending stamps of every source of the system and entity, not
// only its own (a source renamed in the config leaves its rows under the
// old name): another pull source's record may then be published again,
// which its sinks find unchanged. It takes back exactly the rows it
// deletes, whatever another writer files meanwhile.
func (s *Store) ClearPending(ctx context.Context, entity, system string) (int, error) {
	what := entity + " in " + system
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: clear the pending stamps of %s: %w", what, err)
	}
	defer end()
	var hubs []string
	err = s.queryStmt(ctx, tx.Tx, s.rebind("DELETE FROM pending_stamps WHERE entity = ? AND system = ? RETURNING hub_ids"),
		[]any{entity, system}, func(rows *sql.Rows) error {
			var list string
			var ids []string
			err := rows.Scan(&list)
			if err == nil {
				err = json.Unmarshal([]byte(list), &ids)
			}
			hubs = append(hubs, ids...)
			return err
		})
	if err != nil {
		return 0, fmt.Errorf("store: clear the pending stamps of %s: %w", what, err)
	}
	if err := s.unstamp(ctx, tx.Tx, entity, system, hubs); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: clear the pending stamps of %s: commit: %w", what, err)
	}
	return len(hubs), nil
}

// TakeBack takes back the stamps of hub ids in system, pending or not:
// their links stay. A source whose LinkStamped failed without saying
// whether it committed (a connection lost at the commit) calls it before
// it prepares the batch again, so that the batch's records are not taken
// for published.
func (s *Store) TakeBack(ctx context.Context, entity, system string, hubIDs []string) error {
	if len(hubIDs) == 0 {
		return nil
	}
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("store: take back %d stamps of %s in %s: %w", len(hubIDs), entity, system, err)
	}
	defer end()
	if err := s.unstamp(ctx, tx.Tx, entity, system, hubIDs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: take back %d stamps of %s in %s: commit: %w", len(hubIDs), entity, system, err)
	}
	return nil
}

// unstamp takes back the stamps of hub ids in system: their links stay,
// as a source's identify step leaves a new link.
func (s *Store) unstamp(ctx context.Context, tx *sql.Tx, entity, system string, hubIDs []string) error {
	for _, chunk := range chunks(dedupe(hubIDs), inChunk) {
		args := make([]any, 0, len(chunk)+3)
		args = append(args, s.tv(s.now()), entity, system)
		for _, h := range chunk {
			args = append(args, h)
		}
		q := s.rebind("UPDATE xref SET last_hash = '', version = '', updated_at = ? WHERE entity = ? AND system = ? AND hub_id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",") + ")")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("store: take back %d stamps of %s in %s: %w", len(chunk), entity, system, err)
		}
	}
	return nil
}
