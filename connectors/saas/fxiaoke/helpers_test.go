package fxiaoke

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/saas"
	"github.com/crmhub/hub/internal/fxiaoketest"
	"github.com/crmhub/hub/mapping"
)

const (
	testApp       = "FSAID_1318a2b"
	testSecret    = "app-secret-0123456789abcdef"
	testPermanent = "PERMANENT-CODE-0123456789"
	testUser      = "FSUID_0A1B2C3D"
)

// newFake starts a stand-in Fxiaoke with products SKU-1..SKU-5.
func newFake(t *testing.T, opts fxiaoketest.Options) (*fxiaoketest.Server, map[string]string) {
	t.Helper()
	opts.AppID, opts.AppSecret, opts.PermanentCode, opts.OpenUserID = testApp, testSecret, testPermanent, testUser
	fake := fxiaoketest.New(opts)
	t.Cleanup(fake.Close)
	skus := map[string]string{}
	for i := 1; i <= 5; i++ {
		code := fmt.Sprintf("SKU-%d", i)
		skus[code] = fake.Put("ProductObj", map[string]any{"name": "产品 " + code, "product_code": code, "price": fmt.Sprintf("%d.00", 10*i)})
	}
	return fake, skus
}

func transport(retries int) saas.Transport {
	return saas.Transport{Timeout: 5 * time.Second, Retries: &retries, RetryWait: 5 * time.Millisecond, RetryMaxWait: 50 * time.Millisecond}
}

// testConfig is a connector config for fake: accounts, sales orders with
// their lines, invoice requests found by their external reference.
func testConfig(fake *fxiaoketest.Server) Config {
	return Config{URL: fake.URL, AppID: testApp, AppSecret: testSecret, PermanentCode: testPermanent, OpenUserID: testUser,
		PollInterval: 50 * time.Millisecond, CheckEvery: time.Nanosecond, Transport: transport(2),
		Entities: map[string]EntityConfig{
			"customer": {Object: "AccountObj", MatchField: "account_no"},
			"order":    {Object: "SalesOrderObj", MatchField: "remark"},
			"invoice":  {Object: "InvoiceApplicationObj", MatchField: "external_ref__c"},
		}}
}

// start builds and starts a connector, closed when t ends.
func start(t *testing.T, cfg Config, opts Options) *Conn {
	t.Helper()
	c, err := New("fxiaoke-test", cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads entity from cursor until a read comes back empty.
func readAll(t *testing.T, c *Conn, entity, cursor string, max int) ([]connectors.Record, string) {
	t.Helper()
	var out []connectors.Record
	for range 10000 {
		ctx, cancel := context.WithTimeout(connectors.WithIdle(context.Background(), 500*time.Millisecond), time.Minute) // a slow page under load is not cut; idle ends the read
		b, err := c.Read(ctx, entity, cursor, max)
		cancel()
		if err != nil {
			t.Fatalf("read %s: %v", entity, err)
		}
		if b.Cursor != "" {
			cursor = b.Cursor
		}
		if len(b.Records) == 0 {
			return out, cursor
		}
		out = append(out, b.Records...)
	}
	t.Fatal("the read does not end")
	return nil, ""
}

func obj(kv ...any) mapping.Value {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	v, ok := mapping.FromAny(m)
	if !ok {
		panic("obj: not a value")
	}
	return v
}

// once fails t unless every id of want came exactly once, and nothing
// else came.
func once(t *testing.T, recs []connectors.Record, want []string) {
	t.Helper()
	n := map[string]int{}
	for _, r := range recs {
		n[r.Key]++
	}
	for _, id := range want {
		if n[id] != 1 {
			t.Fatalf("record %s read %d times, want once (%d records read)", id, n[id], len(recs))
		}
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records read, want %d", len(recs), len(want))
	}
}

// testClock is a clock a test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
