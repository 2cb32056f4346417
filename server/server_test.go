package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func newTestServer(t *testing.T, checks ...Check) (*Server, *httptest.Server) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	s := New(Config{MaxBodyBytes: 64}, slog.New(slog.DiscardHandler), reg, checks...)
	s.Handle("POST /echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		_, _ = w.Write(b)
	}))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestHealthz(t *testing.T) {
	_, ts := newTestServer(t, Check{Name: "broker", Fn: func(context.Context) error { return errors.New("down") }})
	code, body := get(t, ts.URL+"/healthz")
	if code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz = %d %v; liveness must not depend on readiness checks", code, body)
	}
}

func TestReadyz(t *testing.T) {
	var brokerDown atomic.Bool
	s, ts := newTestServer(t,
		Check{Name: "broker", Fn: func(context.Context) error {
			if brokerDown.Load() {
				return errors.New("dial tcp 127.0.0.1:9092: connection refused")
			}
			return nil
		}},
		Check{Name: "state", Fn: func(context.Context) error { return nil }},
	)

	code, body := get(t, ts.URL+"/readyz")
	if code != 200 || body["status"] != "ready" {
		t.Fatalf("readyz = %d %v, want 200 ready", code, body)
	}

	brokerDown.Store(true)
	code, body = get(t, ts.URL+"/readyz")
	if code != 503 {
		t.Fatalf("readyz with broker down = %d, want 503", code)
	}
	checks := body["checks"].(map[string]any)
	broker := checks["broker"].(map[string]any)
	if broker["status"] != "fail" || !strings.Contains(broker["error"].(string), "connection refused") {
		t.Errorf("broker check = %v, want the reason", broker)
	}
	if checks["state"].(map[string]any)["status"] != "ok" {
		t.Errorf("state check = %v", checks["state"])
	}

	brokerDown.Store(false)
	s.Drain()
	if code, body = get(t, ts.URL+"/readyz"); code != 503 || body["status"] != "shutting down" {
		t.Errorf("draining readyz = %d %v", code, body)
	}
}

func TestReadyzCheckTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Config{CheckTimeout: 50e6}, slog.New(slog.DiscardHandler), reg,
		Check{Name: "slow", Fn: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	code, body := get(t, ts.URL+"/readyz")
	if code != 503 || !strings.Contains(body["checks"].(map[string]any)["slow"].(map[string]any)["error"].(string), "deadline") {
		t.Fatalf("slow check = %d %v", code, body)
	}
}

func TestBodyLimit(t *testing.T) {
	_, ts := newTestServer(t)
	resp, err := http.Post(ts.URL+"/echo", "text/plain", strings.NewReader(strings.Repeat("x", 65)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d, want 413", resp.StatusCode)
	}
	// Chunked bodies carry no length: the limit holds while reading.
	req, _ := http.NewRequest("POST", ts.URL+"/echo", io.MultiReader(strings.NewReader(strings.Repeat("y", 100))))
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked body = %d, want 413", resp.StatusCode)
	}
	resp, err = http.Post(ts.URL+"/echo", "text/plain", strings.NewReader("small"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "small" {
		t.Errorf("small body = %d %q", resp.StatusCode, b)
	}
}

func TestMetrics(t *testing.T) {
	_, ts := newTestServer(t)
	get(t, ts.URL+"/healthz")
	get(t, ts.URL+"/no/such/route")
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(b)
	for _, want := range []string{
		"go_goroutines",
		`hub_http_requests_total{code="200",route="GET /healthz"} 1`,
		`hub_http_requests_total{code="404",route="unmatched"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestAuth(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Config{Tokens: []Token{
		{Name: "alice", Role: RoleViewer, Secret: "viewer-token-123456"},
		{Name: "bob", Role: RoleOperator, Secret: "operator-token-123456"},
	}}, slog.New(slog.DiscardHandler), reg)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, Actor(r.Context())) })
	s.HandleAuth("GET /api/v1/thing", RoleViewer, ok)
	s.HandleAuth("POST /api/v1/thing", RoleOperator, ok)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	tests := []struct {
		method, token string
		code          int
		body          string
	}{
		{"GET", "", 401, ""},
		{"GET", "wrong-token-123456", 401, ""},
		{"GET", "viewer-token-123456", 200, "alice"},
		{"POST", "viewer-token-123456", 403, ""},
		{"POST", "operator-token-123456", 200, "bob"},
		{"GET", "operator-token-123456", 200, "bob"},
		// The scheme is case-insensitive (RFC 9110); the token is not.
		{"GET", "bearer viewer-token-123456", 200, "alice"},
		{"GET", "BEARER  viewer-token-123456", 200, "alice"},
		{"GET", "Basic viewer-token-123456", 401, ""},
		{"GET", "Bearer VIEWER-TOKEN-123456", 401, ""},
		{"GET", "Bearer ", 401, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, ts.URL+"/api/v1/thing", nil)
		switch {
		case strings.Contains(tt.token, " "):
			req.Header.Set("Authorization", tt.token)
		case tt.token != "":
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || (tt.body != "" && string(b) != tt.body) {
			t.Errorf("%s with %q = %d %q, want %d %q", tt.method, tt.token, resp.StatusCode, b, tt.code, tt.body)
		}
	}
}

// TestCallCenterRole: a call-center key calls only the routes that admit
// it by name, and those routes still admit the ranked roles they name;
// a plain route answers every refusal with an empty text/plain body.
func TestCallCenterRole(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Config{Tokens: []Token{
		{Name: "alice", Role: RoleViewer, Secret: "viewer-token-123456"},
		{Name: "pbx", Role: RoleCallCenter, Secret: "callcenter-key-123456"},
		{Name: "root", Role: RoleAdmin, Secret: "admin-token-1234567"},
	}}, slog.New(slog.DiscardHandler), reg)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, Actor(r.Context())) })
	s.HandleAuth("GET /api/v1/dlq", RoleViewer, ok)
	s.HandleAccess("GET /api/v1/screenpop", Access{Role: RoleViewer, Also: []string{RoleCallCenter}}, ok)
	s.HandleAccess("POST /webhooks/calls", Access{Role: RoleOperator, Also: []string{RoleCallCenter}}, ok)
	s.HandleAccess("GET /api/v1/callerid", Access{Role: RoleViewer, Also: []string{RoleCallCenter}, Plain: true},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("fail") != "" {
				http.Error(w, "<html>boom</html>", http.StatusInternalServerError)
				return
			}
			_, _ = io.WriteString(w, "Acme")
		}))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	tests := []struct {
		method, path, token string
		code                int
		body                string
		plain               bool
	}{
		{"GET", "/api/v1/dlq", "callcenter-key-123456", 403, "", false},
		{"GET", "/api/v1/screenpop", "callcenter-key-123456", 200, "pbx", false},
		{"GET", "/api/v1/screenpop", "viewer-token-123456", 200, "alice", false},
		{"GET", "/api/v1/screenpop", "admin-token-1234567", 200, "root", false},
		{"POST", "/webhooks/calls", "callcenter-key-123456", 200, "pbx", false},
		{"POST", "/webhooks/calls", "viewer-token-123456", 403, "", false},
		{"GET", "/api/v1/callerid", "callcenter-key-123456", 200, "Acme", false},
		{"GET", "/api/v1/callerid", "", 401, "", true},
		{"GET", "/api/v1/callerid", "wrong-key-1234567890", 401, "", true},
		{"GET", "/api/v1/callerid?fail=1", "callcenter-key-123456", 500, "", true},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, ts.URL+tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || (tt.code == 200 && string(b) != tt.body) {
			t.Errorf("%s %s with %q = %d %q, want %d %q", tt.method, tt.path, tt.token, resp.StatusCode, b, tt.code, tt.body)
		}
		if tt.plain && (len(b) != 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain")) {
			t.Errorf("%s %s with %q: %s body %q, want an empty text/plain one", tt.method, tt.path, tt.token, resp.Header.Get("Content-Type"), b)
		}
	}
}
