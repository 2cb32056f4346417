package zoho

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// apiBase is the path of the CRM API under the API domain.
const apiBase = "/crm/v8"

// call sends one API request: it waits for the credits it costs and a
// call slot, puts the API domain before path, and remembers when a call
// last succeeded (readiness probes are free while calls go through).
func (c *Conn) call(ctx context.Context, req erp.Request, credits int) (*erp.Response, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	if err := c.credits.Take(ctx, credits); err != nil {
		return nil, fmt.Errorf("%s: %w", req.Op, err)
	}
	release, err := c.slots.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Op, err)
	}
	defer release()
	domain, err := c.auth.domainOf(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Op, err)
	}
	req.Path = domain + apiBase + req.Path
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := cl.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	c.lastOK.Store(c.clock.Now().UnixNano())
	return resp, nil
}

// reply is the body of a list or COQL answer.
type reply struct {
	Data []json.RawMessage `json:"data"`
	Info struct {
		Count       int  `json:"count"`
		MoreRecords bool `json:"more_records"`
	} `json:"info"`
}

// serverTime is the Date of a reply: Zoho's own clock (the local one when
// the reply has none).
func (c *Conn) serverTime(resp *erp.Response) time.Time {
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		return t
	}
	return c.clock.Now()
}

// coqlCredits is what a COQL query costs by its LIMIT.
func coqlCredits(limit int) int {
	switch {
	case limit > 1000:
		return 3
	case limit > 200:
		return 2
	}
	return 1
}

// coql runs a COQL query and returns its rows (none on 204) and Zoho's
// time of the answer.
func (c *Conn) coql(ctx context.Context, op, query string, limit int) ([]mapping.Value, bool, time.Time, error) {
	body, _ := json.Marshal(map[string]string{"select_query": query})
	resp, err := c.call(ctx, erp.Request{Op: op, Method: http.MethodPost, Path: "/coql", Body: body, Idempotent: true}, coqlCredits(limit))
	if err != nil {
		return nil, false, time.Time{}, err
	}
	at := c.serverTime(resp)
	if resp.Status == http.StatusNoContent || len(resp.Body) == 0 {
		return nil, false, at, nil
	}
	rows, more, err := parseRows(resp.Body)
	if err != nil {
		return nil, false, at, connectors.Retryable(fmt.Errorf("%s: %w", op, err), 0)
	}
	return rows, more, at, nil
}

// parseRows reads the data array of a reply as values (exact numbers).
func parseRows(body []byte) ([]mapping.Value, bool, error) {
	var r reply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, false, fmt.Errorf("the reply is not JSON: %w", err)
	}
	out := make([]mapping.Value, 0, len(r.Data))
	for _, raw := range r.Data {
		v, err := mapping.ParseJSON(raw)
		if err != nil || v.Kind() != mapping.Object {
			return nil, false, fmt.Errorf("a record of the reply is not an object")
		}
		out = append(out, v)
	}
	return out, r.Info.MoreRecords, nil
}

// fetch reads records by id (at most 100) with fields and the line items,
// and returns them by id; ids Zoho no longer has are missing.
func (c *Conn) fetch(ctx context.Context, e *entity, ids []string) (map[string]mapping.Value, error) {
	out := make(map[string]mapping.Value, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	fields := append([]string{"id", "Modified_Time"}, e.cfg.Fields...)
	if e.cfg.LineItems != "" {
		fields = append(fields, e.cfg.LineItems)
	}
	q := url.Values{"ids": {strings.Join(ids, ",")}, "fields": {strings.Join(dedupe(fields), ",")}}
	resp, err := c.call(ctx, erp.Request{Op: fmt.Sprintf("get %d %s", len(ids), e.module), Method: http.MethodGet,
		Path: "/" + url.PathEscape(e.module), Query: q, Idempotent: true}, 1)
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusNoContent || len(resp.Body) == 0 {
		return out, nil
	}
	rows, _, err := parseRows(resp.Body)
	if err != nil {
		return nil, connectors.Retryable(fmt.Errorf("get %s: %w", e.module, err), 0)
	}
	for _, r := range rows {
		out[erp.Text(r.Get("id"))] = r
	}
	return out, nil
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	out := xs[:0:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// quote writes s as a COQL string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// idNum compares Zoho ids (19-digit numbers) as numbers, anything else as
// text after the numbers.
func lessID(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return x < y
	case errA == nil:
		return true
	case errB == nil:
		return false
	}
	return a < b
}

// zohoTime writes t as a COQL and If-Modified-Since date-time (UTC, whole
// seconds).
func zohoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }

// parseTime reads Zoho's date-times (ISO 8601 with an offset).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a Zoho date-time", s)
	}
	return t.UTC(), nil
}

// recordError is Zoho's per-record answer of a write.
type recordError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Status  string          `json:"status"`
	Details json.RawMessage `json:"details"`
	Action  string          `json:"action"`
}

func (r recordError) err() error {
	d := strings.TrimSpace(string(r.Details))
	if d == "" || d == "{}" || d == "null" {
		return fmt.Errorf("zoho %s: %s", r.Code, r.Message)
	}
	return fmt.Errorf("zoho %s: %s %s", r.Code, r.Message, d)
}

// idOf is the id in a write's per-record details.
func (r recordError) idOf() string {
	var d struct {
		ID json.Number `json:"id"`
	}
	_ = json.Unmarshal(r.Details, &d)
	return d.ID.String()
}
