package fxiaoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/saas"
	"github.com/crmhub/hub/mapping"
)

// tokenPath is where a corpAccessToken is fetched.
const tokenPath = "/cgi/corpAccessToken/get/V2"

// apiError is a non-zero errorCode, classified by code.
type apiError struct {
	Op      string
	Code    int
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s: errorCode %d: %s", e.Op, e.Code, e.Message)
}

// codeOf is the errorCode of err, if it is one.
func codeOf(err error) (int, bool) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code, true
	}
	return 0, false
}

// classify wraps an errorCode by its kind in the code table: never by
// the message, which Fxiaoke words as it likes.
func (t ErrorCodes) classify(e *apiError, window time.Duration) error {
	switch {
	case slices.Contains(t.Validation, e.Code), slices.Contains(t.NotFound, e.Code):
		return connectors.Permanent(e)
	case slices.Contains(t.Credential, e.Code), slices.Contains(t.Permission, e.Code):
		return connectors.Unavailable(e)
	case slices.Contains(t.RateLimit, e.Code):
		return connectors.Retryable(e, window)
	case slices.Contains(t.Quota, e.Code):
		return connectors.Retryable(e, time.Minute)
	}
	return connectors.Retryable(e, 0) // busy, token, or unknown: try again
}

// token is the corpAccessToken flow: one token shared by every worker,
// renewed token_renew_before it expires, and again when a call says it
// is no longer valid.
type token struct {
	mu      sync.Mutex
	value   string
	corpID  string
	expires time.Time
	fetched int64
}

// current returns a live token and the corpId, fetching one when needed.
func (c *Conn) current(ctx context.Context) (string, string, error) {
	t := &c.tok
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.value != "" && c.clock.Now().Before(t.expires) {
		return t.value, t.corpID, nil
	}
	cl, err := c.client()
	if err != nil {
		return "", "", err
	}
	body, _ := json.Marshal(map[string]string{"appId": c.cfg.AppID, "appSecret": c.cfg.AppSecret, "permanentCode": c.cfg.PermanentCode})
	resp, err := cl.Do(ctx, erp.Request{Op: "fxiaoke: get corpAccessToken", Method: http.MethodPost, Path: tokenPath, Body: body,
		Sensitive: true, Idempotent: true})
	if err != nil {
		return "", "", err
	}
	var r struct {
		ErrorCode       *int   `json:"errorCode"`
		ErrorMessage    string `json:"errorMessage"`
		CorpAccessToken string `json:"corpAccessToken"`
		CorpID          string `json:"corpId"`
		ExpiresIn       int64  `json:"expiresIn"`
	}
	if err := json.Unmarshal(resp.Body, &r); err != nil || r.ErrorCode == nil {
		return "", "", connectors.Retryable(errors.New("fxiaoke: the token reply is not an answer"), 0)
	}
	if *r.ErrorCode != 0 || r.CorpAccessToken == "" {
		e := &apiError{Op: "fxiaoke: get corpAccessToken", Code: *r.ErrorCode, Message: r.ErrorMessage}
		if slices.Contains(c.cfg.ErrorCodes.Busy, e.Code) || slices.Contains(c.cfg.ErrorCodes.RateLimit, e.Code) {
			return "", "", connectors.Retryable(e, 0)
		}
		// The credentials are refused: for every call alike.
		return "", "", connectors.Unavailable(e)
	}
	ttl := time.Duration(r.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 7200 * time.Second
	}
	if ttl > 2*c.cfg.TokenRenewBefore {
		ttl -= c.cfg.TokenRenewBefore
	}
	t.value, t.corpID, t.expires = r.CorpAccessToken, r.CorpID, c.clock.Now().Add(ttl)
	t.fetched++
	return t.value, t.corpID, nil
}

// drop forgets a token a call refused (unless another worker replaced it).
func (c *Conn) drop(value string) {
	c.tok.mu.Lock()
	defer c.tok.mu.Unlock()
	if c.tok.value == value {
		c.tok.value = ""
	}
}

// window is the rate limit of an endpoint.
func (c *Conn) window(path string) *saas.Window {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	w, ok := c.windows[path]
	if !ok {
		w = saas.NewWindow("calls of "+path, c.cfg.PerEndpoint, c.cfg.EndpointWindow, c.clock)
		c.windows[path] = w
	}
	return w
}

// call posts data to path with the token envelope and a fresh
// thirdTraceId, within the endpoint's rate limit and the daily quota, and
// returns the answer's members. A non-zero errorCode is an error
// classified by the code table; a refused token is renewed and the call
// made once more.
func (c *Conn) call(ctx context.Context, op, path string, data any) (mapping.Value, error) {
	cl, err := c.client()
	if err != nil {
		return mapping.Value{}, err
	}
	for attempt := 0; ; attempt++ {
		if err := c.window(path).Take(ctx, 1); err != nil {
			return mapping.Value{}, fmt.Errorf("%s: %w", op, err)
		}
		if err := c.daily.Take(ctx, 1); err != nil {
			return mapping.Value{}, fmt.Errorf("%s: %w", op, err)
		}
		tok, corp, err := c.current(ctx)
		if err != nil {
			return mapping.Value{}, fmt.Errorf("%s: %w", op, err)
		}
		body, err := json.Marshal(map[string]any{"corpAccessToken": tok, "corpId": corp, "currentOpenUserId": c.cfg.OpenUserID,
			"thirdTraceId": uuid.NewString(), "data": data})
		if err != nil {
			return mapping.Value{}, connectors.Permanent(fmt.Errorf("%s: encode: %w", op, err))
		}
		resp, err := cl.Do(ctx, erp.Request{Op: op, Method: http.MethodPost, Path: path, Body: body, Idempotent: true})
		if err != nil {
			return mapping.Value{}, err
		}
		v, err := mapping.ParseJSON(resp.Body)
		code := v.Get("errorCode")
		if err != nil || code.Kind() != mapping.Number {
			return mapping.Value{}, connectors.Retryable(fmt.Errorf("%s: the reply has no errorCode", op), 0)
		}
		if code.Str() == "0" {
			c.lastOK.Store(c.clock.Now().UnixNano())
			return v, nil
		}
		var n int
		_, _ = fmt.Sscan(code.Str(), &n)
		e := &apiError{Op: op, Code: n, Message: v.Get("errorMessage").Str()}
		if slices.Contains(c.cfg.ErrorCodes.Token, n) && attempt == 0 {
			c.drop(tok)
			continue
		}
		if slices.Contains(c.cfg.ErrorCodes.Token, n) {
			return mapping.Value{}, connectors.Unavailable(fmt.Errorf("%w (a new corpAccessToken was refused too)", e))
		}
		return mapping.Value{}, c.cfg.ErrorCodes.classify(e, c.cfg.EndpointWindow)
	}
}

// dataPath is the path of a data operation on object: custom objects
// (__c) have their own endpoints.
func dataPath(object, op string) string {
	if strings.HasSuffix(object, "__c") {
		return "/cgi/crm/custom/v2/data/" + op
	}
	return "/cgi/crm/v2/data/" + op
}

// cond is one filter of a query.
type cond struct {
	Field    string `json:"field_name"`
	Values   []any  `json:"field_values"`
	Operator string `json:"operator"`
}

// sortBy is one order of a query.
type sortBy struct {
	Field string `json:"fieldName"`
	Asc   bool   `json:"isAsc"`
}

// query runs one page of a query on object and returns the records and
// the total.
func (c *Conn) query(ctx context.Context, op, object string, filters []cond, orders []sortBy, offset, limit int) ([]mapping.Value, int, error) {
	if filters == nil {
		filters = []cond{}
	}
	data := map[string]any{"dataObjectApiName": object, "search_query_info": map[string]any{
		"limit": limit, "offset": offset, "filters": filters, "orders": orders}}
	v, err := c.call(ctx, op, dataPath(object, "query"), data)
	if err != nil {
		return nil, 0, err
	}
	list := v.Get("data").Get("dataList")
	var total int
	_, _ = fmt.Sscan(v.Get("data").Get("total").Str(), &total)
	if list.Kind() != mapping.Array && !list.IsNull() {
		return nil, 0, connectors.Retryable(fmt.Errorf("%s: dataList is a %s", op, list.Kind()), 0)
	}
	return list.Elems(), total, nil
}

// ids queries the records of object whose field is one of values (pages
// of 100 values, every page of each).
func (c *Conn) queryIn(ctx context.Context, op, object, field string, values []string, extra ...cond) ([]mapping.Value, error) {
	var out []mapping.Value
	for start := 0; start < len(values); start += 100 {
		part := values[start:min(len(values), start+100)]
		vals := make([]any, len(part))
		for i, v := range part {
			vals[i] = v
		}
		filters := append([]cond{{Field: field, Values: vals, Operator: "IN"}}, extra...)
		for offset := 0; ; offset += 100 {
			rows, total, err := c.query(ctx, op, object, filters, []sortBy{{Field: "_id", Asc: true}}, offset, 100)
			if err != nil {
				return nil, err
			}
			out = append(out, rows...)
			if len(rows) < 100 || offset+100 >= total {
				break
			}
		}
	}
	return out, nil
}
