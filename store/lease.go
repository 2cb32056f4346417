package store

import (
	"context"
	"fmt"
	"time"
)

// AcquireLease takes or renews the lease name for holder until now+ttl. It
// returns false, without error, while another holder's lease has not expired.
// The holder that has the lease renews it by calling AcquireLease again
// before it expires (say every ttl/3), and stops its job when renewal returns
// false or fails.
//
// Expiry is judged by the calling node's clock: keep hub nodes' clocks in
// sync (NTP) and the ttl well above any skew.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("store: acquire lease %q for %q: name, holder and a positive ttl are required", name, holder)
	}
	now := s.now()
	res, err := s.execWrite(ctx, s.rebind(`INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET
    acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END,
    holder = excluded.holder,
    expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`),
		name, holder, s.tv(now), s.tv(now.Add(ttl)), s.tv(now))
	if err != nil {
		return false, fmt.Errorf("store: acquire lease %s for %s: %w", name, holder, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: acquire lease %s for %s: rows affected: %w", name, holder, err)
	}
	return n > 0, nil
}

// ReleaseLease gives up the lease name if holder has it, so another node can
// take it at once. Releasing a lease one does not hold is not an error.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.execWrite(ctx, s.rebind("DELETE FROM leases WHERE name = ? AND holder = ?"), name, holder)
	if err != nil {
		return fmt.Errorf("store: release lease %s for %s: %w", name, holder, err)
	}
	return nil
}

// Lease is the current state of a lease.
type Lease struct {
	Name       string
	Holder     string
	AcquiredAt time.Time
	ExpiresAt  time.Time
}

// ListLeases returns all leases, expired ones included, by name; for the console.
func (s *Store) ListLeases(ctx context.Context) ([]Lease, error) {
	rows, err := s.db.QueryxContext(ctx, "SELECT name, holder, acquired_at, expires_at FROM leases ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("store: list leases: %w", err)
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var l Lease
		if err := rows.Scan(&l.Name, &l.Holder, timeCol{&l.AcquiredAt}, timeCol{&l.ExpiresAt}); err != nil {
			return nil, fmt.Errorf("store: list leases: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list leases: %w", err)
	}
	return out, nil
}
