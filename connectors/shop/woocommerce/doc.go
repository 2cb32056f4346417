// Package woocommerce is the connector kind "woocommerce": a WooCommerce
// shop's orders and customers.
//
//   - Pusher: webhooks order.created, order.updated, customer.created and
//     customer.updated at POST /webhooks/woocommerce/<connector>, verified
//     by X-WC-Webhook-Signature (base64 HMAC-SHA256 of the raw body,
//     constant time) before anything reads them; the unsigned creation
//     ping (a form with webhook_id=N) is answered 200. WooCommerce does
//     not send a delivery again, and disables a webhook at the seventh
//     failure in a row (more than five counted): polling is the safety
//     net.
//   - Reader and Backfiller: REST API v3 (/wp-json/wc/v3/orders with
//     modified_after, dates_are_gmt, orderby=modified, order=asc,
//     per_page up to 100, X-WP-TotalPages; /wp-json/wc/v3/customers),
//     with the consumer key and secret, through the rest kind's source.
//
// Every order gets buyer_key: its customer's id, or guest:<email> for a
// guest checkout. A webhook order's buyer (derived from the order's
// billing address) is taken as a customer before the order, so the order
// refers to a customer the hub knows and may have matched to a CRM
// customer.
//
// It imports the connector contract, connectors/shop and the rest kind:
// never the pipeline or the store.
package woocommerce
