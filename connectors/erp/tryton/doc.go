// Package tryton is the connector of kind "tryton": it talks to a Tryton
// ERP (tested against Tryton 6.0) over its JSON-RPC protocol, through the
// shared HTTP core of package erp (session login, retries, rate limit,
// budget, redacted debug logs).
//
// It owns the native record shapes of three entities, documented in
// docs/connectors/tryton.md: customer (party.party with its e-mail and
// phone contact mechanisms and first address), order (sale.sale with its
// lines; products by code, units by symbol) and invoice (account.invoice,
// read only). As a Writer it creates or updates parties and sales keyed on
// the party's code and the sale's reference, so writing a record again
// changes nothing; as a Reader it polls write_date/create_date behind an
// opaque cursor; as a Scanner it lists every record in pages by id, for
// reconciliation.
//
// It must not import the pipeline or the store.
package tryton
