package saas

import (
	"time"

	"github.com/crmhub/hub/connectors/erp"
)

// Transport is the HTTP part of a SaaS connector's settings: erp's
// HTTPConfig without the URL (the kind finds it) and without the call
// budget (Window does that by the vendor's own units). Kinds embed it
// with `mapstructure:",squash"`.
type Transport struct {
	Timeout      time.Duration `mapstructure:"timeout" yaml:"timeout" default:"30s" doc:"bounds one attempt: connect, send, read the reply"`
	Retries      *int          `mapstructure:"retries" yaml:"retries" default:"3" doc:"how many times a transient failure (5xx, 429, a timeout, a refused connection) is retried at once, 0 to 100; 0 leaves retrying to the pipeline"`
	RetryWait    time.Duration `mapstructure:"retry_wait" yaml:"retry_wait" default:"500ms" doc:"the first backoff, doubled per attempt, with jitter"`
	RetryMaxWait time.Duration `mapstructure:"retry_max_wait" yaml:"retry_max_wait" defaultdoc:"30s, or retry_wait when that is longer" doc:"the longest backoff; a longer Retry-After is not waited for here but handed to the pipeline with the record"`
	Debug        bool          `mapstructure:"debug" yaml:"debug" defaultdoc:"false" doc:"log every request and reply at debug level, secrets (tokens, client secrets, codes) redacted"`
}

// HTTP is the erp client config of t for base url; p collects bad keys.
func (t Transport) HTTP(url string, p *erp.Problems) erp.HTTPConfig {
	return erp.HTTPConfig{URL: url, Timeout: t.Timeout, Retries: t.Retries, RetryWait: t.RetryWait,
		RetryMaxWait: t.RetryMaxWait, Debug: t.Debug}.WithDefaults(p)
}
