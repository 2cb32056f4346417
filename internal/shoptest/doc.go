// Package shoptest holds stand-ins for the shops the hub connects, for
// tests and benchmarks: Shopify (signed webhook deliveries, the GraphQL
// Admin API with cursor pagination, query cost and throttleStatus, HTTP
// 429 with Retry-After, bulk operations with a JSONL result served with
// HTTP ranges). It follows the vendor's published payloads, headers,
// signature rules, pagination and rate-limit answers; where it simplifies
// (it recognises the connector's queries by their root fields instead of
// parsing GraphQL), the comment says how. WooCommerce (the REST API v3's
// orders and customers over HTTPS with the consumer key and secret, and
// webhooks as class-wc-webhook.php delivers them: signed, sent once,
// disabled after repeated failures, with the creation ping).
//
// Nothing here is imported by the hub's own code: only by tests, the
// benchmark and the tools that drive them.
package shoptest
