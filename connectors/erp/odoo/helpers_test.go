package odoo

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/erp/odoo/internal/odoofake"
	"github.com/crmhub/hub/mapping"
)

const (
	testPassword = "s3cret-Passw0rd"
	testAPIKey   = "6578616d706c65206a736f6e20617069206b6579"
)

var protocols = []string{ProtocolJSONRPC, ProtocolJSON2}

// clock is a settable clock shared by the fake Odoo and the connector.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sleeps records the waits the erp client made instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
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

type env struct {
	fake  *odoofake.Server
	conn  *Conn
	clock *clock
	slept *sleeps
	log   *bytes.Buffer
}

type setup struct {
	fake func(*odoofake.Options)
	cfg  func(*Config)
	// debugLog captures the debug log
	debugLog bool
}

// newEnv starts a fake Odoo and a connector for it over proto.
func newEnv(t *testing.T, proto string, s setup) *env {
	t.Helper()
	clk := newClock()
	fo := odoofake.Options{DB: "odoo", Login: "hub", Password: testPassword, APIKey: testAPIKey, Now: clk.Now}
	if s.fake != nil {
		s.fake(&fo)
	}
	fake := odoofake.Start(fo)
	t.Cleanup(fake.Close)
	retries := 3
	cfg := Config{HTTPConfig: erp.HTTPConfig{URL: fake.URL, Timeout: 5 * time.Second, Retries: &retries,
		RetryWait: time.Millisecond, RetryMaxWait: 5 * time.Second}, Protocol: proto, Database: "odoo"}
	if proto == ProtocolJSON2 {
		cfg.APIKey = testAPIKey
	} else {
		cfg.Login, cfg.Password = "hub", testPassword
	}
	if s.cfg != nil {
		s.cfg(&cfg)
	}
	e := &env{fake: fake, clock: clk, slept: &sleeps{}, log: &bytes.Buffer{}}
	opts := erp.Options{Now: clk.Now, Sleep: e.slept.Sleep}
	if s.debugLog {
		opts.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: e.log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		opts.Logger = slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	}
	c, err := New("odoo-test", cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	e.conn = c
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func obj(kv ...any) mapping.Value {
	ms := make([]mapping.Member, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		v, ok := mapping.FromAny(kv[i+1])
		if !ok {
			panic(fmt.Sprintf("obj: %T", kv[i+1]))
		}
		ms = append(ms, mapping.Member{Key: kv[i].(string), Value: v})
	}
	return mapping.ObjectValue(ms...)
}

func customer(i int) connectors.WriteRecord {
	return connectors.WriteRecord{Entity: EntityCustomer, HubID: fmt.Sprintf("hub-c-%02d", i), Op: connectors.OpUpsert,
		Data: obj("ref", fmt.Sprintf("C%04d", i), "name", fmt.Sprintf("Customer %d", i),
			"email", fmt.Sprintf("c%d@example.com", i), "phone", fmt.Sprintf("+493090182%02d", i),
			"street", fmt.Sprintf("Friedrichstrasse %d", i), "zip", "10969", "city", "Berlin", "country", "DE")}
}

type line struct{ sku, qty, price string }

func order(i int, partner string, lines ...line) connectors.WriteRecord {
	ls := make([]any, len(lines))
	for n, l := range lines {
		ls[n] = map[string]any{"product": l.sku, "product_uom_qty": l.qty, "price_unit": l.price}
	}
	return connectors.WriteRecord{Entity: EntityOrder, HubID: fmt.Sprintf("hub-o-%02d", i), Op: connectors.OpUpsert,
		Refs: map[string]string{"customer": partner},
		Data: obj("client_order_ref", fmt.Sprintf("shop:%04d", i), "partner_id", partner, "date_order", "2026-03-01",
			"origin", fmt.Sprintf("Order %d", 1000+i), "lines", ls)}
}

func orderLines(i int) []line {
	n := 2 + i%2
	out := make([]line, n)
	for k := range n {
		out[k] = line{sku: fmt.Sprintf("SKU-%d", 1+(i+k)%5), qty: fmt.Sprint(1 + (i+k)%4), price: fmt.Sprintf("%d.%02d", 5+i%7, (i*13)%100)}
	}
	return out
}

func mustWrite(t *testing.T, c *Conn, entity string, recs []connectors.WriteRecord) []connectors.Result {
	t.Helper()
	res, err := c.Write(context.Background(), entity, recs)
	if err != nil {
		t.Fatalf("write %s: %v", entity, err)
	}
	if len(res) != len(recs) {
		t.Fatalf("write %s: %d results for %d records", entity, len(res), len(recs))
	}
	return res
}

// withRef returns the fake's records of model whose field is set.
func withField(recs []odoofake.Record, f string) []odoofake.Record {
	var out []odoofake.Record
	for _, r := range recs {
		if r.Str(f) != "" {
			out = append(out, r)
		}
	}
	return out
}

func byStr(recs []odoofake.Record, f string) map[string]odoofake.Record {
	out := map[string]odoofake.Record{}
	for _, r := range recs {
		out[r.Str(f)] = r
	}
	return out
}

// linesOfOrder returns the fake's lines of sale order id, in order.
func linesOfOrder(f *odoofake.Server, id int64) []odoofake.Record {
	var out []odoofake.Record
	for _, l := range f.Records("sale.order.line") {
		if l.Int("order_id") == id {
			out = append(out, l)
		}
	}
	return out
}

func kindOf(err error) connectors.ErrorKind {
	k, _ := connectors.Classify(err)
	return k
}

// scanAll scans entity page by page, max records a page, from position
// (none: the start).
func scanAll(t *testing.T, c *Conn, entity string, max int, position ...string) []connectors.Record {
	t.Helper()
	var out []connectors.Record
	pos := ""
	if len(position) > 0 {
		pos = position[0]
	}
	for range 1000 {
		p, err := c.Scan(context.Background(), entity, pos, max)
		if err != nil {
			t.Fatalf("scan %s from %q: %v", entity, pos, err)
		}
		out = append(out, p.Records...)
		if p.Next == "" {
			return out
		}
		pos = p.Next
	}
	t.Fatal("the scan does not end")
	return nil
}
