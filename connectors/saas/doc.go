// Package saas holds what the connectors of SaaS CRMs (saas/zoho,
// saas/fxiaoke) share on top of the HTTP core of package erp: the
// transport settings of a kind whose base URL is not configured but
// found (a data center's accounts server, an API domain a token reply
// names), and Window, the client-side quota every call passes: a rolling
// window of units (Zoho's credits per 24 hours, Fxiaoke's calls per 20
// seconds per endpoint and per day) that makes a call wait until it fits
// instead of letting the vendor refuse it, and a limit on calls in
// flight. Both show in Prometheus metrics.
//
// It imports the connector contract and package erp only: never the
// pipeline, the store or another connector.
package saas
