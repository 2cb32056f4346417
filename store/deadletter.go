package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Dead-letter kinds (DeadLetter.Kind). Others may be used.
const (
	KindPermanent        = "permanent"         // mapping/validation failure, 4xx: retrying cannot help
	KindRetriesExhausted = "retries_exhausted" // transient errors until the retry budget ran out
	KindConflict         = "conflict"          // the target refused the write as conflicting
)

// Dead-letter statuses (DeadLetter.Status).
const (
	StatusOpen      = "open"      // waiting for a fix and a replay
	StatusReplayed  = "replayed"  // re-injected into the pipeline
	StatusDiscarded = "discarded" // an operator decided to drop it
	// StatusSuperseded: the record has since been delivered in a newer
	// version or deleted in its system; replaying it would bring back an
	// older state.
	StatusSuperseded = "superseded"
)

// DeadLetter is a record that could not be processed, with what is needed to
// understand and replay it.
type DeadLetter struct {
	ID          int64
	Connector   string // the source or sink that failed
	Entity      string
	RecordKey   string // the record's key in its system (or the hub id), used to fold repeats
	HubID       string
	Stage       string // where it failed: "source", "map_in", "xref", "map_out", "write", ...
	Kind        string // KindPermanent, KindRetriesExhausted, KindConflict, ...
	Error       string
	Attempts    int // attempts made, summed over occurrences
	Occurrences int // how many times this record was dead-lettered while open
	FirstSeen   time.Time
	LastSeen    time.Time
	UpdatedAt   time.Time
	Payload     []byte // the record as it was at Stage (native record or envelope)
	Status      string // StatusOpen, StatusReplayed, StatusDiscarded
	Topic       string // Kafka position, when the record came from a topic;
	Partition   int    // Partition and Offset mean something only when
	Offset      int64  // Topic is set
	TraceID     string
	// Version is the record's change time in its system (RFC 3339) for
	// dead letters of native records; a replay publishes it with it.
	Version string
}

// AddDeadLetter stores a dead letter with status open and returns its id.
//
// When an open dead letter exists for the same connector, entity and non-empty
// RecordKey, that one is updated instead (latest error, stage, kind, payload
// and position; attempts added; occurrences counted) and its id is returned,
// so a record dead-lettered twice (say after a crash before the offset commit)
// shows up once. FirstSeen and LastSeen default to now.
func (s *Store) AddDeadLetter(ctx context.Context, dl DeadLetter) (int64, error) {
	if dl.Connector == "" {
		return 0, errors.New("store: add dead letter: connector is required")
	}
	if dl.Kind == "" {
		dl.Kind = KindPermanent
	}
	now := s.now()
	if dl.LastSeen.IsZero() {
		dl.LastSeen = now
	}
	if dl.FirstSeen.IsZero() {
		dl.FirstSeen = dl.LastSeen
	}
	var partition, offset any
	if dl.Topic != "" {
		partition, offset = dl.Partition, dl.Offset
	}
	var id int64
	err := s.insertReturning(ctx, s.rebind(`INSERT INTO dead_letters
    (connector, entity, record_key, hub_id, stage, kind, error, attempts, occurrences,
     first_seen, last_seen, updated_at, payload, status, topic, kafka_partition, kafka_offset, trace_id, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)
ON CONFLICT (connector, entity, record_key) WHERE status = 'open' AND record_key <> ''
DO UPDATE SET
    hub_id = CASE WHEN excluded.hub_id <> '' THEN excluded.hub_id ELSE dead_letters.hub_id END,
    stage = excluded.stage, kind = excluded.kind, error = excluded.error,
    attempts = dead_letters.attempts + excluded.attempts,
    occurrences = dead_letters.occurrences + 1,
    last_seen = excluded.last_seen, updated_at = excluded.updated_at,
    payload = excluded.payload, topic = excluded.topic,
    kafka_partition = excluded.kafka_partition, kafka_offset = excluded.kafka_offset,
    trace_id = excluded.trace_id, version = excluded.version
RETURNING id`), []any{
		dl.Connector, dl.Entity, dl.RecordKey, dl.HubID, dl.Stage, dl.Kind, dl.Error, dl.Attempts,
		s.tv(dl.FirstSeen), s.tv(dl.LastSeen), s.tv(now), dl.Payload, dl.Topic, partition, offset, dl.TraceID, dl.Version,
	}, &id)
	if err != nil {
		return 0, fmt.Errorf("store: add dead letter for %s %s %q: %w", dl.Connector, dl.Entity, dl.RecordKey, err)
	}
	return id, nil
}

// DeadLetterFilter selects dead letters; empty fields match everything.
type DeadLetterFilter struct {
	Status    string
	Connector string
	Entity    string
	RecordKey string
	Stage     string
	// ErrorContains matches dead letters whose error holds this text
	// (case-insensitive).
	ErrorContains string
	// Before matches dead letters first seen before this instant (older
	// than an age).
	Before  time.Time
	Limit   int  // default 100
	Offset  int  // rows to skip, for paging
	Payload bool // also load payloads (left nil otherwise)
}

const deadLetterCols = `id, connector, entity, record_key, hub_id, stage, kind, error, attempts, occurrences,
    first_seen, last_seen, updated_at, status, topic, kafka_partition, kafka_offset, trace_id, version`

func (f DeadLetterFilter) where(tv func(time.Time) any) (string, []any) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, val string }{
		{"status", f.Status}, {"connector", f.Connector}, {"entity", f.Entity}, {"record_key", f.RecordKey},
	} {
		if c.val != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	for _, c := range []struct{ col, val string }{{"stage", f.Stage}} {
		if c.val != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	if f.ErrorContains != "" {
		conds = append(conds, "LOWER(error) LIKE ? ESCAPE '\\'")
		args = append(args, "%"+likeEscape(strings.ToLower(f.ErrorContains))+"%")
	}
	if !f.Before.IsZero() {
		conds = append(conds, "first_seen < ?")
		args = append(args, tv(f.Before))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// likeEscape escapes LIKE's wildcards in s.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

// ListDeadLetters returns the dead letters matching f, oldest first.
func (s *Store) ListDeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	cols := deadLetterCols
	if f.Payload {
		cols += ", payload"
	}
	where, args := f.where(s.tv)
	args = append(args, limit, max(f.Offset, 0))
	rows, err := s.db.QueryxContext(ctx, s.rebind("SELECT "+cols+" FROM dead_letters"+where+" ORDER BY id LIMIT ? OFFSET ?"), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		dl, err := scanDeadLetter(rows, f.Payload)
		if err != nil {
			return nil, fmt.Errorf("store: list dead letters: %w", err)
		}
		out = append(out, dl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list dead letters: %w", err)
	}
	return out, nil
}

// CountDeadLetters counts the dead letters matching f (Limit and Offset ignored).
func (s *Store) CountDeadLetters(ctx context.Context, f DeadLetterFilter) (int, error) {
	where, args := f.where(s.tv)
	var n int
	if err := s.db.GetContext(ctx, &n, s.rebind("SELECT COUNT(*) FROM dead_letters"+where), args...); err != nil {
		return 0, fmt.Errorf("store: count dead letters: %w", err)
	}
	return n, nil
}

// GetDeadLetter returns one dead letter with its payload, or ErrNotFound.
func (s *Store) GetDeadLetter(ctx context.Context, id int64) (DeadLetter, error) {
	row := s.db.QueryRowxContext(ctx, s.rebind("SELECT "+deadLetterCols+", payload FROM dead_letters WHERE id = ?"), id)
	dl, err := scanDeadLetter(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return DeadLetter{}, fmt.Errorf("%w: dead letter %d", ErrNotFound, id)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("store: get dead letter %d: %w", id, err)
	}
	return dl, nil
}

// MarkDeadLetter sets the status of a dead letter (StatusOpen,
// StatusReplayed, StatusDiscarded or StatusSuperseded). It returns ErrNotFound for an unknown id, and
// ErrConflict when reopening it would make a second open dead letter for the
// same record.
func (s *Store) MarkDeadLetter(ctx context.Context, id int64, status string) error {
	switch status {
	case StatusOpen, StatusReplayed, StatusDiscarded, StatusSuperseded:
	default:
		return fmt.Errorf("store: mark dead letter %d: unknown status %q (want open, replayed, discarded or superseded)", id, status)
	}
	if status == StatusOpen {
		var n int
		err := s.db.GetContext(ctx, &n, s.rebind(`SELECT COUNT(*) FROM dead_letters o JOIN dead_letters d
    ON o.connector = d.connector AND o.entity = d.entity AND o.record_key = d.record_key
WHERE d.id = ? AND o.id <> d.id AND o.status = 'open' AND o.record_key <> ''`), id)
		if err != nil {
			return fmt.Errorf("store: mark dead letter %d %s: %w", id, status, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: mark dead letter %d open: the same record already has an open dead letter", ErrConflict, id)
		}
	}
	res, err := s.execWrite(ctx, s.rebind("UPDATE dead_letters SET status = ?, updated_at = ? WHERE id = ?"),
		status, s.tv(s.now()), id)
	return checkOne(res, err, "mark dead letter %d %s", id, status)
}

type scanner interface{ Scan(dest ...any) error }

func scanDeadLetter(r scanner, withPayload bool) (DeadLetter, error) {
	var dl DeadLetter
	var partition, offset sql.NullInt64
	dest := []any{&dl.ID, &dl.Connector, &dl.Entity, &dl.RecordKey, &dl.HubID, &dl.Stage, &dl.Kind, &dl.Error,
		&dl.Attempts, &dl.Occurrences, timeCol{&dl.FirstSeen}, timeCol{&dl.LastSeen}, timeCol{&dl.UpdatedAt},
		&dl.Status, &dl.Topic, &partition, &offset, &dl.TraceID, &dl.Version}
	if withPayload {
		dest = append(dest, &dl.Payload)
	}
	if err := r.Scan(dest...); err != nil {
		return DeadLetter{}, err
	}
	dl.Partition, dl.Offset = int(partition.Int64), offset.Int64
	return dl, nil
}

// SupersedeDeadLetters closes as superseded the open dead letters of
// connector and entity whose record key is one of keys (and, when stages is
// not empty, whose stage is one of them): their records have since been
// delivered in a newer version, or deleted. It returns the ids it closed.
func (s *Store) SupersedeDeadLetters(ctx context.Context, connector, entity string, keys, stages []string) ([]int64, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	// Mostly there is nothing to close: a read (an index probe) saves the
	// write statement and its lock on every published batch.
	var open int
	err := s.db.GetContext(ctx, &open, s.rebind("SELECT COUNT(*) FROM (SELECT 1 FROM dead_letters WHERE connector = ? AND status = 'open' LIMIT 1) o"), connector)
	if err != nil {
		return nil, fmt.Errorf("store: look for open dead letters of %s: %w", connector, err)
	}
	if open == 0 {
		return nil, nil
	}
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: supersede dead letters of %s %s: %w", connector, entity, err)
	}
	defer unlock()
	var ids []int64
	stageClause := ""
	if len(stages) > 0 {
		stageClause = " AND stage IN (" + strings.TrimSuffix(strings.Repeat("?,", len(stages)), ",") + ")"
	}
	for _, chunk := range chunks(dedupe(keys), maxParams-3-len(stages)) {
		head := []any{StatusSuperseded, s.tv(s.now()), connector, entity}
		for _, st := range stages {
			head = append(head, st)
		}
		q, args := inQuery("UPDATE dead_letters SET status = ?, updated_at = ? WHERE status = 'open' AND connector = ? AND entity = ?"+
			stageClause+" AND record_key IN (%s) RETURNING id", chunk, head...)
		var got []int64
		err := s.withWriter(ctx, func(c execQueryer) error {
			got = got[:0]
			return sqlx.SelectContext(ctx, c, &got, s.rebind(q), args...)
		})
		if err != nil {
			return ids, fmt.Errorf("store: supersede dead letters of %s %s: %w", connector, entity, err)
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// OpenCount is how many dead letters are open for one source or sink
// (Connector) and entity.
type OpenCount struct {
	Connector string `db:"connector"`
	Entity    string `db:"entity"`
	Open      int    `db:"n"`
}

// CountOpenDeadLetters counts the open dead letters per source or sink
// and entity, for the open-dead-letters gauge.
func (s *Store) CountOpenDeadLetters(ctx context.Context) ([]OpenCount, error) {
	var out []OpenCount
	err := s.db.SelectContext(ctx, &out, "SELECT connector, entity, COUNT(*) AS n FROM dead_letters WHERE status = 'open' GROUP BY connector, entity ORDER BY connector, entity")
	if err != nil {
		return nil, fmt.Errorf("store: count open dead letters: %w", err)
	}
	return out, nil
}

// CountDeadLettersByConnector counts every dead letter ever filed (any
// status) per source or sink: the console's dead letters per minute come
// from how these totals move.
func (s *Store) CountDeadLettersByConnector(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Connector string `db:"connector"`
		N         int64  `db:"n"`
	}
	if err := s.db.SelectContext(ctx, &rows, "SELECT connector, COUNT(*) AS n FROM dead_letters GROUP BY connector"); err != nil {
		return nil, fmt.Errorf("store: count dead letters by connector: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Connector] = r.N
	}
	return out, nil
}
