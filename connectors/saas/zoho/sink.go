package zoho

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/saas"
	"github.com/crmhub/hub/mapping"
)

// Write writes records of entity to its module, in calls of up to
// page_size (at most 100) records:
//
//   - a delete deletes the record by id (to Zoho's recycle bin): Written,
//     or NotFound when Zoho has no such id;
//   - a record without an id in Zoho is first looked for by its first
//     duplicate check field (COQL), so that a rerun after the hub lost
//     its state finds what it wrote before; what is not found is sent to
//     upsert with duplicate_check_fields, which inserts it (or updates a
//     record created meanwhile);
//   - a record with an id is read first and compared field by field:
//     Unchanged when Zoho already holds what is sent (no write, no
//     credits, no Modified_Time bumped for the source to read back);
//     otherwise it is updated, its line items aligned with the stored
//     ones by position (each keeps its line id, surplus lines are
//     deleted), because Zoho adds an item sent without an id. An id Zoho
//     no longer has is NotFound.
//
// A line item names its product by its code (Product_Name.Product_Code)
// or by id; an unknown code fails the record, Permanent. Zoho's refusal of
// a record (MANDATORY_NOT_FOUND, INVALID_DATA, DUPLICATE_DATA) fails that
// record alone, Permanent; refused credentials or rights fail the batch,
// Unavailable.
func (c *Conn) Write(ctx context.Context, entity string, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	e, err := c.entity(entity)
	if err != nil {
		return nil, err
	}
	if e.cfg.ReadOnly {
		return nil, connectors.Permanent(fmt.Errorf("zoho %s: entity %s is read_only", c.name, entity))
	}
	res := make([]connectors.Result, len(recs))
	for start := 0; start < len(recs); start += c.cfg.PageSize {
		end := min(len(recs), start+c.cfg.PageSize)
		if err := c.writeChunk(ctx, e, recs[start:end], res[start:end]); err != nil {
			err = fmt.Errorf("zoho %s: write %s: %w", c.name, entity, err)
			for i := start; i < end; i++ {
				if res[i].Outcome == connectors.Failed && res[i].Err == nil {
					res[i].Err = err
				}
			}
		}
	}
	return erp.SystemFault(res, nil)
}

// pending is a record on its way.
type pending struct {
	i    int
	rec  connectors.WriteRecord
	id   string
	data mapping.Value
	// hubID is true when the id came from the hub (not found by the
	// duplicate check field): a record Zoho no longer has is NotFound.
	hubID bool
}

// writeChunk writes up to 100 records; an error is the whole chunk's.
func (c *Conn) writeChunk(ctx context.Context, e *entity, recs []connectors.WriteRecord, res []connectors.Result) error {
	var dels []pending
	var ups []pending
	for i, r := range recs {
		switch {
		case r.Op == connectors.OpDelete && r.ExternalID == "":
			res[i] = connectors.Result{Outcome: connectors.NotFound}
		case r.Op == connectors.OpDelete:
			dels = append(dels, pending{i: i, rec: r, id: r.ExternalID})
		case r.Data.Kind() != mapping.Object:
			res[i].Err = connectors.Permanent(fmt.Errorf("the mapped record is a %s, not an object", r.Data.Kind()))
		default:
			ups = append(ups, pending{i: i, rec: r, id: r.ExternalID, data: saas.Without(r.Data, "id"), hubID: r.ExternalID != ""})
		}
	}
	if err := c.deleteRecords(ctx, e, dels, res); err != nil {
		return err
	}
	if len(ups) == 0 {
		return nil
	}
	return c.upsertRecords(ctx, e, ups, res)
}

// deleteRecords deletes by id.
func (c *Conn) deleteRecords(ctx context.Context, e *entity, dels []pending, res []connectors.Result) error {
	if len(dels) == 0 {
		return nil
	}
	ids := make([]string, len(dels))
	for i, d := range dels {
		ids[i] = d.id
	}
	answers, err := c.writeCall(ctx, fmt.Sprintf("delete %d %s", len(ids), e.module), http.MethodDelete,
		"/"+url.PathEscape(e.module), url.Values{"ids": {strings.Join(ids, ",")}}, nil, len(ids))
	if err != nil {
		return err
	}
	for k, d := range dels {
		a := answers[k]
		switch {
		case a.Status == "success":
			res[d.i] = connectors.Result{Outcome: connectors.Written, ExternalID: d.id}
		case a.invalidID():
			res[d.i] = connectors.Result{Outcome: connectors.NotFound, ExternalID: d.id}
		default:
			res[d.i].Err = a.classified()
		}
	}
	return nil
}

// upsertRecords writes the upserts of a chunk.
func (c *Conn) upsertRecords(ctx context.Context, e *entity, ups []pending, res []connectors.Result) error {
	li := e.cfg.LineItems
	datas := make([]mapping.Value, len(ups))
	for k, u := range ups {
		datas[k] = u.data
	}
	datas, errs, err := c.productIDs(ctx, li, datas)
	if err != nil {
		return err
	}
	live := ups[:0]
	for k, u := range ups {
		if errs[k] != nil {
			res[u.i].Err = errs[k]
			continue
		}
		u.data = datas[k]
		live = append(live, u)
	}
	if err := c.findExisting(ctx, e, live); err != nil {
		return err
	}
	var ids []string
	fieldSet := map[string]bool{}
	for _, u := range live {
		if u.id != "" {
			ids = append(ids, u.id)
		}
		for _, m := range u.data.Members() {
			fieldSet[m.Key] = true
		}
	}
	cur, err := c.fetchFields(ctx, e, ids, fieldSet)
	if err != nil {
		return err
	}
	var updates, inserts []pending
	for _, u := range live {
		if u.id == "" {
			inserts = append(inserts, u)
			continue
		}
		have, ok := cur[u.id]
		switch {
		case !ok && u.hubID:
			res[u.i] = connectors.Result{Outcome: connectors.NotFound, ExternalID: u.id}
		case !ok:
			u.id = ""
			inserts = append(inserts, u)
		case saas.Holds(u.data, have):
			res[u.i] = connectors.Result{Outcome: connectors.Unchanged, ExternalID: u.id}
		default:
			u.data = alignLines(u.data, have, li)
			updates = append(updates, u)
		}
	}
	if err := c.send(ctx, e, updates, false, res); err != nil {
		return err
	}
	return c.send(ctx, e, inserts, true, res)
}

// fetchFields reads records by id with the configured fields and those
// being written (a field the hub writes but does not read would else
// always differ).
func (c *Conn) fetchFields(ctx context.Context, e *entity, ids []string, extra map[string]bool) (map[string]mapping.Value, error) {
	fe := *e
	fe.cfg.Fields = append([]string(nil), e.cfg.Fields...)
	for f := range extra {
		if f != e.cfg.LineItems {
			fe.cfg.Fields = append(fe.cfg.Fields, f)
		}
	}
	return c.fetch(ctx, &fe, ids)
}

// findExisting sets the id of records without one that Zoho holds under
// their first duplicate check field's value (the oldest, when several).
func (c *Conn) findExisting(ctx context.Context, e *entity, ups []pending) error {
	if len(e.cfg.DuplicateCheckFields) == 0 {
		return nil
	}
	field := e.cfg.DuplicateCheckFields[0]
	var values []string
	for _, u := range ups {
		if v := erp.Text(u.data.Get(field)); u.id == "" && v != "" {
			values = append(values, v)
		}
	}
	values = dedupe(values)
	found := map[string]string{}
	for start := 0; start < len(values); start += inChunk {
		part := values[start:min(len(values), start+inChunk)]
		quoted := make([]string, len(part))
		for i, v := range part {
			quoted[i] = quote(v)
		}
		q := fmt.Sprintf("select id, %s from %s where %s in (%s) order by id asc limit 200", field, e.module, field, strings.Join(quoted, ", "))
		rows, _, _, err := c.coql(ctx, "find "+e.module+" by "+field, q, 200)
		if err != nil {
			return err
		}
		for _, r := range rows {
			v := erp.Text(r.Get(field))
			if _, dup := found[v]; !dup {
				found[v] = erp.Text(r.Get("id"))
			}
		}
	}
	for k := range ups {
		if ups[k].id == "" {
			ups[k].id = found[erp.Text(ups[k].data.Get(field))]
		}
	}
	return nil
}

// send updates (PUT) or upserts (POST .../upsert) records, one call.
func (c *Conn) send(ctx context.Context, e *entity, ps []pending, insert bool, res []connectors.Result) error {
	if len(ps) == 0 {
		return nil
	}
	data := make([]json.RawMessage, len(ps))
	for k, p := range ps {
		v := p.data
		if !insert {
			v = mapping.ObjectValue(append([]mapping.Member{{Key: "id", Value: mapping.StringValue(p.id)}}, v.Members()...)...)
		}
		data[k] = mapping.AppendJSON(nil, v)
	}
	req := map[string]any{"data": data}
	method, path, op := http.MethodPut, "/"+url.PathEscape(e.module), fmt.Sprintf("update %d %s", len(ps), e.module)
	if insert {
		req["duplicate_check_fields"] = e.cfg.DuplicateCheckFields
		method, path, op = http.MethodPost, path+"/upsert", fmt.Sprintf("upsert %d %s", len(ps), e.module)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return connectors.Permanent(fmt.Errorf("%s: encode: %w", op, err))
	}
	answers, err := c.writeCall(ctx, op, method, path, nil, body, len(ps))
	if err != nil {
		return err
	}
	for k, p := range ps {
		a := answers[k]
		switch {
		case a.Status == "success":
			id := a.idOf()
			if id == "" {
				id = p.id
			}
			res[p.i] = connectors.Result{Outcome: connectors.Written, ExternalID: id}
		case !insert && a.invalidID():
			res[p.i] = connectors.Result{Outcome: connectors.NotFound, ExternalID: p.id}
		default:
			res[p.i].Err = a.classified()
		}
	}
	return nil
}

// writeCall sends a write and returns Zoho's answer for each of its n
// records. A 400 whose body answers each record is an answer (every
// record refused), not an error.
func (c *Conn) writeCall(ctx context.Context, op, method, path string, q url.Values, body []byte, n int) ([]recordError, error) {
	resp, err := c.call(ctx, erp.Request{Op: op, Method: method, Path: path, Query: q, Body: body,
		Idempotent: true, Accept: []int{http.StatusBadRequest}}, max(1, (n+9)/10))
	if err != nil {
		return nil, err
	}
	var r struct {
		Data []recordError `json:"data"`
		recordError
	}
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, connectors.Retryable(fmt.Errorf("%s: the reply is not JSON: %w", op, err), 0)
	}
	if len(r.Data) != n {
		if resp.Status == http.StatusBadRequest {
			// The request as a whole was refused (a module or a field the
			// org does not have): the config's fault, every record alike.
			return nil, connectors.Unavailable(fmt.Errorf("%s: %w", op, r.recordError.err()))
		}
		return nil, connectors.Retryable(fmt.Errorf("%s: %d answers for %d records", op, len(r.Data), n), 0)
	}
	return r.Data, nil
}

// invalidID reports an answer saying the record's id is not Zoho's: an
// INVALID_DATA naming the id rather than a field.
func (r recordError) invalidID() bool {
	if r.Code != "INVALID_DATA" {
		return false
	}
	var d map[string]json.RawMessage
	_ = json.Unmarshal(r.Details, &d)
	_, id := d["id"]
	_, field := d["api_name"]
	return id && !field
}

// classified is a refused record's error, by Zoho's code.
func (r recordError) classified() error {
	switch r.Code {
	case "NO_PERMISSION", "AUTHORIZATION_FAILED", "OAUTH_SCOPE_MISMATCH", "INVALID_MODULE", "FEATURE_NOT_SUPPORTED":
		return connectors.Unavailable(r.err())
	case "INTERNAL_ERROR", "LIMIT_EXCEEDED", "TOO_MANY_REQUESTS", "LIMIT_REACHED", "DEPENDENT_SERVICE_ERROR", "RECORD_LOCKED", "CANNOT_PROCESS":
		return connectors.Retryable(r.err(), 0)
	}
	return connectors.Permanent(r.err())
}

// alignLines gives the line items of data the ids of the stored ones, by
// position, and deletes the stored lines beyond them: Zoho adds an item
// sent without an id.
func alignLines(data, have mapping.Value, li string) mapping.Value {
	if li == "" || data.Get(li).Kind() != mapping.Array {
		return data
	}
	want, stored := data.Get(li).Elems(), have.Get(li).Elems()
	out := make([]mapping.Value, 0, max(len(want), len(stored)))
	for i, w := range want {
		if i < len(stored) {
			w = mapping.ObjectValue(append([]mapping.Member{{Key: "id", Value: stored[i].Get("id")}}, saas.Without(w, "id").Members()...)...)
		}
		out = append(out, w)
	}
	for i := len(want); i < len(stored); i++ {
		out = append(out, mapping.ObjectValue(mapping.Member{Key: "id", Value: stored[i].Get("id")}, mapping.Member{Key: "_delete", Value: mapping.Value{}}))
	}
	return saas.With(data, li, mapping.ArrayValue(out))
}
