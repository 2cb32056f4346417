package rest

import (
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

// cursorAPI stands in for a REST API with cursor pagination and OAuth2
// client credentials, in the common shape: POST /oauth/token (RFC 6749
// section 4.4, client authenticated with HTTP Basic) gives a bearer
// token; GET /v2/customers?limit=&cursor=&updated_since= answers
// {"items": [...], "next_cursor": "..." | null, "has_more": bool} in
// (updated_at, id) order; POST /v2/customers answers 201 with a
// Location header and no body; GET and PATCH /v2/customers/{id} take and
// give {"customer": {...}}; DELETE answers 204; errors are
// {"error": {"code", "message"}}, and a token the server no longer
// accepts is 401 {"error": "invalid_token", "error_description": ...}
// (RFC 6750).
type cursorAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	recs    []map[string]any
	next    int
	clock   int64 // updated_at, Unix milliseconds
	tokens  map[string]bool
	issued  int
	calls   []string
	cursors map[string]int // cursor -> offset
}

func newCursorAPI(t *testing.T) *cursorAPI {
	a := &cursorAPI{t: t, clock: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixMilli(), tokens: map[string]bool{}, cursors: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *cursorAPI) add(m map[string]any) map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	a.clock += 7
	m["id"] = fmt.Sprintf("cus_%04d", a.next)
	m["updated_at"] = float64(a.clock)
	a.recs = append(a.recs, m)
	return m
}

// revoke makes the server refuse every token handed out so far.
func (a *cursorAPI) revoke() {
	a.mu.Lock()
	a.tokens = map[string]bool{}
	a.mu.Unlock()
}

func (a *cursorAPI) count(prefix string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (a *cursorAPI) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func (a *cursorAPI) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.calls = append(a.calls, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	a.mu.Unlock()
	if r.URL.Path == "/oauth/token" {
		id, secret, ok := r.BasicAuth()
		if r.Method != http.MethodPost || !ok || id != "hub" || secret != "s3cret" || r.FormValue("grant_type") != "client_credentials" {
			a.reply(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
		a.mu.Lock()
		a.issued++
		tok := fmt.Sprintf("tok-%d", a.issued)
		a.tokens[tok] = true
		a.mu.Unlock()
		a.reply(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
		return
	}
	a.mu.Lock()
	valid := a.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	a.mu.Unlock()
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		a.reply(w, 401, map[string]any{"error": "invalid_token", "error_description": "The access token expired"})
		return
	}
	id := strings.Trim(strings.TrimPrefix(r.URL.Path, "/v2/customers"), "/")
	switch {
	case id == "" && r.Method == http.MethodGet:
		a.list(w, r)
	case id == "" && r.Method == http.MethodPost:
		var in struct {
			Customer map[string]any `json:"customer"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Customer == nil {
			a.reply(w, 400, map[string]any{"error": map[string]any{"code": "bad_request", "message": "body must be {\"customer\": {...}}"}})
			return
		}
		if e, _ := in.Customer["email"].(string); !strings.Contains(e, "@") {
			a.reply(w, 422, map[string]any{"error": map[string]any{"code": "invalid_email", "message": "email is not a valid address"}})
			return
		}
		m := a.add(in.Customer)
		w.Header().Set("Location", "/v2/customers/"+m["id"].(string))
		w.WriteHeader(201)
	default:
		a.mu.Lock()
		var cur map[string]any
		idx := -1
		for i, m := range a.recs {
			if m["id"] == id {
				cur, idx = m, i
			}
		}
		a.mu.Unlock()
		if cur == nil {
			a.reply(w, 404, map[string]any{"error": map[string]any{"code": "not_found", "message": "no customer " + id}})
			return
		}
		switch r.Method {
		case http.MethodGet:
			a.mu.Lock()
			out := map[string]any{"customer": cur}
			raw, _ := json.Marshal(out)
			a.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Write(raw)
		case http.MethodPatch:
			var in struct {
				Customer map[string]any `json:"customer"`
			}
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Customer == nil {
				a.reply(w, 400, map[string]any{"error": map[string]any{"code": "bad_request", "message": "body must be {\"customer\": {...}}"}})
				return
			}
			a.mu.Lock()
			for k, v := range in.Customer {
				cur[k] = v
			}
			a.clock += 7
			cur["updated_at"] = float64(a.clock)
			raw, _ := json.Marshal(map[string]any{"customer": cur})
			a.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Write(raw)
		case http.MethodDelete:
			a.mu.Lock()
			a.recs = append(a.recs[:idx:idx], a.recs[idx+1:]...)
			a.mu.Unlock()
			w.WriteHeader(204)
		}
	}
}

func (a *cursorAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 50 {
		limit = 20
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	rows := []map[string]any{}
	since, _ := strconv.ParseInt(q.Get("updated_since"), 10, 64)
	for _, m := range a.recs {
		if int64(m["updated_at"].(float64)) >= since {
			if e := q.Get("email"); e == "" || m["email"] == e {
				rows = append(rows, m)
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		ti, tj := rows[i]["updated_at"].(float64), rows[j]["updated_at"].(float64)
		if ti != tj {
			return ti < tj
		}
		return rows[i]["id"].(string) < rows[j]["id"].(string)
	})
	off := 0
	if c := q.Get("cursor"); c != "" {
		o, ok := a.cursors[c]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "invalid_cursor", "message": "unknown cursor"}})
			return
		}
		off = o
	}
	if off > len(rows) {
		off = len(rows)
	}
	page := rows[off:]
	if len(page) > limit {
		page = page[:limit]
	}
	out := map[string]any{"items": page, "next_cursor": nil, "has_more": false}
	if off+len(page) < len(rows) {
		c := fmt.Sprintf("c%x", len(a.cursors)+1000)
		a.cursors[c] = off + len(page)
		out["next_cursor"], out["has_more"] = c, true
	}
	raw, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	w.Write(raw)
}

func cursorConfig(a *cursorAPI) Config {
	zero := time.Duration(0)
	return Config{
		HTTPConfig: erp.HTTPConfig{URL: a.srv.URL, RetryWait: time.Millisecond},
		Auth: erp.AuthConfig{Type: erp.AuthOAuth2, TokenURL: a.srv.URL + "/oauth/token", ClientID: "hub", ClientSecret: "s3cret",
			Scopes: []string{"customers"}},
		PollInterval: 10 * time.Millisecond,
		Entities: map[string]EntityConfig{
			"customer": {
				List: "/v2/customers", Update: WriteConfig{Method: "PATCH"}, Delete: DeleteConfig{Mode: DeleteHard},
				Records: "items", Record: "customer", Wrap: "customer",
				UpdatedAt:    TimeField{Field: "updated_at", Format: FormatUnixMS},
				UpdatedSince: SinceConfig{Param: "updated_since"},
				Pagination:   PageConfig{Type: PageCursor, Size: 10, NextCursor: "next_cursor", HasMore: "has_more"},
				Match:        MatchConfig{Field: "email", Param: "email"},
				LookBack:     &zero,
			},
		},
	}
}

// TestCursorPagination scans and reads 25 records ten per page: the
// cursor of each reply fetches the next, three requests in all; the
// source reads them in batches of 4 without gaps or repeats.
func TestCursorPagination(t *testing.T) {
	a := newCursorAPI(t)
	for i := range 25 {
		a.add(map[string]any{"name": fmt.Sprintf("C%d", i), "email": fmt.Sprintf("c%d@example.com", i)})
	}
	c, _ := start(t, cursorConfig(a), erp.Options{})
	before := a.count("GET /v2/customers?")
	got := scanKeys(t, c, "customer")
	if len(got) != 25 || got[0] != "cus_0001" || got[24] != "cus_0025" {
		t.Fatalf("scanned %v", got)
	}
	if n := a.count("GET /v2/customers?") - before; n != 3 {
		t.Fatalf("list calls = %d, want 3", n)
	}
	recs, _ := readAll(t, c, "customer", "", 4)
	want := make([]string, 25)
	for i := range want {
		want[i] = fmt.Sprintf("cus_%04d", i+1)
	}
	if !slices.Equal(keys(recs), want) {
		t.Fatalf("read %v", keys(recs))
	}
	if v := recs[0].Version; !v.Equal(time.Date(2026, 3, 1, 8, 0, 0, 7e6, time.UTC)) {
		t.Fatalf("version %v (updated_at in Unix ms)", v)
	}
}

// TestOAuth2TokenRenewal: the server stops accepting the token (it
// expired early); the next call gets 401, the core fetches a new token
// once and repeats the call, so the write succeeds and nothing fails.
func TestOAuth2TokenRenewal(t *testing.T) {
	a := newCursorAPI(t)
	c, _ := start(t, cursorConfig(a), erp.Options{})
	rec := func(i int) connectors.WriteRecord {
		return connectors.WriteRecord{Entity: "customer", HubID: fmt.Sprintf("hub-%d", i), Op: connectors.OpUpsert,
			Data: obj("name", fmt.Sprintf("C%d", i), "email", fmt.Sprintf("c%d@example.com", i))}
	}
	ids := okIDs(t, mustWrite(t, c, "customer", []connectors.WriteRecord{rec(1)}))
	a.mu.Lock()
	issued := a.issued
	a.mu.Unlock()
	if issued != 1 {
		t.Fatalf("tokens issued = %d, want 1", issued)
	}
	a.revoke()
	ids2 := okIDs(t, mustWrite(t, c, "customer", []connectors.WriteRecord{rec(2)}))
	var n int
	a.mu.Lock()
	issued, n = a.issued, len(a.recs)
	a.mu.Unlock()
	if issued != 2 {
		t.Fatalf("tokens issued = %d, want 2 (one renewal)", issued)
	}
	if n != 2 || ids[0] != "cus_0001" || ids2[0] != "cus_0002" {
		t.Fatalf("records %d, ids %v %v", n, ids, ids2)
	}
	if st := c.Stats(); st.Reauths != 1 {
		t.Fatalf("reauths = %d, want 1", st.Reauths)
	}
}

// TestCursorSink: a create answered 201 with only a Location header (the
// id comes from it), a wrapped PATCH update with the wrapped reply, an
// unchanged rewrite that sends nothing, a 422 with the server's
// {"error": {"code", "message"}}, and a DELETE answered 204.
func TestCursorSink(t *testing.T) {
	a := newCursorAPI(t)
	c, _ := start(t, cursorConfig(a), erp.Options{})
	recs := []connectors.WriteRecord{
		{Entity: "customer", HubID: "hub-1", Op: connectors.OpUpsert, Data: obj("name", "Ann", "email", "ann@example.com", "tier", 2)},
		{Entity: "customer", HubID: "hub-2", Op: connectors.OpUpsert, Data: obj("name", "Bob", "email", "bob-at-example.com")},
	}
	res := mustWrite(t, c, "customer", recs)
	if res[0].Err != nil || res[0].ExternalID != "cus_0001" {
		t.Fatalf("create: %+v", res[0])
	}
	wantPermanent(t, res[1].Err, "HTTP 422", "invalid_email", "email is not a valid address")

	recs[0].ExternalID = "cus_0001"
	recs[0].Data = obj("name", "Ann Lee", "email", "ann@example.com", "tier", 2)
	okIDs(t, mustWrite(t, c, "customer", recs[:1]))
	a.mu.Lock()
	name := a.recs[0]["name"]
	a.mu.Unlock()
	if name != "Ann Lee" || a.count("PATCH /v2/customers/cus_0001") != 1 {
		t.Fatalf("update: name %v, patches %d", name, a.count("PATCH /v2/customers/cus_0001"))
	}
	// unchanged (the server holds tier 2 as a number; "2" is the same value)
	recs[0].Data = obj("name", "Ann Lee", "email", "ann@example.com", "tier", "2")
	okIDs(t, mustWrite(t, c, "customer", recs[:1]))
	if n := a.count("PATCH "); n != 1 {
		t.Fatalf("patches = %d after an unchanged rewrite, want 1", n)
	}
	res = mustWrite(t, c, "customer", []connectors.WriteRecord{{Entity: "customer", HubID: "hub-1", ExternalID: "cus_0001", Op: connectors.OpDelete}})
	if res[0].Err != nil || a.count("DELETE /v2/customers/cus_0001") != 1 {
		t.Fatalf("delete: %+v", res[0])
	}
	a.mu.Lock()
	n := len(a.recs)
	a.mu.Unlock()
	if n != 0 {
		t.Fatalf("records after delete = %d", n)
	}
}
