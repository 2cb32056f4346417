// Package zohotest is a stand-in for Zoho CRM (REST API v8) and its
// accounts server, for tests: it cannot run here, so tests run this
// instead. It follows Zoho's published OpenAPI description of CRM v8
// (github.com/zoho/crm-oas) and the developer documentation for what it
// serves, and enforces what the real service does to a client:
//
//   - the accounts server mints access tokens from a refresh token
//     (POST /oauth/v2/token, grant_type=refresh_token), each valid for an
//     hour, at most 10 per refresh token in 10 minutes (then HTTP 400
//     "Access Denied"), and answers a wrong client or refresh token with
//     HTTP 200 {"error":"invalid_code"} or {"error":"invalid_client"}, as
//     Zoho's accounts server does; the reply names the api_domain, which
//     is a second server: calls must go there;
//   - the API takes "Authorization: Zoho-oauthtoken <token>" and answers
//     a missing, unknown or expired token 401 INVALID_TOKEN;
//   - credits per rolling 24 hours (COQL by its LIMIT: 1 up to 200
//     rows, 2 up to 1,000, 3 up to 2,000; an insert, update, upsert or
//     delete one per 10 records; any other call one) and a concurrency
//     limit per organisation: over either the call is refused with HTTP
//     429 (code LIMIT_REACHED for credits, TOO_MANY_REQUESTS for
//     concurrency) and costs nothing;
//   - COQL (POST /crm/v8/coql): a SELECT with WHERE (required), ORDER BY,
//     LIMIT (at most 2,000) and OFFSET (at most 100,000 rows deep),
//     comparisons, in, is null, and/or with parentheses, at most 25
//     criteria; lookups come back as {"id"}, subforms not at all; no rows
//     is 204;
//   - GET /crm/v8/{module}?ids=...&fields=... (fields required, at most
//     100 ids), PUT /crm/v8/{module} (update, at most 100), POST
//     /crm/v8/{module}/upsert with duplicate_check_fields (at most 100),
//     DELETE /crm/v8/{module}?ids=..., GET /crm/v8/{module}/deleted with
//     If-Modified-Since; per-record answers with code, details, message
//     and status, 200 when all succeed, 207 when some do, 400 when none;
//   - line items (Ordered_Items, Invoiced_Items) as Zoho updates them: an
//     item with an id changes that line, one without is added, one with
//     "_delete" removed; Product_Name must name a product by id; the
//     record's totals are computed from the lines in exact decimals;
//   - mandatory fields (Last_Name of Contacts, Account_Name of Accounts,
//     Product_Name of Products, Subject and line items of Sales_Orders
//     and Invoices) and e-mail syntax, as MANDATORY_NOT_FOUND and
//     INVALID_DATA;
//   - Modified_Time in whole seconds in the organisation's time zone
//     (+05:30 here, so a client must convert), record ids as 19-digit
//     numbers that grow;
//   - notification channels (POST/PATCH/DELETE /crm/v8/actions/watch):
//     changes of a watched module are posted to the channel's notify_url
//     with its token, until the channel expires (at most a week).
//
// Where it simplifies: one organisation and one user; the credit costs of
// calls other than COQL and writes; the answer to exhausted credits
// (Zoho's documentation names the limit, not the exact body). Tests can
// inject faults (FailNext), change records behind the client's back and
// watch every call.
package zohotest
