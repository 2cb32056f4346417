package rest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// sleeps records the client's waits (backoff, Retry-After) instead of
// sleeping, so tests are fast and can check what was waited for.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// start builds and starts a connector on cfg; the client's sleeps are
// recorded.
func start(t *testing.T, cfg Config, opts erp.Options) (*Conn, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	if opts.Sleep == nil {
		opts.Sleep = sl.sleep
	}
	c, err := New("erp", cfg, opts)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, sl
}

func obj(kv ...any) mapping.Value {
	ms := make([]mapping.Member, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		v, ok := mapping.FromAny(kv[i+1])
		if !ok {
			panic(fmt.Sprintf("obj: %T", kv[i+1]))
		}
		ms = append(ms, mapping.Member{Key: kv[i].(string), Value: v})
	}
	return mapping.ObjectValue(ms...)
}

func mustWrite(t *testing.T, c *Conn, entity string, recs []connectors.WriteRecord) []connectors.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Write(ctx, entity, recs)
	if err != nil {
		t.Fatalf("write %s: %v", entity, err)
	}
	if len(res) != len(recs) {
		t.Fatalf("write %s: %d results for %d records", entity, len(res), len(recs))
	}
	return res
}

// okIDs fails the test unless every result succeeded, and returns the ids.
func okIDs(t *testing.T, res []connectors.Result) []string {
	t.Helper()
	ids := make([]string, len(res))
	for i, r := range res {
		if r.Err != nil || r.ExternalID == "" {
			t.Fatalf("result %d: id %q, err %v", i, r.ExternalID, r.Err)
		}
		ids[i] = r.ExternalID
	}
	return ids
}

func kindOf(err error) connectors.ErrorKind { k, _ := connectors.Classify(err); return k }

// wantPermanent fails unless err is permanent and mentions every part.
func wantPermanent(t *testing.T, err error, parts ...string) {
	t.Helper()
	wantKind(t, err, connectors.KindPermanent, parts...)
}

// wantKind fails unless err is of kind and mentions every part.
func wantKind(t *testing.T, err error, kind connectors.ErrorKind, parts ...string) {
	t.Helper()
	if err == nil || kindOf(err) != kind {
		t.Fatalf("err = %v (kind %v), want a %v error", err, kindOf(err), kind)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("err = %v\nwant it to contain %q", err, p)
		}
	}
}

// readAll reads entity from cur in batches of max until a read comes back
// empty, and returns the keys in order and the last cursor.
func readAll(t *testing.T, c *Conn, entity, cur string, max int) ([]connectors.Record, string) {
	t.Helper()
	var out []connectors.Record
	for i := 0; i < 1000; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		b, err := c.Read(ctx, entity, cur, max)
		cancel()
		if err != nil {
			t.Fatalf("read %s: %v", entity, err)
		}
		if len(b.Records) > max {
			t.Fatalf("read %s: %d records, asked for at most %d", entity, len(b.Records), max)
		}
		if b.Cursor == "" {
			t.Fatalf("read %s: empty cursor", entity)
		}
		cur = b.Cursor
		if len(b.Records) == 0 {
			return out, cur
		}
		out = append(out, b.Records...)
	}
	t.Fatal("read does not end")
	return nil, ""
}

func keys(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key
	}
	return out
}

// scanAll scans entity page by page, max records a page, until the scan
// ends.
func scanAll(c *Conn, entity string, max int) ([]connectors.Record, error) {
	var out []connectors.Record
	pos := ""
	for range 10000 {
		p, err := c.Scan(context.Background(), entity, pos, max)
		if err != nil {
			return out, err
		}
		out = append(out, p.Records...)
		if p.Next == "" {
			return out, nil
		}
		pos = p.Next
	}
	return out, fmt.Errorf("the scan of %s does not end", entity)
}
