package erp

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// HTTPConfig is the transport part of an ERP connector's settings. Kinds
// embed it with `mapstructure:",squash"`, so its keys sit at the top of the
// connector's settings block:
//
//	url: https://erp.example.com
//	timeout: 30s             # per attempt
//	retries: 3               # attempts after the first, for transient failures
//	retry_wait: 500ms        # first backoff, doubled per attempt, with jitter
//	retry_max_wait: 30s      # longest wait, also for Retry-After
//	rate_limit: 10           # calls per second (0: no limit)
//	burst: 10
//	daily_budget: 100000     # calls per UTC day (0: no budget)
//	budget_reserve: 0.1      # below this share left, calls are spread out
//	debug: false             # log requests and responses (secrets redacted)
//	headers: {X-Tenant: acme}
type HTTPConfig struct {
	// URL is the base URL of the system's API.
	URL string `mapstructure:"url" yaml:"url"`
	// Timeout bounds one attempt (connect, send, read the reply); default 30s.
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
	// Retries is how many times a transient failure is retried; default 3,
	// 0 turns retries off (the pipeline still retries the record later).
	Retries *int `mapstructure:"retries" yaml:"retries"`
	// RetryWait is the first backoff; default 500ms.
	RetryWait time.Duration `mapstructure:"retry_wait" yaml:"retry_wait"`
	// RetryMaxWait caps a backoff; a Retry-After longer than it is not
	// waited for here but handed to the pipeline. Default 30s.
	RetryMaxWait time.Duration `mapstructure:"retry_max_wait" yaml:"retry_max_wait"`
	// RateLimit is the most calls per second this connector makes; 0 means
	// no limit.
	RateLimit float64 `mapstructure:"rate_limit" yaml:"rate_limit"`
	// Burst is how many calls may go at once above the rate; default the
	// rate rounded up (at least 1).
	Burst int `mapstructure:"burst" yaml:"burst"`
	// DailyBudget is the number of calls allowed per UTC day (as ERPs with
	// metered APIs sell them); 0 means none. When less than BudgetReserve
	// of it is left, calls are spread evenly over the rest of the day; when
	// it is spent, calls wait for the next day. Both show in the metrics.
	DailyBudget int `mapstructure:"daily_budget" yaml:"daily_budget"`
	// BudgetReserve is the share of the budget below which calls slow
	// down; default 0.1.
	BudgetReserve float64 `mapstructure:"budget_reserve" yaml:"budget_reserve"`
	// Debug logs every request and response at debug level, with secrets
	// (Authorization, passwords, tokens, sessions, keys) redacted.
	Debug bool `mapstructure:"debug" yaml:"debug"`
	// Headers are sent with every request.
	Headers map[string]string `mapstructure:"headers" yaml:"headers"`
}

// The defaults of HTTPConfig.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultRetries       = 3
	DefaultRetryWait     = 500 * time.Millisecond
	DefaultRetryMaxWait  = 30 * time.Second
	DefaultBudgetReserve = 0.1
)

// Problems collects config errors, each naming its key.
type Problems []string

// Add records a problem with key.
func (p *Problems) Add(key, format string, args ...any) {
	*p = append(*p, key+": "+fmt.Sprintf(format, args...))
}

// Err returns the problems as one error, or nil.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "; "))
}

// WithDefaults returns cfg with its defaults filled in, recording bad keys
// in p.
func (cfg HTTPConfig) WithDefaults(p *Problems) HTTPConfig {
	out := cfg
	if strings.TrimSpace(cfg.URL) == "" {
		p.Add("url", "is required")
	} else if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add("url", "%q is not an http(s) URL", cfg.URL)
	}
	out.URL = strings.TrimRight(cfg.URL, "/")
	switch {
	case cfg.Timeout == 0:
		out.Timeout = DefaultTimeout
	case cfg.Timeout < 0:
		p.Add("timeout", "must not be negative")
	}
	if cfg.Retries == nil {
		n := DefaultRetries
		out.Retries = &n
	} else if *cfg.Retries < 0 || *cfg.Retries > 100 {
		p.Add("retries", "must be between 0 and 100")
	}
	switch {
	case cfg.RetryWait == 0:
		out.RetryWait = DefaultRetryWait
	case cfg.RetryWait < 0:
		p.Add("retry_wait", "must not be negative")
	}
	switch {
	case cfg.RetryMaxWait == 0:
		out.RetryMaxWait = max(DefaultRetryMaxWait, out.RetryWait)
	case cfg.RetryMaxWait < out.RetryWait:
		p.Add("retry_max_wait", "must be at least retry_wait (%s)", out.RetryWait)
	}
	if cfg.RateLimit < 0 || math.IsNaN(cfg.RateLimit) || math.IsInf(cfg.RateLimit, 0) {
		p.Add("rate_limit", "must be a number of calls per second, 0 for no limit")
	}
	switch {
	case cfg.Burst < 0:
		p.Add("burst", "must not be negative")
	case cfg.Burst == 0:
		out.Burst = max(1, int(math.Ceil(cfg.RateLimit)))
	}
	if cfg.DailyBudget < 0 {
		p.Add("daily_budget", "must not be negative")
	}
	switch {
	case cfg.BudgetReserve == 0:
		out.BudgetReserve = DefaultBudgetReserve
	case cfg.BudgetReserve < 0 || cfg.BudgetReserve >= 1:
		p.Add("budget_reserve", "must be a share between 0 and 1")
	}
	for k := range cfg.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			p.Add("headers", "%q is not a header name", k)
		}
	}
	return out
}

// AuthConfig is the `auth:` block of connectors that authenticate with a
// standard HTTP scheme (systems with their own login, like Tryton, have
// their own keys):
//
//	auth: {type: basic, username: u, password: ${ERP_PASSWORD}}
//	auth: {type: bearer, token: ${ERP_TOKEN}}
//	auth: {type: api_key, header: X-API-Key, key: ${ERP_KEY}}
//	auth: {type: oauth2, token_url: https://.../token, client_id: id,
//	       client_secret: ${ERP_SECRET}, scopes: [api], client_auth: header}
type AuthConfig struct {
	// Type is none (default), basic, bearer, api_key or oauth2.
	Type     string `mapstructure:"type" yaml:"type"`
	Username string `mapstructure:"username" yaml:"username"`
	Password string `mapstructure:"password" yaml:"password"`
	Token    string `mapstructure:"token" yaml:"token"`
	// Header carries the API key; default X-API-Key.
	Header string `mapstructure:"header" yaml:"header"`
	// Prefix goes before the key in the header (e.g. "token "); default none.
	Prefix string `mapstructure:"prefix" yaml:"prefix"`
	Key    string `mapstructure:"key" yaml:"key"`
	// TokenURL, ClientID, ClientSecret and Scopes are OAuth2's client
	// credentials grant (RFC 6749 section 4.4).
	TokenURL     string   `mapstructure:"token_url" yaml:"token_url"`
	ClientID     string   `mapstructure:"client_id" yaml:"client_id"`
	ClientSecret string   `mapstructure:"client_secret" yaml:"client_secret"`
	Scopes       []string `mapstructure:"scopes" yaml:"scopes"`
	// ClientAuth is how the client authenticates at the token URL: header
	// (HTTP Basic, default) or body (client_id and client_secret in the form).
	ClientAuth string `mapstructure:"client_auth" yaml:"client_auth"`
}

// The auth types.
const (
	AuthNone   = "none"
	AuthBasic  = "basic"
	AuthBearer = "bearer"
	AuthAPIKey = "api_key"
	AuthOAuth2 = "oauth2"
)

// WithDefaults returns a with its defaults filled in, recording bad keys
// (prefixed with key) in p.
func (a AuthConfig) WithDefaults(p *Problems, key string) AuthConfig {
	need := func(k, v string) {
		if strings.TrimSpace(v) == "" {
			p.Add(key+"."+k, "is required for auth type %s", a.Type)
		}
	}
	switch a.Type {
	case "", AuthNone:
		a.Type = AuthNone
	case AuthBasic:
		need("username", a.Username)
	case AuthBearer:
		need("token", a.Token)
	case AuthAPIKey:
		need("key", a.Key)
		if a.Header == "" {
			a.Header = "X-API-Key"
		}
	case AuthOAuth2:
		need("token_url", a.TokenURL)
		need("client_id", a.ClientID)
		need("client_secret", a.ClientSecret)
		if a.TokenURL != "" {
			if u, err := url.Parse(a.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.Add(key+".token_url", "%q is not an http(s) URL", a.TokenURL)
			}
		}
		switch a.ClientAuth {
		case "":
			a.ClientAuth = "header"
		case "header", "body":
		default:
			p.Add(key+".client_auth", "unknown value %q (header or body)", a.ClientAuth)
		}
	default:
		p.Add(key+".type", "unknown auth type %q (none, basic, bearer, api_key, oauth2)", a.Type)
	}
	return a
}
