package e2e

// WooCommerce to the CRM and the ERP: a webhook delivered more than once
// and out of order, refused deliveries, webhooks that never came (the
// poller closes the gap), and a backfill of 10,000 orders killed half
// way. The shop is the WooCommerce stand-in of internal/shoptest (HTTPS,
// its certificate given to the hub by SSL_CERT_FILE), in the test
// process; the hub is the binary.

import (
	"bytes"
	"fmt"
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

var wooConfig = template.Must(template.New("hub.yaml").Parse(`# written by the e2e WooCommerce tests
hub: {data_dir: {{.Dir}}/data, shutdown_timeout: 20s}
log: {level: info, format: text}
http: {addr: {{.HTTPAddr}}}
kafka:
  topic_prefix: woo
  partitions: 3
  embedded: {addr: {{.KafkaAddr}}}
state: {dsn: 'sqlite:{{.Dir}}/data/hub.db'}
connectors:
  woo:
    kind: woocommerce
    url: {{.ShopURL}}
    consumer_key: ${WC_CONSUMER_KEY}
    consumer_secret: ${WC_CONSUMER_SECRET}
    webhook_secret: ${WC_WEBHOOK_SECRET}
    poll_interval: 200ms
    look_back: 0s
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
  woo-customers: {connector: woo, entity: customer, mode: push, mapping: mappings/woo-customer-in.yaml}
  woo-orders:
    connector: woo
    entity: order
    mode: push
    mapping: mappings/woo-order-in.yaml
    refs: {customer: buyer_key}
{{- if .Poll}}
  woo-customers-poll: {connector: woo, entity: customer, mode: pull, interval: 200ms, mapping: mappings/woo-customer-in.yaml}
  woo-orders-poll:
    connector: woo
    entity: order
    mode: pull
    interval: 200ms
    mapping: mappings/woo-order-in.yaml
    refs: {customer: buyer_key}
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

// newWooRig is a hub between the WooCommerce stand-in, a SQLite CRM and,
// optionally, a Tryton: the shop rig with another shop.
func newWooRig(t *testing.T, poll bool, erp *trytonServer) (*shopRig, *shoptest.WooCommerce) {
	t.Helper()
	woo := shoptest.NewWooCommerce()
	t.Cleanup(woo.Close)
	r := &shopRig{t: t, dir: t.TempDir(), httpAddr: freeAddr(t)}
	if err := os.MkdirAll(filepath.Join(r.dir, "mappings"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"woo-order-in.yaml", "woo-customer-in.yaml", "tryton-party-out.yaml", "tryton-sale-out.yaml"} {
		copyFile(t, filepath.Join("..", "configs", "mappings", m), filepath.Join(r.dir, "mappings", m))
	}
	for _, m := range []string{"crm-shop-customer-out.yaml", "crm-shop-order-out.yaml"} {
		copyFile(t, filepath.Join("testdata", "shop", m), filepath.Join(r.dir, "mappings", m))
	}
	copyFile(t, filepath.Join("testdata", "shop", "crm.sql"), filepath.Join(r.dir, "crm.sql"))
	if err := os.WriteFile(filepath.Join(r.dir, "shop.pem"), woo.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"Dir": r.dir, "HTTPAddr": r.httpAddr, "KafkaAddr": freeAddr(t), "ShopURL": woo.URL(), "Poll": poll}
	if erp != nil {
		vars["TrytonURL"], vars["TrytonDB"] = erp.url, erp.db
	}
	var b bytes.Buffer
	if err := wooConfig.Execute(&b, vars); err != nil {
		t.Fatal(err)
	}
	r.cfg = filepath.Join(r.dir, "hub.yaml")
	if err := os.WriteFile(r.cfg, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r.extraEnv = []string{"WC_CONSUMER_KEY=" + woo.Key, "WC_CONSUMER_SECRET=" + woo.Secret, "WC_WEBHOOK_SECRET=" + wooSecret,
		"SSL_CERT_FILE=" + filepath.Join(r.dir, "shop.pem")}
	return r, woo
}

const wooSecret = "woo-webhook-secret"

// wooHook creates a webhook of topic to the rig's hub (its ping answered
// 200).
func wooHook(t *testing.T, r *shopRig, woo *shoptest.WooCommerce, topic string) int {
	t.Helper()
	id, err := woo.AddWebhook(topic, "http://"+r.httpAddr+"/webhooks/woocommerce/woo", wooSecret)
	if err != nil {
		t.Fatalf("webhook %s: %v", topic, err)
	}
	return id
}

// TestWooWebhookOnce: a guest's order delivered three times, then two
// edits whose older delivery arrives after the newer one: the order is in
// the CRM's orders table and in Tryton once, as its newest version, its
// buyer once.
func TestWooWebhookOnce(t *testing.T) {
	t.Parallel()
	erp := newTryton(t)
	if erp == nil {
		return
	}
	baseSales := erp.rpc.count(t, "sale.sale")
	r, woo := newWooRig(t, false, erp)
	r.start()
	created, updated := wooHook(t, r, woo, "order.created"), wooHook(t, r, woo, "order.updated")
	id := woo.CreateOrder(0, ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 2, Price: "120.00"}, shoptest.Line{SKU: "SKU-2", Title: "Hose", Qty: 1, Price: "15.50"})
	d := woo.Delivery(created, id)
	for i := range 3 {
		if code, reply := woo.Send(d); code != 200 {
			t.Fatalf("delivery %d: %d %s", i+1, code, reply)
		}
	}
	ref := fmt.Sprintf("woo:%d", id)
	r.waitRows("the order in the CRM", 30*time.Second, "SELECT order_no || '|' || status || '|' || shop_id FROM shop_orders", fmt.Sprintf("%d|PAID|%s", id, ref))
	waitFor(t, "the sale in Tryton", time.Minute, 200*time.Millisecond, []*proc{r.hub}, func() (bool, string) {
		n := erp.rpc.count(t, "sale.sale", []any{[]any{"reference", "=", ref}})
		return n == 1, fmt.Sprintf("%d sales with reference %s", n, ref)
	})

	edit := func(qty int, total, status string) {
		woo.Advance(time.Minute)
		woo.UpdateOrder(id, func(o map[string]any) {
			o["line_items"].([]any)[0].(map[string]any)["quantity"] = qty
			o["total"], o["status"] = total, status
		})
	}
	edit(3, "448.90", "processing")
	older := woo.Delivery(updated, id)
	edit(4, "591.70", "completed")
	newer := woo.Delivery(updated, id)
	for _, d := range []shoptest.WooDelivery{newer, older, newer} {
		if code, reply := woo.Send(d); code != 200 {
			t.Fatalf("%s: %d %s", d.Header.Get("X-WC-Webhook-Delivery-ID"), code, reply)
		}
	}
	r.waitRows("the newest version in the CRM", 30*time.Second, "SELECT status || '|' || total FROM shop_orders", "FULFILLED|591.70")
	waitFor(t, "the newest quantity in Tryton", time.Minute, 200*time.Millisecond, []*proc{r.hub}, func() (bool, string) {
		rows := erp.rpc.rows(t, "sale.line", []any{[]any{"sale.reference", "=", ref}, []any{"product.code", "=", "SKU-1"}}, "quantity")
		return len(rows) == 1 && fmt.Sprint(rows[0]["quantity"]) == "4", fmt.Sprintf("%v", rows)
	})
	time.Sleep(time.Second) // the older delivery would have been written by now
	if got := r.rows("SELECT total FROM shop_orders"); !equalStrings(got, []string{"591.70"}) {
		t.Fatalf("the older delivery overwrote the newer: %v", got)
	}
	if n := erp.rpc.count(t, "sale.sale") - baseSales; n != 1 {
		t.Fatalf("Tryton has %d new sales, want 1", n)
	}
	if got := r.rows("SELECT email FROM shop_customers"); !equalStrings(got, []string{"ada@example.com"}) {
		t.Fatalf("CRM customers: %v", got)
	}
}

// TestWooRefusals: a bad signature, a wrong topic, truncated JSON, a 10 MB
// body and a wrong content type each get their own status and reason,
// while good deliveries sent at the same time are all taken.
func TestWooRefusals(t *testing.T) {
	t.Parallel()
	r, woo := newWooRig(t, false, nil)
	r.start()
	hook := wooHook(t, r, woo, "order.created")
	id := woo.CreateOrder(0, ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	d := woo.Delivery(hook, id)
	with := func(change func(h http.Header), body []byte) *http.Request {
		req := d.Request()
		if body != nil {
			req = shoptest.WooDelivery{URL: d.URL, Header: d.Header, Body: body}.Request()
			req.Header.Set("X-WC-Webhook-Signature", shoptest.Sign([]byte(wooSecret), body))
		}
		change(req.Header)
		return req
	}
	none := func(http.Header) {}
	bad := []struct {
		name   string
		req    *http.Request
		status int
		reason string
	}{
		{"bad signature", with(func(h http.Header) { h.Set("X-WC-Webhook-Signature", shoptest.Sign([]byte("not the secret"), d.Body)) }, nil), 401, "does not match the body"},
		{"wrong topic", with(func(h http.Header) { h.Set("X-WC-Webhook-Topic", "product.created") }, nil), 422, "is not taken here"},
		{"truncated JSON", with(none, d.Body[:len(d.Body)-40]), 400, "the body is not JSON"},
		{"10 MB body", with(none, bytes.Repeat([]byte("x"), 10<<20)), 413, "over the limit"},
		{"wrong content type", with(func(h http.Header) { h.Set("Content-Type", "application/x-www-form-urlencoded") }, nil), 415, "a delivery is application/json"},
	}
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			oid := woo.CreateOrder(0, shoptest.Buyer{First: "B", Last: fmt.Sprint(i), Email: fmt.Sprintf("b%d@example.com", i)},
				shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
			code, _ := woo.Deliver(hook, oid)
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
	r.waitRows("the 20 good orders in the CRM", 30*time.Second, "SELECT count(*) || '|' || count(DISTINCT customer_ref) FROM shop_orders", "20|20")
	for _, o := range []string{"ping", "bad_signature", "unknown_topic", "malformed", "content_type", "accepted"} {
		if n := metricSum(t, r.httpAddr, "hub_webhook_requests_total", `connector="woo"`, `outcome="`+o+`"`); n < 1 {
			t.Errorf("outcome %s not counted", o)
		}
	}
	if h := woo.Hook(hook); h.Status != "active" || h.Failures != 0 {
		t.Errorf("the webhook after 20 good deliveries: %+v", h)
	}
}

// TestWooPollClosesGap: after one delivered webhook, an hour of orders
// whose webhooks never came, half of them guest checkouts; the next poll
// brings every order and its customer (a guest's from its order).
func TestWooPollClosesGap(t *testing.T) {
	t.Parallel()
	r, woo := newWooRig(t, true, nil)
	cust := woo.CreateCustomer(ada)
	first := woo.CreateOrder(cust, ada, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	r.start()
	hook := wooHook(t, r, woo, "order.created")
	if code, reply := woo.Deliver(hook, first); code != 200 {
		t.Fatalf("%d %s", code, reply)
	}
	r.waitRows("the delivered order", 30*time.Second, "SELECT count(*) FROM shop_orders", "1")
	for i := range 30 { // an hour of orders, two minutes apart, no webhooks
		woo.Advance(2 * time.Minute)
		b := shoptest.Buyer{First: "G", Last: fmt.Sprint(i), Email: fmt.Sprintf("g%d@example.com", i)}
		cust := 0
		if i%2 == 0 {
			cust = woo.CreateCustomer(b)
		}
		woo.CreateOrder(cust, b, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1, Price: "10.00"})
	}
	r.waitRows("the hour's orders, polled", 30*time.Second, "SELECT count(*) || '|' || count(DISTINCT shop_id) FROM shop_orders", "31|31")
	r.waitRows("their buyers, polled", 30*time.Second, "SELECT count(*) FROM shop_customers", "31")
}

// TestWooBackfillKilled: a backfill of 10,000 orders is killed (kill -9)
// half way through, then run again: it goes on from its stored position
// (the shop serves far fewer than twice the orders), and the CRM ends with
// every order once.
func TestWooBackfillKilled(t *testing.T) {
	t.Parallel()
	r, woo := newWooRig(t, false, nil)
	const orders, buyers = 10000, 50
	ids := make([]int, buyers)
	for i := range buyers {
		ids[i] = woo.CreateCustomer(shoptest.Buyer{First: "B", Last: fmt.Sprint(i), Email: fmt.Sprintf("b%d@example.com", i)})
	}
	for i := range orders {
		b := shoptest.Buyer{First: "B", Last: fmt.Sprint(i % buyers), Email: fmt.Sprintf("b%d@example.com", i%buyers)}
		woo.CreateOrder(ids[i%buyers], b, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1 + i%3, Price: "10.00"})
	}
	r.start()
	if out, errOut, err := runHubEnv(t, r.dir, r.env(), "backfill", "woo-customers", "--since", "2000-01-01", "-c", r.cfg); err != nil {
		t.Fatalf("customer backfill: %v\n%s\n%s", err, out, errOut)
	}
	base := woo.Served("orders") // the customer backfill read the orders for guest buyers
	var mu sync.Mutex
	var bf *proc
	killed := false
	woo.SetOnList(func(coll string, served int) {
		mu.Lock()
		defer mu.Unlock()
		if coll == "orders" && !killed && bf != nil && served-base > orders/2 {
			killed = true
			_ = bf.cmd.Process.Signal(syscall.SIGKILL) // as kill -9 would
		}
	})
	mu.Lock()
	bf = startProc(t, "backfill", r.dir, r.env(), "backfill", "woo-orders", "--since", "2000-01-01", "-c", r.cfg)
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
		t.Fatalf("the backfill ended before it was killed (%d orders served): %v\n%s", woo.Served("orders")-base, bf.err, bf.tail(20))
	}
	out, errOut, err := runHubEnv(t, r.dir, r.env(), "backfill", "woo-orders", "--since", "2000-01-01", "-c", r.cfg)
	if err != nil || !strings.Contains(out, "caught up") {
		t.Fatalf("resumed backfill: %v\n%s\n%s", err, out, errOut)
	}
	if n := woo.Served("orders") - base; n > orders*5/4 {
		t.Fatalf("the shop served %d orders for a backfill of %d: the second run started over", n, orders)
	}
	r.waitRows("every order once in the CRM", 2*time.Minute, "SELECT count(*) || '|' || count(DISTINCT shop_id) FROM shop_orders",
		fmt.Sprintf("%d|%d", orders, orders))
}
