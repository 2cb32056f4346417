package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// WaitsSince returns when each of sink's records hubIDs started waiting
// for a record it references, recording now as the start of those that
// were not waiting yet.
func (s *Store) WaitsSince(ctx context.Context, sink, entity string, hubIDs []string) (map[string]time.Time, error) {
	now := s.tv(s.now())
	out := make(map[string]time.Time, len(hubIDs))
	for _, chunk := range chunks(dedupe(hubIDs), maxParams/4) {
		rows := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?),", len(chunk)), ",")
		args := make([]any, 0, 4*len(chunk))
		for _, id := range chunk {
			args = append(args, sink, entity, id, now)
		}
		if _, err := s.execWrite(ctx, s.rebind("INSERT INTO ref_waits (sink, entity, hub_id, since) VALUES "+rows+
			" ON CONFLICT (sink, entity, hub_id) DO NOTHING"), args...); err != nil {
			return nil, fmt.Errorf("store: record the waits of %d %s at %s: %w", len(chunk), entity, sink, err)
		}
		q, qargs := inQuery("SELECT hub_id, since FROM ref_waits WHERE sink = ? AND entity = ? AND hub_id IN (%s)", chunk, sink, entity)
		rs, err := s.db.QueryContext(ctx, s.rebind(q), qargs...)
		if err != nil {
			return nil, fmt.Errorf("store: read the waits of %d %s at %s: %w", len(chunk), entity, sink, err)
		}
		for rs.Next() {
			var id string
			var since time.Time
			if err := rs.Scan(&id, timeCol{&since}); err != nil {
				rs.Close()
				return nil, fmt.Errorf("store: read the waits of %s at %s: %w", entity, sink, err)
			}
			out[id] = since
		}
		if err := rs.Close(); err != nil {
			return nil, fmt.Errorf("store: read the waits of %s at %s: %w", entity, sink, err)
		}
	}
	return out, nil
}

// EndWaits forgets the waits of sink's records hubIDs: they are written or
// dead-lettered.
func (s *Store) EndWaits(ctx context.Context, sink, entity string, hubIDs []string) error {
	for _, chunk := range chunks(dedupe(hubIDs), maxParams-2) {
		q, args := inQuery("DELETE FROM ref_waits WHERE sink = ? AND entity = ? AND hub_id IN (%s)", chunk, sink, entity)
		if _, err := s.execWrite(ctx, s.rebind(q), args...); err != nil {
			return fmt.Errorf("store: end the waits of %d %s at %s: %w", len(chunk), entity, sink, err)
		}
	}
	return nil
}
