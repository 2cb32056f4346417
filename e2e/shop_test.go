package e2e

// Shopify to the CRM and the ERP: webhooks delivered more than once and
// out of order, refused deliveries, webhooks that never came (the poller
// closes the gap), and a backfill of 10,000 orders killed half way. The
// shop is the Shopify stand-in of internal/shoptest, in the test process;
// the hub is the binary.

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/crmhub/hub/internal/shoptest"
)

var shopConfig = template.Must(template.New("hub.yaml").Parse(`# written by the e2e shop tests
hub: {data_dir: {{.Dir}}/data, shutdown_timeout: 20s}
log: {level: info, format: text}
http: {addr: {{.HTTPAddr}}}
kafka:
  topic_prefix: shop
  partitions: 3
  embedded: {addr: {{.KafkaAddr}}}
state: {dsn: 'sqlite:{{.Dir}}/data/hub.db'}
connectors:
  shopify:
    kind: shopify
    webhook_secret: ${SHOPIFY_SECRET}
    api:
      url: {{.ShopURL}}
      token: ${SHOPIFY_TOKEN}
      poll_interval: 200ms
      look_back: 0s
      bulk_interval: 50ms
      retry_wait: 50ms
  crm:
    kind: sqlstore
    driver: sqlite
    dsn: '{{.Dir}}/crm.db'
    init_sql: crm.sql
    entities:
      customer: {table: shop_customers, key: ext_ref}
      order: {table: shop_orders, key: ext_ref}
{{- if .TrytonURL}}
  erp:
    kind: tryton
    url: {{.TrytonURL}}
    database: {{.TrytonDB}}
    user: admin
    password: ${TRYTON_PASSWORD}
    retries: 2
    retry_wait: 200ms
{{- end}}
sources:
  shopify-customers: {connector: shopify, entity: customer, mode: push, mapping: mappings/shop-customer-in.yaml}
  shopify-orders:
    connector: shopify
    entity: order
    mode: push
    mapping: mappings/shop-order-in.yaml
    refs: {customer: customer.id}
{{- if .Poll}}
  shopify-customers-poll: {connector: shopify, entity: customer, mode: pull, interval: 200ms, mapping: mappings/shop-customer-in.yaml}
  shopify-orders-poll:
    connector: shopify
    entity: order
    mode: pull
    interval: 200ms
    mapping: mappings/shop-order-in.yaml
    refs: {customer: customer.id}
{{- end}}
sinks:
  crm:
    connector: crm
    entities:
      customer: {mapping: mappings/crm-shop-customer-out.yaml}
      order: {mapping: mappings/crm-shop-order-out.yaml}
{{- if .TrytonURL}}
  erp:
    connector: erp
    retry: {max_attempts: 8, initial: 100ms, max: 2s}
    entities:
      customer: {mapping: mappings/tryton-party-out.yaml}
      order: {mapping: mappings/tryton-sale-out.yaml}
{{- end}}
`))

// shopRig is a hub between the Shopify stand-in, a SQLite CRM and,
// optionally, a Tryton.
type shopRig struct {
	t                  *testing.T
	dir, cfg, httpAddr string
	shop               *shoptest.Shopify
	hub                *proc
	crm                *sql.DB
	extraEnv           []string // a shop other than Shopify: its credentials
}

func newShopRig(t *testing.T, poll bool, erp *trytonServer) *shopRig {
	t.Helper()
	r := &shopRig{t: t, dir: t.TempDir(), httpAddr: freeAddr(t), shop: shoptest.NewShopify()}
	t.Cleanup(r.shop.Close)
	if err := os.MkdirAll(filepath.Join(r.dir, "mappings"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"shop-order-in.yaml", "shop-customer-in.yaml", "tryton-party-out.yaml", "tryton-sale-out.yaml"} {
		copyFile(t, filepath.Join("..", "configs", "mappings", m), filepath.Join(r.dir, "mappings", m))
	}
	for _, m := range []string{"crm-shop-customer-out.yaml", "crm-shop-order-out.yaml"} {
		copyFile(t, filepath.Join("testdata", "shop", m), filepath.Join(r.dir, "mappings", m))
	}
	copyFile(t, filepath.Join("testdata", "shop", "crm.sql"), filepath.Join(r.dir, "crm.sql"))
	vars := map[string]any{"Dir": r.dir, "HTTPAddr": r.httpAddr, "KafkaAddr": freeAddr(t), "ShopURL": r.shop.URL(), "Poll": poll}
	if erp != nil {
		vars["TrytonURL"], vars["TrytonDB"] = erp.url, erp.db
	}
	var b bytes.Buffer
	if err := shopConfig.Execute(&b, vars); err != nil {
		t.Fatal(err)
	}
	r.cfg = filepath.Join(r.dir, "hub.yaml")
	if err := os.WriteFile(r.cfg, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (r *shopRig) env() []string {
	if r.shop == nil {
		return append(append([]string(nil), r.extraEnv...), "TRYTON_PASSWORD=admin")
	}
	return []string{"SHOPIFY_SECRET=" + r.shop.Secret, "SHOPIFY_TOKEN=" + r.shop.Token, "TRYTON_PASSWORD=admin"}
}

func (r *shopRig) start() {
	r.t.Helper()
	r.hub = startProc(r.t, "hub", r.dir, r.env(), "run", "-c", r.cfg)
	waitHTTP(r.t, r.hub, "http://"+r.httpAddr+"/readyz", 200, time.Minute)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(r.dir, "crm.db")+"?_pragma=busy_timeout(20000)")
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { db.Close() })
	r.crm = db
}

// deliver posts a delivery to the hub's webhook and returns the status
// and reply.
func (r *shopRig) deliver(d shoptest.Delivery) (int, string) {
	r.t.Helper()
	return r.send(r.shop.Request("http://"+r.httpAddr+"/webhooks/shopify/shopify", d))
}

func (r *shopRig) send(req *http.Request) (int, string) {
	r.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *shopRig) rows(q string, args ...any) []string {
	rows, err := r.crm.Query(q, args...)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			return []string{"error: " + err.Error()}
		}
		out = append(out, s.String)
	}
	return out
}

func (r *shopRig) waitRows(what string, d time.Duration, q string, want ...string) {
	r.t.Helper()
	waitFor(r.t, what, d, 100*time.Millisecond, []*proc{r.hub}, func() (bool, string) {
		got := r.rows(q)
		return equalStrings(got, want), "got " + joinQ(got) + ", want " + joinQ(want)
	})
}

var ada = shoptest.Buyer{First: "Ada", Last: "Lovelace", Email: "ada@example.com", Phone: "+44 20 7946 0000"}

// TestShopifyWebhookOnce: an order's webhook delivered three times, then
// an update, whose older version arrives after the newer one: the order is
// in the CRM's orders table and in Tryton once, as its newest version.
func TestShopifyWebhookOnce(t *testing.T) {
	t.Parallel()
	erp := newTryton(t)
	if erp == nil {
		return
	}
	baseSales := erp.rpc.count(t, "sale.sale")
	r := newShopRig(t, false, erp)
	r.start()
	id := r.shop.CreateOrder(ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 2, Price: "120.00"}, shoptest.Line{SKU: "SKU-2", Title: "Hose", Qty: 1, Price: "15.50"})
	created := shoptest.Delivery{Topic: "orders/create", ID: "wh-create", Body: r.shop.OrderJSON(id)}
	for i := range 3 {
		if code, reply := r.deliver(created); code != 200 {
			t.Fatalf("delivery %d: %d %s", i+1, code, reply)
		}
	}
	ref := fmt.Sprintf("shop:%d", id)
	r.waitRows("the order in the CRM", 30*time.Second, "SELECT order_no || '|' || status FROM shop_orders", "1001|PAID")
	waitFor(t, "the sale in Tryton", time.Minute, 200*time.Millisecond, []*proc{r.hub}, func() (bool, string) {
		n := erp.rpc.count(t, "sale.sale", []any{[]any{"reference", "=", ref}})
		return n == 1, fmt.Sprintf("%d sales with reference %s", n, ref)
	})

	// Two order edits; the older one's delivery comes after the newer one's.
	// (Tryton takes a confirmed sale's quantity changes as amendments.)
	edit := func(qty int, total, status string) {
		r.shop.UpdateOrder(id, func(o map[string]any) {
			o["line_items"].([]any)[0].(map[string]any)["quantity"] = qty
			o["total_price"], o["financial_status"] = total, status
		})
	}
	edit(3, "380.40", "paid")
	older := shoptest.Delivery{Topic: "orders/updated", ID: "wh-upd-1", Body: r.shop.OrderJSON(id)}
	edit(4, "500.40", "partially_refunded")
	newer := shoptest.Delivery{Topic: "orders/updated", ID: "wh-upd-2", Body: r.shop.OrderJSON(id)}
	for _, d := range []shoptest.Delivery{newer, older, newer} {
		if code, reply := r.deliver(d); code != 200 {
			t.Fatalf("%s: %d %s", d.ID, code, reply)
		}
	}
	r.waitRows("the newest version in the CRM", 30*time.Second, "SELECT order_no || '|' || status || '|' || total FROM shop_orders", "1001|PARTIAL|500.40")
	waitFor(t, "the newest quantity in Tryton", time.Minute, 200*time.Millisecond, []*proc{r.hub}, func() (bool, string) {
		rows := erp.rpc.rows(t, "sale.line", []any{[]any{"sale.reference", "=", ref}, []any{"product.code", "=", "SKU-1"}}, "quantity")
		return len(rows) == 1 && fmt.Sprint(rows[0]["quantity"]) == "4", fmt.Sprintf("%v", rows)
	})
	time.Sleep(time.Second) // the older delivery would have been written by now
	if got := r.rows("SELECT total FROM shop_orders"); !equalStrings(got, []string{"500.40"}) {
		t.Fatalf("the older delivery overwrote the newer: %v", got)
	}
	if n := erp.rpc.count(t, "sale.sale") - baseSales; n != 1 {
		t.Fatalf("Tryton has %d new sales, want 1", n)
	}
	if got := r.rows("SELECT count(*) FROM shop_customers"); !equalStrings(got, []string{"1"}) {
		t.Fatalf("CRM customers: %v", got)
	}
}

// TestShopifyRefusals: a bad signature, a wrong topic, truncated JSON, a
// 10 MB body and a wrong content type each get their own status and
// reason, while good deliveries sent at the same time are all taken.
func TestShopifyRefusals(t *testing.T) {
	t.Parallel()
	r := newShopRig(t, false, nil)
	r.start()
	id := r.shop.CreateOrder(ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	body := r.shop.OrderJSON(id)
	url := "http://" + r.httpAddr + "/webhooks/shopify/shopify"
	bad := []struct {
		name   string
		req    *http.Request
		status int
		reason string
	}{
		{"bad signature", func() *http.Request {
			req := r.shop.Request(url, shoptest.Delivery{Topic: "orders/create", ID: "b1", Body: body})
			req.Header.Set("X-Shopify-Hmac-Sha256", shoptest.Sign([]byte("not the secret"), body))
			return req
		}(), 401, "does not match the body"},
		{"wrong topic", r.shop.Request(url, shoptest.Delivery{Topic: "products/create", ID: "b2", Body: body}), 422, "is not taken here"},
		{"truncated JSON", r.shop.Request(url, shoptest.Delivery{Topic: "orders/create", ID: "b3", Body: body[:len(body)-40]}), 400, "the body is not JSON"},
		{"10 MB body", r.shop.Request(url, shoptest.Delivery{Topic: "orders/create", ID: "b4", Body: bytes.Repeat([]byte("x"), 10<<20)}), 413, "over the limit"},
		{"wrong content type", func() *http.Request {
			req := r.shop.Request(url, shoptest.Delivery{Topic: "orders/create", ID: "b5", Body: body})
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		}(), 415, "a delivery is application/json"},
	}
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			oid := r.shop.CreateOrder(shoptest.Buyer{First: "B", Last: fmt.Sprint(i), Email: fmt.Sprintf("b%d@example.com", i)},
				shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
			code, _ := r.deliver(shoptest.Delivery{Topic: "orders/create", ID: fmt.Sprintf("g%d", i), Body: r.shop.OrderJSON(oid)})
			codes <- code
		}()
	}
	for _, b := range bad {
		code, reply := r.send(b.req)
		if code != b.status || !strings.Contains(reply, b.reason) {
			t.Errorf("%s: %d %s, want %d with %q", b.name, code, reply, b.status, b.reason)
		}
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("a good delivery got %d", c)
		}
	}
	r.waitRows("the 20 good orders in the CRM", 30*time.Second, "SELECT count(*) FROM shop_orders", "20")
	for _, o := range []string{"bad_signature", "unknown_topic", "malformed", "content_type", "accepted"} {
		if n := metricSum(t, r.httpAddr, "hub_webhook_requests_total", `outcome="`+o+`"`); n < 1 {
			t.Errorf("outcome %s not counted", o)
		}
	}
	if n := metricSum(t, r.httpAddr, "hub_http_requests_total", `code="413"`); n < 1 {
		t.Errorf("the 10 MB body is not counted")
	}
}

// TestShopifyPollClosesGap: after one delivered webhook, an hour of orders
// whose webhooks never came; the next poll brings every one of them.
func TestShopifyPollClosesGap(t *testing.T) {
	t.Parallel()
	r := newShopRig(t, true, nil)
	first := r.shop.CreateOrder(ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	r.start()
	if code, reply := r.deliver(shoptest.Delivery{Topic: "orders/create", ID: "w0", Body: r.shop.OrderJSON(first)}); code != 200 {
		t.Fatalf("%d %s", code, reply)
	}
	r.waitRows("the delivered order", 30*time.Second, "SELECT count(*) FROM shop_orders", "1")
	for i := range 30 { // an hour of orders, two minutes apart, no webhooks
		r.shop.Advance(2 * time.Minute)
		r.shop.CreateOrder(shoptest.Buyer{First: "G", Last: fmt.Sprint(i), Email: fmt.Sprintf("g%d@example.com", i)},
			shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	}
	r.waitRows("the hour's orders, polled", 30*time.Second, "SELECT count(*) || '|' || count(DISTINCT shop_id) FROM shop_orders", "31|31")
	r.waitRows("their buyers, polled", 30*time.Second, "SELECT count(*) FROM shop_customers", "31")
}

// TestShopifyBackfillKilled: a backfill of 10,000 orders is killed (kill
// -9) half way through its bulk export, then run again: it goes on from
// its stored position in the same export, and the CRM ends with every
// order once.
func TestShopifyBackfillKilled(t *testing.T) {
	t.Parallel()
	r := newShopRig(t, false, nil)
	const orders, buyers = 10000, 50
	for i := range orders {
		b := shoptest.Buyer{First: "B", Last: fmt.Sprint(i % buyers), Email: fmt.Sprintf("b%d@example.com", i%buyers)}
		r.shop.CreateOrder(b, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1 + i%3, Price: "10.00"})
	}
	r.start()
	if out, errOut, err := runHubEnv(t, r.dir, r.env(), "backfill", "shopify-customers", "--since", "2000-01-01", "-c", r.cfg); err != nil {
		t.Fatalf("customer backfill: %v\n%s\n%s", err, out, errOut)
	}
	var mu sync.Mutex
	var bf *proc
	killed := false
	r.shop.SetOnRange(func(off int64) {
		mu.Lock()
		defer mu.Unlock()
		if size := r.shop.BulkSize(2); !killed && bf != nil && size > 0 && off > int64(size/2) {
			killed = true
			_ = bf.cmd.Process.Signal(syscall.SIGKILL) // as kill -9 would
		}
	})
	mu.Lock()
	bf = startProc(t, "backfill", r.dir, r.env(), "backfill", "shopify-orders", "--since", "2000-01-01", "-c", r.cfg)
	mu.Unlock()
	select {
	case <-bf.done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the backfill neither ended nor was killed")
	}
	mu.Lock()
	wasKilled := killed
	mu.Unlock()
	if !wasKilled {
		t.Fatalf("the backfill ended before it was killed: %v\n%s", bf.err, bf.tail(20))
	}
	out, errOut, err := runHubEnv(t, r.dir, r.env(), "backfill", "shopify-orders", "--since", "2000-01-01", "-c", r.cfg)
	if err != nil || !strings.Contains(out, "caught up") {
		t.Fatalf("resumed backfill: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "resumes") && !strings.Contains(out, "caught up") {
		t.Fatalf("the backfill did not resume: %s", errOut)
	}
	if n := r.shop.BulkOps(); n != 2 { // one for the customers, one for the orders
		t.Fatalf("%d bulk exports, want 2 (the resumed backfill reads the same export)", n)
	}
	r.waitRows("every order once in the CRM", 2*time.Minute, "SELECT count(*) || '|' || count(DISTINCT shop_id) FROM shop_orders",
		fmt.Sprintf("%d|%d", orders, orders))
}
