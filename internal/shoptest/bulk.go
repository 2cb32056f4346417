package shoptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sign is the shops' webhook signature: base64(HMAC-SHA256(secret, body)).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// bulkOp is a bulk query operation: it takes a snapshot when it starts
// (CREATED) and has COMPLETED with its JSONL result by the time it is
// first asked about; the result URL serves HTTP ranges, as the signed
// storage URLs Shopify hands out do.
type bulkOp struct {
	id      string
	status  string
	created time.Time
	kind    string
	text    string // the query it was started with, as BulkOperation.query gives it
	query   any
	jsonl   []byte
	count   int
}

func (s *Shopify) runBulk(vars map[string]any) map[string]any {
	q, _ := vars["query"].(string)
	for _, op := range s.ops {
		if op.status == "CREATED" || op.status == "RUNNING" {
			return map[string]any{"bulkOperationRunQuery": map[string]any{"bulkOperation": nil, "userErrors": []any{map[string]any{
				"field": nil, "message": "A bulk query operation for this app and shop is already in progress: " + op.id + "."}}}}
		}
	}
	s.opSeq++
	op := &bulkOp{id: gid("BulkOperation", int64(s.opSeq)), status: "CREATED", created: s.now, kind: "customers", text: q}
	if strings.Contains(q, "orders") {
		op.kind = "orders"
	}
	if i := strings.Index(q, `query: "`); i >= 0 {
		rest := q[i+len(`query: "`):]
		op.query = rest[:strings.Index(rest, `"`)]
	}
	op.jsonl, op.count = s.export(op.kind, op.query)
	s.ops[op.id] = op
	return map[string]any{"bulkOperationRunQuery": map[string]any{"bulkOperation": map[string]any{
		"id": op.id, "status": op.status, "createdAt": op.created.UTC().Format(time.RFC3339)}, "userErrors": []any{}}}
}

// export writes the JSONL result: one line per record, each order's line
// items on lines of their own after it, with __parentId.
func (s *Shopify) export(kind string, query any) ([]byte, int) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	rows := s.sorted(kind, query)
	for _, r := range rows {
		if kind == "customers" {
			_ = enc.Encode(customerNode(r))
			continue
		}
		n := orderFields(r)
		_ = enc.Encode(n)
		for _, it := range r["line_items"].([]any) {
			ln := lineNode(it.(map[string]any))
			ln["__parentId"] = n["id"]
			_ = enc.Encode(ln)
		}
	}
	return buf.Bytes(), len(rows)
}

func (s *Shopify) bulkNode(vars map[string]any) map[string]any {
	op := s.ops[vars["id"].(string)]
	if op == nil {
		return map[string]any{"node": nil}
	}
	return map[string]any{"node": s.opNode(op)}
}

// currentBulk answers currentBulkOperation: the app's most recent bulk
// query operation, or null when it has started none.
func (s *Shopify) currentBulk() map[string]any {
	op := s.ops[gid("BulkOperation", int64(s.opSeq))]
	if op == nil {
		return map[string]any{"currentBulkOperation": nil}
	}
	return map[string]any{"currentBulkOperation": s.opNode(op)}
}

// opNode is an operation as a BulkOperation object; asking about one
// finds it COMPLETED.
func (s *Shopify) opNode(op *bulkOp) map[string]any {
	op.status = "COMPLETED"
	var url any
	if op.count > 0 {
		url = s.Srv.URL + "/bulk/" + strings.TrimPrefix(op.id, "gid://shopify/BulkOperation/") + ".jsonl?X-Goog-Signature=stand-in"
	}
	return map[string]any{"id": op.id, "status": op.status, "errorCode": nil, "query": op.text,
		"objectCount": strconv.Itoa(op.count), "url": url, "createdAt": op.created.UTC().Format(time.RFC3339)}
}

// BulkSize is the size of a bulk operation's result (n counts from 1).
func (s *Shopify) BulkSize(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op := s.ops[gid("BulkOperation", int64(n))]; op != nil {
		return len(op.jsonl)
	}
	return 0
}

// BulkOps is how many bulk operations were started.
func (s *Shopify) BulkOps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ops)
}

// SetOnRange sets OnRange under the stand-in's lock, so a test may set it
// while requests are being served.
func (s *Shopify) SetOnRange(hook func(off int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.OnRange = hook
}

func (s *Shopify) serveBulk(w http.ResponseWriter, r *http.Request) {
	n := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/bulk/"), ".jsonl")
	s.mu.Lock()
	op := s.ops[gid("BulkOperation", atoi(n))]
	s.calls["range"]++
	hook := s.OnRange
	s.mu.Unlock()
	if op == nil || r.URL.Query().Get("X-Goog-Signature") == "" {
		http.Error(w, "<Error><Code>AccessDenied</Code></Error>", http.StatusForbidden)
		return
	}
	if hook != nil {
		off := int64(0)
		if rg := r.Header.Get("Range"); rg != "" {
			off = atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		}
		hook(off)
	}
	w.Header().Set("Content-Type", "application/jsonl")
	http.ServeContent(w, r, "result.jsonl", op.created, bytes.NewReader(op.jsonl))
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
