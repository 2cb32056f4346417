package erp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/crmhub/hub/connectors"
)

// Auth puts credentials on requests.
type Auth interface {
	// Apply sets the credentials on the headers of an outgoing request,
	// logging in or fetching a token first when it has none (through c,
	// with Request.NoAuth).
	Apply(ctx context.Context, c *Client, h http.Header) error
	// Reject is told that the server refused the credentials sent in h
	// (HTTP 401). It drops them and returns true when asking again may
	// succeed (a new session or token), false for static credentials.
	Reject(h http.Header) bool
}

// NewAuth returns the Auth of a (defaults filled in by WithDefaults); nil
// for type none.
func NewAuth(a AuthConfig) Auth {
	switch a.Type {
	case AuthBasic:
		return staticAuth{header: "Authorization", value: "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password))}
	case AuthBearer:
		return staticAuth{header: "Authorization", value: "Bearer " + a.Token}
	case AuthAPIKey:
		return staticAuth{header: a.Header, value: a.Prefix + a.Key}
	case AuthOAuth2:
		return &OAuth2{TokenURL: a.TokenURL, ClientID: a.ClientID, ClientSecret: a.ClientSecret,
			Scopes: a.Scopes, InBody: a.ClientAuth == "body"}
	}
	return nil
}

type staticAuth struct{ header, value string }

func (s staticAuth) Apply(_ context.Context, _ *Client, h http.Header) error {
	h.Set(s.header, s.value)
	return nil
}

func (s staticAuth) Reject(http.Header) bool { return false }

func (s staticAuth) redactHeader() string { return s.header }

// OAuth2 is the client credentials grant (RFC 6749 section 4.4): it fetches
// a bearer token from TokenURL, keeps it until shortly before it expires,
// and fetches a new one then or when the API answers 401.
type OAuth2 struct {
	TokenURL, ClientID, ClientSecret string
	Scopes                           []string
	// InBody sends the client credentials in the form instead of HTTP Basic.
	InBody bool

	mu      sync.Mutex
	token   string
	expires time.Time
}

// expirySkew renews a token this long before it expires.
const expirySkew = 30 * time.Second

// Apply sets "Authorization: Bearer <token>", fetching a token when needed.
func (o *OAuth2) Apply(ctx context.Context, c *Client, h http.Header) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.token == "" || (!o.expires.IsZero() && !c.now().Before(o.expires)) {
		if err := o.fetch(ctx, c); err != nil {
			return err
		}
	}
	h.Set("Authorization", "Bearer "+o.token)
	return nil
}

// Reject drops the token the server refused.
func (o *OAuth2) Reject(h http.Header) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if h.Get("Authorization") == "Bearer "+o.token {
		o.token = ""
	}
	return true
}

func (o *OAuth2) fetch(ctx context.Context, c *Client) error {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(o.Scopes) > 0 {
		form.Set("scope", strings.Join(o.Scopes, " "))
	}
	h := http.Header{"Accept": {"application/json"}}
	if o.InBody {
		form.Set("client_id", o.ClientID)
		form.Set("client_secret", o.ClientSecret)
	} else {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(o.ClientID)+":"+url.QueryEscape(o.ClientSecret))))
	}
	resp, err := c.Do(ctx, Request{
		Op: "oauth2 token", Method: http.MethodPost, Path: o.TokenURL, Header: h,
		Body: []byte(form.Encode()), ContentType: "application/x-www-form-urlencoded",
		NoAuth: true, Sensitive: true, Idempotent: true,
	})
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) && (he.Status == http.StatusBadRequest || he.Status == http.StatusUnauthorized) {
			// invalid_client, invalid_grant, ...: the credentials are wrong,
			// for every call alike.
			return connectors.Unavailable(fmt.Errorf("oauth2: fetch a token: %w", err))
		}
		return fmt.Errorf("oauth2: fetch a token: %w", err)
	}
	var tok struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.Body, &tok); err != nil || tok.AccessToken == "" {
		return connectors.Unavailable(fmt.Errorf("oauth2: token reply from %s has no access_token", o.TokenURL))
	}
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer") {
		return connectors.Unavailable(fmt.Errorf("oauth2: token type %q is not supported (bearer only)", tok.TokenType))
	}
	o.token, o.expires = tok.AccessToken, time.Time{}
	var secs float64
	if s := strings.Trim(string(tok.ExpiresIn), `"`); s != "" {
		if _, err := fmt.Sscan(s, &secs); err == nil && secs > 0 {
			d := time.Duration(secs * float64(time.Second))
			if d > 2*expirySkew {
				d -= expirySkew
			}
			o.expires = c.now().Add(d)
		}
	}
	return nil
}

// Session is a login hook for systems that hand out a session at login
// (JSON-RPC ERPs): Login returns the Authorization header value for the
// new session; Apply logs in on first use and Reject (a 401) makes the
// next request log in again.
type Session struct {
	Login func(ctx context.Context) (string, error)

	mu    sync.Mutex
	value string
}

// Apply sets the session's Authorization header, logging in when there is
// no session.
func (s *Session) Apply(ctx context.Context, _ *Client, h http.Header) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.value == "" {
		v, err := s.Login(ctx)
		if err != nil {
			return err
		}
		s.value = v
	}
	h.Set("Authorization", s.value)
	return nil
}

// Reject drops the refused session (unless another request already
// replaced it).
func (s *Session) Reject(h http.Header) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.Get("Authorization") == s.value {
		s.value = ""
	}
	return true
}
