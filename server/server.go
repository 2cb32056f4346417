// Package server owns the hub's HTTP surface: liveness (/healthz), readiness
// (/readyz, which asks the broker and the state store), Prometheus metrics
// (/metrics) and the mux on which the API and the console register their
// routes. It applies the request body limit and the timeouts to every route.
//
// It must not import the pipeline, connectors or mapping: components are
// reached only through the Check functions and handlers given to it.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the server's plain configuration.
type Config struct {
	Addr              string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxBodyBytes      int64
	// CheckTimeout bounds each readiness check; default 2 s.
	CheckTimeout time.Duration
	// Tokens may call routes registered with HandleAuth.
	Tokens []Token
	// Users may sign in to the console (password and TOTP code).
	Users []User
	// Login bounds failed logins and sets the session lifetime.
	Login LoginPolicy
	// TLSCertFile and TLSKeyFile, when both set, make the server speak
	// HTTPS only.
	TLSCertFile, TLSKeyFile string
	// SecureCookies marks session cookies Secure even over plain HTTP: for
	// a hub behind a proxy that ends TLS.
	SecureCookies bool
	// Audit records refusals, logins and state-changing requests; nil
	// records nothing.
	Audit func(ctx context.Context, e AuditEvent)
}

// AuditEvent is one audited request: who, what, on what, from where and
// with what outcome (the when is the auditor's).
type AuditEvent struct {
	Actor   string
	Action  string // http.refused, http.request, auth.login, auth.logout
	Subject string // the method and path when empty
	Remote  string // the client's address; filled in by the server
	Outcome string
}

// Check is one readiness condition, e.g. "broker" or "state".
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Server is the hub's HTTP server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	checks   []Check
	srv      *http.Server
	ln       net.Listener
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tokens   []Token             // without their secrets
	digests  [][sha256.Size]byte // of tokens' secrets, in order
	users    map[string]User
	dummy    []byte // a bcrypt hash compared when a user name is unknown
	policy   LoginPolicy
	sessions *sessionStore
	limiter  *limiter
	routes   []Route

	csrf *http.CrossOriginProtection

	mu       sync.Mutex
	draining bool
}

// New builds a server; reg receives the HTTP metrics and is what /metrics
// serves.
func New(cfg Config, log *slog.Logger, reg *prometheus.Registry, checks ...Check) *Server {
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 2 * time.Second
	}
	s := &Server{
		cfg:    cfg,
		log:    log,
		mux:    http.NewServeMux(),
		checks: checks,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_http_requests_total",
			Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hub_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"route"}),
	}
	for _, t := range cfg.Tokens {
		s.digests = append(s.digests, tokenDigest(t))
		t.Secret = ""
		s.tokens = append(s.tokens, t)
	}
	s.cfg.Tokens = nil
	s.initLogin(cfg)
	reg.MustRegister(s.requests, s.duration)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s
}

// Handle registers a route (Go 1.22 pattern syntax, e.g. "GET /api/v1/dlq").
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the full handler chain: limits, metrics, routes. Tests use it
// with httptest.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if r.ContentLength > s.cfg.MaxBodyBytes && s.cfg.MaxBodyBytes > 0 {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{
				"error": fmt.Sprintf("request body of %d bytes is over the limit of %d (http.max_body_bytes)", r.ContentLength, s.cfg.MaxBodyBytes),
			})
			s.observe(r, "", http.StatusRequestEntityTooLarge, start)
			return
		}
		if s.cfg.MaxBodyBytes > 0 && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		_, pattern := s.mux.Handler(r)
		s.guardOrigin(r).ServeHTTP(rec, r)
		s.observe(r, pattern, rec.code, start)
	})
}

func (s *Server) observe(r *http.Request, pattern string, code int, start time.Time) {
	route := pattern
	if route == "" {
		route = "unmatched" // never label by raw path: unbounded cardinality
	}
	s.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	s.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

// Start listens on the configured address and serves in the background. It
// returns once the port is bound, so a busy port is reported at start.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("http: listen on %s (http.addr): %w", s.cfg.Addr, err)
	}
	s.ln = ln
	tlsOn := s.cfg.TLSCertFile != "" && s.cfg.TLSKeyFile != ""
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() {
		serve := func() error { return s.srv.Serve(ln) }
		if tlsOn {
			serve = func() error { return s.srv.ServeTLS(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile) }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	s.log.Info("http listening", "addr", ln.Addr().String(), "tls", tlsOn)
	return nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Drain makes /readyz answer 503 so load balancers stop sending work while
// the process shuts down.
func (s *Server) Drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
}

// Shutdown stops accepting connections and waits for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("http: shutdown: %w", err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type checkResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()

	results := make(map[string]checkResult, len(s.checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range s.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CheckTimeout)
			defer cancel()
			res := checkResult{Status: "ok"}
			if err := c.Fn(ctx); err != nil {
				res = checkResult{Status: "fail", Error: err.Error()}
			}
			mu.Lock()
			results[c.Name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()

	code, status := http.StatusOK, "ready"
	var failed []string
	for name, res := range results {
		if res.Status != "ok" {
			failed = append(failed, name)
		}
	}
	sort.Strings(failed)
	body := map[string]any{"checks": results}
	switch {
	case draining:
		code, status = http.StatusServiceUnavailable, "shutting down"
	case len(failed) > 0:
		code, status = http.StatusServiceUnavailable, "not ready"
		body["failed"] = failed
	}
	body["status"] = status
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
