package shopify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/shop"
	"github.com/crmhub/hub/internal/shoptest"
)

// TestSignatureVector checks the known vector of the vendor notes.
func TestSignatureVector(t *testing.T) {
	body := []byte(`{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}`)
	const sig = "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw="
	if got := shop.Sign([]byte("test-webhook-secret"), body); got != sig {
		t.Fatalf("Sign = %s, want %s", got, sig)
	}
	if !shop.Verify([]byte("test-webhook-secret"), body, sig) {
		t.Fatal("the known vector does not verify")
	}
	for _, bad := range []string{"", "not base64!", shop.Sign([]byte("other"), body)} {
		if shop.Verify([]byte("test-webhook-secret"), body, bad) {
			t.Fatalf("%q verifies", bad)
		}
	}
}

// fakeIngest records what it is given and answers published.
type fakeIngest struct {
	mu   sync.Mutex
	got  []connectors.Record
	fail error
}

func (f *fakeIngest) Ingest(_ context.Context, entity string, recs []connectors.Record) ([]connectors.IngestResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	out := make([]connectors.IngestResult, len(recs))
	for i, r := range recs {
		if r.Entity != entity {
			return nil, fmt.Errorf("record of %s ingested as %s", r.Entity, entity)
		}
		f.got = append(f.got, r)
		out[i] = connectors.IngestResult{Outcome: connectors.IngestPublished, HubID: "hub-" + r.Key}
	}
	return out, nil
}

func (f *fakeIngest) records() []connectors.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]connectors.Record(nil), f.got...)
}

func hookServer(t *testing.T, cfg Config, in connectors.Ingest) (*Conn, *httptest.Server) {
	t.Helper()
	c, err := New("shop", cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt := c.Routes(in)
	mux := http.NewServeMux()
	mux.Handle(rt[0].Pattern, rt[0].Handler)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return c, srv
}

// TestWebhookAnswers: each bad delivery gets its own status and reason
// and is counted; none disturbs good deliveries sent at the same time; a
// repeat of a delivery id is answered at once without ingesting again.
func TestWebhookAnswers(t *testing.T) {
	sh := shoptest.NewShopify()
	defer sh.Close()
	in := &fakeIngest{}
	c, srv := hookServer(t, Config{WebhookSecret: sh.Secret, Shop: sh.Domain}, in)
	url := srv.URL + "/webhooks/shopify/shop"
	id := sh.CreateOrder(shoptest.Buyer{First: "Ada", Last: "Lovelace", Email: "ada@example.com"}, shoptest.Line{SKU: "BOOK-7", Title: "Book", Qty: 2, Price: "49.90"})
	body := sh.OrderJSON(id)

	send := func(req *http.Request) (int, string) {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	good := func(n int) *http.Request {
		return sh.Request(url, shoptest.Delivery{Topic: "orders/create", ID: fmt.Sprintf("good-%d", n), Body: body})
	}
	big := bytes.Repeat([]byte(" "), 10<<20)
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		reason string
		count  string
	}{
		{"bad signature", func() *http.Request {
			r := good(0)
			r.Header.Set(HeaderHmac, shop.Sign([]byte("wrong secret"), body))
			return r
		}, 401, "does not match the body", shop.OutcomeBadSignature},
		{"no signature", func() *http.Request {
			r := good(0)
			r.Header.Del(HeaderHmac)
			return r
		}, 401, "no X-Shopify-Hmac-Sha256", shop.OutcomeBadSignature},
		{"another shop", func() *http.Request {
			r := good(0)
			r.Header.Set(HeaderShop, "other.myshopify.com")
			return r
		}, 401, "another shop", ""},
		{"wrong topic", func() *http.Request {
			return sh.Request(url, shoptest.Delivery{Topic: "products/create", ID: "p1", Body: body})
		}, 422, "is not taken here", shop.OutcomeUnknownTopic},
		{"truncated JSON", func() *http.Request {
			return sh.Request(url, shoptest.Delivery{Topic: "orders/create", ID: "t1", Body: body[:len(body)/2]})
		}, 400, "the body is not JSON", shop.OutcomeMalformed},
		{"no updated_at", func() *http.Request {
			return sh.Request(url, shoptest.Delivery{Topic: "orders/updated", ID: "u1", Body: []byte(`{"id":5}`)})
		}, 400, "updated_at: missing", shop.OutcomeMalformed},
		{"10 MB body", func() *http.Request {
			return sh.Request(url, shoptest.Delivery{Topic: "orders/create", ID: "b1", Body: big})
		}, 413, "over the 1048576", shop.OutcomeTooLarge},
		{"wrong content type", func() *http.Request {
			r := good(0)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, 415, "text/plain", shop.OutcomeContentType},
	}
	var wg sync.WaitGroup
	goodStatus := make(chan int, 40)
	for n := 1; n <= 40; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := send(good(n))
			goodStatus <- code
		}()
	}
	for _, tc := range cases {
		code, reply := send(tc.req())
		if code != tc.status || !strings.Contains(reply, tc.reason) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, reply, tc.status, tc.reason)
		}
		if strings.Contains(reply, sh.Secret) {
			t.Errorf("%s: the reply holds the secret", tc.name)
		}
	}
	wg.Wait()
	close(goodStatus)
	for code := range goodStatus {
		if code != 200 {
			t.Errorf("a good delivery sent meanwhile got %d", code)
		}
	}
	for _, tc := range cases {
		if tc.count != "" && c.Metrics().Count("shop", tc.count) < 1 {
			t.Errorf("%s: not counted as %s", tc.name, tc.count)
		}
	}
	if n := c.Metrics().Count("shop", shop.OutcomeAccepted); n != 40 {
		t.Errorf("accepted = %v, want 40", n)
	}
	// The buyer comes first, then the order, each delivery.
	recs := in.records()
	if len(recs) != 80 || recs[0].Entity != "customer" || recs[1].Entity != "order" || recs[1].Key != fmt.Sprint(id) {
		t.Fatalf("ingested %d records, first %+v", len(recs), recs[:2])
	}
	if recs[1].Version.IsZero() || recs[0].Version.IsZero() {
		t.Fatalf("versions not set: %v %v", recs[0].Version, recs[1].Version)
	}
	// A repeat of a delivery id: answered at once, not ingested again.
	code, reply := send(good(7))
	if code != 200 || !strings.Contains(reply, `"duplicate"`) || len(in.records()) != 80 {
		t.Fatalf("repeat: %d %s, %d records", code, reply, len(in.records()))
	}
	// Not durable: 503, and the id is not remembered (the retry goes through).
	in.fail = errors.New("kafka down")
	if code, reply := send(good(100)); code != 503 || !strings.Contains(reply, "send it again") {
		t.Fatalf("ingest failure: %d %s", code, reply)
	}
	in.fail = nil
	if code, _ := send(good(100)); code != 200 || len(in.records()) != 82 {
		t.Fatalf("the retry after a 503 was not taken: %d, %d records", code, len(in.records()))
	}
}

func apiConn(t *testing.T, sh *shoptest.Shopify, mod func(*APIConfig)) *Conn {
	t.Helper()
	zero := time.Duration(0)
	a := &APIConfig{Token: sh.Token, PollInterval: 10 * time.Millisecond, BulkInterval: time.Millisecond, LookBack: &zero}
	a.URL = sh.URL()
	a.RetryWait = time.Millisecond
	if mod != nil {
		mod(a)
	}
	c, err := New("shop", Config{WebhookSecret: sh.Secret, API: a}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads until a read comes back empty.
func readAll(t *testing.T, c *Conn, entity, cur string, max int) ([]connectors.Record, string) {
	t.Helper()
	var out []connectors.Record
	for range 10000 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		b, err := c.Read(ctx, entity, cur, max)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Records) > max {
			t.Fatalf("%d records, asked for %d", len(b.Records), max)
		}
		cur = b.Cursor
		if len(b.Records) == 0 && c.CaughtUp(entity, cur) {
			return out, cur
		}
		out = append(out, b.Records...)
	}
	t.Fatal("read does not end")
	return nil, ""
}

func keysOnce(t *testing.T, recs []connectors.Record, want int) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.Key]++
	}
	if len(seen) != want {
		t.Fatalf("%d distinct records, want %d", len(seen), want)
	}
}

// TestPollPagesThrottleAndRetryAfter: 60 orders read in pages through a
// small cost bucket (THROTTLED answers waited out) and a 429 with
// Retry-After; an order with more lines than a page carries is completed;
// an update later is read once.
func TestPollPagesThrottleAndRetryAfter(t *testing.T) {
	sh := shoptest.NewShopify()
	defer sh.Close()
	for i := range 60 {
		lines := []shoptest.Line{{SKU: "A", Title: "A", Qty: 1, Price: "10.00"}}
		if i == 7 {
			for j := range 40 {
				lines = append(lines, shoptest.Line{SKU: fmt.Sprintf("L%d", j), Title: "L", Qty: 1, Price: "1.00"})
			}
		}
		sh.CreateOrder(shoptest.Buyer{First: "B", Last: fmt.Sprint(i), Email: fmt.Sprintf("b%d@example.com", i)}, lines...)
	}
	sh.SetBucket(700, 2000) // one page of 25 orders costs 877: MAX_COST_EXCEEDED
	c := apiConn(t, sh, func(a *APIConfig) { a.PageSize = 10 })
	sh.SetBucket(400, 4000) // a page costs 352: the second in a row is throttled
	sh.FailNext(1, 429, "0")
	sh.Drain() // another client of the app took the budget: THROTTLED
	recs, cur := readAll(t, c, "order", "", 25)
	keysOnce(t, recs, 60)
	if len(recs) != 60 {
		t.Fatalf("read %d records, want 60", len(recs))
	}
	var big int
	for _, r := range recs {
		if n := r.Data.Get("line_items").Len(); n > big {
			big = n
		}
	}
	if big != 41 || sh.Calls("lines") == 0 {
		t.Fatalf("largest order has %d lines (want 41), line queries %d", big, sh.Calls("lines"))
	}
	if sh.Calls("throttled") == 0 {
		t.Fatal("no query was throttled: the test does not test throttling")
	}
	id3, _ := strconv.ParseInt(recs[3].Key, 10, 64)
	sh.UpdateOrder(id3, func(o map[string]any) { o["note"] = "gift" })
	next, _ := readAll(t, c, "order", cur, 25)
	if len(next) != 1 || next[0].Data.Get("note").Str() != "gift" {
		t.Fatalf("after an update: %d records", len(next))
	}
}

// TestBulkBackfillResumes: a backfill of 500 orders through a bulk
// operation, stopped after 200 and resumed by a new connector from the
// stored cursor: every order once, one export, read in ranges.
func TestBulkBackfillResumes(t *testing.T) {
	sh := shoptest.NewShopify()
	defer sh.Close()
	for i := range 500 {
		sh.CreateOrder(shoptest.Buyer{First: "B", Last: fmt.Sprint(i), Email: fmt.Sprintf("b%d@example.com", i)},
			shoptest.Line{SKU: "A", Title: "A", Qty: 1, Price: "10.00"}, shoptest.Line{SKU: "B", Title: "B", Qty: 2, Price: "5.00"})
	}
	c := apiConn(t, sh, nil)
	ctx := context.Background()
	cur, total, err := c.Backfill(ctx, "order", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || total != 500 {
		t.Fatalf("backfill: %v, total %d", err, total)
	}
	var got []connectors.Record
	for len(got) < 200 {
		b, err := c.Read(ctx, "order", cur, 100)
		if err != nil {
			t.Fatal(err)
		}
		got, cur = append(got, b.Records...), b.Cursor
	}
	c2 := apiConn(t, sh, nil)
	rest, _ := readAll(t, c2, "order", cur, 100)
	got = append(got, rest...)
	keysOnce(t, got, 500)
	// After the export the backfill polls from the export's start: the
	// order changed in that very second comes once more (the pipeline
	// drops it as unchanged).
	if len(got) > 501 || sh.BulkOps() != 1 {
		t.Fatalf("read %d records with %d exports, want 500 (501) with 1", len(got), sh.BulkOps())
	}
	for _, r := range got {
		if r.Data.Get("line_items").Len() != 2 {
			t.Fatalf("order %s has %d lines", r.Key, r.Data.Get("line_items").Len())
		}
	}
}

// TestBulkStartAnswerLost: the answer to the first start of an export is
// lost (its request timed out, say) and the backfill reads again from the
// same cursor: the shop says an export already runs, the connector finds
// it is this very export and reads it, instead of retrying for ever. An
// export of another query is waited out.
func TestBulkStartAnswerLost(t *testing.T) {
	sh := shoptest.NewShopify()
	defer sh.Close()
	for i := range 30 {
		sh.CreateOrder(shoptest.Buyer{First: "B", Last: fmt.Sprint(i), Email: fmt.Sprintf("b%d@example.com", i)},
			shoptest.Line{SKU: "A", Title: "A", Qty: 1, Price: "10.00"})
	}
	c := apiConn(t, sh, nil)
	ctx := context.Background()
	since := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	cur, _, err := c.Backfill(ctx, "order", since)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(ctx, "order", cur, 100); err != nil { // starts the export; its cursor is "lost"
		t.Fatal(err)
	}
	recs, _ := readAll(t, c, "order", cur, 100) // the same cursor again
	keysOnce(t, recs, 30)
	if sh.BulkOps() != 1 {
		t.Fatalf("%d exports, want 1", sh.BulkOps())
	}

	// An export of customers is the shop's current one; a new export of
	// orders cannot start and must not take the customers' for its own.
	if _, err := c.Read(ctx, "customer", mustBackfill(t, c, "customer", since), 100); err != nil {
		t.Fatal(err)
	}
	// Starting it leaves it CREATED until asked about; it is what runs.
	_, err = c.Read(ctx, "order", mustBackfill(t, c, "order", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)), 100)
	if kind, _ := connectors.Classify(err); err == nil || kind != connectors.KindRetryable || !strings.Contains(err.Error(), "already in progress") {
		t.Fatalf("an orders export while a customers export runs: %v, want a retryable 'already in progress'", err)
	}
}

func mustBackfill(t *testing.T, c *Conn, entity string, since time.Time) string {
	t.Helper()
	cur, _, err := c.Backfill(context.Background(), entity, since)
	if err != nil {
		t.Fatal(err)
	}
	return cur
}
