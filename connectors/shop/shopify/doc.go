// Package shopify is the connector kind "shopify": a Shopify store's
// orders and customers.
//
//   - Pusher: webhooks orders/create, orders/updated, orders/cancelled,
//     customers/create and customers/update at POST
//     /webhooks/shopify/<connector>, verified by X-Shopify-Hmac-Sha256
//     (base64 HMAC-SHA256 of the raw body, constant time) before anything
//     reads them, deduplicated by X-Shopify-Webhook-Id (connectors/shop),
//     ordered by the record's own updated_at (Record.Version: the
//     pipeline drops a late older delivery). An order's buyer (its
//     customer object) is taken first, so the order refers to a customer
//     the hub knows and may have matched to a CRM customer.
//   - Reader (with an api: block): the GraphQL Admin API, orders and
//     customers changed since the cursor (query updated_at:>=, sortKey
//     UPDATED_AT, cursor pagination), honouring the query cost and
//     throttleStatus; a Backfiller whose history comes from a bulk
//     operation (bulkOperationRunQuery) whose JSONL result is streamed
//     with HTTP ranges, resumable from a byte offset.
//
// Records have the shape of the webhook payloads (REST Admin resources):
// what the poller reads through GraphQL is turned into that shape
// (convert.go), so one mapping serves both paths and a poll of an order a
// webhook already brought maps to the same canonical record.
//
// It imports the connector contract, connectors/shop and connectors/erp
// (the HTTP client): never the pipeline or the store.
package shopify
