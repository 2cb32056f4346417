package zohotest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// ClientID, ClientSecret and RefreshToken are the credentials the
	// accounts server takes.
	ClientID, ClientSecret, RefreshToken string
	// TokenTTL is how long an access token lives; default an hour.
	TokenTTL time.Duration
	// MintLimit access tokens may be minted from the refresh token per
	// MintWindow; default 10 in 10 minutes.
	MintLimit  int
	MintWindow time.Duration
	// Credits is the organisation's credits per rolling 24 hours; 0 is
	// unlimited.
	Credits int
	// Concurrency is how many calls the organisation may have in flight;
	// 0 is unlimited.
	Concurrency int
	// Now is the server's clock; default time.Now.
	Now func() time.Time
	// Latency holds every API answer back this long (so that concurrent
	// calls overlap).
	Latency time.Duration
}

// Call is one API request the server answered.
type Call struct {
	Method, Path string
	Query        string
	// Module is the module in the path or the COQL FROM.
	Module  string
	COQL    string
	Credits int
	Status  int
	Code    string
	At      time.Time
}

// Fault is an answer given instead of serving a request.
type Fault struct {
	Status int
	Code   string
	// RetryAfter is a Retry-After header in seconds (0: none).
	RetryAfter int
	// Match takes the fault only for a request whose method and path
	// contain it ("POST /crm/v8/coql"); "" takes the next API request.
	Match string
}

// Server is a stand-in Zoho CRM: an accounts server and an API domain,
// each on its own loopback port. It is safe for concurrent use.
type Server struct {
	// AccountsURL is the accounts server; APIDomain the API's base URL.
	AccountsURL, APIDomain string

	opts     Options
	accounts *httptest.Server
	api      *httptest.Server

	mu        sync.Mutex
	refresh   string
	tokens    map[string]time.Time // token -> expiry
	mints     []time.Time
	spent     []spend
	inflight  int
	faults    []Fault
	calls     []Call
	modules   map[string]*module
	nextID    int64
	hooks     []func(Call)
	channels  map[string]*channel
	deliver   chan delivery
	delivered []Delivery
	closed    chan struct{}
	wg        sync.WaitGroup
}

type spend struct {
	at      time.Time
	credits int
}

// idBase is the first record id: Zoho's ids are 19-digit numbers.
const idBase = 4150868000000200000

// New starts a stand-in Zoho with opts.
func New(opts Options) *Server {
	if opts.TokenTTL == 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.MintLimit == 0 {
		opts.MintLimit = 10
	}
	if opts.MintWindow == 0 {
		opts.MintWindow = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, refresh: opts.RefreshToken, tokens: map[string]time.Time{}, modules: map[string]*module{},
		nextID: idBase, channels: map[string]*channel{}, deliver: make(chan delivery, 1024), closed: make(chan struct{})}
	for _, m := range []string{"Contacts", "Accounts", "Products", "Sales_Orders", "Invoices"} {
		s.modules[m] = newModule(m)
	}
	s.accounts = httptest.NewServer(http.HandlerFunc(s.serveAccounts))
	s.api = httptest.NewServer(http.HandlerFunc(s.serveAPI))
	s.AccountsURL, s.APIDomain = s.accounts.URL, s.api.URL
	s.wg.Add(1)
	go s.deliverLoop()
	return s
}

// Close stops both servers.
func (s *Server) Close() {
	close(s.closed)
	s.wg.Wait()
	s.accounts.Close()
	s.api.Close()
}

func (s *Server) now() time.Time { return s.opts.Now() }

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "1000." + hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serveAccounts is the accounts server's token endpoint.
func (s *Server) serveAccounts(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/oauth/v2/token" || r.Method != http.MethodPost {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "invalid_request"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	f := r.Form
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case f.Get("grant_type") != "refresh_token":
		writeJSON(w, http.StatusOK, map[string]any{"error": "unsupported_grant_type"})
		return
	case f.Get("client_id") != s.opts.ClientID || f.Get("client_secret") != s.opts.ClientSecret:
		writeJSON(w, http.StatusOK, map[string]any{"error": "invalid_client"})
		return
	case s.refresh == "" || f.Get("refresh_token") != s.refresh:
		writeJSON(w, http.StatusOK, map[string]any{"error": "invalid_code"})
		return
	}
	now := s.now()
	kept := s.mints[:0]
	for _, m := range s.mints {
		if now.Sub(m) < s.opts.MintWindow {
			kept = append(kept, m)
		}
	}
	s.mints = kept
	if len(s.mints) >= s.opts.MintLimit {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Access Denied", "status": "failure",
			"error_description": "You have made too many requests continuously. Please try again after some time."})
		return
	}
	s.mints = append(s.mints, now)
	tok := token()
	s.tokens[tok] = now.Add(s.opts.TokenTTL)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "api_domain": s.APIDomain, "token_type": "Bearer",
		"expires_in": int(s.opts.TokenTTL / time.Second), "scope": "ZohoCRM.modules.ALL ZohoCRM.coql.READ ZohoCRM.notifications.ALL"})
}

// Mints is how many access tokens were minted.
func (s *Server) Mints() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

// ExpireTokens makes every access token minted so far expire now.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		s.tokens[t] = time.Time{}
	}
}

// Revoke revokes the refresh token and every access token (a user
// removing the client's access); Reinstate undoes it.
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh = ""
	for t := range s.tokens {
		s.tokens[t] = time.Time{}
	}
}

// Reinstate makes the refresh token valid again.
func (s *Server) Reinstate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh = s.opts.RefreshToken
}

// FailNext makes the next requests matching f.Match answer with the
// fault, once per Fault.
func (s *Server) FailNext(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// OnCall runs fn after every API call is answered (outside the server's
// lock): a test changes records between the pages of a read with it.
func (s *Server) OnCall(fn func(Call)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, fn)
}

// Calls lists the API calls answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CreditsUsed is the credits spent in the last 24 hours.
func (s *Server) CreditsUsed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creditsUsedLocked(s.now())
}

func (s *Server) creditsUsedLocked(now time.Time) int {
	n := 0
	for _, sp := range s.spent {
		if now.Sub(sp.at) < 24*time.Hour {
			n += sp.credits
		}
	}
	return n
}

// apiError is Zoho's error body.
func apiError(code, message string, details map[string]any) map[string]any {
	if details == nil {
		details = map[string]any{}
	}
	return map[string]any{"code": code, "message": message, "status": "error", "details": details}
}

// admit authenticates a request and takes its credits and a concurrency
// slot; it answers the refusal itself and returns false.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, c *Call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	for i, f := range s.faults {
		if f.Match == "" || strings.Contains(r.Method+" "+r.URL.Path, f.Match) {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", fmt.Sprint(f.RetryAfter))
			}
			c.Status, c.Code = f.Status, f.Code
			writeJSON(w, f.Status, apiError(f.Code, "injected fault", nil))
			return false
		}
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Zoho-oauthtoken ")
	exp, known := s.tokens[tok]
	if !ok || !known || !now.Before(exp) {
		c.Status, c.Code = http.StatusUnauthorized, "INVALID_TOKEN"
		writeJSON(w, http.StatusUnauthorized, apiError("INVALID_TOKEN", "invalid oauth token", nil))
		return false
	}
	if s.opts.Concurrency > 0 && s.inflight >= s.opts.Concurrency {
		c.Status, c.Code = http.StatusTooManyRequests, "TOO_MANY_REQUESTS"
		writeJSON(w, http.StatusTooManyRequests, apiError("TOO_MANY_REQUESTS", "The concurrency limit of the organization is exceeded",
			map[string]any{"limit": s.opts.Concurrency}))
		return false
	}
	if s.opts.Credits > 0 && s.creditsUsedLocked(now)+c.Credits > s.opts.Credits {
		c.Status, c.Code = http.StatusTooManyRequests, "LIMIT_REACHED"
		writeJSON(w, http.StatusTooManyRequests, apiError("LIMIT_REACHED", "API credits for the last 24 hours are exhausted",
			map[string]any{"limit": s.opts.Credits}))
		return false
	}
	s.spent = append(s.spent, spend{at: now, credits: c.Credits})
	s.inflight++
	return true
}

func (s *Server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
}

// serveAPI serves /crm/v8/...
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError("INVALID_DATA", "unreadable body", nil))
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/crm/v8/")
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError("INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", nil))
		return
	}
	parts := strings.Split(rest, "/")
	c := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Module: parts[0], At: s.now()}
	route := s.route(r, parts, body, &c)
	if s.admit(w, r, &c) {
		if s.opts.Latency > 0 {
			time.Sleep(s.opts.Latency)
		}
		c.Status, c.Code = route(w)
		s.release()
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	hooks := append([]func(Call){}, s.hooks...)
	s.mu.Unlock()
	for _, h := range hooks {
		h(c)
	}
}

// handler serves an admitted request and returns its status and code.
type handler func(w http.ResponseWriter) (int, string)

// route picks the handler of a request and prices it.
func (s *Server) route(r *http.Request, parts []string, body []byte, c *Call) handler {
	c.Credits = 1
	switch {
	case len(parts) == 1 && parts[0] == "coql" && r.Method == http.MethodPost:
		var req struct {
			SelectQuery string `json:"select_query"`
		}
		_ = json.Unmarshal(body, &req)
		c.COQL = req.SelectQuery
		q, err := parseCOQL(req.SelectQuery)
		if err == nil {
			c.Module = q.module
			switch {
			case q.limit > 1000:
				c.Credits = 3
			case q.limit > 200:
				c.Credits = 2
			}
		}
		return func(w http.ResponseWriter) (int, string) { return s.coql(w, q, err) }
	case len(parts) == 2 && parts[0] == "actions" && parts[1] == "watch":
		c.Module = ""
		return func(w http.ResponseWriter) (int, string) { return s.watch(w, r.Method, body) }
	case len(parts) == 2 && parts[1] == "deleted" && r.Method == http.MethodGet:
		return func(w http.ResponseWriter) (int, string) { return s.deleted(w, r, parts[0]) }
	case len(parts) == 2 && parts[1] == "upsert" && r.Method == http.MethodPost:
		c.Credits = writeCredits(body)
		return func(w http.ResponseWriter) (int, string) { return s.write(w, parts[0], body, true) }
	case len(parts) == 1 && r.Method == http.MethodPut:
		c.Credits = writeCredits(body)
		return func(w http.ResponseWriter) (int, string) { return s.write(w, parts[0], body, false) }
	case len(parts) == 1 && r.Method == http.MethodGet:
		return func(w http.ResponseWriter) (int, string) { return s.get(w, r, parts[0]) }
	case len(parts) == 1 && r.Method == http.MethodDelete:
		n := len(strings.Split(r.URL.Query().Get("ids"), ","))
		c.Credits = (n + 9) / 10
		return func(w http.ResponseWriter) (int, string) { return s.remove(w, r, parts[0]) }
	}
	return func(w http.ResponseWriter) (int, string) {
		writeJSON(w, http.StatusBadRequest, apiError("INVALID_REQUEST_METHOD", "The http request method type is not a valid one", nil))
		return http.StatusBadRequest, "INVALID_REQUEST_METHOD"
	}
}

// writeCredits prices a write: one credit per 10 records.
func writeCredits(body []byte) int {
	var req struct {
		Data []json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(body, &req)
	return max(1, (len(req.Data)+9)/10)
}
