// Package erp owns the HTTP plumbing every ERP connector shares: a client
// on go-resty/resty/v2 with a base URL, authentication (basic, bearer,
// API-key header, OAuth2 client credentials with token refresh, and a
// session login hook for JSON-RPC systems), per-attempt timeouts, retries
// with backoff on 5xx, timeouts, broken connections and 429 (honouring
// Retry-After), a client-side rate limit per connector, an optional daily
// call budget that slows calls down instead of failing when it runs low,
// debug logging of requests and responses with secrets redacted, and the
// classification of every failure as connectors.Retryable,
// connectors.Permanent or connectors.Unavailable.
//
// The kinds live in sub-packages (tryton, ...) and speak their system's
// protocol on top of Client. This package must not import the pipeline or
// the store, nor any of its sub-packages.
package erp
