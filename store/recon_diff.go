package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// ReconDiff is one difference a reconciliation run reported.
type ReconDiff struct {
	ID    int64  `json:"id"`
	RunID int64  `json:"run_id"`
	Job   string `json:"job"`
	Class string `json:"class"`
	// Ident names the difference across runs (class and record): a
	// difference of the same ident in the job's previous run makes this
	// one older.
	Ident   string `json:"-"`
	Key     string `json:"key"`
	HubID   string `json:"hub_id,omitempty"`
	LeftID  string `json:"left_id,omitempty"`
	RightID string `json:"right_id,omitempty"`
	Side    string `json:"side,omitempty"`
	// Age is how many consecutive runs of the job have reported it (1:
	// new in this run).
	Age int `json:"age"`
	// Detail is JSON: the differing fields with both values, the ids
	// sharing a key.
	Detail json.RawMessage `json:"detail"`
	// Repair says what the run did about it ("" : nothing).
	Repair string `json:"repair,omitempty"`
}

// PreviousReconRun returns the id of the job's last finished run (status
// ok or diffs) before run, or 0.
func (s *Store) PreviousReconRun(ctx context.Context, job string, before int64) (int64, error) {
	var id sql.NullInt64
	err := s.db.QueryRowxContext(ctx, s.rebind(
		"SELECT MAX(id) FROM recon_runs WHERE job = ? AND id < ? AND status IN (?, ?)"),
		job, before, ReconOK, ReconDiffs).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: previous run of %s: %w", job, err)
	}
	return id.Int64, nil
}

// AddReconDiffs stores differences of run, each aged one more than the
// same difference in the run prev (0: none before), and sets their Age.
func (s *Store) AddReconDiffs(ctx context.Context, run, prev int64, diffs []ReconDiff) error {
	if len(diffs) == 0 {
		return nil
	}
	ages := map[string]int{}
	if prev > 0 {
		idents := make([]string, len(diffs))
		for i, d := range diffs {
			idents[i] = d.Ident
		}
		for _, chunk := range chunks(dedupe(idents), maxParams-1) {
			q, args := inQuery("SELECT ident, age FROM recon_diffs WHERE run_id = ? AND ident IN (%s)", chunk, prev)
			if err := s.scanAges(ctx, q, args, ages); err != nil {
				return err
			}
		}
	}
	tx, end, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("store: add differences of run %d: %w", run, err)
	}
	defer end()
	stmt, err := tx.PreparexContext(ctx, s.rebind(`INSERT INTO recon_diffs
		(run_id, job, class, ident, record_key, hub_id, left_id, right_id, side, age, detail, repair)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return fmt.Errorf("store: add differences of run %d: %w", run, err)
	}
	defer stmt.Close()
	for i := range diffs {
		d := &diffs[i]
		d.RunID, d.Age = run, ages[d.Ident]+1
		detail := d.Detail
		if len(detail) == 0 {
			detail = json.RawMessage("{}")
		}
		if _, err := stmt.ExecContext(ctx, run, d.Job, d.Class, d.Ident, d.Key, d.HubID, d.LeftID, d.RightID,
			d.Side, d.Age, string(detail), d.Repair); err != nil {
			return fmt.Errorf("store: add differences of run %d: %w", run, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: add differences of run %d: %w", run, err)
	}
	return nil
}

func (s *Store) scanAges(ctx context.Context, q string, args []any, ages map[string]int) error {
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return fmt.Errorf("store: ages of differences: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ident string
		var age int
		if err := rows.Scan(&ident, &age); err != nil {
			return fmt.Errorf("store: ages of differences: %w", err)
		}
		ages[ident] = age
	}
	return rows.Err()
}

// ReconDiffFilter selects differences of a run.
type ReconDiffFilter struct {
	Class  string // "" : every class
	Limit  int    // default 100
	Offset int
}

// ListReconDiffs returns a page of a run's differences in the order they
// were found, and how many the filter matches in all.
func (s *Store) ListReconDiffs(ctx context.Context, run int64, f ReconDiffFilter) ([]ReconDiff, int, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	where, args := "run_id = ?", []any{run}
	if f.Class != "" {
		where += " AND class = ?"
		args = append(args, f.Class)
	}
	var total int
	if err := s.db.QueryRowxContext(ctx, s.rebind("SELECT COUNT(*) FROM recon_diffs WHERE "+where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count differences of run %d: %w", run, err)
	}
	rows, err := s.db.QueryxContext(ctx, s.rebind(`SELECT id, run_id, job, class, ident, record_key, hub_id, left_id,
		right_id, side, age, detail, repair FROM recon_diffs WHERE `+where+" ORDER BY id LIMIT ? OFFSET ?"),
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list differences of run %d: %w", run, err)
	}
	defer rows.Close()
	var out []ReconDiff
	for rows.Next() {
		var d ReconDiff
		var detail string
		if err := rows.Scan(&d.ID, &d.RunID, &d.Job, &d.Class, &d.Ident, &d.Key, &d.HubID, &d.LeftID,
			&d.RightID, &d.Side, &d.Age, &detail, &d.Repair); err != nil {
			return nil, 0, fmt.Errorf("store: list differences of run %d: %w", run, err)
		}
		d.Detail = json.RawMessage(detail)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list differences of run %d: %w", run, err)
	}
	return out, total, nil
}

// LastReconRun returns the job's newest run, or ErrNotFound.
func (s *Store) LastReconRun(ctx context.Context, job string) (ReconRun, error) {
	runs, err := s.ListReconRuns(ctx, job, 1)
	if err != nil {
		return ReconRun{}, err
	}
	if len(runs) == 0 {
		return ReconRun{}, fmt.Errorf("%w: a run of %s", ErrNotFound, job)
	}
	return runs[0], nil
}

// ReconDiffCount is how many of a run's differences are of a class and an
// age.
type ReconDiffCount struct {
	Class string
	Age   int
	Count int
}

// CountReconDiffs counts a run's differences by class and age, ordered by
// class and age.
func (s *Store) CountReconDiffs(ctx context.Context, run int64) ([]ReconDiffCount, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(
		"SELECT class, age, COUNT(*) FROM recon_diffs WHERE run_id = ? GROUP BY class, age ORDER BY class, age"), run)
	if err != nil {
		return nil, fmt.Errorf("store: count differences of run %d by age: %w", run, err)
	}
	defer rows.Close()
	var out []ReconDiffCount
	for rows.Next() {
		var c ReconDiffCount
		if err := rows.Scan(&c.Class, &c.Age, &c.Count); err != nil {
			return nil, fmt.Errorf("store: count differences of run %d by age: %w", run, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count differences of run %d by age: %w", run, err)
	}
	return out, nil
}
