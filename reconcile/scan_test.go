package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

// flakyScanner serves pages of two orders, failing the first calls at
// each position with the errors in fail.
type flakyScanner struct {
	n     int // orders in all
	fail  []error
	calls int
}

func (f *flakyScanner) Scans() []string { return []string{"order"} }

func (f *flakyScanner) Scan(_ context.Context, _, position string, _ int) (connectors.Page, error) {
	f.calls++
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return connectors.Page{}, err
	}
	var start int
	fmt.Sscan(position, &start)
	var p connectors.Page
	for i := start; i < start+2 && i < f.n; i++ {
		d, _ := mapping.ParseJSON([]byte(fmt.Sprintf(`{"id": %d, "no": "SO-%d", "total": "1.00"}`, i, i)))
		p.Records = append(p.Records, connectors.Record{Entity: "order", Key: fmt.Sprint(i), Op: connectors.OpUpsert, Data: d})
	}
	if start+2 < f.n {
		p.Next = fmt.Sprint(start + 2)
	}
	return p, nil
}

func scanPlan(t *testing.T) *mapping.Plan {
	t.Helper()
	p, err := mapping.Compile("order-in.yaml", []byte(`name: order-in
entity: order
direction: in
fields:
  external_id: {from: id, type: string}
  order_no: no
  total: {from: total, type: decimal}
`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readAll(ctx context.Context, s *Scan) ([]string, error) {
	var keys []string
	for {
		row, ok, err := s.Next(ctx)
		if err != nil || !ok {
			return keys, err
		}
		keys = append(keys, row.Key)
	}
}

// TestScanRetriesRetryable reads a page again after a retryable failure
// (a system's rate limit, whoever used it up) instead of failing the run,
// and fails at once on a permanent one or once the retries are spent.
func TestScanRetriesRetryable(t *testing.T) {
	limited := connectors.Retryable(errors.New("errorCode 20025: rate limit"), 0)
	for _, tc := range []struct {
		name    string
		fail    []error
		retries int
		keys    string // "" when the scan must fail
		calls   int
		errText string
	}{
		{"a rate limit on the first and second page", []error{limited, limited}, 0, "SO-0 SO-1 SO-2 SO-3 SO-4", 5, ""},
		{"an unclassified failure", []error{errors.New("connection reset")}, 0, "SO-0 SO-1 SO-2 SO-3 SO-4", 4, ""},
		{"a permanent failure", []error{connectors.Permanent(errors.New("invalid position"))}, 0, "", 1, "invalid position"},
		{"retries spent", []error{limited, limited, limited}, 2, "", 3, "after 3 attempts: errorCode 20025"},
		{"no retries", []error{limited}, -1, "", 1, "errorCode 20025"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flakyScanner{n: 5, fail: tc.fail}
			s := &Scan{Scanner: f, Entity: "order", System: "crm", Plan: scanPlan(t), KeyField: "order_no", PageSize: 2,
				Retries: tc.retries, RetryWait: time.Millisecond}
			keys, err := readAll(context.Background(), s)
			if got := strings.Join(keys, " "); tc.keys != "" && (err != nil || got != tc.keys) {
				t.Errorf("read %q, %v; want %q", got, err, tc.keys)
			}
			if tc.keys == "" && (err == nil || !strings.Contains(err.Error(), tc.errText) || !strings.Contains(err.Error(), `scan order of crm at ""`)) {
				t.Errorf("err %v, want one naming the scan and %q", err, tc.errText)
			}
			if f.calls != tc.calls {
				t.Errorf("%d Scan calls, want %d", f.calls, tc.calls)
			}
		})
	}
}

// TestScanRetryStopsWithContext: a run cancelled while it waits to read
// again ends at once.
func TestScanRetryStopsWithContext(t *testing.T) {
	f := &flakyScanner{n: 3, fail: []error{connectors.Retryable(errors.New("429"), time.Hour)}}
	s := &Scan{Scanner: f, Entity: "order", System: "crm", Plan: scanPlan(t), PageSize: 2}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := readAll(ctx, s); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "429") {
		t.Fatalf("err %v, want context.Canceled naming the failure", err)
	}
}
