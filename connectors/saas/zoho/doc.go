// Package zoho is the connector of kind "zoho": Zoho CRM through its REST
// API v8, on the HTTP core of package erp. It owns the OAuth2
// refresh-token flow against the data center's accounts server (one
// access token at a time, shared by every worker, kept for its hour, and
// minted at most 10 times in 10 minutes), the API domain the token reply
// names, the org's quotas held client-side (credits per rolling 24 hours
// by the price of each call, calls in flight), and per entity a module
// (Contacts or Accounts, Sales_Orders, Invoices, or a custom module).
//
// As a Reader it finds changes with COQL on (Modified_Time, id), a keyset
// that pages past the list API's 2,000 records and does not shift, reads
// the records by id for their line items, and reads deletes from the
// deleted records list; as a Pusher it keeps a notification channel
// (actions/watch) subscribed and turns the notifications, checked by
// their token, into records; as a Writer it upserts by the duplicate
// check fields, updates by id with line items aligned, and compares first
// so that an unchanged record costs no write; as a Scanner it pages by
// id. docs/connectors/zoho.md documents every key.
//
// It must not import the pipeline or the store.
package zoho
