// Package fxiaoke is the connector of kind "fxiaoke": 纷享销客 (Fxiaoke)
// CRM through its OpenAPI, on the HTTP core of package erp. It owns the
// corpAccessToken flow (appId, appSecret, permanentCode; one token shared
// by every worker, renewed ahead of its expiresIn and when a call refuses
// it), the call envelope (corpAccessToken, corpId, currentOpenUserId and
// a fresh thirdTraceId a call), the errorCode table (every failure comes
// as a non-zero errorCode inside HTTP 200, classified by code into
// Retryable, Permanent and Unavailable, never by its message), the limits
// (100 calls per 20 s per endpoint and a daily quota, held client-side by
// saas.Window), and per entity an object (AccountObj, ContactObj,
// SalesOrderObj with its SalesOrderProductObj lines,
// InvoiceApplicationObj, PaymentObj, or a custom __c object through the
// custom endpoints).
//
// As a Reader it queries /cgi/crm/v2/data/query ordered on
// last_modified_time (epoch ms) and _id, 100 a page, voided records
// (is_deleted) as deletes; as a Writer it creates and updates masters
// with their detail lines and voids on delete, comparing first so that an
// unchanged record costs no write; as a Scanner it pages by _id.
// docs/connectors/fxiaoke.md documents every key.
//
// It must not import the pipeline or the store.
package fxiaoke
