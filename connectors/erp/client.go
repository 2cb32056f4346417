package erp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
	"golang.org/x/time/rate"

	"github.com/crmhub/hub/connectors"
)

// Options are what a Client takes besides its config.
type Options struct {
	// Auth authenticates requests; nil sends none.
	Auth Auth
	// Logger receives debug logs (HTTPConfig.Debug) and warnings; default
	// slog.Default().
	Logger *slog.Logger
	// Redact names further JSON members, form fields and headers whose
	// values the debug log hides (case-insensitive, matched as substrings
	// like the built-in password, token, secret, session, authorization,
	// api_key, cookie).
	Redact []string
	// Transport replaces the HTTP transport (tests).
	Transport http.RoundTripper
	// Now and Sleep replace the clock (tests of the daily budget).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Request is one HTTP call.
type Request struct {
	// Op says what is being done, for errors and logs ("create sale").
	Op string
	// Method defaults to POST with a body, GET without.
	Method string
	// Path is relative to the base URL, or an absolute URL.
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// ContentType defaults to application/json when there is a body.
	ContentType string
	// Idempotent requests are retried after any transient failure. Others
	// are retried here only when the server surely did not process them
	// (429, 503, connection refused); after a timeout or another 5xx they
	// fail as Retryable so the caller, which knows how to look before it
	// writes again, decides.
	Idempotent bool
	// NoAuth sends the request without credentials (logins, token calls).
	NoAuth bool
	// Sensitive keeps the bodies out of the debug log entirely (logins).
	Sensitive bool
	// Accept lists failing statuses answered as a Response rather than an
	// error, for APIs whose 4xx body holds an answer per record (Zoho's
	// 400 when every record of a batch was refused).
	Accept []int
}

// Response is a successful (2xx) reply.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Took is the duration of the last attempt; Attempts counts them.
	Took     time.Duration
	Attempts int
}

// HTTPError is a reply with a failing status.
type HTTPError struct {
	Op         string
	Status     int
	Body       string // the start of the reply, secrets redacted
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// Client is the HTTP client of one connector. It is safe for concurrent use.
type Client struct {
	name    string
	cfg     HTTPConfig
	rc      *resty.Client
	auth    Auth
	log     *slog.Logger
	red     redactor
	limiter *rate.Limiter
	budget  *budget
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	st      counters
}

type counters struct {
	calls, retries, reauths                                   atomic.Int64
	failuresRetryable, failuresPermanent, failuresUnavailable atomic.Int64
	callNanos, waitNanos                                      atomic.Int64
}

// New returns a client for cfg (defaults are filled in; bad keys are an
// error naming them). It does not connect.
func New(name string, cfg HTTPConfig, opts Options) (*Client, error) {
	var p Problems
	cfg = cfg.WithDefaults(&p)
	if err := p.Err(); err != nil {
		return nil, err
	}
	c := &Client{
		name:  name,
		cfg:   cfg,
		auth:  opts.Auth,
		log:   opts.Logger,
		red:   newRedactor(opts.Redact),
		now:   opts.Now,
		sleep: opts.Sleep,
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("connector", name)
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if cfg.RateLimit > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.Burst)
	}
	if cfg.DailyBudget > 0 {
		c.budget = &budget{limit: cfg.DailyBudget, reserve: cfg.BudgetReserve}
	}
	if k, ok := opts.Auth.(interface{ redactHeader() string }); ok {
		c.red.headers[strings.ToLower(k.redactHeader())] = true
	}
	c.rc = resty.New().
		SetBaseURL(cfg.URL).
		SetTimeout(cfg.Timeout).
		SetRetryCount(0).
		SetDisableWarn(true).
		SetHeaders(cfg.Headers)
	if opts.Transport != nil {
		c.rc.SetTransport(opts.Transport)
	}
	return c, nil
}

// Name is the connector's name.
func (c *Client) Name() string { return c.name }

// Config returns the client's config with its defaults.
func (c *Client) Config() HTTPConfig { return c.cfg }

// Close releases idle connections.
func (c *Client) Close() { c.rc.GetClient().CloseIdleConnections() }

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Do sends req, retrying transient failures as configured, and returns the
// 2xx reply. Errors are wrapped with req.Op and classified: Unavailable
// when the system refuses the credentials (401 after a new login or
// token, 403) or its host name does not resolve, a fault of every call
// that only a person fixes; Retryable for timeouts, broken or refused
// connections, 408, 429 and 5xx; Permanent for any other 4xx, which is
// about the request (the record) sent.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	op := req.Op
	if op == "" {
		op = req.Path
	}
	reauthed := false
	for attempt := 0; ; attempt++ {
		if err := c.wait(ctx); err != nil {
			return nil, connectors.Retryable(fmt.Errorf("%s: wait for the rate limit: %w", op, err), 0)
		}
		h := http.Header{}
		for k, vs := range req.Header {
			h[k] = append([]string(nil), vs...)
		}
		if !req.NoAuth && c.auth != nil {
			if err := c.auth.Apply(ctx, c, h); err != nil {
				return nil, fmt.Errorf("%s: authenticate: %w", op, err)
			}
		}
		resp, err := c.send(ctx, req, h)
		var took time.Duration
		if resp != nil {
			took = resp.Time()
		}
		c.st.calls.Add(1)
		c.st.callNanos.Add(int64(took))
		if err != nil {
			if ctx.Err() != nil {
				return nil, connectors.Retryable(fmt.Errorf("%s: %w", op, ctx.Err()), 0)
			}
			e := fmt.Errorf("%s: %w", op, err)
			if unresolved(err) {
				c.st.failuresUnavailable.Add(1)
				return nil, connectors.Unavailable(fmt.Errorf("%w (the host name of url does not resolve)", e))
			}
			if attempt < *c.cfg.Retries && (req.Idempotent || refused(err)) {
				if werr := c.backoff(ctx, attempt, 0); werr != nil {
					return nil, connectors.Retryable(e, 0)
				}
				continue
			}
			c.st.failuresRetryable.Add(1)
			return nil, connectors.Retryable(e, 0)
		}
		status := resp.StatusCode()
		if status < 400 || slices.Contains(req.Accept, status) {
			return &Response{Status: status, Header: resp.Header(), Body: resp.Body(), Took: took, Attempts: attempt + 1}, nil
		}
		he := &HTTPError{Op: op, Status: status, Body: c.red.snippet(resp.Body(), resp.Header().Get("Content-Type"), 300)}
		switch {
		case status == http.StatusUnauthorized && !req.NoAuth && c.auth != nil && !reauthed && c.auth.Reject(h):
			// Expired session or token: log in again once, without
			// counting an attempt.
			reauthed = true
			c.st.reauths.Add(1)
			attempt--
			continue
		case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
			he.RetryAfter = retryAfter(resp.Header().Get("Retry-After"), c.now())
			safe := req.Idempotent || status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
			if safe && attempt < *c.cfg.Retries && he.RetryAfter <= c.cfg.RetryMaxWait {
				if werr := c.backoff(ctx, attempt, he.RetryAfter); werr != nil {
					return nil, connectors.Retryable(he, he.RetryAfter)
				}
				continue
			}
			c.st.failuresRetryable.Add(1)
			return nil, connectors.Retryable(he, he.RetryAfter)
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			// The credentials are refused (a new session or token did not
			// help) or lack the rights: every call fails the same way.
			c.st.failuresUnavailable.Add(1)
			return nil, connectors.Unavailable(he)
		default:
			c.st.failuresPermanent.Add(1)
			return nil, connectors.Permanent(he)
		}
	}
}

// send makes one attempt.
func (c *Client) send(ctx context.Context, req Request, h http.Header) (*resty.Response, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
		if req.Body != nil {
			method = http.MethodPost
		}
	}
	r := c.rc.R().SetContext(ctx).SetHeaderMultiValues(h)
	if req.Query != nil {
		r.SetQueryParamsFromValues(req.Query)
	}
	if req.Body != nil {
		ct := req.ContentType
		if ct == "" {
			ct = "application/json"
		}
		r.SetHeader("Content-Type", ct).SetBody(req.Body)
	}
	debug := c.cfg.Debug && c.log.Enabled(ctx, slog.LevelDebug)
	if debug {
		body := "[not logged]"
		if !req.Sensitive {
			body = c.red.snippet(req.Body, req.ContentType, 4096)
		}
		c.log.DebugContext(ctx, "erp request", "op", req.Op, "method", method, "path", req.Path,
			"headers", c.red.headerString(h), "body", body)
	}
	resp, err := r.Execute(method, req.Path)
	if debug {
		if err != nil {
			c.log.DebugContext(ctx, "erp response", "op", req.Op, "error", err.Error())
		} else {
			body := "[not logged]"
			if !req.Sensitive {
				body = c.red.snippet(resp.Body(), resp.Header().Get("Content-Type"), 4096)
			}
			c.log.DebugContext(ctx, "erp response", "op", req.Op, "status", resp.StatusCode(),
				"took", resp.Time(), "headers", c.red.headerString(resp.Header()), "body", body)
		}
	}
	return resp, err
}

// unresolved reports a host name that does not resolve (not a resolver
// that timed out or is unreachable, which may pass).
func unresolved(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// refused reports a failure to connect: the server never saw the request.
func refused(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// backoff waits before retry attempt+1: the server's Retry-After when it
// gave one, else an exponential backoff with jitter.
func (c *Client) backoff(ctx context.Context, attempt int, after time.Duration) error {
	c.st.retries.Add(1)
	d := after
	if d <= 0 {
		d = c.cfg.RetryWait << min(attempt, 20)
		if d > c.cfg.RetryMaxWait || d <= 0 {
			d = c.cfg.RetryMaxWait
		}
		d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	}
	return c.sleep(ctx, d)
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// wait blocks for the rate limit and the daily budget.
func (c *Client) wait(ctx context.Context) error {
	start := time.Now()
	defer func() { c.st.waitNanos.Add(int64(time.Since(start))) }()
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return err
		}
	}
	if c.budget != nil {
		return c.budget.take(ctx, c.now, c.sleep)
	}
	return nil
}
