package zoho

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/saas"
)

// The refresh token's mint limit: Zoho's accounts server refuses more
// than 10 access tokens from one refresh token in 10 minutes.
const (
	mintLimit  = 10
	mintWindow = 10 * time.Minute
	// tokenSkew renews a token this long before Zoho says it expires.
	tokenSkew = 2 * time.Minute
)

// oauth is the refresh-token flow: one access token at a time, shared by
// every worker of the connector, kept for its hour (less tokenSkew) and
// minted again when it expires or the API refuses it. Minting is held to
// the refresh token's limit, so a storm of 401s cannot lock the
// connector out of its own accounts server.
type oauth struct {
	tokenURL, clientID, clientSecret, refreshToken string
	apiDomain                                      string // configured; "" takes the token reply's
	clock                                          saas.Clock

	mu      sync.Mutex
	token   string
	domain  string
	expires time.Time
	mints   *saas.Window
	minted  int64
}

func newOAuth(cfg Config, clock saas.Clock) *oauth {
	return &oauth{tokenURL: cfg.AccountsURL + "/oauth/v2/token", clientID: cfg.ClientID, clientSecret: cfg.ClientSecret,
		refreshToken: cfg.RefreshToken, apiDomain: cfg.APIDomain, clock: clock,
		mints: saas.NewWindow("access tokens", mintLimit, mintWindow, clock)}
}

// Apply sets "Authorization: Zoho-oauthtoken <token>", minting a token
// first when there is none or it has expired.
func (o *oauth) Apply(ctx context.Context, c *erp.Client, h http.Header) error {
	tok, _, err := o.current(ctx, c)
	if err != nil {
		return err
	}
	h.Set("Authorization", "Zoho-oauthtoken "+tok)
	return nil
}

// Reject drops the token the API refused (unless another worker already
// replaced it); the next call mints one.
func (o *oauth) Reject(h http.Header) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if h.Get("Authorization") == "Zoho-oauthtoken "+o.token {
		o.token = ""
	}
	return true
}

// current returns a live token and the API domain, minting when needed.
func (o *oauth) current(ctx context.Context, c *erp.Client) (string, string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.token == "" || !o.clock.Now().Before(o.expires) {
		if err := o.mint(ctx, c); err != nil {
			return "", "", err
		}
	}
	return o.token, o.domain, nil
}

// domainOf returns the API domain, minting a token first if none is known.
func (o *oauth) domainOf(ctx context.Context, c *erp.Client) (string, error) {
	o.mu.Lock()
	d := o.domain
	o.mu.Unlock()
	if d != "" {
		return d, nil
	}
	_, d, err := o.current(ctx, c)
	return d, err
}

// mint asks the accounts server for a new access token (o.mu held).
func (o *oauth) mint(ctx context.Context, c *erp.Client) error {
	if err := o.mints.Wait(ctx, 1); err != nil {
		return fmt.Errorf("zoho: mint an access token (at most %d in %s): %w", mintLimit, mintWindow, err)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {o.clientID}, "client_secret": {o.clientSecret},
		"refresh_token": {o.refreshToken}}
	resp, err := c.Do(ctx, erp.Request{Op: "zoho: mint an access token", Method: http.MethodPost, Path: o.tokenURL,
		Header: http.Header{"Accept": {"application/json"}}, Body: []byte(form.Encode()),
		ContentType: "application/x-www-form-urlencoded", NoAuth: true, Sensitive: true, Idempotent: true})
	if err != nil {
		var he *erp.HTTPError
		if errors.As(err, &he) && he.Status == http.StatusBadRequest {
			// "Access Denied": too many tokens minted; it passes.
			return connectors.Retryable(fmt.Errorf("zoho: the accounts server refused a token for now: %w", err), time.Minute)
		}
		return err
	}
	var tok struct {
		AccessToken string          `json:"access_token"`
		APIDomain   string          `json:"api_domain"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Error       string          `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &tok); err != nil {
		return connectors.Retryable(fmt.Errorf("zoho: the token reply is not JSON: %w", err), 0)
	}
	if tok.Error != "" || tok.AccessToken == "" {
		// invalid_client, invalid_code (a revoked or wrong refresh token):
		// every call fails alike until a person fixes the credentials.
		code := tok.Error
		if code == "" {
			code = "no access_token"
		}
		return connectors.Unavailable(fmt.Errorf("zoho: the accounts server %s refused the credentials (client_id, client_secret, refresh_token): %s", o.tokenURL, code))
	}
	ttl := time.Hour
	var secs int64
	if _, err := fmt.Sscan(strings.Trim(string(tok.ExpiresIn), `"`), &secs); err == nil && secs > 0 {
		ttl = time.Duration(secs) * time.Second
	}
	if ttl > 2*tokenSkew {
		ttl -= tokenSkew
	}
	o.token, o.expires = tok.AccessToken, o.clock.Now().Add(ttl)
	o.mints.Add(1)
	o.minted++
	switch {
	case o.apiDomain != "":
		o.domain = o.apiDomain
	case tok.APIDomain != "":
		o.domain = strings.TrimRight(tok.APIDomain, "/")
	default:
		return connectors.Unavailable(errors.New("zoho: the token reply names no api_domain; set api_domain"))
	}
	return nil
}

// Minted is how many access tokens the connector minted.
func (o *oauth) Minted() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.minted
}
