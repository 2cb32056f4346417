package woocommerce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/shop"
	"github.com/crmhub/hub/internal/shoptest"
)

// fakeIngest records what it is given and answers published, or fails.
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

func (f *fakeIngest) records() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.got))
	for i, r := range f.got {
		out[i] = r.Entity + ":" + r.Key
	}
	return out
}

func (f *fakeIngest) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// hookServer serves a connector's webhook route.
func hookServer(t *testing.T, cfg Config, in connectors.Ingest) (*Conn, string) {
	t.Helper()
	c, err := New("woo", cfg, erp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt := c.Routes(in)
	mux := http.NewServeMux()
	mux.Handle(rt[0].Pattern, rt[0].Handler)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return c, srv.URL + "/webhooks/woocommerce/woo"
}

var ada = shoptest.Buyer{First: "Ada", Last: "Lovelace", Email: "ada@example.com", Phone: "+44 20 7946 0000"}

// TestWebhookDeliveries: the creation ping is answered 200; a signed
// delivery becomes the buyer and the order (buyer_key set); one signed
// with another secret is refused 401 and takes nothing; a repeat is taken
// once; two orders delivered in the same second (so with the same
// X-WC-Webhook-Delivery-ID, as WooCommerce makes it) are both taken.
func TestWebhookDeliveries(t *testing.T) {
	w := shoptest.NewWooCommerce()
	defer w.Close()
	in := &fakeIngest{}
	c, url := hookServer(t, Config{WebhookSecret: "wh-secret"}, in)

	hook, err := w.AddWebhook("order.created", url, "wh-secret")
	if err != nil {
		t.Fatalf("the ping: %v", err)
	}
	other, err := w.AddWebhook("order.created", url, "not-the-secret")
	if err != nil {
		t.Fatalf("the second ping: %v", err)
	}
	if n := c.Metrics().Count("woo", shop.OutcomePing); n != 2 {
		t.Fatalf("pings counted: %v", n)
	}

	guest := w.CreateOrder(0, ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 2, Price: "120.00"})
	if code, body := w.Deliver(hook, guest); code != 200 {
		t.Fatalf("delivery: %d %s", code, body)
	}
	if code, body := w.Deliver(other, guest); code != 401 {
		t.Fatalf("delivery signed with another secret: %d %s", code, body)
	}
	want := []string{"customer:guest:ada@example.com", "order:" + strconv.Itoa(guest)}
	if got := in.records(); !slices.Equal(got, want) {
		t.Fatalf("ingested %v, want %v", got, want)
	}

	// Two orders saved in the same second: one delivery id, two bodies.
	cust := w.CreateCustomer(shoptest.Buyer{First: "Grace", Last: "Hopper", Email: "grace@example.com"})
	o1 := w.CreateOrder(cust, shoptest.Buyer{First: "Grace", Last: "Hopper", Email: "grace@example.com"}, shoptest.Line{SKU: "SKU-2", Title: "Hose", Qty: 1, Price: "15.50"})
	o2 := w.CreateOrder(0, shoptest.Buyer{First: "Alan", Last: "Turing", Email: "alan@example.com"}, shoptest.Line{SKU: "SKU-2", Title: "Hose", Qty: 3, Price: "15.50"})
	d1, d2 := w.Delivery(hook, o1), w.Delivery(hook, o2)
	if d1.Header.Get(HeaderDelivery) != d2.Header.Get(HeaderDelivery) {
		t.Fatal("the stand-in's delivery ids differ within a second")
	}
	for _, d := range []shoptest.WooDelivery{d1, d2, d1} {
		if code, body := w.Send(d); code != 200 {
			t.Fatalf("delivery: %d %s", code, body)
		}
	}
	want = append(want, "customer:"+strconv.Itoa(cust), "order:"+strconv.Itoa(o1), "customer:guest:alan@example.com", "order:"+strconv.Itoa(o2))
	if got := in.records(); !slices.Equal(got, want) {
		t.Fatalf("ingested %v, want %v", got, want)
	}
	if n := c.Metrics().Count("woo", shop.OutcomeDuplicate); n != 1 {
		t.Fatalf("duplicates counted: %v", n)
	}
}

// TestWebhookRecord: a delivery's record is keyed by id and versioned by
// date_modified_gmt (UTC); the order carries buyer_key; PHP's escaped
// slashes read back as slashes.
func TestWebhookRecord(t *testing.T) {
	w := shoptest.NewWooCommerce()
	defer w.Close()
	in := &capture{}
	_, url := hookServer(t, Config{WebhookSecret: "s"}, in)
	hook, err := w.AddWebhook("order.updated", url, "s")
	if err != nil {
		t.Fatal(err)
	}
	cust := w.CreateCustomer(ada)
	id := w.CreateOrder(cust, ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	w.Advance(time.Hour)
	w.UpdateOrder(id, func(o map[string]any) { o["status"] = "completed" })
	if code, body := w.Deliver(hook, id); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	o := in.last
	if o.Key != strconv.Itoa(id) || !o.Version.Equal(w.Now()) {
		t.Fatalf("record %s at %v, want %d at %v", o.Key, o.Version, id, w.Now())
	}
	if got := o.Data.Get("buyer_key").Str(); got != strconv.Itoa(cust) {
		t.Fatalf("buyer_key %q", got)
	}
	if got := o.Data.Get("_links").Get("collection").Index(0).Get("href").Str(); got != "https://shop.example.test/wp-json/wc/v3/orders" {
		t.Fatalf("href %q", got)
	}
}

type capture struct{ last connectors.Record }

func (c *capture) Ingest(_ context.Context, _ string, recs []connectors.Record) ([]connectors.IngestResult, error) {
	c.last = recs[len(recs)-1]
	return make([]connectors.IngestResult, len(recs)), nil
}

// TestWebhookDisabled: while the hub cannot make deliveries durable it
// answers 503; WooCommerce counts each as a failure, never sends one
// again, and disables the webhook at the failure after the fifth; a 2xx
// before that resets the count.
func TestWebhookDisabled(t *testing.T) {
	w := shoptest.NewWooCommerce()
	defer w.Close()
	in := &fakeIngest{}
	_, url := hookServer(t, Config{WebhookSecret: "s"}, in)
	hook, err := w.AddWebhook("order.created", url, "s")
	if err != nil {
		t.Fatal(err)
	}
	id := w.CreateOrder(0, ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	in.setFail(errors.New("kafka is down"))
	for range 5 {
		if code, _ := w.Deliver(hook, id); code != 503 {
			t.Fatalf("a delivery while Kafka is down: %d", code)
		}
	}
	in.setFail(nil)
	if code, _ := w.Deliver(hook, id); code != 200 {
		t.Fatalf("after recovery: %d", code)
	}
	if h := w.Hook(hook); h.Failures != 0 || h.Status != "active" {
		t.Fatalf("after a 200: %+v", h)
	}
	in.setFail(errors.New("kafka is down"))
	for i := range 7 {
		w.Advance(time.Second)
		code, _ := w.Deliver(hook, id)
		if code != 503 {
			t.Fatalf("failure %d: %d", i+1, code)
		}
	}
	if h := w.Hook(hook); h.Status != "disabled" {
		t.Fatalf("after 7 failures: %+v", h)
	}
	if code, _ := w.Deliver(hook, id); code != 0 {
		t.Fatalf("a disabled webhook delivered: %d", code)
	}
}

// apiConn is a connector polling the stand-in.
func apiConn(t *testing.T, w *shoptest.WooCommerce, key, secret string, perPage int) *Conn {
	t.Helper()
	zero := time.Duration(0)
	c, err := New("woo", Config{URL: w.URL(), ConsumerKey: key, ConsumerSecret: secret, PerPage: perPage, LookBack: &zero, PollInterval: 10 * time.Millisecond},
		erp.Options{Transport: w.Transport(), Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readAll reads entity from cur until a read finds nothing new for 300 ms
// (a slow page is not cut: connectors.WithIdle).
func readAll(t *testing.T, c *Conn, entity, cur string) ([]connectors.Record, string) {
	t.Helper()
	var out []connectors.Record
	for {
		ctx, cancel := context.WithTimeout(connectors.WithIdle(context.Background(), 300*time.Millisecond), time.Minute)
		b, err := c.Read(ctx, entity, cur, 1000)
		cancel()
		if err != nil {
			t.Fatalf("read %s: %v", entity, err)
		}
		if len(b.Records) == 0 {
			return out, cur
		}
		out, cur = append(out, b.Records...), b.Cursor
	}
}

func keys(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key
	}
	return out
}

// TestPollPagesAndResume: 250 orders read 100 a page (X-WP-TotalPages
// ends the list after 3 pages), oldest change first, each with its
// buyer_key; then from the stored cursor only what changed since
// (modified_after), and the customers.
func TestPollPagesAndResume(t *testing.T) {
	w := shoptest.NewWooCommerce()
	defer w.Close()
	c := apiConn(t, w, w.Key, w.Secret, 100)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ids []string
	for i := range 250 {
		b := shoptest.Buyer{First: "B", Last: strconv.Itoa(i), Email: fmt.Sprintf("b%d@example.com", i)}
		ids = append(ids, strconv.Itoa(w.CreateOrder(0, b, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})))
	}
	before := w.Calls("orders")
	first, err := c.Read(context.Background(), "order", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if n := w.Calls("orders") - before; n != 3 {
		t.Fatalf("%d list calls for 250 orders, 100 a page", n)
	}
	rest, cur := readAll(t, c, "order", first.Cursor)
	recs := append(first.Records, rest...)
	if got := keys(recs); !slices.Equal(got, ids) {
		t.Fatalf("read %d orders %v..., want %d", len(got), got[:min(5, len(got))], len(ids))
	}
	if g := recs[7].Data.Get("buyer_key").Str(); g != "guest:b7@example.com" {
		t.Fatalf("buyer_key %q", g)
	}

	w.Advance(time.Minute)
	w.UpdateOrder(mustAtoi(ids[10]), func(o map[string]any) { o["status"] = "completed" })
	w.UpdateOrder(mustAtoi(ids[3]), func(o map[string]any) { o["status"] = "cancelled" })
	fresh := w.CreateOrder(0, ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	recs, _ = readAll(t, c, "order", cur)
	if got, want := keys(recs), []string{ids[10], ids[3], strconv.Itoa(fresh)}; !slices.Equal(got, want) {
		t.Fatalf("after the cursor: %v, want %v", got, want)
	}
	if s := recs[1].Data.Get("status").Str(); s != "cancelled" {
		t.Fatalf("status %q", s)
	}

	g := w.CreateCustomer(shoptest.Buyer{First: "Grace", Last: "Hopper", Email: "grace@example.com"})
	// The customers: the registered one, and the guest buyer of every
	// order (guests are in no customers list), each once.
	custs, ccur := readAll(t, c, "customer", "")
	got := keys(custs)
	if len(got) != 1+251 || got[0] != strconv.Itoa(g) || !slices.Contains(got, "guest:ada@example.com") || !slices.Contains(got, "guest:b249@example.com") {
		t.Fatalf("%d customers: %v...", len(got), got[:min(5, len(got))])
	}
	if b := custs[len(custs)-1]; b.Data.Get("email").Str() != "ada@example.com" || b.Data.Get("billing").Get("city").Str() != "Berlin" {
		t.Fatalf("a guest buyer: %v", b.Data)
	}
	w.Advance(time.Minute)
	late := w.CreateOrder(0, shoptest.Buyer{First: "Late", Last: "Guest", Email: "late@example.com"}, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	more, _ := readAll(t, c, "customer", ccur)
	if got := keys(more); !slices.Equal(got, []string{"guest:late@example.com"}) {
		t.Fatalf("after order %d, from the customer cursor: %v", late, got)
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestAPIErrors: refused credentials make the whole source unavailable
// (start fails at once); 429 with a long Retry-After is handed on with
// its wait; 500 and 503 are retried, and given up as retryable; a per_page
// over 100 is a config error before any call.
func TestAPIErrors(t *testing.T) {
	w := shoptest.NewWooCommerce()
	defer w.Close()

	bad := apiConn(t, w, w.Key, "cs_wrong", 10)
	err := bad.Start(context.Background())
	if k, _ := connectors.Classify(err); err == nil || k != connectors.KindUnavailable {
		t.Fatalf("wrong secret: %v (%v)", err, k)
	}
	if w.Calls("unauthorized") == 0 {
		t.Fatal("the stand-in saw no refused call")
	}

	c := apiConn(t, w, w.Key, w.Secret, 10)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w.CreateOrder(0, ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	read := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := c.Read(ctx, "order", "", 10)
		return err
	}

	w.FailNext(1, 429, "3600")
	err = read()
	k, after := connectors.Classify(err)
	if k != connectors.KindRetryable || after != time.Hour {
		t.Fatalf("429 Retry-After 3600: %v (%v, %v)", err, k, after)
	}
	for _, status := range []int{500, 503} {
		w.FailNext(10, status, "1")
		failed := w.Calls("failed")
		err := read()
		if k, _ := connectors.Classify(err); err == nil || k != connectors.KindRetryable {
			t.Fatalf("%d: %v (%v)", status, err, k)
		}
		if n := w.Calls("failed") - failed; n != 4 {
			t.Fatalf("%d: %d attempts, want 4 (retries: 3)", status, n)
		}
		w.ResetFailures()
	}
	w.FailNext(2, 503, "1")
	if err := read(); err != nil {
		t.Fatalf("two 503s then an answer: %v", err)
	}

	if _, err := New("woo", Config{URL: w.URL(), ConsumerKey: "k", ConsumerSecret: "s", PerPage: 101}, erp.Options{}); err == nil {
		t.Fatal("per_page 101 taken")
	}
}
