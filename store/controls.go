package store

import (
	"context"
	"fmt"
	"time"
)

// Control is what an operator asked of one runner.
type Control struct {
	Runner    string // "source <name>" or "sink <name>/<entity>"
	Paused    bool
	Actor     string
	Reason    string
	UpdatedAt time.Time
}

// SetPaused pauses or resumes runner for every node.
func (s *Store) SetPaused(ctx context.Context, runner string, paused bool, actor, reason string) error {
	p := 0
	if paused {
		p = 1
	}
	_, err := s.execWrite(ctx, s.rebind(`INSERT INTO controls (runner, paused, actor, reason, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (runner) DO UPDATE SET paused = excluded.paused, actor = excluded.actor, reason = excluded.reason, updated_at = excluded.updated_at`),
		runner, p, actor, reason, s.tv(s.now()))
	if err != nil {
		return fmt.Errorf("store: set %s paused=%v: %w", runner, paused, err)
	}
	return nil
}

// Controls returns every runner's control, by runner.
func (s *Store) Controls(ctx context.Context) (map[string]Control, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT runner, paused, actor, reason, updated_at FROM controls")
	if err != nil {
		return nil, fmt.Errorf("store: read controls: %w", err)
	}
	defer rows.Close()
	out := map[string]Control{}
	for rows.Next() {
		var c Control
		var p int
		if err := rows.Scan(&c.Runner, &p, &c.Actor, &c.Reason, timeCol{&c.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("store: read controls: %w", err)
		}
		c.Paused = p != 0
		out[c.Runner] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read controls: %w", err)
	}
	return out, nil
}
