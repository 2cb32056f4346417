package store

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID      int64
	At      time.Time
	Actor   string // who: an operator's name, "scheduler", "api:<token name>", ...
	Action  string // what: "dlq.replay", "dlq.discard", "recon.repair", ...
	Subject string // on what: "dead_letter:42", "job:nightly", ...
	Detail  string // free text or JSON
}

// AppendAudit records that actor did action on subject.
func (s *Store) AppendAudit(ctx context.Context, actor, action, subject, detail string) error {
	if actor == "" || action == "" {
		return fmt.Errorf("store: append audit %q by %q: actor and action are required", action, actor)
	}
	_, err := s.execWrite(ctx,
		s.rebind("INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)"),
		s.tv(s.now()), actor, action, subject, detail)
	if err != nil {
		return fmt.Errorf("store: append audit %s by %s on %s: %w", action, actor, subject, err)
	}
	return nil
}

// ListAudit returns the newest audit entries first; limit defaults to 100.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryxContext(ctx,
		s.rebind("SELECT id, at, actor, action, subject, detail FROM audit_log ORDER BY id DESC LIMIT ?"), limit)
	if err != nil {
		return nil, fmt.Errorf("store: list audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, timeCol{&e.At}, &e.Actor, &e.Action, &e.Subject, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: list audit log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list audit log: %w", err)
	}
	return out, nil
}
