// Package odoo is the connector of kind "odoo": it talks to an Odoo ERP
// through the shared HTTP core of package erp (retries, Retry-After, rate
// limit, daily budget, redacted debug logs), over either of Odoo's external
// APIs, chosen by config: the JSON-2 API of Odoo 19+ (POST
// /json/2/<model>/<method>, a bearer API key, named arguments, real HTTP
// status codes) or the older JSON-RPC endpoint (POST /jsonrpc, execute_kw
// with the database, user id and password or API key in every call).
//
// It owns the native record shapes of three entities, documented in
// docs/connectors/odoo.md: customer (res.partner), order (sale.order with
// its sale.order.line lines; products by internal reference) and invoice
// (account.move of type out_invoice with its product lines and the sale
// order it bills, read only). As a Writer it creates or updates partners and
// sale orders keyed on the partner's ref and the order's client_order_ref,
// writing only what differs, so writing a record again changes nothing; as
// a Reader it polls write_date behind an opaque cursor that neither skips
// nor repeats changes; as a Scanner it lists every record for
// reconciliation.
//
// It must not import the pipeline or the store. The package
// internal/odoofake is a stand-in Odoo for its tests.
package odoo
