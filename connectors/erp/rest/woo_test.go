package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

// wooShop stands in for WooCommerce's REST API v3 orders
// (/wp-json/wc/v3/orders), as documented and as WordPress builds the
// replies: Basic auth with the consumer key and secret; lists as a JSON
// array with X-WP-Total, X-WP-TotalPages and Link headers (rel="next" and
// rel="prev", absolute URLs carrying the query); page, per_page (1..100,
// default 10), offset, modified_after (exclusive; GMT with dates_are_gmt),
// orderby (date, id, modified), order (asc, desc; default desc), search;
// date_modified_gmt with second precision; errors as WP_Error:
// {"code", "message", "data": {"status"}}; POST answers 201; DELETE needs
// force=true to delete (else the order goes to the trash).
type wooShop struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	ck, cs   string
	orders   []wooOrder
	nextID   int
	now      time.Time
	tick     time.Duration
	calls    []string
	relative bool   // Link targets relative to the request (not WordPress's way)
	linkHost string // Link targets on another host
}

type wooOrder map[string]any

func newWoo(t *testing.T) *wooShop {
	w := &wooShop{t: t, ck: "ck_4f0a9b", cs: "cs_77e1c2", nextID: 100, now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), tick: time.Second}
	w.srv = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.srv.Close)
	return w
}

const wooBase = "/wp-json/wc/v3/orders"

func (w *wooShop) add(o wooOrder) wooOrder {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addLocked(o)
}

func (w *wooShop) addLocked(o wooOrder) wooOrder {
	w.nextID++
	w.now = w.now.Add(w.tick)
	o["id"] = float64(w.nextID)
	if _, ok := o["status"]; !ok {
		o["status"] = "processing"
	}
	stamp := w.now.Format("2006-01-02T15:04:05")
	o["date_created_gmt"], o["date_modified_gmt"] = stamp, stamp
	w.orders = append(w.orders, o)
	return o
}

func (w *wooShop) all() []wooOrder {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]wooOrder, len(w.orders))
	for i, o := range w.orders {
		raw, _ := json.Marshal(o)
		_ = json.Unmarshal(raw, &out[i])
	}
	return out
}

func (w *wooShop) count(prefix string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (w *wooShop) wpError(rw http.ResponseWriter, status int, code, msg string) {
	rw.Header().Set("Content-Type", "application/json; charset=UTF-8")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(map[string]any{"code": code, "message": msg, "data": map[string]any{"status": status}})
}

func (w *wooShop) json(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json; charset=UTF-8")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(v)
}

func (w *wooShop) serve(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	w.calls = append(w.calls, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	w.mu.Unlock()
	user, pass, ok := r.BasicAuth()
	switch {
	case !ok:
		w.wpError(rw, 401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
		return
	case user != w.ck || pass != w.cs:
		w.wpError(rw, 401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
		return
	}
	if !strings.HasPrefix(r.URL.Path, wooBase) {
		w.wpError(rw, 404, "rest_no_route", "No route was found matching the URL and request method.")
		return
	}
	idText := strings.Trim(strings.TrimPrefix(r.URL.Path, wooBase), "/")
	if idText == "" {
		switch r.Method {
		case http.MethodGet:
			w.list(rw, r)
		case http.MethodPost:
			w.create(rw, r)
		default:
			w.wpError(rw, 404, "rest_no_route", "No route was found matching the URL and request method.")
		}
		return
	}
	id, err := strconv.Atoi(idText)
	w.mu.Lock()
	idx := -1
	for i, o := range w.orders {
		if err == nil && o["id"] == float64(id) {
			idx = i
		}
	}
	w.mu.Unlock()
	if idx < 0 {
		w.wpError(rw, 404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
		return
	}
	switch r.Method {
	case http.MethodGet:
		w.mu.Lock()
		o := w.orders[idx]
		w.mu.Unlock()
		w.json(rw, 200, o)
	case http.MethodPut, http.MethodPatch:
		var in wooOrder
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.wpError(rw, 400, "rest_invalid_json", "Invalid JSON body passed.")
			return
		}
		if msg := wooInvalid(in); msg != "" {
			w.wpError(rw, 400, "rest_invalid_param", msg)
			return
		}
		w.mu.Lock()
		o := w.orders[idx]
		for k, v := range in {
			o[k] = v
		}
		w.now = w.now.Add(w.tick)
		o["date_modified_gmt"] = w.now.Format("2006-01-02T15:04:05")
		w.mu.Unlock()
		w.json(rw, 200, o)
	case http.MethodDelete:
		w.mu.Lock()
		o := w.orders[idx]
		if r.URL.Query().Get("force") == "true" {
			w.orders = append(w.orders[:idx:idx], w.orders[idx+1:]...)
		} else {
			o["status"] = "trash"
		}
		w.mu.Unlock()
		w.json(rw, 200, o)
	}
}

func wooInvalid(o wooOrder) string {
	if b, ok := o["billing"].(map[string]any); ok {
		if e, _ := b["email"].(string); e != "" && !strings.Contains(e, "@") {
			return "Invalid parameter(s): billing"
		}
	}
	return ""
}

func (w *wooShop) create(rw http.ResponseWriter, r *http.Request) {
	var in wooOrder
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		w.wpError(rw, 400, "rest_invalid_json", "Invalid JSON body passed.")
		return
	}
	if msg := wooInvalid(in); msg != "" {
		w.wpError(rw, 400, "rest_invalid_param", msg)
		return
	}
	o := w.add(in)
	w.json(rw, 201, o)
}

func (w *wooShop) list(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, perPage, offset := 1, 10, 0
	if s := q.Get("page"); s != "" {
		page, _ = strconv.Atoi(s)
	}
	if s := q.Get("per_page"); s != "" {
		perPage, _ = strconv.Atoi(s)
	}
	if perPage < 1 || perPage > 100 {
		w.wpError(rw, 400, "rest_invalid_param", "Invalid parameter(s): per_page")
		return
	}
	if s := q.Get("offset"); s != "" {
		offset, _ = strconv.Atoi(s)
	}
	var after time.Time
	if s := q.Get("modified_after"); s != "" {
		t, err := time.Parse("2006-01-02T15:04:05", strings.TrimSuffix(s, "Z"))
		if err != nil {
			w.wpError(rw, 400, "rest_invalid_param", "Invalid parameter(s): modified_after")
			return
		}
		after = t
	}
	orderby, order := q.Get("orderby"), q.Get("order")
	if orderby == "" {
		orderby = "date"
	}
	search := q.Get("search")

	w.mu.Lock()
	var rows []wooOrder
	for _, o := range w.orders {
		if o["status"] == "trash" {
			continue
		}
		if !after.IsZero() {
			mt, _ := time.Parse("2006-01-02T15:04:05", o["date_modified_gmt"].(string))
			if !mt.After(after) {
				continue
			}
		}
		if search != "" {
			note, _ := o["customer_note"].(string)
			if !strings.Contains(strings.ToLower(note), strings.ToLower(search)) {
				continue
			}
		}
		rows = append(rows, o)
	}
	key := map[string]string{"date": "date_created_gmt", "modified": "date_modified_gmt", "id": "id"}[orderby]
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := fmt.Sprint(rows[i][key]), fmt.Sprint(rows[j][key])
		if key == "id" {
			a, b = fmt.Sprintf("%012.0f", rows[i]["id"]), fmt.Sprintf("%012.0f", rows[j]["id"])
		}
		if a == b {
			return rows[i]["id"].(float64) < rows[j]["id"].(float64)
		}
		if order == "asc" {
			return a < b
		}
		return a > b
	})
	total := len(rows)
	start := offset
	if q.Get("offset") == "" {
		start = (page - 1) * perPage
	}
	if start > len(rows) {
		start = len(rows)
	}
	rows = rows[start:]
	if len(rows) > perPage {
		rows = rows[:perPage]
	}
	out := make([]wooOrder, len(rows))
	copy(out, rows)
	relative, linkHost := w.relative, w.linkHost
	w.mu.Unlock()

	pages := (total + perPage - 1) / perPage
	rw.Header().Set("X-WP-Total", strconv.Itoa(total))
	rw.Header().Set("X-WP-TotalPages", strconv.Itoa(pages))
	link := func(p int) string {
		nq := cloneValues(q)
		nq.Set("page", strconv.Itoa(p))
		if relative {
			return "orders?" + nq.Encode()
		}
		host := w.srv.URL
		if linkHost != "" {
			host = linkHost
		}
		return host + wooBase + "?" + nq.Encode()
	}
	if page > 1 {
		rw.Header().Add("Link", "<"+link(page-1)+`>; rel="prev"`)
	}
	if page < pages {
		rw.Header().Add("Link", "<"+link(page+1)+`>; rel="next"`)
	}
	w.json(rw, 200, out)
}

// wooConfig is the WooCommerce config of docs/connectors/rest.md.
func wooConfig(w *wooShop, page PageConfig) Config {
	zero := time.Duration(0)
	return Config{
		HTTPConfig:   erp.HTTPConfig{URL: w.srv.URL, RetryWait: time.Millisecond},
		Auth:         erp.AuthConfig{Type: erp.AuthBasic, Username: w.ck, Password: w.cs},
		PollInterval: 10 * time.Millisecond,
		Entities: map[string]EntityConfig{
			"order": {
				List:         wooBase,
				Delete:       DeleteConfig{Mode: DeleteHard, Path: wooBase + "/{id}?force=true"},
				UpdatedAt:    TimeField{Field: "date_modified_gmt", Format: "2006-01-02T15:04:05"},
				UpdatedSince: SinceConfig{Param: "modified_after", Exclusive: true},
				Params:       map[string]string{"dates_are_gmt": "true", "orderby": "modified", "order": "asc"},
				Pagination:   page,
				Match:        MatchConfig{Field: "customer_note", Param: "search"},
				LookBack:     &zero,
			},
		},
	}
}

func wooOrders(w *wooShop, n int) {
	for i := range n {
		w.add(wooOrder{"currency": "EUR", "total": fmt.Sprintf("%d.00", 10+i), "customer_note": fmt.Sprintf("crm:%04d", i),
			"billing": map[string]any{"email": fmt.Sprintf("b%d@example.com", i)}})
	}
}

func scanKeys(t *testing.T, c *Conn, entity string) []string {
	t.Helper()
	recs, err := scanAll(c, entity, 1000)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return keys(recs)
}

func wantIDs(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(from + i)
	}
	return out
}

// TestWooPagePagination scans 20 orders 10 per page: X-WP-TotalPages ends
// the list after 2 requests; without the header the short-page rule needs
// a third (empty) page; with 23 orders the third page is short.
func TestWooPagePagination(t *testing.T) {
	tests := []struct {
		name   string
		orders int
		page   PageConfig
		calls  int
	}{
		{"total pages header", 20, PageConfig{Type: PageNumber, Size: 10, TotalPagesHeader: "X-WP-TotalPages"}, 2},
		{"total header", 20, PageConfig{Type: PageNumber, Size: 10, TotalHeader: "X-WP-Total"}, 2},
		{"short page", 20, PageConfig{Type: PageNumber, Size: 10}, 3},
		{"short last page", 23, PageConfig{Type: PageNumber, Size: 10}, 3},
		{"empty page", 23, PageConfig{Type: PageNumber, Size: 10, Stop: "empty_page"}, 4},
		{"offset", 23, PageConfig{Type: PageOffset, Size: 10}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWoo(t)
			wooOrders(w, tt.orders)
			c, _ := start(t, wooConfig(w, tt.page), erp.Options{})
			before := w.count("GET " + wooBase + "?")
			if got := scanKeys(t, c, "order"); !slices.Equal(got, wantIDs(101, tt.orders)) {
				t.Fatalf("scanned %v", got)
			}
			if n := w.count("GET "+wooBase+"?") - before; n != tt.calls {
				t.Fatalf("list calls = %d, want %d", n, tt.calls)
			}
		})
	}
}

// TestWooLinkPagination follows rel="next" Link headers (WordPress's
// absolute URLs, and relative ones) across three pages, and refuses a
// next link to another host.
func TestWooLinkPagination(t *testing.T) {
	for _, relative := range []bool{false, true} {
		t.Run(fmt.Sprintf("relative=%v", relative), func(t *testing.T) {
			w := newWoo(t)
			w.relative = relative
			wooOrders(w, 23)
			c, _ := start(t, wooConfig(w, PageConfig{Type: PageLink, Size: 10}), erp.Options{})
			before := w.count("GET " + wooBase + "?")
			if got := scanKeys(t, c, "order"); !slices.Equal(got, wantIDs(101, 23)) {
				t.Fatalf("scanned %v", got)
			}
			if n := w.count("GET "+wooBase+"?") - before; n != 3 {
				t.Fatalf("list calls = %d, want 3", n)
			}
			w.mu.Lock()
			last := w.calls[len(w.calls)-1]
			w.mu.Unlock()
			if q := listQuery(last); q.Get("page") != "3" || q.Get("per_page") != "10" || q.Get("orderby") != "modified" {
				t.Fatalf("last page asked with %v", q)
			}
		})
	}
	w := newWoo(t)
	w.linkHost = "http://203.0.113.9"
	wooOrders(w, 12)
	c, _ := start(t, wooConfig(w, PageConfig{Type: PageLink, Size: 10}), erp.Options{})
	_, err := scanAll(c, "order", 1000)
	wantPermanent(t, err, "refusing to follow the next link", "203.0.113.9")
}

// TestWooSourceSameSecond: WooCommerce keeps second precision and
// modified_after is exclusive. Orders modified in the same second are read
// across page and batch boundaries with no look-back: none is skipped and
// none repeated, because the source asks from one second before its
// cursor.
func TestWooSourceSameSecond(t *testing.T) {
	w := newWoo(t)
	w.tick = 0
	wooOrders(w, 5) // all at 08:00:00
	w.tick = time.Second
	wooOrders(w, 1) // 08:00:01
	w.tick = 0
	wooOrders(w, 3) // 08:00:01 too
	c, _ := start(t, wooConfig(w, PageConfig{Type: PageNumber, Size: 4, TotalPagesHeader: "X-WP-TotalPages"}), erp.Options{})
	recs, cur := readAll(t, c, "order", "", 3)
	if got := keys(recs); !slices.Equal(got, wantIDs(101, 9)) {
		t.Fatalf("read %v, want %v", got, wantIDs(101, 9))
	}
	// an update: read once
	w.tick = time.Second
	w.mu.Lock()
	w.now = w.now.Add(time.Second)
	w.orders[2]["status"], w.orders[2]["date_modified_gmt"] = "completed", w.now.Format("2006-01-02T15:04:05")
	w.mu.Unlock()
	next, _ := readAll(t, c, "order", cur, 3)
	if got := keys(next); !slices.Equal(got, []string{"103"}) || next[0].Data.Get("status").Str() != "completed" {
		t.Fatalf("after an update: %v", got)
	}
	w.mu.Lock()
	var sinceAsked []string
	for _, call := range w.calls {
		if s := listQuery(call).Get("modified_after"); s != "" {
			sinceAsked = append(sinceAsked, s)
		}
	}
	w.mu.Unlock()
	// The first batch ended at 08:00:00 (order 103): the next read asks
	// for orders modified after 07:59:59.
	if len(sinceAsked) == 0 || sinceAsked[0] != "2026-03-01T07:59:59" {
		t.Fatalf("modified_after asked: %v", sinceAsked)
	}
}

// TestWooSinkLifecycle creates (201), updates, rewrites unchanged, deletes
// (force=true) and refuses (400, WordPress's message) WooCommerce orders,
// and finds an order again by its customer_note (search is fuzzy: the
// connector keeps only the exact match).
func TestWooSinkLifecycle(t *testing.T) {
	w := newWoo(t)
	w.add(wooOrder{"customer_note": "crm:0001-old"}) // a fuzzy search hit that must not match
	c, _ := start(t, wooConfig(w, PageConfig{Type: PageNumber, Size: 10, TotalPagesHeader: "X-WP-TotalPages"}), erp.Options{})
	rec := func(i int, email string) connectors.WriteRecord {
		return connectors.WriteRecord{Entity: "order", HubID: fmt.Sprintf("hub-%d", i), Op: connectors.OpUpsert,
			Data: obj("currency", "EUR", "customer_note", fmt.Sprintf("crm:%04d", i), "set_paid", false,
				"billing", map[string]any{"email": email}, "line_items", []any{map[string]any{"sku": "SKU-1", "quantity": 2}})}
	}
	res := mustWrite(t, c, "order", []connectors.WriteRecord{rec(1, "a@example.com"), rec(2, "not-an-email"), rec(3, "c@example.com")})
	if res[0].Err != nil || res[0].ExternalID != "102" || res[2].Err != nil || res[2].ExternalID != "103" {
		t.Fatalf("results: %+v", res)
	}
	wantPermanent(t, res[1].Err, "HTTP 400", "rest_invalid_param", "Invalid parameter(s): billing")
	if n := len(w.all()); n != 3 {
		t.Fatalf("orders = %d, want 3", n)
	}

	// Rerun without ids (crash before the xref was recorded): found by
	// customer_note, not written again.
	before := w.count("POST ") + w.count("PUT ")
	res = mustWrite(t, c, "order", []connectors.WriteRecord{rec(1, "a@example.com"), rec(3, "c@example.com")})
	if ids := okIDs(t, res); !slices.Equal(ids, []string{"102", "103"}) {
		t.Fatalf("rerun ids %v", ids)
	}
	if n := w.count("POST ") + w.count("PUT ") - before; n != 0 {
		t.Fatalf("rerun wrote %d times", n)
	}

	// An update by id.
	upd := rec(1, "new@example.com")
	upd.ExternalID = "102"
	okIDs(t, mustWrite(t, c, "order", []connectors.WriteRecord{upd}))
	if o := w.all()[1]; o["billing"].(map[string]any)["email"] != "new@example.com" {
		t.Fatalf("updated order: %v", o)
	}

	// Deletes: by id, by match, and of an order already gone (404 Invalid ID.).
	res = mustWrite(t, c, "order", []connectors.WriteRecord{
		{Entity: "order", HubID: "hub-1", ExternalID: "102", Op: connectors.OpDelete},
		{Entity: "order", HubID: "hub-3", Op: connectors.OpDelete, Data: obj("customer_note", "crm:0003")},
		{Entity: "order", HubID: "hub-9", ExternalID: "999", Op: connectors.OpDelete},
	})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("delete %d: %v", i, r.Err)
		}
	}
	if got := w.all(); len(got) != 1 || got[0]["customer_note"] != "crm:0001-old" {
		t.Fatalf("after deletes: %v", got)
	}
	if n := w.count("DELETE " + wooBase + "/102?force=true"); n != 1 {
		t.Fatalf("DELETE with force: %d", n)
	}

	// Wrong consumer secret: Start refuses, with WooCommerce's message.
	cfg := wooConfig(w, PageConfig{Type: PageNumber})
	cfg.Auth.Password = "cs_wrong"
	c2, _ := New("shop", cfg, erp.Options{})
	wantKind(t, c2.Start(context.Background()), connectors.KindUnavailable, "HTTP 401", "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
}
