package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// LookupHubID returns the hub id linked to a system's external id for an
// entity. ok is false when the external id is not linked yet.
func (s *Store) LookupHubID(ctx context.Context, entity, system, externalID string) (hubID string, ok bool, err error) {
	err = s.db.GetContext(ctx, &hubID,
		s.rebind("SELECT hub_id FROM xref WHERE entity = ? AND system = ? AND external_id = ?"),
		entity, system, externalID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: look up hub id of %s %s/%s: %w", entity, system, externalID, err)
	}
	return hubID, true, nil
}

// LookupExternal returns the external id that a system uses for a hub id, and
// the hash of the content last written there (empty if none recorded). ok is
// false when the record does not exist in that system yet. A hub id merged
// into another answers for that one.
func (s *Store) LookupExternal(ctx context.Context, entity, hubID, system string) (externalID, lastHash string, ok bool, err error) {
	externalID, lastHash, ok, err = s.lookupExternal(ctx, entity, hubID, system)
	if ok || err != nil {
		return externalID, lastHash, ok, err
	}
	var merged string
	err = s.db.GetContext(ctx, &merged, s.rebind("SELECT hub_id FROM hub_aliases WHERE entity = ? AND alias = ?"), entity, hubID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("store: resolve %s alias %s: %w", entity, hubID, err)
	}
	return s.lookupExternal(ctx, entity, merged, system)
}

func (s *Store) lookupExternal(ctx context.Context, entity, hubID, system string) (externalID, lastHash string, ok bool, err error) {
	row := s.db.QueryRowxContext(ctx,
		s.rebind("SELECT external_id, last_hash FROM xref WHERE entity = ? AND hub_id = ? AND system = ?"),
		entity, hubID, system)
	err = row.Scan(&externalID, &lastHash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("store: look up %s id of %s %s: %w", system, entity, hubID, err)
	}
	return externalID, lastHash, true, nil
}

// Link records that system knows the entity's record hubID as externalID, and
// returns the hub id now linked to externalID.
//
// It is idempotent, and safe when several workers link the same external id at
// once: the first link wins and every caller gets the winning hub id back, so
// a source that generated a fresh hub id must use the returned one. Linking a
// second, different external id of the same system to a hub id that already
// has one fails with ErrConflict.
func (s *Store) Link(ctx context.Context, entity, system, externalID, hubID string) (string, error) {
	if entity == "" || system == "" || externalID == "" || hubID == "" {
		return "", fmt.Errorf("store: link %s %s/%s to %q: entity, system, external id and hub id are required",
			entity, system, externalID, hubID)
	}
	now := s.tv(s.now())
	_, err := s.execWrite(ctx, s.rebind(`INSERT INTO xref (entity, system, external_id, hub_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		entity, system, externalID, hubID, now, now)
	if err != nil {
		return "", fmt.Errorf("store: link %s %s/%s to %s: %w", entity, system, externalID, hubID, err)
	}
	linked, ok, err := s.LookupHubID(ctx, entity, system, externalID)
	if err != nil {
		return "", err
	}
	if !ok {
		// The insert was dropped because hubID already has another external
		// id in this system.
		other, _, _, lerr := s.lookupExternal(ctx, entity, hubID, system)
		if lerr != nil {
			return "", lerr
		}
		return "", fmt.Errorf("%w: link %s %s/%s to %s: hub id is already linked to %s id %q",
			ErrConflict, entity, system, externalID, hubID, system, other)
	}
	return linked, nil
}

// SetLastHash records the content hash last written to (or read from) system
// for a linked record, so that an identical update can be skipped.
func (s *Store) SetLastHash(ctx context.Context, entity, system, hubID, hash string) error {
	res, err := s.execWrite(ctx,
		s.rebind("UPDATE xref SET last_hash = ?, updated_at = ? WHERE entity = ? AND hub_id = ? AND system = ?"),
		hash, s.tv(s.now()), entity, hubID, system)
	return checkOne(res, err, "set last hash of %s %s in %s", entity, hubID, system)
}

// SetLastWritten records both the content hash and the record version (the
// envelope's version) last written to system for a linked record.
func (s *Store) SetLastWritten(ctx context.Context, entity, system, hubID, hash, version string) error {
	res, err := s.execWrite(ctx,
		s.rebind("UPDATE xref SET last_hash = ?, version = ?, updated_at = ? WHERE entity = ? AND hub_id = ? AND system = ?"),
		hash, version, s.tv(s.now()), entity, hubID, system)
	return checkOne(res, err, "set last written of %s %s in %s", entity, hubID, system)
}

// checkOne wraps err, or returns ErrNotFound when the statement touched no row.
func checkOne(res sql.Result, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: rows affected: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return nil
}

// Unlink forgets which record of system hubID is: the system no longer
// has it (deleted there), so the next write creates it again.
func (s *Store) Unlink(ctx context.Context, entity, system, hubID string) error {
	if _, err := s.execWrite(ctx, s.rebind("DELETE FROM xref WHERE entity = ? AND hub_id = ? AND system = ?"), entity, hubID, system); err != nil {
		return fmt.Errorf("unlink %s %s from %s: %w", entity, hubID, system, err)
	}
	return nil
}
