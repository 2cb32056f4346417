package tryton

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// Decimal is a Tryton Decimal parameter, written as its text ("12.50").
type Decimal string

// MarshalJSON writes {"__class__": "Decimal", "decimal": "12.50"}.
func (d Decimal) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"__class__": "Decimal", "decimal": string(d)})
}

// Date is a Tryton date parameter.
type Date struct{ time.Time }

// MarshalJSON writes {"__class__": "date", "year": .., "month": .., "day": ..}.
func (d Date) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"__class__":"date","year":%d,"month":%d,"day":%d}`, d.Year(), int(d.Month()), d.Day()), nil
}

// DateTime is a Tryton datetime parameter (UTC, as Tryton stores them).
type DateTime struct{ time.Time }

// MarshalJSON writes {"__class__": "datetime", "year": .., ..., "microsecond": ..}.
func (d DateTime) MarshalJSON() ([]byte, error) {
	t := d.UTC()
	return fmt.Appendf(nil, `{"__class__":"datetime","year":%d,"month":%d,"day":%d,"hour":%d,"minute":%d,"second":%d,"microsecond":%d}`,
		t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000), nil
}

// RPCError is an error reply of Tryton's JSON-RPC (HTTP 200 with "error").
type RPCError struct {
	Method string
	// Type is Tryton's exception class (UserError, UserWarning,
	// ConcurrencyException, ...), or the text of an unexpected exception.
	Type string
	// Message is Tryton's own message, Description its second line.
	Message, Description string
}

func (e *RPCError) Error() string {
	msg := e.Message
	if e.Description != "" {
		msg += " (" + e.Description + ")"
	}
	if msg == "" {
		return e.Method + ": " + e.Type
	}
	return e.Method + ": " + e.Type + ": " + msg
}

// permanentType reports whether Tryton's exception class t is one a
// retry cannot fix (the record has to change), and whether t is a class
// this package knows at all.
func permanentType(t string) (permanent, known bool) {
	switch t {
	case "UserError", "UserWarning", "ForeignKeyError", "SQLConstraintError",
		"RecursionError", "ImportDataError":
		return true, true
	case "AccessError", "LoginException", "ConcurrencyException", "RateLimitException":
		return false, true
	}
	if strings.HasSuffix(t, "ValidationError") {
		return true, true
	}
	return false, false
}

func isPermanent(t string) bool { p, _ := permanentType(t); return p }

// classify marks an RPC error Permanent (Tryton refused the data),
// Unavailable (the user lacks the rights to a model, or the database is
// gone: every record fails alike until a person acts) or Retryable (a
// concurrent write, a locked database, rate limiting, or an unexpected
// server exception nobody understood: retried, then dead-lettered by the
// pipeline).
func classify(e *RPCError) error {
	switch {
	case isPermanent(e.Type):
		return connectors.Permanent(e)
	case e.Type == "AccessError" || missingDatabase(e.Type):
		return connectors.Unavailable(e)
	case e.Type == "ConcurrencyException" || e.Type == "RateLimitException":
		return connectors.Retryable(e, time.Second)
	}
	return connectors.Retryable(e, 0)
}

// missingDatabase reports Tryton's answer for a database it does not have:
// ["Database '<path>' doesn't exist!", ""].
func missingDatabase(t string) bool {
	return strings.HasPrefix(t, "Database ") && strings.HasSuffix(t, "doesn't exist!")
}

// rpc is a JSON-RPC client bound to one database.
type rpc struct {
	c    *erp.Client
	path string // "/<db>/"
	user string
	id   atomic.Int64
	// calls counts calls and their server time, for measurements.
	calls, nanos atomic.Int64
}

// newSession returns the login hook: common.db.login, then
// "Session base64(login:uid:session)".
func (r *rpc) login(password, lang string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		var res []json.RawMessage
		err := r.callRaw(ctx, "common.db.login", []any{r.user, map[string]string{"password": password}, lang}, &res, true, true)
		if err != nil {
			var he *erp.HTTPError
			if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden) {
				return "", connectors.Unavailable(fmt.Errorf("tryton: log in as %q: refused (wrong user or password): %w", r.user, err))
			}
			return "", fmt.Errorf("tryton: log in as %q: %w", r.user, err)
		}
		if len(res) != 2 {
			return "", connectors.Unavailable(fmt.Errorf("tryton: log in as %q: unexpected reply", r.user))
		}
		uid := strings.TrimSpace(string(res[0]))
		var session string
		if err := json.Unmarshal(res[1], &session); err != nil || session == "" {
			return "", connectors.Unavailable(fmt.Errorf("tryton: log in as %q: unexpected reply", r.user))
		}
		tok := base64.StdEncoding.EncodeToString([]byte(r.user + ":" + uid + ":" + session))
		return "Session " + tok, nil
	}
}

// readOnly methods may be sent again after a timeout.
func readOnly(method string) bool {
	i := strings.LastIndexByte(method, '.')
	switch method[i+1:] {
	case "search", "read", "search_read", "search_count", "get_preferences", "fields_get", "version", "list":
		return true
	}
	return false
}

// call calls method with params and decodes the result into out (a
// pointer, or nil to drop it).
func (r *rpc) call(ctx context.Context, method string, params []any, out any) error {
	return r.callRaw(ctx, method, params, out, readOnly(method), false)
}

func (r *rpc) callRaw(ctx context.Context, method string, params []any, out any, idempotent, login bool) error {
	body, err := json.Marshal(struct {
		ID     int64  `json:"id"`
		Method string `json:"method"`
		Params []any  `json:"params"`
	}{r.id.Add(1), method, params})
	if err != nil {
		return connectors.Permanent(fmt.Errorf("%s: encode the parameters: %w", method, err))
	}
	resp, err := r.c.Do(ctx, erp.Request{Op: method, Method: http.MethodPost, Path: r.path, Body: body,
		Idempotent: idempotent, NoAuth: login, Sensitive: login})
	if err != nil {
		return err
	}
	r.calls.Add(1)
	r.nanos.Add(int64(resp.Took))
	var reply struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &reply); err != nil {
		return connectors.Retryable(fmt.Errorf("%s: reply is not JSON-RPC: %.200s", method, resp.Body), 0)
	}
	if len(reply.Error) > 0 && string(reply.Error) != "null" {
		return classify(parseError(method, reply.Error))
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(reply.Result))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return connectors.Permanent(fmt.Errorf("%s: decode the result: %w", method, err))
	}
	return nil
}

// parseError reads Tryton's error forms: ["UserError", ["message",
// "description", domain]], ["ConcurrencyException", "message"] and, for
// unexpected exceptions, ["<exception text>", "<traceback>"].
func parseError(method string, raw json.RawMessage) *RPCError {
	e := &RPCError{Method: method}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil || len(parts) == 0 {
		e.Type = strings.TrimSpace(string(raw))
		return e
	}
	_ = json.Unmarshal(parts[0], &e.Type)
	if len(parts) < 2 {
		return e
	}
	var args []json.RawMessage
	if json.Unmarshal(parts[1], &args) == nil {
		if len(args) > 0 {
			_ = json.Unmarshal(args[0], &e.Message)
		}
		if len(args) > 1 {
			_ = json.Unmarshal(args[1], &e.Description)
		}
		return e
	}
	var s string
	if json.Unmarshal(parts[1], &s) == nil {
		if _, known := permanentType(e.Type); known {
			e.Message = s
		} else if i := strings.LastIndexByte(strings.TrimSpace(s), '\n'); i >= 0 {
			// A traceback: its last line names the exception.
			e.Message = strings.TrimSpace(strings.TrimSpace(s)[i+1:])
		}
	}
	return e
}

// model calls model.<model>.<method>(args..., context).
func (r *rpc) model(ctx context.Context, model, method string, tctx map[string]any, out any, args ...any) error {
	return r.call(ctx, "model."+model+"."+method, append(args, tctx), out)
}

// Row is one record Tryton returned: member names to JSON values, typed
// values ({"__class__": ...}) still in their JSON form.
type Row map[string]any

// ID returns the record's id.
func (r Row) ID() int64 { return erp.AsInt(r["id"]) }

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case map[string]any:
		if x["__class__"] == "Decimal" {
			s, _ := x["decimal"].(string)
			return s
		}
	}
	return ""
}

// asBool reads a Tryton boolean: true or false on PostgreSQL, 1 or 0 on
// SQLite, which stores booleans as integers and hands them back so.
func asBool(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case json.Number:
		return x.String() != "0"
	}
	return false
}

// asTime reads a Tryton datetime (UTC) or date.
func asTime(v any) (time.Time, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return time.Time{}, false
	}
	n := func(k string) int { return int(erp.AsInt(m[k])) }
	switch m["__class__"] {
	case "datetime":
		return time.Date(n("year"), time.Month(n("month")), n("day"), n("hour"), n("minute"), n("second"), n("microsecond")*1000, time.UTC), true
	case "date":
		return time.Date(n("year"), time.Month(n("month")), n("day"), 0, 0, 0, 0, time.UTC), true
	}
	return time.Time{}, false
}

// toValue converts a decoded Tryton value to a mapping.Value: decimals
// become decimal strings (scale kept), dates YYYY-MM-DD, datetimes RFC 3339
// UTC, bytes base64 text; objects keep their keys sorted.
func toValue(v any) mapping.Value {
	switch x := v.(type) {
	case nil:
		return mapping.Value{}
	case bool:
		return mapping.BoolValue(x)
	case string:
		return mapping.StringValue(x)
	case json.Number:
		return mapping.NumberValue(x.String())
	case []any:
		out := make([]mapping.Value, len(x))
		for i, e := range x {
			out[i] = toValue(e)
		}
		return mapping.ArrayValue(out)
	case map[string]any:
		switch x["__class__"] {
		case "Decimal":
			return mapping.StringValue(asString(x))
		case "date":
			t, _ := asTime(x)
			return mapping.StringValue(t.Format(time.DateOnly))
		case "datetime":
			t, _ := asTime(x)
			return mapping.StringValue(t.Format(time.RFC3339Nano))
		case "bytes":
			s, _ := x["base64"].(string)
			return mapping.StringValue(s)
		}
		keys := sortedKeys(x)
		ms := make([]mapping.Member, 0, len(keys))
		for _, k := range keys {
			ms = append(ms, mapping.Member{Key: k, Value: toValue(x[k])})
		}
		return mapping.ObjectValue(ms...)
	}
	return mapping.Value{}
}

func idString(id int64) string { return strconv.FormatInt(id, 10) }
