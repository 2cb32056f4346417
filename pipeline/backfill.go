package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/hub/connectors"
)

// Backfill pulls an entity's history through a source's intake, the way
// the source's own schedule reads changes (`hub backfill SOURCE --since
// DATE`): each batch is mapped, identified and published, and only then
// is the backfill's position stored (in the state store's cursors, under
// "backfill/<source>"), so a backfill that is killed goes on from its last
// durable batch when it is run again, and the records read twice are
// dropped as unchanged.
type Backfill struct {
	// Intake is the source's (NewerOnly, so a backfill never undoes a
	// newer webhook delivered meanwhile).
	Intake *Intake
	Conn   connectors.Reader
	// BatchSize is the most records per read.
	BatchSize int
	// Idle is how long one read may wait for records; an empty read from
	// a caught-up cursor ends the backfill.
	Idle time.Duration
	// Progress is told the records taken so far and the total expected
	// (-1 when unknown), after every durable batch.
	Progress func(done, total int64)
}

// BackfillState is a backfill's stored position.
type BackfillState struct {
	Since  time.Time `json:"since"`
	Cursor string    `json:"cursor"`
	Done   int64     `json:"done"`
	Total  int64     `json:"total"`
	Ended  bool      `json:"ended,omitempty"`
}

// ErrOtherBackfill is returned when an unfinished backfill of the source
// started from another date.
var ErrOtherBackfill = errors.New("an unfinished backfill of this source started from another date")

// PositionName is where the backfill of source keeps its position.
func PositionName(source string) string { return "backfill/" + source }

// Run backfills from since (the zero time: everything the connector has),
// resuming an unfinished backfill from the same date. restart forgets an
// unfinished one first. It returns the final state once the source is
// caught up, or ctx's error.
func (b *Backfill) Run(ctx context.Context, since time.Time, restart bool) (BackfillState, error) {
	st, err := b.begin(ctx, since, restart)
	if err != nil {
		return st, err
	}
	in := b.Intake
	wait := newBackoff(200*time.Millisecond, 30*time.Second)
	for {
		batch, err := b.read(ctx, st.Cursor)
		if err != nil {
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			kind, after := connectors.Classify(err)
			d := max(wait.NextBackOff(), after)
			in.Log.Warn("backfill read failed; retrying", "err", err, "kind", kind, "wait", d)
			if !sleep(ctx, d) {
				return st, ctx.Err()
			}
			continue
		}
		wait.Reset()
		if err := b.take(ctx, batch.Records); err != nil {
			return st, err
		}
		caught := len(batch.Records) == 0 && b.caughtUp(batch.Cursor)
		if batch.Cursor != "" {
			st.Cursor = batch.Cursor
		}
		st.Done += int64(len(batch.Records))
		st.Ended = caught
		if err := b.save(ctx, st); err != nil {
			return st, err
		}
		if err := b.Conn.Durable(ctx, in.Entity, st.Cursor); err != nil && ctx.Err() == nil {
			in.Log.Warn("tell the connector the batch is durable", "err", err)
		}
		if b.Progress != nil {
			b.Progress(st.Done, st.Total)
		}
		if caught {
			return st, nil
		}
	}
}

// begin loads or starts the backfill's position.
func (b *Backfill) begin(ctx context.Context, since time.Time, restart bool) (BackfillState, error) {
	in := b.Intake
	raw, ok, err := in.Store.GetCursor(ctx, PositionName(in.Name), in.Entity)
	if err != nil {
		return BackfillState{}, err
	}
	var st BackfillState
	if ok && !restart {
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			return st, fmt.Errorf("backfill position of %s: %w", in.Name, err)
		}
		if !st.Ended {
			if !st.Since.Equal(since) {
				return st, fmt.Errorf("%w (%s): resume it with --since %s, or start anew with --restart",
					ErrOtherBackfill, st.Since.Format(time.RFC3339), st.Since.Format(time.RFC3339))
			}
			in.Log.Info("backfill resumes", "since", since, "done", st.Done)
			return st, nil
		}
	}
	st = BackfillState{Since: since, Total: -1}
	if bf, ok := b.Conn.(connectors.Backfiller); ok {
		if st.Cursor, st.Total, err = bf.Backfill(ctx, in.Entity, since); err != nil {
			return st, fmt.Errorf("start the backfill of %s: %w", in.Name, err)
		}
	} else if !since.IsZero() {
		return st, fmt.Errorf("connector %s cannot start reading at a date: backfill %s without --since reads it from the beginning", in.System, in.Name)
	}
	return st, b.save(ctx, st)
}

// read reads a batch: a read that finds nothing for Idle ends empty
// (connectors.WithIdle), while one still fetching a slow page goes on; the
// deadline only bounds connectors that wait without Poll.
func (b *Backfill) read(ctx context.Context, cursor string) (connectors.Batch, error) {
	rctx, cancel := context.WithTimeout(connectors.WithIdle(ctx, b.Idle), max(10*b.Idle, time.Minute))
	defer cancel()
	return b.Conn.Read(rctx, b.Intake.Entity, cursor, b.BatchSize)
}

func (b *Backfill) caughtUp(cursor string) bool {
	if bf, ok := b.Conn.(connectors.Backfiller); ok {
		return bf.CaughtUp(b.Intake.Entity, cursor)
	}
	return true
}

// take prepares and publishes a batch; it returns once it is durable.
func (b *Backfill) take(ctx context.Context, recs []connectors.Record) error {
	if len(recs) == 0 {
		return nil
	}
	parts, err := b.Intake.prepareAll(ctx, recs, nil, 0)
	if err != nil {
		return err
	}
	return b.Intake.publish(ctx, parts)
}

func (b *Backfill) save(ctx context.Context, st BackfillState) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	in := b.Intake
	return retryForever(ctx, in.Log, "store the backfill position", func() error {
		return in.Store.SetCursor(ctx, PositionName(in.Name), in.Entity, string(raw))
	})
}
