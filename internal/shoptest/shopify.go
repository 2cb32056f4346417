package shoptest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Shopify stands in for one Shopify store: its orders and customers as
// the REST Admin resources (the webhook payloads), the GraphQL Admin API
// over them, and bulk operations.
type Shopify struct {
	Srv *httptest.Server
	// Domain is the shop's myshopify.com domain (X-Shopify-Shop-Domain).
	Domain string
	// Token is the Admin API access token the API takes.
	Token string
	// Secret signs the webhooks.
	Secret string
	// Zone is the shop's time zone: REST payloads carry local times with
	// their offset, GraphQL UTC.
	Zone *time.Location

	mu        sync.Mutex
	now       time.Time
	tick      time.Duration
	orders    map[int64]map[string]any
	customers map[int64]map[string]any
	nextID    int64
	orderNo   int64
	bucket    bucket
	fail      []failure
	ops       map[string]*bulkOp
	opSeq     int
	calls     map[string]int
	revoked   bool
	// OnRange is called with the offset of every request for a bulk
	// result (tests stop a backfill half way with it).
	// Set it with SetOnRange once the server is serving.
	OnRange func(off int64)
}

// bucket is the GraphQL query cost budget (leaky bucket): Shopify's
// standard plan holds 1,000 points and restores 50 a second.
type bucket struct {
	max, restore, avail float64
	at                  time.Time
}

type failure struct {
	status     int
	retryAfter string
}

// NewShopify starts a stand-in store; Close stops it.
func NewShopify() *Shopify {
	s := &Shopify{Domain: "hub-test.myshopify.com", Token: "shpat_test_token", Secret: "test-webhook-secret",
		Zone: time.FixedZone("CET", 3600), now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), tick: time.Second,
		orders: map[int64]map[string]any{}, customers: map[int64]map[string]any{}, nextID: 820982911946154500, orderNo: 1000,
		ops: map[string]*bulkOp{}, calls: map[string]int{}}
	s.bucket = bucket{max: 1000, restore: 50, avail: 1000, at: time.Now()}
	s.Srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the server.
func (s *Shopify) Close() { s.Srv.Close() }

// URL is the store's base URL.
func (s *Shopify) URL() string { return s.Srv.URL }

// SetBucket sets the query cost budget (points, points restored a second).
func (s *Shopify) SetBucket(max, restore float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket = bucket{max: max, restore: restore, avail: max, at: time.Now()}
}

// Drain takes the whole query cost budget, as another client of the same
// app would: the next query is throttled.
func (s *Shopify) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket.avail, s.bucket.at = 0, time.Now()
}

// FailNext makes the next n API requests fail with status (429 with
// Retry-After: retryAfter seconds, as Shopify's REST limit answers).
func (s *Shopify) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fail = append(s.fail, failure{status: status, retryAfter: retryAfter})
	}
}

// Calls is how many API requests of kind were served (probe, orders,
// customers, count, bulk_run, bulk_node, lines, range, throttled).
func (s *Shopify) Calls(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[kind]
}

// Now is the store's clock; every change moves it on by a tick.
func (s *Shopify) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Advance moves the store's clock.
func (s *Shopify) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

func (s *Shopify) stamp() string {
	s.now = s.now.Add(s.tick)
	return s.now.In(s.Zone).Format(time.RFC3339)
}

// Buyer is who places an order.
type Buyer struct {
	First, Last, Email, Phone string
}

// Line is an order line.
type Line struct {
	SKU, Title string
	Qty        int
	Price      string
}

// customerFor returns the customer with b's email, creating it.
func (s *Shopify) customerFor(b Buyer) map[string]any {
	for _, c := range s.customers {
		if c["email"] == b.Email {
			return c
		}
	}
	s.nextID++
	at := s.stamp()
	c := map[string]any{
		"id": s.nextID, "email": b.Email, "first_name": b.First, "last_name": b.Last, "phone": nilIfEmpty(b.Phone),
		"created_at": at, "updated_at": at, "state": "enabled", "note": nil, "tags": "", "currency": "EUR",
		"verified_email": true, "tax_exempt": false, "admin_graphql_api_id": gid("Customer", s.nextID),
		"default_address": map[string]any{"first_name": b.First, "last_name": b.Last, "company": nil, "address1": "Chausseestr. 1",
			"address2": "", "city": "Berlin", "province": "Berlin", "zip": "10115", "country": "Germany", "country_code": "DE",
			"phone": nilIfEmpty(b.Phone), "default": true},
	}
	s.customers[s.nextID] = c
	return c
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func gid(kind string, id int64) string {
	return "gid://shopify/" + kind + "/" + strconv.FormatInt(id, 10)
}

// CreateOrder places an order (creating its buyer as a customer when the
// email is new) and returns its id.
func (s *Shopify) CreateOrder(b Buyer, lines ...Line) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createOrder(b, lines)
}

func (s *Shopify) createOrder(b Buyer, lines []Line) int64 {
	cust := s.customerFor(b)
	s.nextID++
	s.orderNo++
	id := s.nextID
	at := s.stamp()
	items := make([]any, len(lines))
	sub := 0.0
	for i, l := range lines {
		s.nextID++
		p, _ := strconv.ParseFloat(l.Price, 64)
		sub += p * float64(l.Qty)
		items[i] = map[string]any{"id": s.nextID, "admin_graphql_api_id": gid("LineItem", s.nextID), "sku": l.SKU, "title": l.Title,
			"name": l.Title, "quantity": l.Qty, "price": l.Price, "total_discount": "0.00", "product_id": 632910392, "variant_id": 808950810,
			"tax_lines": []any{map[string]any{"price": money(p * float64(l.Qty) * 0.19 / 1.19), "rate": 0.19, "title": "MwSt"}}}
	}
	addr := map[string]any{"first_name": b.First, "last_name": b.Last, "name": strings.TrimSpace(b.First + " " + b.Last), "company": nil,
		"address1": "Chausseestr. 1", "address2": "", "city": "Berlin", "province": "Berlin", "zip": "10115", "country": "Germany",
		"country_code": "DE", "phone": nilIfEmpty(b.Phone)}
	ship := map[string]any{}
	for k, v := range addr {
		ship[k] = v
	}
	o := map[string]any{
		"id": id, "admin_graphql_api_id": gid("Order", id), "name": "#" + strconv.FormatInt(s.orderNo, 10),
		"order_number": s.orderNo, "number": s.orderNo - 1000, "email": b.Email, "contact_email": b.Email, "phone": nilIfEmpty(b.Phone),
		"note": nil, "tags": "", "created_at": at, "updated_at": at, "processed_at": at, "cancelled_at": nil, "cancel_reason": nil,
		"financial_status": "paid", "fulfillment_status": nil, "currency": "EUR", "presentment_currency": "EUR",
		"subtotal_price": money(sub), "total_line_items_price": money(sub), "total_tax": money(sub * 0.19 / 1.19),
		"total_discounts": "0.00", "total_price": money(sub + 4.90), "gateway": "shopify_payments", "payment_gateway_names": []any{"shopify_payments"},
		"shipping_lines": []any{map[string]any{"id": s.nextID + 1, "title": "Standard", "code": "Standard", "price": "4.90"}},
		"customer":       cust, "billing_address": addr, "shipping_address": ship, "line_items": items,
	}
	s.nextID++
	s.orders[id] = o
	return id
}

func money(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// CreateCustomer adds a customer (or finds the one with b's email) and
// returns its id, as a customer signing up in the shop would.
func (s *Shopify) CreateCustomer(b Buyer) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.customerFor(b)["id"].(int64)
}

// UpdateCustomer changes a customer (its updated_at moves on).
func (s *Shopify) UpdateCustomer(id int64, change func(c map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.customers[id]
	change(c)
	c["updated_at"] = s.stamp()
}

// Revoke makes every Admin API request fail with 401, as an app whose
// access token was revoked (uninstalled) sees; Revoke(false) undoes it.
func (s *Shopify) Revoke(revoked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = revoked
}

// UpdateOrder changes an order (its updated_at moves on) and returns it.
func (s *Shopify) UpdateOrder(id int64, change func(o map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[id]
	change(o)
	o["updated_at"] = s.stamp()
}

// CancelOrder cancels an order as Shopify does (cancelled_at, voided).
func (s *Shopify) CancelOrder(id int64) {
	s.UpdateOrder(id, func(o map[string]any) {
		o["cancelled_at"] = s.now.Add(s.tick).In(s.Zone).Format(time.RFC3339)
		o["cancel_reason"] = "customer"
		o["financial_status"] = "voided"
	})
}

// OrderJSON is an order's webhook payload now.
func (s *Shopify) OrderJSON(id int64) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(s.orders[id])
	return b
}

// CustomerJSON is a customer's webhook payload now.
func (s *Shopify) CustomerJSON(id int64) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(s.customers[id])
	return b
}

// Orders is how many orders the store holds.
func (s *Shopify) Orders() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.orders)
}

// Delivery is a webhook delivery as Shopify sends it.
type Delivery struct {
	Topic, ID string
	Body      []byte
}

// Request builds the signed POST of a delivery to url (with secret).
func (s *Shopify) Request(url string, d Delivery) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.Body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", d.Topic)
	req.Header.Set("X-Shopify-Hmac-Sha256", Sign([]byte(s.Secret), d.Body))
	req.Header.Set("X-Shopify-Shop-Domain", s.Domain)
	req.Header.Set("X-Shopify-API-Version", "2025-01")
	req.Header.Set("X-Shopify-Webhook-Id", d.ID)
	req.Header.Set("X-Shopify-Event-Id", "evt-"+d.ID)
	req.Header.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	return req
}

// ---- the Admin API ----

func (s *Shopify) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/bulk/") {
		s.serveBulk(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/admin/api/") || !strings.HasSuffix(r.URL.Path, "/graphql.json") || r.Method != http.MethodPost {
		http.Error(w, `{"errors":"Not Found"}`, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	revoked := s.revoked
	s.mu.Unlock()
	if revoked || r.Header.Get("X-Shopify-Access-Token") != s.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}
	s.mu.Lock()
	if len(s.fail) > 0 {
		f := s.fail[0]
		s.fail = s.fail[1:]
		s.mu.Unlock()
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		writeJSON(w, f.status, map[string]any{"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."})
		return
	}
	s.mu.Unlock()
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": "Bad Request"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	status, body := s.graphql(req.Query, req.Variables)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// graphql answers one query. The stand-in recognises the queries the
// connector sends by their root fields rather than parsing GraphQL.
func (s *Shopify) graphql(q string, vars map[string]any) (int, map[string]any) {
	kind, cost := s.classify(q, vars)
	s.calls[kind]++
	if cost > s.bucket.max {
		return 200, map[string]any{"errors": []any{map[string]any{"message": fmt.Sprintf("Query cost is %d, which exceeds the single query max cost limit (%d).", int(cost), int(s.bucket.max)),
			"extensions": map[string]any{"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": s.bucket.max}}}}
	}
	s.refill()
	if cost > s.bucket.avail {
		s.calls["throttled"]++
		return 200, map[string]any{"errors": []any{map[string]any{"message": "Throttled", "extensions": map[string]any{"code": "THROTTLED",
			"documentation": "https://shopify.dev/api/usage/rate-limits"}}}, "extensions": s.costExt(cost, nil)}
	}
	var data map[string]any
	actual := cost
	switch kind {
	case "probe":
		data = map[string]any{"shop": map[string]any{"name": "Hub Test Shop"}}
	case "orders", "customers":
		data, actual = s.page(kind, q, vars)
	case "lines":
		data = s.moreLines(q, vars)
	case "count":
		data = s.count(q, vars)
	case "bulk_run":
		data = s.runBulk(vars)
	case "bulk_node":
		data = s.bulkNode(vars)
	case "bulk_current":
		data = s.currentBulk()
	default:
		return 200, map[string]any{"errors": []any{map[string]any{"message": "stand-in: unknown query " + q}}}
	}
	s.bucket.avail -= actual
	return 200, map[string]any{"data": data, "extensions": s.costExt(cost, &actual)}
}

func (s *Shopify) refill() {
	now := time.Now()
	s.bucket.avail = min(s.bucket.max, s.bucket.avail+s.bucket.restore*now.Sub(s.bucket.at).Seconds())
	s.bucket.at = now
}

func (s *Shopify) costExt(requested float64, actual *float64) map[string]any {
	var act any
	if actual != nil {
		act = *actual
	}
	return map[string]any{"cost": map[string]any{"requestedQueryCost": requested, "actualQueryCost": act,
		"throttleStatus": map[string]any{"maximumAvailable": s.bucket.max, "currentlyAvailable": s.bucket.avail, "restoreRate": s.bucket.restore}}}
}

// classify names a query and its requested cost: connections cost 2 plus
// their first × each node's cost (one point per object in it), as
// Shopify's calculated query cost does.
func (s *Shopify) classify(q string, vars map[string]any) (string, float64) {
	first := 1.0
	if f, ok := vars["first"].(float64); ok {
		first = f
	}
	switch {
	case strings.Contains(q, "bulkOperationRunQuery"):
		return "bulk_run", 10
	case strings.Contains(q, "currentBulkOperation"):
		return "bulk_current", 1
	case strings.Contains(q, "on BulkOperation"):
		return "bulk_node", 1
	case strings.Contains(q, "Count("):
		return "count", 1
	case strings.Contains(q, "on Order"):
		return "lines", 2 + float64(firstOf(q, "lineItems(first: "))*5
	case strings.Contains(q, "orders("):
		return "orders", 2 + first*(float64(firstOf(q, "lineItems(first: "))+10)
	case strings.Contains(q, "customers("):
		return "customers", 2 + first*3
	case strings.Contains(q, "shop {"):
		return "probe", 1
	}
	return "unknown", 1
}

func firstOf(q, prefix string) int {
	i := strings.Index(q, prefix)
	if i < 0 {
		return 0
	}
	rest := q[i+len(prefix):]
	j := strings.IndexAny(rest, ",)")
	n, _ := strconv.Atoi(strings.TrimSpace(rest[:j]))
	return n
}

// sinceOf reads a search query "updated_at:>='TIME'" (or >).
func sinceOf(v any) (time.Time, bool, bool) {
	q, _ := v.(string)
	if q == "" {
		return time.Time{}, false, true
	}
	rest, ok := strings.CutPrefix(q, "updated_at:>")
	if !ok {
		return time.Time{}, false, false
	}
	incl := strings.HasPrefix(rest, "=")
	rest = strings.Trim(strings.TrimPrefix(rest, "="), "'\"")
	t, err := time.Parse(time.RFC3339, rest)
	return t, incl, err == nil
}

// sorted lists the records of kind changed since the query's time, by
// (updated_at, id).
func (s *Shopify) sorted(kind string, query any) []map[string]any {
	src := s.orders
	if kind == "customers" {
		src = s.customers
	}
	since, incl, _ := sinceOf(query)
	var out []map[string]any
	for _, r := range src {
		t := updatedAt(r)
		if !since.IsZero() && (t.Before(since) || !incl && t.Equal(since)) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := updatedAt(out[i]), updatedAt(out[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return out[i]["id"].(int64) < out[j]["id"].(int64)
	})
	return out
}

func updatedAt(r map[string]any) time.Time {
	t, _ := time.Parse(time.RFC3339, r["updated_at"].(string))
	return t
}

func pageCursor(r map[string]any) string {
	return base64.StdEncoding.EncodeToString([]byte(updatedAt(r).UTC().Format(time.RFC3339) + "|" + strconv.FormatInt(r["id"].(int64), 10)))
}

func (s *Shopify) page(kind, q string, vars map[string]any) (map[string]any, float64) {
	rows := s.sorted(kind, vars["query"])
	if after, _ := vars["after"].(string); after != "" {
		for i, r := range rows {
			if pageCursor(r) == after {
				rows = rows[i+1:]
				break
			}
		}
	}
	first := int(vars["first"].(float64))
	more := len(rows) > first
	if more {
		rows = rows[:first]
	}
	lineFirst := firstOf(q, "lineItems(first: ")
	nodes := make([]any, len(rows))
	actual := 2.0
	for i, r := range rows {
		if kind == "orders" {
			nodes[i] = s.orderNode(r, lineFirst)
			actual += float64(min(lineFirst, len(r["line_items"].([]any))) + 10)
		} else {
			nodes[i] = customerNode(r)
			actual += 3
		}
	}
	end := any(nil)
	if len(rows) > 0 {
		end = pageCursor(rows[len(rows)-1])
	}
	return map[string]any{kind: map[string]any{"pageInfo": map[string]any{"hasNextPage": more, "endCursor": end}, "nodes": nodes}}, actual
}

func (s *Shopify) count(q string, vars map[string]any) map[string]any {
	kind, root := "orders", "ordersCount"
	if strings.Contains(q, "customersCount") {
		kind, root = "customers", "customersCount"
	}
	return map[string]any{root: map[string]any{"count": len(s.sorted(kind, vars["query"])), "precision": "EXACT"}}
}

func (s *Shopify) moreLines(q string, vars map[string]any) map[string]any {
	id, _ := strconv.ParseInt(strings.TrimPrefix(vars["id"].(string), "gid://shopify/Order/"), 10, 64)
	o := s.orders[id]
	if o == nil {
		return map[string]any{"node": nil}
	}
	items := o["line_items"].([]any)
	start := 0
	if after, _ := vars["after"].(string); after != "" {
		start, _ = strconv.Atoi(after)
	}
	end := min(len(items), start+firstOf(q, "lineItems(first: "))
	nodes := make([]any, 0, end-start)
	for _, it := range items[start:end] {
		nodes = append(nodes, lineNode(it.(map[string]any)))
	}
	return map[string]any{"node": map[string]any{"lineItems": map[string]any{
		"pageInfo": map[string]any{"hasNextPage": end < len(items), "endCursor": strconv.Itoa(end)}, "nodes": nodes}}}
}

// ---- GraphQL shapes of the REST resources ----

func utc(v any) any {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// gqlMoney writes an amount as Shopify's Decimal scalar does: no trailing
// zeros beyond one decimal ("4.9", "30.0").
func gqlMoney(v any) any {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		if strings.HasSuffix(s, ".") {
			s += "0"
		}
	}
	return map[string]any{"shopMoney": map[string]any{"amount": s, "currencyCode": "EUR"}}
}

func enum(v any) any {
	s, ok := v.(string)
	if !ok || s == "" {
		return nil
	}
	return strings.ToUpper(s)
}

func tagList(v any) []any {
	s, _ := v.(string)
	out := []any{}
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func addressNode(v any) any {
	a, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return map[string]any{"name": a["name"], "firstName": a["first_name"], "lastName": a["last_name"], "company": a["company"],
		"address1": a["address1"], "address2": a["address2"], "city": a["city"], "province": a["province"], "zip": a["zip"],
		"countryCodeV2": a["country_code"], "phone": a["phone"]}
}

func customerNode(c map[string]any) map[string]any {
	id := c["id"].(int64)
	n := map[string]any{"id": gid("Customer", id), "legacyResourceId": strconv.FormatInt(id, 10), "firstName": c["first_name"],
		"lastName": c["last_name"], "email": c["email"], "phone": c["phone"], "note": c["note"], "tags": tagList(c["tags"]),
		"state": enum(c["state"]), "createdAt": utc(c["created_at"]), "updatedAt": utc(c["updated_at"])}
	if a := addressNode(c["default_address"]); a != nil {
		am := a.(map[string]any)
		delete(am, "name")
		n["defaultAddress"] = am
	}
	return n
}

func buyerNode(v any) any {
	c, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	id := c["id"].(int64)
	return map[string]any{"legacyResourceId": strconv.FormatInt(id, 10), "firstName": c["first_name"], "lastName": c["last_name"],
		"email": c["email"], "phone": c["phone"], "createdAt": utc(c["created_at"]), "updatedAt": utc(c["updated_at"])}
}

func lineNode(l map[string]any) map[string]any {
	var taxes []any
	for _, t := range l["tax_lines"].([]any) {
		taxes = append(taxes, map[string]any{"priceSet": gqlMoney(t.(map[string]any)["price"])})
	}
	return map[string]any{"id": l["admin_graphql_api_id"], "sku": l["sku"], "title": l["title"], "quantity": l["quantity"],
		"originalUnitPriceSet": gqlMoney(l["price"]), "totalDiscountSet": gqlMoney(l["total_discount"]), "taxLines": taxes}
}

// orderFields is an order's node without its line items.
func orderFields(o map[string]any) map[string]any {
	id := o["id"].(int64)
	ship := "0.00"
	if sl, ok := o["shipping_lines"].([]any); ok && len(sl) > 0 {
		ship = sl[0].(map[string]any)["price"].(string)
	}
	return map[string]any{"id": gid("Order", id), "legacyResourceId": strconv.FormatInt(id, 10), "name": o["name"], "email": o["email"],
		"phone": o["phone"], "note": o["note"], "tags": tagList(o["tags"]), "createdAt": utc(o["created_at"]), "updatedAt": utc(o["updated_at"]),
		"cancelledAt": utc(o["cancelled_at"]), "cancelReason": enum(o["cancel_reason"]), "displayFinancialStatus": enum(o["financial_status"]),
		"currencyCode": o["currency"], "paymentGatewayNames": o["payment_gateway_names"],
		"subtotalPriceSet": gqlMoney(o["subtotal_price"]), "totalTaxSet": gqlMoney(o["total_tax"]),
		"totalDiscountsSet": gqlMoney(o["total_discounts"]), "totalPriceSet": gqlMoney(o["total_price"]),
		"totalShippingPriceSet": gqlMoney(ship), "customer": buyerNode(o["customer"]),
		"billingAddress": addressNode(o["billing_address"]), "shippingAddress": addressNode(o["shipping_address"])}
}

func (s *Shopify) orderNode(o map[string]any, lineFirst int) map[string]any {
	n := orderFields(o)
	items := o["line_items"].([]any)
	end := min(lineFirst, len(items))
	nodes := make([]any, 0, end)
	for _, it := range items[:end] {
		nodes = append(nodes, lineNode(it.(map[string]any)))
	}
	n["lineItems"] = map[string]any{"pageInfo": map[string]any{"hasNextPage": end < len(items), "endCursor": strconv.Itoa(end)}, "nodes": nodes}
	return n
}
