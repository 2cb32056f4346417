package erp

import (
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
)

// TestSpecDefaults: the shared HTTP and auth settings derive a spec, and
// its defaults are the Default* constants other code reads.
func TestSpecDefaults(t *testing.T) {
	if _, err := connectors.SpecOf[HTTPConfig](); err != nil {
		t.Fatal(err)
	}
	if _, err := connectors.SpecOf[AuthConfig](); err != nil {
		t.Fatal(err)
	}
	var p Problems
	got := HTTPConfig{URL: "https://erp.example.com/"}.WithDefaults(&p)
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		key       string
		have, out any
	}{
		{"url", got.URL, "https://erp.example.com"},
		{"timeout", got.Timeout, DefaultTimeout},
		{"retries", *got.Retries, DefaultRetries},
		{"retry_wait", got.RetryWait, DefaultRetryWait},
		{"retry_max_wait", got.RetryMaxWait, DefaultRetryMaxWait},
		{"budget_reserve", got.BudgetReserve, DefaultBudgetReserve},
		{"burst", got.Burst, 1},
	}
	for _, c := range checks {
		if c.have != c.out {
			t.Errorf("%s = %v, want %v", c.key, c.have, c.out)
		}
	}
	a := AuthConfig{}.WithDefaults(&p, "auth")
	if a.Type != AuthNone || p.Err() != nil {
		t.Errorf("auth defaults: %+v, %v", a, p.Err())
	}
}

// TestHTTPConfigProblems: each bad key is named once, with the spec's or
// the code's word, never both.
func TestHTTPConfigProblems(t *testing.T) {
	tests := []struct {
		name string
		cfg  HTTPConfig
		want string
	}{
		{"blank url", HTTPConfig{URL: "  "}, "url: is required"},
		{"not http", HTTPConfig{URL: "ftp://x"}, `url: "ftp://x" is not an http(s) URL`},
		{"wait above the cap", HTTPConfig{URL: "http://x", RetryWait: time.Minute, RetryMaxWait: time.Second},
			"retry_max_wait: must be at least retry_wait (1m0s)"},
	}
	for _, tt := range tests {
		var p Problems
		tt.cfg.WithDefaults(&p)
		if got := p.Error(); got != tt.want {
			t.Errorf("%s: problems %q, want %q", tt.name, got, tt.want)
		}
	}
}
