package erp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
)

// sleeps records the waits of a client instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newTestClient(t *testing.T, url string, cfg HTTPConfig, opts Options) (*Client, *sleeps) {
	t.Helper()
	cfg.URL = url
	sl := &sleeps{}
	if opts.Sleep == nil {
		opts.Sleep = sl.sleep
	}
	c, err := New("test", cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, sl
}

func kindOf(err error) connectors.ErrorKind { k, _ := connectors.Classify(err); return k }

func TestRetries(t *testing.T) {
	type step struct {
		status int
		header map[string]string
		body   string
	}
	tests := []struct {
		name       string
		steps      []step // replies in order; the last repeats
		idempotent bool
		wantErr    bool
		wantKind   connectors.ErrorKind
		wantCalls  int
		wantSleeps []time.Duration // exact waits; nil: don't check
		wantAfter  time.Duration
	}{
		{name: "429 honours Retry-After", steps: []step{{429, map[string]string{"Retry-After": "2"}, ""}, {200, nil, `{"ok":1}`}},
			wantCalls: 2, wantSleeps: []time.Duration{2 * time.Second}},
		{name: "503 then 200 (not idempotent: 503 was not processed)", steps: []step{{503, nil, "busy"}, {200, nil, `{}`}},
			wantCalls: 2},
		{name: "400 is permanent at once", steps: []step{{400, nil, `{"error":"bad field total"}`}},
			wantErr: true, wantKind: connectors.KindPermanent, wantCalls: 1},
		{name: "404 is permanent", steps: []step{{404, nil, ""}}, wantErr: true, wantKind: connectors.KindPermanent, wantCalls: 1},
		{name: "401 without a login to renew is unavailable", steps: []step{{401, nil, "bad key"}},
			wantErr: true, wantKind: connectors.KindUnavailable, wantCalls: 1},
		{name: "403 is unavailable", steps: []step{{403, nil, `{"message":"not allowed"}`}}, idempotent: true,
			wantErr: true, wantKind: connectors.KindUnavailable, wantCalls: 1},
		{name: "500 on a write is not retried here", steps: []step{{500, nil, "oops"}, {200, nil, `{}`}},
			wantErr: true, wantKind: connectors.KindRetryable, wantCalls: 1},
		{name: "500 on a read is retried", steps: []step{{500, nil, "oops"}, {502, nil, ""}, {200, nil, `{}`}},
			idempotent: true, wantCalls: 3},
		{name: "5xx until retries run out", steps: []step{{504, nil, ""}}, idempotent: true,
			wantErr: true, wantKind: connectors.KindRetryable, wantCalls: 4},
		{name: "Retry-After beyond retry_max_wait goes to the caller", steps: []step{{429, map[string]string{"Retry-After": "3600"}, ""}},
			wantErr: true, wantKind: connectors.KindRetryable, wantCalls: 1, wantSleeps: []time.Duration{}, wantAfter: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				s := tt.steps[min(i, len(tt.steps)-1)]
				for k, v := range s.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(s.status)
				io.WriteString(w, s.body)
			}))
			defer srv.Close()
			c, sl := newTestClient(t, srv.URL, HTTPConfig{}, Options{})
			resp, err := c.Do(context.Background(), Request{Op: "create thing", Path: "/x", Body: []byte(`{}`), Idempotent: tt.idempotent})
			if got := int(n.Load()); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantSleeps != nil {
				if got := sl.all(); fmt.Sprint(got) != fmt.Sprint(tt.wantSleeps) {
					t.Errorf("sleeps = %v, want %v", got, tt.wantSleeps)
				}
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if resp.Status != 200 || resp.Attempts != tt.wantCalls {
					t.Fatalf("resp = %d after %d attempts", resp.Status, resp.Attempts)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if k := kindOf(err); k != tt.wantKind {
				t.Errorf("kind = %v, want %v (%v)", k, tt.wantKind, err)
			}
			if _, after := connectors.Classify(err); after != tt.wantAfter {
				t.Errorf("retry after = %v, want %v", after, tt.wantAfter)
			}
			var he *HTTPError
			if !errors.As(err, &he) || he.Op != "create thing" || !strings.HasPrefix(err.Error(), "create thing: HTTP ") {
				t.Errorf("err = %v, want an *HTTPError naming the op", err)
			}
		})
	}
}

func TestBodyInPermanentError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(422)
		io.WriteString(w, `{"message":"total must be positive","echo":{"password":"hunter2"}}`)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, HTTPConfig{}, Options{})
	_, err := c.Do(context.Background(), Request{Op: "post order", Path: "/orders", Body: []byte(`{}`)})
	if kindOf(err) != connectors.KindPermanent {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "total must be positive") || strings.Contains(msg, "hunter2") || !strings.Contains(msg, redacted) {
		t.Fatalf("error text = %q", msg)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, sl := newTestClient(t, "http://"+addr, HTTPConfig{Timeout: time.Second}, Options{})
	_, err = c.Do(context.Background(), Request{Op: "create", Path: "/", Body: []byte(`{}`)})
	if err == nil || kindOf(err) != connectors.KindRetryable {
		t.Fatalf("err = %v, want retryable", err)
	}
	if got := len(sl.all()); got != DefaultRetries {
		t.Fatalf("backoffs = %d, want %d (refused connections are safe to retry)", got, DefaultRetries)
	}
}

// TestUnresolvedHost: a host name that does not resolve fails every call
// until the config changes: unavailable at once, without retries.
func TestUnresolvedHost(t *testing.T) {
	c, sl := newTestClient(t, "http://no-such-host.invalid", HTTPConfig{Timeout: 5 * time.Second}, Options{})
	_, err := c.Do(context.Background(), Request{Op: "list", Path: "/", Idempotent: true})
	if err == nil || kindOf(err) != connectors.KindUnavailable || !strings.Contains(err.Error(), "does not resolve") {
		t.Fatalf("err = %v (%v), want unavailable", err, kindOf(err))
	}
	if got := len(sl.all()); got != 0 {
		t.Fatalf("backoffs = %d, want none", got)
	}
	if s := c.Stats(); s.FailuresUnavailable != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, _ := newTestClient(t, srv.URL, HTTPConfig{Timeout: 50 * time.Millisecond}, Options{})
	_, err := c.Do(context.Background(), Request{Op: "create", Path: "/", Body: []byte(`{}`)})
	if err == nil || kindOf(err) != connectors.KindRetryable {
		t.Fatalf("err = %v, want retryable", err)
	}
	if s := c.Stats(); s.Calls != 1 || s.FailuresRetryable != 1 {
		t.Fatalf("stats = %+v: a write that timed out must not be sent again here", s)
	}
}

func TestOAuth2TokenRefresh(t *testing.T) {
	var tokens, apiCalls atomic.Int32
	var revoked sync.Map
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "hub" || pass != "s3cret" || r.FormValue("grant_type") != "client_credentials" || r.FormValue("scope") != "api orders" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		n := tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, n)
	})
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		apiCalls.Add(1)
		h := r.Header.Get("Authorization")
		if _, bad := revoked.Load(h); bad || !strings.HasPrefix(h, "Bearer tok-") {
			w.WriteHeader(401)
			return
		}
		io.WriteString(w, `{"who":"`+strings.TrimPrefix(h, "Bearer ")+`"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var nowMu sync.Mutex
	clock := func() time.Time { nowMu.Lock(); defer nowMu.Unlock(); return now }
	var p Problems
	ac := AuthConfig{Type: AuthOAuth2, TokenURL: srv.URL + "/token", ClientID: "hub", ClientSecret: "s3cret", Scopes: []string{"api", "orders"}}.WithDefaults(&p, "auth")
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	c, _ := newTestClient(t, srv.URL, HTTPConfig{}, Options{Auth: NewAuth(ac), Now: clock})
	call := func() string {
		t.Helper()
		resp, err := c.Do(context.Background(), Request{Op: "get", Path: "/api", Idempotent: true})
		if err != nil {
			t.Fatal(err)
		}
		return string(resp.Body)
	}
	if got := call(); got != `{"who":"tok-1"}` {
		t.Fatalf("first call: %s", got)
	}
	call()
	if tokens.Load() != 1 {
		t.Fatalf("token fetched %d times, want once", tokens.Load())
	}
	// The server revokes the token: a 401 makes the client fetch another.
	revoked.Store("Bearer tok-1", true)
	if got := call(); got != `{"who":"tok-2"}` {
		t.Fatalf("after revocation: %s", got)
	}
	// The token expires by the clock: a new one is fetched before the call.
	nowMu.Lock()
	now = now.Add(time.Hour)
	nowMu.Unlock()
	before := apiCalls.Load()
	if got := call(); got != `{"who":"tok-3"}` {
		t.Fatalf("after expiry: %s", got)
	}
	if apiCalls.Load()-before != 1 {
		t.Fatalf("an expired token should be renewed before the call, not after a 401")
	}
	if s := c.Stats(); s.Reauths != 1 {
		t.Fatalf("reauths = %d, want 1", s.Reauths)
	}

	// Wrong client credentials fail every call: unavailable.
	bad := ac
	bad.ClientSecret = "wrong"
	c2, _ := newTestClient(t, srv.URL, HTTPConfig{}, Options{Auth: NewAuth(bad)})
	_, err := c2.Do(context.Background(), Request{Op: "get", Path: "/api", Idempotent: true})
	if kindOf(err) != connectors.KindUnavailable || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("err = %v, want unavailable invalid_client", err)
	}
}

func TestSessionRelogin(t *testing.T) {
	var logins atomic.Int32
	var valid atomic.Value
	valid.Store("Session s1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != valid.Load().(string) {
			w.WriteHeader(401)
			io.WriteString(w, "<html><body><h1>Unauthorized</h1></body></html>")
			return
		}
		io.WriteString(w, `{"result":1}`)
	}))
	defer srv.Close()
	s := &Session{Login: func(ctx context.Context) (string, error) {
		return fmt.Sprintf("Session s%d", logins.Add(1)), nil
	}}
	c, _ := newTestClient(t, srv.URL, HTTPConfig{}, Options{Auth: s})
	do := func() error {
		_, err := c.Do(context.Background(), Request{Op: "rpc", Path: "/db/", Body: []byte(`{}`)})
		return err
	}
	if err := do(); err != nil || logins.Load() != 1 {
		t.Fatalf("err = %v, logins = %d", err, logins.Load())
	}
	valid.Store("Session s2") // the server expired s1
	if err := do(); err != nil || logins.Load() != 2 {
		t.Fatalf("after expiry: err = %v, logins = %d", err, logins.Load())
	}
	valid.Store("never") // credentials that cannot work: one re-login, then unavailable
	err := do()
	if kindOf(err) != connectors.KindUnavailable || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("err = %v", err)
	}
	if logins.Load() != 3 {
		t.Fatalf("logins = %d, want 3", logins.Load())
	}
}

func TestStaticAuthAndHeaders(t *testing.T) {
	tests := []struct {
		auth       AuthConfig
		header, is string
	}{
		{AuthConfig{Type: AuthBasic, Username: "u", Password: "p"}, "Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))},
		{AuthConfig{Type: AuthBearer, Token: "t0k"}, "Authorization", "Bearer t0k"},
		{AuthConfig{Type: AuthAPIKey, Key: "k3y"}, "X-Api-Key", "k3y"},
		{AuthConfig{Type: AuthAPIKey, Header: "Authorization", Prefix: "token ", Key: "a:b"}, "Authorization", "token a:b"},
	}
	for _, tt := range tests {
		t.Run(tt.auth.Type, func(t *testing.T) {
			got := make(chan http.Header, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header }))
			defer srv.Close()
			var p Problems
			a := tt.auth.WithDefaults(&p, "auth")
			if p.Err() != nil {
				t.Fatal(p.Err())
			}
			c, _ := newTestClient(t, srv.URL, HTTPConfig{Headers: map[string]string{"X-Tenant": "acme"}}, Options{Auth: NewAuth(a)})
			if _, err := c.Do(context.Background(), Request{Path: "/"}); err != nil {
				t.Fatal(err)
			}
			h := <-got
			if h.Get(tt.header) != tt.is || h.Get("X-Tenant") != "acme" {
				t.Fatalf("headers = %v", h)
			}
		})
	}
}

func TestDebugLogRedactsSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "sid=cookie-secret-1")
		io.WriteString(w, `{"id":7,"result":{"session":"sess-secret-2","user":"admin"},"access_token":"tok-secret-3"}`)
	}))
	defer srv.Close()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, _ := newTestClient(t, srv.URL, HTTPConfig{Debug: true}, Options{
		Logger: log, Auth: NewAuth(AuthConfig{Type: AuthAPIKey, Header: "X-Erp-Key", Key: "key-secret-4"}), Redact: []string{"iban"}})
	body := `{"login":"admin","params":{"password":"pw-secret-5","client_secret":"cs-secret-6","IBAN":"DE89370400440532013000","items":[{"apiToken":"tok-secret-7","qty":2}]}}`
	if _, err := c.Do(context.Background(), Request{Op: "login", Path: "/rpc", Body: []byte(body),
		Header: http.Header{"Authorization": {"Basic YWRtaW46cHctc2VjcmV0LTU="}}}); err != nil {
		t.Fatal(err)
	}
	form := "grant_type=client_credentials&client_secret=form-secret-8"
	if _, err := c.Do(context.Background(), Request{Op: "token", Path: "/token", Body: []byte(form), ContentType: "application/x-www-form-urlencoded"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), Request{Op: "hidden", Path: "/rpc", Body: []byte(`["admin","whole-secret-9"]`), Sensitive: true}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, s := range []string{"cookie-secret-1", "sess-secret-2", "tok-secret-3", "key-secret-4", "pw-secret-5", "YWRtaW46cHctc2VjcmV0LTU",
		"cs-secret-6", "DE89370400440532013000", "tok-secret-7", "form-secret-8", "whole-secret-9"} {
		if strings.Contains(out, s) {
			t.Errorf("debug log shows %s", s)
		}
	}
	for _, s := range []string{"erp request", "erp response", `\"login\":\"admin\"`, `\"qty\":2`, `\"user\":\"admin\"`, "grant_type=client_credentials", redacted} {
		if !strings.Contains(out, s) {
			t.Errorf("debug log lacks %s", s)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRateLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, HTTPConfig{RateLimit: 50, Burst: 1}, Options{})
	start := time.Now()
	for range 6 {
		if _, err := c.Do(context.Background(), Request{Path: "/"}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("6 calls at 50/s with burst 1 took %v, want >= 100ms", d)
	}
}

func TestDailyBudget(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) // 12 h left in the day
	var waits []time.Duration
	clock := func() time.Time { return now }
	sleep := func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		now = now.Add(d)
		return nil
	}
	b := &budget{limit: 10, reserve: 0.4}
	for i := range 10 {
		if err := b.take(context.Background(), clock, sleep); err != nil {
			t.Fatal(err)
		}
		if i < 6 && waits[i] != 0 {
			t.Fatalf("call %d waited %v with plenty of budget left", i, waits[i])
		}
	}
	// 4 calls left (<= 40%): spread over the 12 hours left.
	want := []time.Duration{0, 3 * time.Hour, 3 * time.Hour, 3 * time.Hour} // 12h/4, then (9h)/3, ...
	if got := waits[6:]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paced waits = %v, want %v", got, want)
	}
	if _, used, th := b.state(now); used != 10 || !th {
		t.Fatalf("used = %d, throttled = %v", used, th)
	}
	// Spent: the next call waits for midnight, then the count starts again.
	if err := b.take(context.Background(), clock, sleep); err != nil {
		t.Fatal(err)
	}
	if now != time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("after the spent budget the call went at %v, want midnight", now)
	}
	if _, used, th := b.state(now); used != 1 || th {
		t.Fatalf("next day: used = %d, throttled = %v", used, th)
	}
	// A cancelled context ends the wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b2 := &budget{limit: 1, reserve: 0.1}
	_ = b2.take(ctx, clock, sleepCtx)
	if err := b2.take(ctx, clock, sleepCtx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestBudgetMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, HTTPConfig{DailyBudget: 4, BudgetReserve: 0.5}, Options{})
	for range 3 {
		if _, err := c.Do(context.Background(), Request{Path: "/"}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if g := m.GetGauge(); g != nil {
				got[mf.GetName()] = g.GetValue()
			} else if ct := m.GetCounter(); ct != nil && len(m.GetLabel()) == 1 {
				got[mf.GetName()] = ct.GetValue()
			}
		}
	}
	if got["hub_erp_budget_remaining"] != 1 || got["hub_erp_budget_throttled"] != 1 || got["hub_erp_calls_total"] != 3 {
		t.Fatalf("metrics = %v", got)
	}
	if s := c.Stats(); !s.BudgetThrottled || s.Calls != 3 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestConfigProblems(t *testing.T) {
	neg := -1
	var p Problems
	HTTPConfig{URL: "ftp://x", Timeout: -1, Retries: &neg, RateLimit: -2, DailyBudget: -1, BudgetReserve: 2,
		RetryWait: time.Minute, RetryMaxWait: time.Second}.WithDefaults(&p)
	AuthConfig{Type: AuthOAuth2, TokenURL: "nope", ClientAuth: "both"}.WithDefaults(&p, "auth")
	AuthConfig{Type: "kerberos"}.WithDefaults(&p, "auth2")
	msg := p.Err().Error()
	for _, k := range []string{"url:", "timeout:", "retries:", "rate_limit:", "daily_budget:", "budget_reserve:", "retry_max_wait:",
		"auth.client_id:", "auth.client_secret:", "auth.token_url:", "auth.client_auth:", "auth2.type:"} {
		if !strings.Contains(msg, k) {
			t.Errorf("problems lack %s: %s", k, msg)
		}
	}
	if _, err := New("x", HTTPConfig{}, Options{}); err == nil || !strings.Contains(err.Error(), "url: is required") {
		t.Errorf("New without url: %v", err)
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if d := retryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now); d != 90*time.Second {
		t.Fatalf("date form: %v", d)
	}
	if d := retryAfter("soon", now); d != 0 {
		t.Fatalf("garbage: %v", d)
	}
}
