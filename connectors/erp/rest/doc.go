// Package rest is the connector of kind "rest": a generic client for ERPs
// (and shops) with a plain REST API, described entirely in config, so a
// system such as ERPNext/Frappe (/api/resource/<DocType>) or WooCommerce
// (/wp-json/wc/v3/orders) is supported without code. It runs on the shared
// HTTP core of package erp (authentication, retries honouring Retry-After,
// rate limit, daily budget, redacted debug logs).
//
// It owns, per configured entity: the resource paths and methods (list,
// get, create, update, delete), where records sit in the replies, the id
// and change-time fields, the updated-since query, the pagination scheme
// (page, offset, cursor or RFC 8288 Link header), the reference field used
// to find a record whose id the pipeline does not know yet, and the
// extraction of the server's own error message. As a Reader it polls the
// list behind an opaque cursor on (change time, id) with a look-back
// window; as a Writer it upserts record by record, keyed on the external id
// or the match field, so a rerun after a crash creates nothing twice; as a
// Scanner it lists every record. docs/connectors/rest.md documents every
// key.
//
// It must not import the pipeline or the store.
package rest
