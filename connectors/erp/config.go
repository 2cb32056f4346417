package erp

import (
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
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
	URL string `mapstructure:"url" yaml:"url" required:"true" doc:"the base URL of the system's API; every path is relative to it"`
	// Timeout bounds one attempt (connect, send, read the reply).
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout" default:"30s" doc:"bounds one attempt: connect, send, read the reply"`
	// Retries is how many times a transient failure is retried; 0 turns
	// retries off (the pipeline still retries the record later).
	Retries *int `mapstructure:"retries" yaml:"retries" default:"3" doc:"how many times a transient failure (5xx, 429, a timeout, a refused connection) is retried, 0 to 100; 0 leaves retrying to the pipeline"`
	// RetryWait is the first backoff.
	RetryWait time.Duration `mapstructure:"retry_wait" yaml:"retry_wait" default:"500ms" doc:"the first backoff, doubled per attempt, with jitter"`
	// RetryMaxWait caps a backoff; a Retry-After longer than it is not
	// waited for here but handed to the pipeline. Default 30s, at least
	// RetryWait.
	RetryMaxWait time.Duration `mapstructure:"retry_max_wait" yaml:"retry_max_wait" defaultdoc:"30s, or retry_wait when that is longer" doc:"the longest backoff; a longer Retry-After is not waited for here but handed to the pipeline with the record"`
	// RateLimit is the most calls per second this connector makes; 0 means
	// no limit.
	RateLimit float64 `mapstructure:"rate_limit" yaml:"rate_limit" defaultdoc:"0: no limit" doc:"the most calls per second this connector makes"`
	// Burst is how many calls may go at once above the rate; default the
	// rate rounded up (at least 1).
	Burst int `mapstructure:"burst" yaml:"burst" defaultdoc:"rate_limit rounded up, at least 1" doc:"how many calls may go at once above the rate"`
	// DailyBudget is the number of calls allowed per UTC day (as ERPs with
	// metered APIs sell them); 0 means none. When less than BudgetReserve
	// of it is left, calls are spread evenly over the rest of the day; when
	// it is spent, calls wait for the next day. Both show in the metrics.
	DailyBudget int `mapstructure:"daily_budget" yaml:"daily_budget" defaultdoc:"0: no budget" doc:"calls allowed per UTC day, as ERPs with metered APIs sell them; when it is spent, calls wait for the next day"`
	// BudgetReserve is the share of the budget below which calls slow
	// down.
	BudgetReserve float64 `mapstructure:"budget_reserve" yaml:"budget_reserve" default:"0.1" doc:"the share of daily_budget below which calls are spread evenly over the rest of the day"`
	// Debug logs every request and response at debug level, with secrets
	// (Authorization, passwords, tokens, sessions, keys) redacted.
	Debug bool `mapstructure:"debug" yaml:"debug" defaultdoc:"false" doc:"log every request and reply at debug level, secrets (Authorization, passwords, tokens, sessions, keys) redacted"`
	// Headers are sent with every request.
	Headers map[string]string `mapstructure:"headers" yaml:"headers" doc:"sent with every request"`
}

// The defaults of HTTPConfig (its spec's, which a test holds to these).
const (
	DefaultTimeout       = 30 * time.Second
	DefaultRetries       = 3
	DefaultRetryWait     = 500 * time.Millisecond
	DefaultRetryMaxWait  = 30 * time.Second
	DefaultBudgetReserve = 0.1
)

// Problems collects config errors, each naming its key: the connectors'
// FieldErrors, under the name the ERP kinds' helpers have always used.
type Problems = connectors.FieldErrors

// WithDefaults returns cfg with its defaults filled in, recording bad keys
// in p.
func (cfg HTTPConfig) WithDefaults(p *Problems) HTTPConfig {
	out := cfg
	*p = append(*p, connectors.Resolve(&out)...)
	if strings.TrimSpace(out.URL) != "" { // the spec reports a missing one
		if u, err := url.Parse(out.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Add("url", "%q is not an http(s) URL", out.URL)
		}
	}
	out.URL = strings.TrimRight(out.URL, "/")
	if out.Timeout < 0 {
		p.Add("timeout", "must not be negative")
	}
	if out.Retries != nil && (*out.Retries < 0 || *out.Retries > 100) {
		p.Add("retries", "must be between 0 and 100")
	}
	if out.RetryWait < 0 {
		p.Add("retry_wait", "must not be negative")
	}
	switch {
	case out.RetryMaxWait == 0:
		out.RetryMaxWait = max(DefaultRetryMaxWait, out.RetryWait)
	case out.RetryMaxWait < out.RetryWait:
		p.Add("retry_max_wait", "must be at least retry_wait (%s)", out.RetryWait)
	}
	if out.RateLimit < 0 || math.IsNaN(out.RateLimit) || math.IsInf(out.RateLimit, 0) {
		p.Add("rate_limit", "must be a number of calls per second, 0 for no limit")
	}
	switch {
	case out.Burst < 0:
		p.Add("burst", "must not be negative")
	case out.Burst == 0:
		out.Burst = max(1, int(math.Ceil(out.RateLimit)))
	}
	if out.DailyBudget < 0 {
		p.Add("daily_budget", "must not be negative")
	}
	if out.BudgetReserve < 0 || out.BudgetReserve >= 1 {
		p.Add("budget_reserve", "must be a share between 0 and 1")
	}
	for k := range out.Headers {
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
	Type     string `mapstructure:"type" yaml:"type" default:"none" enum:"none|basic|bearer|api_key|oauth2" doc:"how requests authenticate: none, basic (username, password), bearer (token), api_key (header, prefix, key) or oauth2 client credentials (token_url, client_id, client_secret, scopes, client_auth), renewed before expiry and after a 401"`
	Username string `mapstructure:"username" yaml:"username" doc:"basic: the user name"`
	Password string `mapstructure:"password" yaml:"password" secret:"true" doc:"basic: the password"`
	Token    string `mapstructure:"token" yaml:"token" secret:"true" doc:"bearer: the token"`
	// Header carries the API key; default X-API-Key.
	Header string `mapstructure:"header" yaml:"header" defaultdoc:"X-API-Key, for api_key" doc:"api_key: the header that carries the key"`
	// Prefix goes before the key in the header (e.g. "token "); default none.
	Prefix string `mapstructure:"prefix" yaml:"prefix" doc:"api_key: what goes before the key in the header (ERPNext: \"token \")"`
	Key    string `mapstructure:"key" yaml:"key" secret:"true" doc:"api_key: the key"`
	// TokenURL, ClientID, ClientSecret and Scopes are OAuth2's client
	// credentials grant (RFC 6749 section 4.4).
	TokenURL     string   `mapstructure:"token_url" yaml:"token_url" doc:"oauth2: the token endpoint (client credentials grant, RFC 6749 section 4.4)"`
	ClientID     string   `mapstructure:"client_id" yaml:"client_id" doc:"oauth2: the client id"`
	ClientSecret string   `mapstructure:"client_secret" yaml:"client_secret" secret:"true" doc:"oauth2: the client secret"`
	Scopes       []string `mapstructure:"scopes" yaml:"scopes" doc:"oauth2: the scopes asked for"`
	// ClientAuth is how the client authenticates at the token URL: header
	// (HTTP Basic, default) or body (client_id and client_secret in the form).
	ClientAuth string `mapstructure:"client_auth" yaml:"client_auth" defaultdoc:"header, for oauth2" enum:"header|body" doc:"oauth2: how the client authenticates at the token URL: header (HTTP Basic) or body (client_id and client_secret in the form)"`
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
	for _, e := range connectors.Resolve(&a) {
		k := key
		if e.Key != "" {
			k += "." + e.Key
		}
		p.Add(k, "%s", e.Msg)
	}
	need := func(k, v string) {
		if strings.TrimSpace(v) == "" {
			p.Add(key+"."+k, "is required for auth type %s", a.Type)
		}
	}
	switch a.Type {
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
		if a.ClientAuth == "" {
			a.ClientAuth = "header"
		}
	}
	return a
}
