// Package shoptest holds stand-ins for the shops the hub connects, for
// tests and benchmarks: Shopify (signed webhook deliveries, the GraphQL
// Admin API with cursor pagination, query cost and throttleStatus, HTTP
// 429 with Retry-After, bulk operations with a JSONL result served with
// HTTP ranges) and WooCommerce (REST API v3 with Basic auth, X-WP-Total
// and X-WP-TotalPages, Link headers; signed webhooks and the creation
// ping). They follow the vendors' published payloads, headers, signature
// rules, pagination and rate-limit answers; where they simplify, the
// comment says how.
//
// Nothing here is imported by the hub's own code: only by tests, the
// benchmark and the tools that drive them.
package shoptest
