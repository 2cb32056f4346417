package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Reconciliation run statuses (ReconRun.Status). Others may be used.
const (
	ReconRunning = "running"
	ReconOK      = "ok"     // finished, the systems agree (or were repaired)
	ReconDiffs   = "diffs"  // finished, differences reported
	ReconFailed  = "failed" // did not finish
)

// ReconRun is one run of a reconciliation job.
type ReconRun struct {
	ID         int64
	Job        string
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
	Status     string
	Summary    json.RawMessage // small: counts per outcome
	Report     json.RawMessage // large: the diff record by record; nil in lists
}

// StartReconRun records that job started a run now and returns the run's id.
func (s *Store) StartReconRun(ctx context.Context, job string) (int64, error) {
	if job == "" {
		return 0, errors.New("store: start recon run: job is required")
	}
	var id int64
	err := s.insertReturning(ctx, s.rebind("INSERT INTO recon_runs (job, started_at, status) VALUES (?, ?, ?) RETURNING id"),
		[]any{job, s.tv(s.now()), ReconRunning}, &id)
	if err != nil {
		return 0, fmt.Errorf("store: start recon run of %s: %w", job, err)
	}
	return id, nil
}

// FinishReconRun records the end of a run with its status, summary and report
// (each a JSON document; nil stores {}).
func (s *Store) FinishReconRun(ctx context.Context, id int64, status string, summary, report json.RawMessage) error {
	docs := []*json.RawMessage{&summary, &report}
	for _, d := range docs {
		if len(*d) == 0 {
			*d = json.RawMessage("{}")
		} else if !json.Valid(*d) {
			return fmt.Errorf("store: finish recon run %d: summary and report must be valid JSON", id)
		}
	}
	res, err := s.execWrite(ctx,
		s.rebind("UPDATE recon_runs SET finished_at = ?, status = ?, summary = ?, report = ? WHERE id = ?"),
		s.tv(s.now()), status, string(summary), string(report), id)
	return checkOne(res, err, "finish recon run %d", id)
}

// GetReconRun returns one run with its report, or ErrNotFound.
func (s *Store) GetReconRun(ctx context.Context, id int64) (ReconRun, error) {
	var r ReconRun
	var summary, report string
	err := s.db.QueryRowxContext(ctx,
		s.rebind("SELECT id, job, started_at, finished_at, status, summary, report FROM recon_runs WHERE id = ?"), id).
		Scan(&r.ID, &r.Job, timeCol{&r.StartedAt}, timeCol{&r.FinishedAt}, &r.Status, &summary, &report)
	if errors.Is(err, sql.ErrNoRows) {
		return ReconRun{}, fmt.Errorf("%w: recon run %d", ErrNotFound, id)
	}
	if err != nil {
		return ReconRun{}, fmt.Errorf("store: get recon run %d: %w", id, err)
	}
	r.Summary, r.Report = json.RawMessage(summary), json.RawMessage(report)
	return r, nil
}

// ListReconRuns returns the newest runs first, of one job or of all jobs when
// job is empty, without their reports; limit defaults to 50.
func (s *Store) ListReconRuns(ctx context.Context, job string, limit int) ([]ReconRun, error) {
	if limit <= 0 {
		limit = 50
	}
	q := "SELECT id, job, started_at, finished_at, status, summary FROM recon_runs"
	var args []any
	if job != "" {
		q += " WHERE job = ?"
		args = append(args, job)
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryxContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list recon runs: %w", err)
	}
	defer rows.Close()
	var out []ReconRun
	for rows.Next() {
		var r ReconRun
		var summary string
		if err := rows.Scan(&r.ID, &r.Job, timeCol{&r.StartedAt}, timeCol{&r.FinishedAt}, &r.Status, &summary); err != nil {
			return nil, fmt.Errorf("store: list recon runs: %w", err)
		}
		r.Summary = json.RawMessage(summary)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list recon runs: %w", err)
	}
	return out, nil
}
