package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// GetCursor returns the saved position of a source for an entity. ok is false
// when the source has never saved one (start from the beginning).
func (s *Store) GetCursor(ctx context.Context, source, entity string) (value string, ok bool, err error) {
	err = s.db.GetContext(ctx, &value,
		s.rebind("SELECT value FROM cursors WHERE source = ? AND entity = ?"), source, entity)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: get cursor %s/%s: %w", source, entity, err)
	}
	return value, true, nil
}

// SetCursor saves the position of a source for an entity, replacing any
// previous one. Call it only after Kafka acknowledged everything before it.
func (s *Store) SetCursor(ctx context.Context, source, entity, value string) error {
	if source == "" || entity == "" {
		return fmt.Errorf("store: set cursor %q/%q: source and entity are required", source, entity)
	}
	_, err := s.execWrite(ctx, s.rebind(`INSERT INTO cursors (source, entity, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (source, entity) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
		source, entity, value, s.tv(s.now()))
	if err != nil {
		return fmt.Errorf("store: set cursor %s/%s: %w", source, entity, err)
	}
	return nil
}
