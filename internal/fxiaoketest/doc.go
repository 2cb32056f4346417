// Package fxiaoketest is a stand-in for 纷享销客 (Fxiaoke) OpenAPI, for
// tests: the service cannot run here. It follows the open platform's
// published request and answer bodies and enforces what the real one does
// to a client:
//
//   - POST /cgi/corpAccessToken/get/V2 with appId, appSecret and
//     permanentCode mints a corpAccessToken and names the corpId; a token
//     lives expiresIn (7,200 s) and the same one is handed out for its
//     first 6,600 s; a wrong credential is a non-zero errorCode;
//   - every other call is a POST of JSON carrying corpAccessToken, corpId
//     and currentOpenUserId (and the data), answered HTTP 200 with
//     {errorCode, errorMessage, ...}: every failure is a non-zero
//     errorCode, never an HTTP status;
//   - at most 100 calls per 20 s per endpoint and, optionally, a daily
//     quota of calls: over them the call is refused (not executed);
//   - /cgi/crm/v2/data/query with search_query_info: limit at most 100,
//     offset a multiple of limit, filters (EQ, N, GT, GTE, LT, LTE, IN,
//     NIN, LIKE) and orders; deleted records (is_deleted) only when a
//     filter names is_deleted; {dataList, total};
//   - /cgi/crm/v2/data/create (object_data and details: a sales order
//     with its SalesOrderProductObj lines), /update (details given
//     replace the lines), /get, /invalid (to the recycle bin: is_deleted,
//     life_status "invalid");
//   - custom objects (api names ending in __c) only under
//     /cgi/crm/custom/v2/data/..., predefined ones only under
//     /cgi/crm/v2/data/...;
//   - records with _id, name, last_modified_time and create_time (epoch
//     ms), version, is_deleted, life_status and owner; amounts as decimal
//     strings (CNY, exact).
//
// The errorCode values are this package's Code* constants, which the
// connector's error_codes default to: the stand-in and the defaults agree
// by construction, and an operator checks them against the tenant's
// documentation (the vendor's global return-code table).
package fxiaoketest
