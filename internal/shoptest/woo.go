package shoptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// WooCommerce stands in for one WooCommerce shop (WordPress with the
// WooCommerce plugin), as the plugin's source builds its answers:
//
//   - REST API v3 under /wp-json/wc/v3: GET orders and customers (lists and
//     single records), only over HTTPS, with the consumer key and secret as
//     HTTP Basic auth or as the consumer_key and consumer_secret query
//     parameters; lists take page, per_page (1 to 100, default 10) and
//     offset, orders also modified_after / modified_before (exclusive,
//     GMT with dates_are_gmt=true, else the site's time zone), orderby
//     (date, id, modified) and order (asc, desc; default desc); customers
//     orderby (id, name, registered_date; default name), order (default
//     asc), role (default customer, "all") and email. Lists answer a JSON
//     array with X-WP-Total, X-WP-TotalPages and Link (rel="prev",
//     rel="next") headers; errors are WP_Error JSON:
//     {"code", "message", "data": {"status"}}.
//   - Webhooks (class-wc-webhook.php): a POST whose body is
//     wp_json_encode of the REST v3 record (PHP's escaping: "\/" and
//     \uXXXX), Content-Type application/json, User-Agent "WooCommerce/x
//     Hookshot (WordPress/y)" and the headers X-WC-Webhook-Source (the
//     site's home URL), -Topic, -Resource, -Event, -Signature (base64
//     HMAC-SHA256 of the body with the webhook's secret), -ID and
//     -Delivery-ID (wp_hash of the webhook id and the current Unix second:
//     two deliveries of one webhook in the same second share it). A
//     delivery is sent once, never again; an answer outside 2xx counts a
//     failure, and a failure when more than 5 are counted already disables
//     the webhook (a 2xx resets the count). Creating a webhook sends the
//     unsigned ping: a POST with the form body webhook_id=<id>, which must
//     be answered 200.
//
// It simplifies what the hub does not use: no writes through the REST API,
// no search, no status filter, no OAuth 1.0a over plain HTTP (the server
// is HTTPS only, so Basic auth is always taken).
type WooCommerce struct {
	Srv *httptest.Server
	// Key and Secret are the REST API's consumer key and secret.
	Key, Secret string
	// Home is the site's home URL (X-WC-Webhook-Source).
	Home string
	// Zone is the site's time zone (the dates without _gmt).
	Zone *time.Location

	mu        sync.Mutex
	now       time.Time
	tick      time.Duration
	orders    map[int]map[string]any
	customers map[int]map[string]any
	nextID    int
	hooks     map[int]*WooHook
	hookID    int
	fail      []failure
	calls     map[string]int
	served    map[string]int
	onList    func(coll string, served int)
	client    *http.Client
}

// WooHook is a webhook as the shop keeps it.
type WooHook struct {
	ID                       int
	Topic, DeliveryURL       string
	Secret                   string
	Status                   string // active, paused, disabled
	Failures                 int
	Deliveries, LastResponse int
}

// NewWooCommerce starts a stand-in shop (HTTPS); Close stops it.
func NewWooCommerce() *WooCommerce {
	w := &WooCommerce{Key: "ck_0b7c5a1e9f3d4c2b8a6e7f1d0c9b8a7e6d5c4b3a", Secret: "cs_9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d",
		Home: "https://shop.example.test/", Zone: time.FixedZone("CET", 3600),
		now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), tick: time.Second,
		orders: map[int]map[string]any{}, customers: map[int]map[string]any{}, nextID: 4000,
		hooks: map[int]*WooHook{}, calls: map[string]int{}, served: map[string]int{}}
	w.Srv = httptest.NewTLSServer(http.HandlerFunc(w.serve))
	w.client = &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w
}

// Close stops the server.
func (w *WooCommerce) Close() { w.Srv.Close() }

// URL is the site's base URL (https).
func (w *WooCommerce) URL() string { return w.Srv.URL }

// CertPEM is the server's certificate, PEM-encoded: a client that trusts
// it (SSL_CERT_FILE for a process) talks to the shop over HTTPS.
func (w *WooCommerce) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.Srv.Certificate().Raw})
}

// Transport is an HTTP transport that trusts the shop's certificate.
func (w *WooCommerce) Transport() http.RoundTripper { return w.Srv.Client().Transport }

// FailNext makes the next n REST requests fail with status: 429 (with
// Retry-After: retryAfter, as a host's rate limiter in front of WordPress
// answers), 500 (WordPress's critical error) or 503 (maintenance, with
// Retry-After).
func (w *WooCommerce) FailNext(n, status int, retryAfter string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for range n {
		w.fail = append(w.fail, failure{status: status, retryAfter: retryAfter})
	}
}

// ResetFailures forgets the failures FailNext set and not yet served.
func (w *WooCommerce) ResetFailures() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail = nil
}

// SetOnList sets a function called after every list request with how
// many records of the collection (orders, customers) lists have served
// so far (tests stop a backfill half way with it).
func (w *WooCommerce) SetOnList(f func(coll string, served int)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onList = f
}

// Served is how many records of coll (orders, customers) lists have
// served.
func (w *WooCommerce) Served(coll string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.served[coll]
}

// Calls is how many REST requests of kind were served: orders,
// customers, order, customer, unauthorized, failed.
func (w *WooCommerce) Calls(kind string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls[kind]
}

// Now is the shop's clock; every change moves it on by a tick.
func (w *WooCommerce) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// Advance moves the shop's clock.
func (w *WooCommerce) Advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

const wooLayout = "2006-01-02T15:04:05"

// dates sets key and key_gmt to t, as the REST API writes them.
func (w *WooCommerce) dates(m map[string]any, key string, t time.Time) {
	m[key] = t.In(w.Zone).Format(wooLayout)
	m[key+"_gmt"] = t.UTC().Format(wooLayout)
}

func (w *WooCommerce) stamp() time.Time {
	w.now = w.now.Add(w.tick)
	return w.now
}

func wooAddress(b Buyer, email bool) map[string]any {
	a := map[string]any{"first_name": b.First, "last_name": b.Last, "company": "", "address_1": "Chausseestr. 1", "address_2": "",
		"city": "Berlin", "state": "BE", "postcode": "10115", "country": "DE", "phone": b.Phone}
	if email {
		a["email"] = b.Email
	}
	return a
}

// CreateCustomer registers a customer and returns its id.
func (w *WooCommerce) CreateCustomer(b Buyer) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.createCustomer(b)
}

func (w *WooCommerce) createCustomer(b Buyer) int {
	w.nextID++
	id := w.nextID
	at := w.stamp()
	c := map[string]any{"id": id, "email": b.Email, "first_name": b.First, "last_name": b.Last, "role": "customer",
		"username": strings.Split(b.Email, "@")[0], "billing": wooAddress(b, true), "shipping": wooAddress(b, false),
		"is_paying_customer": false, "avatar_url": "https://secure.gravatar.com/avatar/?s=96&d=mm&r=g", "meta_data": []any{}}
	w.dates(c, "date_created", at)
	w.dates(c, "date_modified", at)
	c["_links"] = w.links("customers", id)
	w.customers[id] = c
	return id
}

// UpdateCustomer changes a customer and stamps it modified.
func (w *WooCommerce) UpdateCustomer(id int, change func(c map[string]any)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.customers[id]
	change(c)
	w.dates(c, "date_modified", w.stamp())
}

func (w *WooCommerce) links(coll string, id int) map[string]any {
	base := strings.TrimSuffix(w.Home, "/") + "/wp-json/wc/v3/" + coll
	return map[string]any{"self": []any{map[string]any{"href": base + "/" + strconv.Itoa(id)}}, "collection": []any{map[string]any{"href": base}}}
}

// CreateOrder places an order for b: a registered customer's when
// customer is not 0, else a guest checkout. Its status is processing
// (paid); it returns the order's id.
func (w *WooCommerce) CreateOrder(customer int, b Buyer, lines ...Line) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	id := w.nextID
	at := w.stamp()
	items := make([]any, len(lines))
	sub, tax := 0.0, 0.0
	for i, l := range lines {
		w.nextID++
		p, _ := strconv.ParseFloat(l.Price, 64)
		net := p * float64(l.Qty)
		t := net * 0.19
		sub, tax = sub+net, tax+t
		items[i] = map[string]any{"id": w.nextID, "name": l.Title, "product_id": 90 + i, "variation_id": 0, "quantity": l.Qty,
			"tax_class": "", "subtotal": money(net), "subtotal_tax": money(t), "total": money(net), "total_tax": money(t),
			"taxes": []any{map[string]any{"id": 1, "total": money(t), "subtotal": money(t)}}, "meta_data": []any{},
			"sku": l.SKU, "price": p, "image": map[string]any{"id": "", "src": ""}, "parent_name": nil}
	}
	ship := 4.90
	o := map[string]any{"id": id, "parent_id": 0, "status": "processing", "currency": "EUR", "version": "9.4.2",
		"prices_include_tax": false, "discount_total": "0.00", "discount_tax": "0.00", "shipping_total": money(ship),
		"shipping_tax": "0.00", "cart_tax": money(tax), "total": money(sub + tax + ship), "total_tax": money(tax),
		"customer_id": customer, "order_key": fmt.Sprintf("wc_order_%x", id*7919), "billing": wooAddress(b, true),
		"shipping": wooAddress(b, false), "payment_method": "stripe", "payment_method_title": "Credit card",
		"transaction_id": fmt.Sprintf("pi_%d", id), "customer_ip_address": "203.0.113.7",
		"customer_user_agent": "Mozilla/5.0", "created_via": "checkout", "customer_note": "", "date_completed": nil,
		"date_completed_gmt": nil, "cart_hash": fmt.Sprintf("%032x", id), "number": strconv.Itoa(id), "meta_data": []any{},
		"line_items": items, "tax_lines": []any{}, "shipping_lines": []any{}, "fee_lines": []any{}, "coupon_lines": []any{},
		"refunds": []any{}, "payment_url": fmt.Sprintf("%scheckout/order-pay/%d/", w.Home, id), "is_editable": false,
		"needs_payment": false, "needs_processing": true, "currency_symbol": "€"}
	w.dates(o, "date_created", at)
	w.dates(o, "date_modified", at)
	w.dates(o, "date_paid", at)
	o["_links"] = w.links("orders", id)
	w.orders[id] = o
	return id
}

// UpdateOrder changes an order and stamps it modified.
func (w *WooCommerce) UpdateOrder(id int, change func(o map[string]any)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.orders[id]
	change(o)
	w.dates(o, "date_modified", w.stamp())
}

// Orders is how many orders the shop holds.
func (w *WooCommerce) Orders() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.orders)
}

// OrderJSON is an order as the REST API and its webhooks write it.
func (w *WooCommerce) OrderJSON(id int) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return PHPJSON(w.orders[id])
}

// CustomerJSON is a customer as the REST API and its webhooks write it.
func (w *WooCommerce) CustomerJSON(id int) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return PHPJSON(w.customers[id])
}

// PHPJSON encodes v as wp_json_encode does (PHP's json_encode defaults):
// "/" escaped as "\/", every non-ASCII character as \uXXXX (UTF-16), but
// <, > and & as they are.
func PHPJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil
	}
	raw := bytes.TrimSpace(b.Bytes())
	out := make([]byte, 0, len(raw)+len(raw)/8)
	for len(raw) > 0 {
		r, n := utf8.DecodeRune(raw)
		switch {
		case r == '/':
			out = append(out, '\\', '/')
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case r > 0xFFFF:
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		raw = raw[n:]
	}
	return out
}

// ---- webhooks ----

// AddWebhook creates an active webhook for topic (order.created,
// order.updated, customer.created, customer.updated, ...) delivering to
// deliveryURL, signed with secret, and sends its ping, as the shop's
// admin does on saving it. An answer to the ping other than 200 is an
// error (WooCommerce shows "Error: Delivery URL returned response code");
// the webhook stays.
func (w *WooCommerce) AddWebhook(topic, deliveryURL, secret string) (int, error) {
	w.mu.Lock()
	w.hookID++
	h := &WooHook{ID: w.hookID, Topic: topic, DeliveryURL: deliveryURL, Secret: secret, Status: "active"}
	w.hooks[h.ID] = h
	w.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, deliveryURL, strings.NewReader("webhook_id="+strconv.Itoa(h.ID)))
	if err != nil {
		return h.ID, err
	}
	// wp_safe_remote_post with a string body: cURL sends it as a form.
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", wooAgent)
	resp, err := w.client.Do(req)
	if err != nil {
		return h.ID, fmt.Errorf("the delivery URL cannot be reached: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return h.ID, fmt.Errorf("the delivery URL returned response code: %d", resp.StatusCode)
	}
	return h.ID, nil
}

// Hook is a copy of webhook id's state.
func (w *WooCommerce) Hook(id int) WooHook {
	w.mu.Lock()
	defer w.mu.Unlock()
	if h := w.hooks[id]; h != nil {
		return *h
	}
	return WooHook{}
}

const wooAgent = "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)"

// WooDelivery is one webhook delivery: what WC_Webhook::deliver posts.
type WooDelivery struct {
	Hook     int
	URL      string
	Header   http.Header
	Body     []byte
	Resource int
}

// Delivery builds webhook hook's delivery of the record resource as it is
// now (the REST v3 record; for a deleted event only its id).
func (w *WooCommerce) Delivery(hook, resource int) WooDelivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.hooks[hook]
	res, event, _ := strings.Cut(h.Topic, ".")
	var payload any
	switch {
	case event == "deleted":
		payload = map[string]any{"id": resource}
	case res == "order":
		payload = w.orders[resource]
	case res == "customer":
		payload = w.customers[resource]
	default:
		payload = []any{}
	}
	body := PHPJSON(payload)
	hd := http.Header{}
	hd.Set("Content-Type", "application/json")
	hd.Set("User-Agent", wooAgent)
	hd.Set("X-WC-Webhook-Source", w.Home)
	hd.Set("X-WC-Webhook-Topic", h.Topic)
	hd.Set("X-WC-Webhook-Resource", res)
	hd.Set("X-WC-Webhook-Event", event)
	hd.Set("X-WC-Webhook-Signature", Sign([]byte(h.Secret), body))
	hd.Set("X-WC-Webhook-ID", strconv.Itoa(h.ID))
	hd.Set("X-WC-Webhook-Delivery-ID", wpHash(strconv.Itoa(h.ID)+strconv.FormatInt(w.now.Unix(), 10)))
	return WooDelivery{Hook: hook, URL: h.DeliveryURL, Header: hd, Body: body, Resource: resource}
}

// wpHash is WordPress's wp_hash: HMAC-MD5 with the site's auth salt, hex.
func wpHash(data string) string {
	m := hmac.New(md5.New, []byte("put your unique phrase here"+"auth"))
	m.Write([]byte(data))
	return hex.EncodeToString(m.Sum(nil))
}

// Request is d as an HTTP request.
func (d WooDelivery) Request() *http.Request {
	req, _ := http.NewRequest(http.MethodPost, d.URL, bytes.NewReader(d.Body))
	req.Header = d.Header.Clone()
	return req
}

// Send posts d once (WooCommerce never sends a delivery again) unless
// the webhook is not active, counts a failure for an answer outside 2xx
// (disabling the webhook at the one after more than 5), and returns the
// status (0 when it was not sent or not answered) and the answer's body.
func (w *WooCommerce) Send(d WooDelivery) (int, string) {
	w.mu.Lock()
	h := w.hooks[d.Hook]
	active := h != nil && h.Status == "active"
	w.mu.Unlock()
	if !active {
		return 0, ""
	}
	status, body := 0, ""
	resp, err := w.client.Do(d.Request())
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status, body = resp.StatusCode, string(b)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	h.Deliveries++
	h.LastResponse = status
	if status >= 200 && status < 300 {
		h.Failures = 0
	} else if h.Failures > 5 {
		h.Status = "disabled"
	} else {
		h.Failures++
	}
	return status, body
}

// Deliver sends webhook hook's delivery of resource as it is now.
func (w *WooCommerce) Deliver(hook, resource int) (int, string) {
	return w.Send(w.Delivery(hook, resource))
}

// ---- REST API ----

func wpError(rw http.ResponseWriter, status int, code, msg string, extra map[string]any) {
	data := map[string]any{"status": status}
	for k, v := range extra {
		data[k] = v
	}
	rw.Header().Set("Content-Type", "application/json; charset=UTF-8")
	rw.WriteHeader(status)
	_, _ = rw.Write(PHPJSON(map[string]any{"code": code, "message": msg, "data": data}))
}

const wooREST = "/wp-json/wc/v3/"

func (w *WooCommerce) serve(rw http.ResponseWriter, r *http.Request) {
	if !w.authorized(rw, r) {
		return
	}
	if f, ok := w.nextFailure(); ok {
		w.failWith(rw, f)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, wooREST)
	coll, idText, _ := strings.Cut(rest, "/")
	if !ok || r.Method != http.MethodGet || (coll != "orders" && coll != "customers") {
		wpError(rw, 404, "rest_no_route", "No route was found matching the URL and request method.", nil)
		return
	}
	if idText != "" {
		w.one(rw, coll, idText)
		return
	}
	w.list(rw, r, coll)
}

// authorized checks the consumer key and secret (Basic auth or query
// parameters) as WC_REST_Authentication does over HTTPS.
func (w *WooCommerce) authorized(rw http.ResponseWriter, r *http.Request) bool {
	key, secret, ok := r.BasicAuth()
	if !ok {
		key, secret = r.URL.Query().Get("consumer_key"), r.URL.Query().Get("consumer_secret")
	}
	fail := func(code, msg string) bool {
		w.mu.Lock()
		w.calls["unauthorized"]++
		w.mu.Unlock()
		wpError(rw, 401, code, msg, nil)
		return false
	}
	switch {
	case key == "" && secret == "":
		return fail("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
	case !hmac.Equal([]byte(key), []byte(w.Key)):
		return fail("woocommerce_rest_authentication_error", "Consumer key is invalid.")
	case !hmac.Equal([]byte(secret), []byte(w.Secret)):
		return fail("woocommerce_rest_authentication_error", "Consumer secret is invalid.")
	}
	return true
}

func (w *WooCommerce) nextFailure() (failure, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.fail) == 0 {
		return failure{}, false
	}
	f := w.fail[0]
	w.fail = w.fail[1:]
	w.calls["failed"]++
	return f, true
}

func (w *WooCommerce) failWith(rw http.ResponseWriter, f failure) {
	if f.retryAfter != "" {
		rw.Header().Set("Retry-After", f.retryAfter)
	}
	switch f.status {
	case http.StatusInternalServerError:
		wpError(rw, 500, "internal_server_error", "<p>There has been a critical error on this website.</p><p><a href=\"https://wordpress.org/documentation/article/faq-troubleshooting/\">Learn more about troubleshooting WordPress.</a></p>", nil)
	case http.StatusServiceUnavailable: // wp_maintenance()
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.WriteHeader(503)
		_, _ = io.WriteString(rw, "<!DOCTYPE html><html><body><p>Briefly unavailable for scheduled maintenance. Check back in a minute.</p></body></html>")
	default: // a host's limiter in front of WordPress
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.WriteHeader(f.status)
		_, _ = io.WriteString(rw, "<html><body><h1>"+strconv.Itoa(f.status)+" "+http.StatusText(f.status)+"</h1></body></html>")
	}
}

func (w *WooCommerce) one(rw http.ResponseWriter, coll, idText string) {
	id, err := strconv.Atoi(idText)
	w.mu.Lock()
	var rec map[string]any
	if coll == "orders" {
		rec = w.orders[id]
		w.calls["order"]++
	} else {
		rec = w.customers[id]
		w.calls["customer"]++
	}
	var body []byte
	if rec != nil {
		body = PHPJSON(rec)
	}
	w.mu.Unlock()
	switch {
	case err != nil || body == nil && coll == "orders":
		wpError(rw, 404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.", nil)
	case body == nil:
		wpError(rw, 404, "woocommerce_rest_invalid_id", "Invalid resource ID.", nil)
	default:
		rw.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = rw.Write(body)
	}
}

// listQuery is a list request's parameters, checked as the REST API's
// schema checks them.
type listQuery struct {
	page, perPage, offset int
	offsetSet             bool
	after, before         time.Time
	orderby, order        string
	role, email           string
}

func (w *WooCommerce) parseList(q url.Values, coll string) (listQuery, string) {
	lq := listQuery{page: 1, perPage: 10, order: "desc", orderby: "date", role: "customer"}
	if coll == "customers" {
		lq.order, lq.orderby = "asc", "name"
	}
	num := func(name string, min, max int, dst *int) string {
		s := q.Get(name)
		if s == "" {
			return ""
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < min || (max > 0 && n > max) {
			if max > 0 {
				return fmt.Sprintf("%s must be between %d (inclusive) and %d (inclusive)", name, min, max)
			}
			return fmt.Sprintf("%s must be greater than or equal to %d", name, min)
		}
		*dst = n
		return ""
	}
	gmt := q.Get("dates_are_gmt") == "true" || q.Get("dates_are_gmt") == "1"
	date := func(name string, dst *time.Time) string {
		s := q.Get(name)
		if s == "" {
			return ""
		}
		zone := w.Zone
		if gmt {
			zone = time.UTC
		}
		t, err := time.ParseInLocation(wooLayout, strings.TrimSuffix(s, "Z"), zone)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, s); err != nil {
				return "Invalid date."
			}
		}
		*dst = t
		return ""
	}
	orderbys := map[string][]string{"orders": {"date", "id", "include", "title", "slug", "modified"}, "customers": {"id", "include", "name", "registered_date"}}
	for name, msg := range map[string]string{
		"page": num("page", 1, 0, &lq.page), "per_page": num("per_page", 1, 100, &lq.perPage), "offset": num("offset", 0, 0, &lq.offset),
		"modified_after": date("modified_after", &lq.after), "modified_before": date("modified_before", &lq.before),
	} {
		if msg != "" {
			return lq, name + ": " + msg
		}
	}
	lq.offsetSet = q.Get("offset") != ""
	if s := q.Get("order"); s != "" {
		if s != "asc" && s != "desc" {
			return lq, "order: order is not one of asc and desc."
		}
		lq.order = s
	}
	if s := q.Get("orderby"); s != "" {
		if !contains(orderbys[coll], s) {
			return lq, "orderby: orderby is not one of " + strings.Join(orderbys[coll], ", ") + "."
		}
		lq.orderby = s
	}
	if s := q.Get("role"); s != "" {
		lq.role = s
	}
	lq.email = q.Get("email")
	return lq, ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (w *WooCommerce) list(rw http.ResponseWriter, r *http.Request, coll string) {
	q := r.URL.Query()
	lq, bad := w.parseList(q, coll)
	if bad != "" {
		param, msg, _ := strings.Cut(bad, ": ")
		wpError(rw, 400, "rest_invalid_param", "Invalid parameter(s): "+param, map[string]any{"params": map[string]any{param: msg}})
		return
	}
	w.mu.Lock()
	w.calls[coll]++
	rows := w.pick(coll, lq)
	total := len(rows)
	start := (lq.page - 1) * lq.perPage
	if lq.offsetSet {
		start = lq.offset
	}
	start = min(start, len(rows))
	rows = rows[start:min(len(rows), start+lq.perPage)]
	body := PHPJSON(rows)
	w.served[coll] += len(rows)
	served, onList := w.served[coll], w.onList
	w.mu.Unlock()
	if onList != nil {
		defer onList(coll, served)
	}

	pages := (total + lq.perPage - 1) / lq.perPage
	rw.Header().Set("X-WP-Total", strconv.Itoa(total))
	rw.Header().Set("X-WP-TotalPages", strconv.Itoa(pages))
	link := func(p int) string {
		nq := url.Values{}
		for k, v := range q {
			if k != "consumer_key" && k != "consumer_secret" {
				nq[k] = v
			}
		}
		nq.Set("page", strconv.Itoa(p))
		return w.Srv.URL + wooREST + coll + "?" + nq.Encode()
	}
	if lq.page > 1 && lq.page-1 <= pages {
		rw.Header().Add("Link", "<"+link(lq.page-1)+`>; rel="prev"`)
	}
	if lq.page < pages {
		rw.Header().Add("Link", "<"+link(lq.page+1)+`>; rel="next"`)
	}
	rw.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = rw.Write(body)
}

// pick filters and sorts a collection (under the lock).
func (w *WooCommerce) pick(coll string, lq listQuery) []map[string]any {
	src := w.orders
	if coll == "customers" {
		src = w.customers
	}
	rows := []map[string]any{}
	for _, rec := range src {
		if coll == "customers" && ((lq.role != "all" && rec["role"] != lq.role) || (lq.email != "" && rec["email"] != lq.email)) {
			continue
		}
		if coll == "orders" {
			mt, _ := time.Parse(wooLayout, rec["date_modified_gmt"].(string))
			if !lq.after.IsZero() && !mt.After(lq.after.UTC()) || !lq.before.IsZero() && !mt.Before(lq.before.UTC()) {
				continue
			}
		}
		rows = append(rows, rec)
	}
	key := map[string]string{"date": "date_created_gmt", "registered_date": "date_created_gmt", "modified": "date_modified_gmt", "title": "number", "slug": "number", "name": "last_name"}[lq.orderby]
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		less, eq := a["id"].(int) < b["id"].(int), false
		if key != "" {
			x, y := text(a[key]), text(b[key])
			if x != y {
				less = x < y
			} else {
				eq = true
			}
		}
		if eq {
			less = a["id"].(int) < b["id"].(int)
		}
		if lq.order == "desc" {
			return !less
		}
		return less
	})
	return rows
}

func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}
