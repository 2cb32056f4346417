package zoho

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/saas"
	"github.com/crmhub/hub/internal/zohotest"
	"github.com/crmhub/hub/mapping"
)

const (
	testClient  = "1000.TESTCLIENT"
	testSecret  = "test-client-secret-0123456789"
	testRefresh = "1000.refresh-token-abcdef"
)

// fixture is a stand-in Zoho and a started connector on it.
type fixture struct {
	t    *testing.T
	fake *zohotest.Server
	conn *Conn
	skus map[string]string // code -> product id
}

// newFake starts a stand-in Zoho with products SKU-1..SKU-5.
func newFake(t *testing.T, opts zohotest.Options) (*zohotest.Server, map[string]string) {
	t.Helper()
	opts.ClientID, opts.ClientSecret, opts.RefreshToken = testClient, testSecret, testRefresh
	fake := zohotest.New(opts)
	t.Cleanup(fake.Close)
	skus := map[string]string{}
	for i := 1; i <= 5; i++ {
		code := fmt.Sprintf("SKU-%d", i)
		skus[code] = fake.Put("Products", map[string]any{"Product_Name": "Product " + code, "Product_Code": code, "Unit_Price": 10 * i})
	}
	return fake, skus
}

// testConfig is a connector config for fake with the three entities.
func testConfig(fake *zohotest.Server) Config {
	return Config{ClientID: testClient, ClientSecret: testSecret, RefreshToken: testRefresh, AccountsURL: fake.AccountsURL,
		PollInterval: 50 * time.Millisecond, Settle: new(time.Duration), CheckEvery: time.Nanosecond,
		Entities: map[string]EntityConfig{
			"customer": {Module: "Contacts"},
			"order":    {Module: "Sales_Orders"},
			"invoice":  {Module: "Invoices"},
		},
		Transport: transport(2)}
}

// transport retries fast.
func transport(retries int) saas.Transport {
	return saas.Transport{Timeout: 5 * time.Second, Retries: &retries, RetryWait: 5 * time.Millisecond, RetryMaxWait: 50 * time.Millisecond}
}

func newFixture(t *testing.T, opts zohotest.Options, edit func(*Config)) *fixture {
	t.Helper()
	fake, skus := newFake(t, opts)
	cfg := testConfig(fake)
	if edit != nil {
		edit(&cfg)
	}
	c := start(t, cfg)
	return &fixture{t: t, fake: fake, conn: c, skus: skus}
}

// start builds and starts a connector, closed when t ends.
func start(t *testing.T, cfg Config) *Conn {
	t.Helper()
	c, err := New("zoho-test", cfg, Options{})
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
	for range 1000 {
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

func keys(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key
	}
	return out
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
