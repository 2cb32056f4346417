package odoo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

// Error is an error Odoo reported: the JSON object of a JSON-2 error reply
// (HTTP 4xx/5xx) or the "error" member of a JSON-RPC reply (HTTP 200).
type Error struct {
	// Op is the call: "<model>.<method>", or "common.login".
	Op string
	// Status is the HTTP status of a JSON-2 error, 0 for JSON-RPC.
	Status int
	// Code is the JSON-RPC error code (200 for any server error, 100 for
	// an expired session, 404), 0 for JSON-2.
	Code int
	// Name is the fully qualified Python exception
	// ("odoo.exceptions.ValidationError").
	Name string
	// Message is Odoo's own message.
	Message string
}

func (e *Error) Error() string {
	s := e.Op + ": " + e.short()
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// short is the exception's class name without its module.
func (e *Error) short() string {
	if i := strings.LastIndexByte(e.Name, '.'); i >= 0 {
		return e.Name[i+1:]
	}
	if e.Name == "" {
		return "error"
	}
	return e.Name
}

// sessionLost reports an error that a new login may cure: an expired
// session, or Odoo refusing the user id and secret of a JSON-RPC call.
func (e *Error) sessionLost() bool {
	n := e.short()
	return e.Code == 100 || n == "SessionExpiredException" || n == "AccessDenied"
}

// classify marks an Odoo error Permanent (Odoo refused the data: the
// record has to change), Unavailable (Odoo refused the credentials or the
// user's rights, or the database is not there: every record fails alike
// until a person acts) or Retryable (a lock, a serialization failure, an
// unexpected server exception, which the pipeline retries and then
// dead-letters).
func classify(e *Error, after time.Duration) error {
	switch e.short() {
	case "ValidationError", "UserError", "MissingError", "RedirectWarning",
		"except_orm", "Warning", "ValueError", "TypeError", "KeyError", "AttributeError",
		"NotFound", "BadRequest", "UnprocessableEntity", "MethodNotAllowed":
		return connectors.Permanent(e)
	case "AccessError", "AccessDenied", "SessionExpiredException", "Unauthorized", "Forbidden":
		return connectors.Unavailable(e)
	case "LockError", "ConcurrencyError", "SerializationFailure", "LockNotAvailable", "DeadlockDetected", "TransactionRollbackError":
		return connectors.Retryable(e, max(after, time.Second))
	case "OperationalError":
		if strings.Contains(e.Message, "does not exist") { // a database that is not there
			return connectors.Unavailable(e)
		}
	}
	switch {
	case e.Code == 404:
		return connectors.Permanent(e)
	case e.Status == http.StatusConflict, e.Status == http.StatusTooManyRequests, e.Status == http.StatusRequestTimeout:
		return connectors.Retryable(e, max(after, time.Second))
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		return connectors.Unavailable(e)
	case e.Status >= 400 && e.Status < 500:
		return connectors.Permanent(e)
	}
	return connectors.Retryable(e, after)
}

// readOnly methods may be sent again after any transient failure; so may
// write, which sets the same values again.
func idempotent(method string) bool {
	switch method {
	case "search", "read", "search_read", "search_count", "context_get", "fields_get", "name_search", "write",
		"login", "authenticate", "version":
		return true
	}
	return false
}

// rpc calls Odoo's model methods over one of its protocols. Every call
// passes named arguments only, which both protocols accept.
type rpc struct {
	c      *erp.Client
	proto  string
	db     string
	login  string
	secret string
	log    *slog.Logger
	debug  bool

	id atomic.Int64
	mu sync.Mutex
	// uid is the JSON-RPC user id from common.login, 0 before the login.
	uid int64
	// calls counts calls and their time, relogins the logins after Odoo
	// refused a session.
	calls, nanos, relogins atomic.Int64
}

// call runs model.method on ids (nil for an @api.model method such as
// create or search_read) with the named arguments kw, and decodes the
// result into out (a pointer, or nil to drop it). Numbers decode as
// json.Number.
func (r *rpc) call(ctx context.Context, model, method string, ids []int64, kw map[string]any, out any) error {
	op := model + "." + method
	if r.proto == ProtocolJSON2 {
		return r.callJSON2(ctx, op, model, method, ids, kw, out)
	}
	return r.callJSONRPC(ctx, op, model, method, ids, kw, out)
}

func decode(op string, raw []byte, out any) error {
	if out == nil || len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return connectors.Permanent(fmt.Errorf("%s: decode the result: %w", op, err))
	}
	return nil
}

// ---- JSON-2 ----

// errorBody receives the body of an HTTP error reply (see
// captureTransport), which the shared core hands back only in part.
type errorBody struct {
	mu     sync.Mutex
	status int
	body   []byte
}

func (b *errorBody) set(status int, body []byte) {
	b.mu.Lock()
	b.status, b.body = status, body
	b.mu.Unlock()
}

func (b *errorBody) get() (int, []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status, b.body
}

type errorBodyKey struct{}

// captureTransport copies the body of every error reply (status >= 400)
// into the errorBody the request's context carries, so that a JSON-2
// error's name and message reach the caller whole.
type captureTransport struct{ base http.RoundTripper }

// maxErrorBody bounds the copy (a traceback is a few kB).
const maxErrorBody = 256 << 10

func (t captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	sink, _ := req.Context().Value(errorBodyKey{}).(*errorBody)
	if sink == nil {
		return resp, nil
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if rerr == nil {
		sink.set(resp.StatusCode, b)
	}
	return resp, nil
}

// CloseIdleConnections lets erp.Client.Close reach the base transport.
func (t captureTransport) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// bearer is JSON-2's authentication: "Authorization: bearer <api key>".
// A refused key cannot be renewed by asking again.
type bearer struct{ key string }

func (b bearer) Apply(_ context.Context, _ *erp.Client, h http.Header) error {
	h.Set("Authorization", "bearer "+b.key)
	return nil
}

func (b bearer) Reject(http.Header) bool { return false }

func (r *rpc) callJSON2(ctx context.Context, op, model, method string, ids []int64, kw map[string]any, out any) error {
	body := make(map[string]any, len(kw)+1)
	for k, v := range kw {
		body[k] = v
	}
	if ids != nil {
		body["ids"] = ids
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return connectors.Permanent(fmt.Errorf("%s: encode the arguments: %w", op, err))
	}
	var h http.Header
	if r.db != "" {
		h = http.Header{"X-Odoo-Database": {r.db}}
	}
	eb := &errorBody{}
	resp, err := r.c.Do(context.WithValue(ctx, errorBodyKey{}, eb), erp.Request{
		Op: op, Method: http.MethodPost, Path: "/json/2/" + url.PathEscape(model) + "/" + url.PathEscape(method),
		Header: h, Body: raw, Idempotent: idempotent(method),
	})
	if err != nil {
		return r.json2Error(op, err, eb)
	}
	r.calls.Add(1)
	r.nanos.Add(int64(resp.Took))
	return decode(op, resp.Body, out)
}

// json2Error turns a failed JSON-2 call into an *Error with Odoo's name
// and message when the reply carried Odoo's error object; other failures
// (a proxy's HTML page, a timeout) keep the shared core's error.
func (r *rpc) json2Error(op string, err error, eb *errorBody) error {
	var he *erp.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	status, body := eb.get()
	var obj struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	}
	if status != he.Status || json.Unmarshal(body, &obj) != nil || obj.Name == "" {
		if he.Status == http.StatusConflict { // a lock, whoever answered
			return connectors.Retryable(err, time.Second)
		}
		return err
	}
	_, after := connectors.Classify(err)
	oe := &Error{Op: op, Status: he.Status, Name: obj.Name, Message: r.scrub(obj.Message)}
	if he.Status == http.StatusUnauthorized {
		return connectors.Unavailable(fmt.Errorf("%w (Odoo refused the API key: it is wrong, revoked or expired; "+
			"create a new one under Preferences > Account Security)", oe))
	}
	return classify(oe, after)
}

// ---- JSON-RPC ----

type rpcRequest struct {
	JSONRPC string    `json:"jsonrpc"`
	Method  string    `json:"method"`
	Params  rpcParams `json:"params"`
	ID      int64     `json:"id"`
}

type rpcParams struct {
	Service string `json:"service"`
	Method  string `json:"method"`
	Args    []any  `json:"args"`
}

type rpcReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"data"`
	} `json:"error"`
}

// redactedArg stands in for the secret in logged JSON-RPC bodies.
const redactedArg = "[redacted]"

func (r *rpc) callJSONRPC(ctx context.Context, op, model, method string, ids []int64, kw map[string]any, out any) error {
	args := []any{}
	if ids != nil {
		args = append(args, ids)
	}
	if kw == nil {
		kw = map[string]any{}
	}
	for attempt := 0; ; attempt++ {
		uid, err := r.session(ctx)
		if err != nil {
			return err
		}
		err = r.jsonrpc(ctx, op, "object", "execute_kw", []any{r.db, uid, r.secret, model, method, args, kw}, out, idempotent(method))
		var oe *Error
		if attempt == 0 && errors.As(err, &oe) && oe.sessionLost() {
			// The session expired, or the user id and secret no longer
			// match (a restored database, a changed key): log in again,
			// once.
			r.drop(uid)
			r.relogins.Add(1)
			continue
		}
		if errors.As(err, &oe) && oe.sessionLost() {
			return connectors.Unavailable(fmt.Errorf("%w (refused again after a new login as %q: check login and password/api_key)", err, r.login))
		}
		return err
	}
}

// session returns the user id, logging in first when there is none.
func (r *rpc) session(ctx context.Context) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.uid != 0 {
		return r.uid, nil
	}
	var res any
	if err := r.jsonrpc(ctx, "common.login", "common", "login", []any{r.db, r.login, r.secret}, &res, true); err != nil {
		return 0, fmt.Errorf("odoo: log in as %q to database %q: %w", r.login, r.db, err)
	}
	uid := erp.AsInt(res)
	if uid <= 0 {
		// common.login answers false for a wrong login, password or key.
		return 0, connectors.Unavailable(fmt.Errorf("odoo: log in as %q to database %q: refused (wrong login, password or API key)", r.login, r.db))
	}
	r.uid = uid
	return uid, nil
}

// drop forgets the user id uid (unless another call already replaced it).
func (r *rpc) drop(uid int64) {
	r.mu.Lock()
	if r.uid == uid {
		r.uid = 0
	}
	r.mu.Unlock()
}

// jsonrpc posts one JSON-RPC call. params[2] is the secret: the body goes
// to the shared core as Sensitive (the core's redaction works on member
// names, and this one has none), and the debug log gets a copy with the
// secret replaced.
func (r *rpc) jsonrpc(ctx context.Context, op, service, method string, params []any, out any, idem bool) error {
	req := rpcRequest{JSONRPC: "2.0", Method: "call", Params: rpcParams{Service: service, Method: method, Args: params}, ID: r.id.Add(1)}
	body, err := json.Marshal(req)
	if err != nil {
		return connectors.Permanent(fmt.Errorf("%s: encode the arguments: %w", op, err))
	}
	debug := r.debug && r.log.Enabled(ctx, slog.LevelDebug)
	if debug {
		logged := append([]any(nil), params...)
		if len(logged) > 2 {
			logged[2] = redactedArg
		}
		req.Params.Args = logged
		lb, _ := json.Marshal(req)
		r.log.DebugContext(ctx, "odoo jsonrpc request", "op", op, "body", r.scrub(clip(string(lb), 4096)))
	}
	eb := &errorBody{}
	resp, err := r.c.Do(context.WithValue(ctx, errorBodyKey{}, eb), erp.Request{
		Op: op, Method: http.MethodPost, Path: "/jsonrpc", Body: body, Idempotent: idem, Sensitive: true,
	})
	if err != nil {
		if debug {
			r.log.DebugContext(ctx, "odoo jsonrpc response", "op", op, "error", r.scrub(err.Error()))
		}
		return err
	}
	if debug {
		r.log.DebugContext(ctx, "odoo jsonrpc response", "op", op, "status", resp.Status, "took", resp.Took,
			"body", r.scrub(clip(string(resp.Body), 4096)))
	}
	r.calls.Add(1)
	r.nanos.Add(int64(resp.Took))
	var reply rpcReply
	if err := json.Unmarshal(resp.Body, &reply); err != nil {
		return connectors.Retryable(fmt.Errorf("%s: reply is not JSON-RPC: %s", op, r.scrub(clip(string(resp.Body), 200))), 0)
	}
	if e := reply.Error; e != nil {
		oe := &Error{Op: op, Code: e.Code, Name: e.Data.Name, Message: r.scrub(e.Data.Message)}
		if oe.Message == "" {
			oe.Message = r.scrub(e.Message)
		}
		return classify(oe, 0)
	}
	return decode(op, reply.Result, out)
}

// scrub removes the secret from text bound for a log or an error, in case
// a server ever echoes it.
func (r *rpc) scrub(s string) string {
	if len(r.secret) < 4 {
		return s
	}
	s = strings.ReplaceAll(s, r.secret, redactedArg)
	if q, err := json.Marshal(r.secret); err == nil {
		if esc := string(q[1 : len(q)-1]); esc != r.secret {
			s = strings.ReplaceAll(s, esc, redactedArg)
		}
	}
	return s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "..."
}

// ---- helpers for model methods ----

// searchRead is search_read(domain, fields, offset, limit, order) with the
// call context octx.
func (r *rpc) searchRead(ctx context.Context, model string, octx map[string]any, domain []any, fields []string, offset, limit int, order string) ([]Row, error) {
	if domain == nil {
		domain = []any{}
	}
	kw := map[string]any{"domain": domain, "fields": fields}
	if offset > 0 {
		kw["offset"] = offset
	}
	if limit > 0 {
		kw["limit"] = limit
	}
	if order != "" {
		kw["order"] = order
	}
	withCtx(kw, octx)
	var rows []Row
	if err := r.call(ctx, model, "search_read", nil, kw, &rows); err != nil {
		return nil, err
	}
	return rows, nil
}

// withCtx adds the call context to kw, unless there is none: Odoo's
// with_context(None) fails.
func withCtx(kw map[string]any, octx map[string]any) map[string]any {
	if octx != nil {
		kw["context"] = octx
	}
	return kw
}

// create is create(vals_list); it returns the new ids in order.
func (r *rpc) create(ctx context.Context, model string, octx map[string]any, vals []map[string]any) ([]int64, error) {
	var res []json.Number
	if err := r.call(ctx, model, "create", nil, withCtx(map[string]any{"vals_list": vals}, octx), &res); err != nil {
		return nil, err
	}
	if len(res) != len(vals) {
		return nil, connectors.Retryable(fmt.Errorf("%s.create: %d ids for %d records", model, len(res), len(vals)), 0)
	}
	ids := make([]int64, len(res))
	for i, n := range res {
		ids[i] = erp.AsInt(n)
	}
	return ids, nil
}

// write is write(vals) on ids.
func (r *rpc) write(ctx context.Context, model string, octx map[string]any, ids []int64, vals map[string]any) error {
	return r.call(ctx, model, "write", ids, withCtx(map[string]any{"vals": vals}, octx), nil)
}

// method calls a method without arguments (action_confirm, unlink) on ids.
func (r *rpc) method(ctx context.Context, model, method string, octx map[string]any, ids []int64) error {
	return r.call(ctx, model, method, ids, withCtx(map[string]any{}, octx), nil)
}
