package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/reconcile"
	"github.com/crmhub/hub/reconcile/sqlsum"
)

// streamJob compares the bench's orders as a nightly job would: amounts
// within 0.01, the other fields exactly.
func streamJob() reconcile.Job {
	return reconcile.Job{Name: "bench-orders", Entity: "order", Left: "left", Right: "right", Key: "number",
		Amount: "total", Currency: "currency",
		Fields: []reconcile.Field{
			{Name: "customer_id"}, {Name: "number"}, {Name: "order_date"}, {Name: "currency"},
			{Name: "total", Rule: reconcile.Rule{Kind: reconcile.RuleTolerance, Tolerance: decimal.RequireFromString("0.01")}},
			{Name: "status"}, {Name: "updated_at"},
		}}
}

// sqlStream is a reconcile.Stream over one SELECT of the orders table,
// read row by row as PostgreSQL sends them: every order is known to the
// crosswalk (its hub id is its key), as after a sync.
type sqlStream struct {
	conn *pgx.Conn
	rows pgx.Rows
}

// openSQLStream reads every order, or with keys only those.
func openSQLStream(ctx context.Context, dsn string, keys []int64) (*sqlStream, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("bench: connect: %w", err)
	}
	q, args := `SELECT id, customer_id, order_no, order_date::text, currency, total::text, status,
	to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM orders`, []any{}
	if keys != nil {
		q, args = q+" WHERE id = ANY($1)", append(args, keys)
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("bench: scan orders: %w", err)
	}
	return &sqlStream{conn: conn, rows: rows}, nil
}

func (s *sqlStream) Next(ctx context.Context) (reconcile.Row, bool, error) {
	if !s.rows.Next() {
		return reconcile.Row{}, false, s.rows.Err()
	}
	var id, customer int64
	var number, day, currency, total, status, updated string
	if err := s.rows.Scan(&id, &customer, &number, &day, &currency, &total, &status, &updated); err != nil {
		return reconcile.Row{}, false, fmt.Errorf("bench: read order: %w", err)
	}
	key := strconv.FormatInt(id, 10)
	return reconcile.Row{Key: key, ID: key, HubID: key, Doc: mapping.ObjectValue(
		mapping.Member{Key: "customer_id", Value: mapping.IntValue(customer)},
		mapping.Member{Key: "number", Value: mapping.StringValue(number)},
		mapping.Member{Key: "order_date", Value: mapping.StringValue(day)},
		mapping.Member{Key: "currency", Value: mapping.StringValue(currency)},
		mapping.Member{Key: "total", Value: mapping.NumberValue(total)},
		mapping.Member{Key: "status", Value: mapping.StringValue(status)},
		mapping.Member{Key: "updated_at", Value: mapping.StringValue(updated)},
	)}, true, nil
}

func (s *sqlStream) close(ctx context.Context) {
	s.rows.Close()
	_ = s.conn.Close(context.WithoutCancel(ctx))
}

// runStream compares both tables through the reconciliation engine.
func runStream(ctx context.Context, dsns [2]string, orders int, want map[int64]sqlsum.Class, p *Phase, showBar bool, progress io.Writer) error {
	bar := newBar(2*orders, "streaming merge: rows read", showBar, progress)
	got, tot, err := compareStreams(ctx, dsns, nil, func(pr reconcile.Progress) { _ = bar.Set64(pr.Left + pr.Right) })
	_ = bar.Finish()
	if err != nil {
		return err
	}
	p.Found, p.Wrong = len(got), wrong(got, want)
	p.Note = fmt.Sprintf("%d and %d rows read, %d matched", tot.ScannedLeft, tot.ScannedRight, tot.Matched)
	return nil
}

// compareStreams runs the engine over both tables (only keys, when not
// nil) and returns the differences by key, in sqlsum's classes.
func compareStreams(ctx context.Context, dsns [2]string, keys []int64, progress func(reconcile.Progress)) (map[int64]sqlsum.Class, reconcile.Totals, error) {
	var streams [2]*sqlStream
	for i, d := range dsns {
		st, err := openSQLStream(ctx, d, keys)
		if err != nil {
			return nil, reconcile.Totals{}, err
		}
		defer st.close(ctx)
		streams[i] = st
	}
	var mu sync.Mutex
	got := map[int64]sqlsum.Class{}
	e := reconcile.Engine{Progress: progress}
	tot, err := e.Compare(ctx, streamJob(), streams[0], streams[1], reconcile.DiffFunc(func(_ context.Context, d reconcile.Diff) error {
		k, err := strconv.ParseInt(d.Key, 10, 64)
		if err != nil {
			return fmt.Errorf("bench: difference with key %q", d.Key)
		}
		c := map[reconcile.Class]sqlsum.Class{reconcile.MissingRight: sqlsum.OnlyLeft, reconcile.MissingLeft: sqlsum.OnlyRight,
			reconcile.FieldMismatch: sqlsum.Changed}[d.Class] // duplicate, unmatched: 0, never seeded
		mu.Lock()
		defer mu.Unlock()
		got[k] = c
		return nil
	}))
	return got, tot, err
}
