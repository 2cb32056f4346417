package fxiaoke

import (
	"context"
	"fmt"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/saas"
	"github.com/crmhub/hub/mapping"
)

// Write writes records of entity to its object (one call a record: the
// OpenAPI writes one master at a time, with its detail lines):
//
//   - a delete voids the record (/data/invalid): Written, or NotFound
//     when it is gone (the not_found code);
//   - a record without an _id is first looked for by match_field, so a
//     rerun after the hub lost its state finds what it wrote before, and
//     created (/data/create, object_data and details) when not found;
//   - a record with an _id is read first and compared: Unchanged when
//     Fxiaoke holds what is sent (lines too), else updated (/data/update,
//     the lines sent replace the stored ones); an _id Fxiaoke no longer
//     has is NotFound.
//
// A line names its product by product_id or by code (the product_code
// setting); an unknown code fails the record, Permanent. errorCodes are
// classified by the code table: a validation code fails the record alone,
// Permanent; a credential or permission code fails the batch,
// Unavailable.
func (c *Conn) Write(ctx context.Context, entity string, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	e, err := c.entity(entity)
	if err != nil {
		return nil, err
	}
	if e.cfg.ReadOnly {
		return nil, connectors.Permanent(fmt.Errorf("fxiaoke %s: entity %s is read_only", c.name, entity))
	}
	res := make([]connectors.Result, len(recs))
	for start := 0; start < len(recs); start += c.cfg.PageSize {
		end := min(len(recs), start+c.cfg.PageSize)
		if err := c.writeChunk(ctx, e, recs[start:end], res[start:end]); err != nil {
			err = fmt.Errorf("fxiaoke %s: write %s: %w", c.name, entity, err)
			for i := start; i < end; i++ {
				if res[i].Outcome == connectors.Failed && res[i].Err == nil {
					res[i].Err = err
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	for i := range res {
		if res[i].Outcome == connectors.Failed && res[i].Err == nil {
			res[i].Err = connectors.Retryable(fmt.Errorf("fxiaoke %s: write %s: %w", c.name, entity, ctx.Err()), 0)
		}
	}
	return erp.SystemFault(res, nil)
}

// pending is an upsert on its way.
type pending struct {
	i     int
	id    string
	data  mapping.Value
	hubID bool
}

func (c *Conn) writeChunk(ctx context.Context, e *entity, recs []connectors.WriteRecord, res []connectors.Result) error {
	var ups []pending
	for i, r := range recs {
		switch {
		case r.Op == connectors.OpDelete && r.ExternalID == "":
			res[i] = connectors.Result{Outcome: connectors.NotFound}
		case r.Op == connectors.OpDelete:
			res[i] = c.void(ctx, e, r.ExternalID)
		case r.Data.Kind() != mapping.Object:
			res[i].Err = connectors.Permanent(fmt.Errorf("the mapped record is a %s, not an object", r.Data.Kind()))
		default:
			ups = append(ups, pending{i: i, id: r.ExternalID, data: saas.Without(r.Data, "_id", "dataObjectApiName"), hubID: r.ExternalID != ""})
		}
		if k, _ := connectors.Classify(res[i].Err); res[i].Err != nil && k == connectors.KindUnavailable {
			return res[i].Err
		}
	}
	if len(ups) == 0 {
		return nil
	}
	if err := c.productIDs(ctx, e, ups, res); err != nil {
		return err
	}
	if err := c.findExisting(ctx, e, ups); err != nil {
		return err
	}
	cur, err := c.stored(ctx, e, ups)
	if err != nil {
		return err
	}
	for _, u := range ups {
		if res[u.i].Err != nil {
			continue
		}
		have, ok := cur[u.id]
		switch {
		case u.id != "" && !ok && u.hubID:
			res[u.i] = connectors.Result{Outcome: connectors.NotFound, ExternalID: u.id}
		case u.id != "" && ok && saas.Holds(u.data, have):
			res[u.i] = connectors.Result{Outcome: connectors.Unchanged, ExternalID: u.id}
		case u.id != "" && ok:
			res[u.i] = c.save(ctx, e, u, "update")
		default:
			u.id = ""
			res[u.i] = c.save(ctx, e, u, "create")
		}
		if k, _ := connectors.Classify(res[u.i].Err); res[u.i].Err != nil && k != connectors.KindPermanent {
			return res[u.i].Err // the system's fault: the rest of the chunk would fail alike
		}
	}
	return nil
}

// void voids a record.
func (c *Conn) void(ctx context.Context, e *entity, id string) connectors.Result {
	_, err := c.call(ctx, "void "+e.cfg.Object+" "+id, dataPath(e.cfg.Object, "invalid"),
		map[string]any{"dataObjectApiName": e.cfg.Object, "object_data_id": id})
	if code, ok := codeOf(err); ok && contains(c.cfg.ErrorCodes.NotFound, code) {
		return connectors.Result{Outcome: connectors.NotFound, ExternalID: id}
	}
	if err != nil {
		return connectors.Result{Err: err}
	}
	return connectors.Result{Outcome: connectors.Written, ExternalID: id}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// save creates or updates one record with its lines.
func (c *Conn) save(ctx context.Context, e *entity, u pending, how string) connectors.Result {
	od := saas.With(saas.Without(u.data, e.cfg.Details), "dataObjectApiName", mapping.StringValue(e.cfg.Object))
	if how == "update" {
		od = saas.With(od, "_id", mapping.StringValue(u.id))
	}
	data := map[string]any{"object_data": od}
	if e.cfg.Details != "" {
		if lines := u.data.Get(e.cfg.Details); lines.Kind() == mapping.Array {
			data["details"] = map[string]any{e.cfg.Details: lines}
		}
	}
	v, err := c.call(ctx, fmt.Sprintf("%s %s %s", how, e.cfg.Object, u.id), dataPath(e.cfg.Object, how), data)
	if code, ok := codeOf(err); ok && how == "update" && contains(c.cfg.ErrorCodes.NotFound, code) {
		return connectors.Result{Outcome: connectors.NotFound, ExternalID: u.id}
	}
	if err != nil {
		return connectors.Result{Err: err}
	}
	id := u.id
	if how == "create" {
		if id = erp.Text(v.Get("dataId")); id == "" {
			return connectors.Result{Err: connectors.Retryable(fmt.Errorf("create %s: the answer has no dataId", e.cfg.Object), 0)}
		}
	}
	return connectors.Result{Outcome: connectors.Written, ExternalID: id}
}

// productIDs names each line's product by _id: a line that gives the
// product's code gets its product_id. An unknown code fails the record.
func (c *Conn) productIDs(ctx context.Context, e *entity, ups []pending, res []connectors.Result) error {
	if e.cfg.Details == "" {
		return nil
	}
	code := c.cfg.ProductCode
	var codes []string
	for _, u := range ups {
		for _, l := range u.data.Get(e.cfg.Details).Elems() {
			if erp.Text(l.Get("product_id")) == "" {
				codes = append(codes, erp.Text(l.Get(code)))
			}
		}
	}
	if err := c.lookupProducts(ctx, code, codes); err != nil {
		return err
	}
	pc := c.products
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for k, u := range ups {
		lines := u.data.Get(e.cfg.Details).Elems()
		if lines == nil {
			continue
		}
		next := make([]mapping.Value, len(lines))
		for j, l := range lines {
			next[j] = saas.Without(l, code)
			if erp.Text(l.Get("product_id")) != "" {
				continue
			}
			id, ok := pc.byCode[erp.Text(l.Get(code))]
			if !ok {
				res[u.i].Err = connectors.Permanent(fmt.Errorf("line %d: no product with %s %q in %s", j+1, code, erp.Text(l.Get(code)), c.cfg.ProductObject))
				break
			}
			next[j] = saas.With(next[j], "product_id", mapping.StringValue(id))
		}
		ups[k].data = saas.With(u.data, e.cfg.Details, mapping.ArrayValue(next))
	}
	return nil
}

// findExisting gives records without an _id the _id of the record that
// holds their match_field's value.
func (c *Conn) findExisting(ctx context.Context, e *entity, ups []pending) error {
	f := e.cfg.MatchField
	if f == "" {
		return nil
	}
	var values []string
	for _, u := range ups {
		if v := erp.Text(u.data.Get(f)); u.id == "" && v != "" {
			values = append(values, v)
		}
	}
	if len(values) == 0 {
		return nil
	}
	rows, err := c.queryIn(ctx, "find "+e.cfg.Object+" by "+f, e.cfg.Object, f, values)
	if err != nil {
		return err
	}
	found := map[string]string{}
	for _, r := range rows {
		if v := erp.Text(r.Get(f)); found[v] == "" {
			found[v] = erp.Text(r.Get("_id"))
		}
	}
	for k := range ups {
		if ups[k].id == "" {
			ups[k].id = found[erp.Text(ups[k].data.Get(f))]
		}
	}
	return nil
}

// stored reads the records of ups that have an _id, not voided, with
// their lines (product_id as written, without the code added on reads).
func (c *Conn) stored(ctx context.Context, e *entity, ups []pending) (map[string]mapping.Value, error) {
	var ids []string
	for _, u := range ups {
		if u.id != "" {
			ids = append(ids, u.id)
		}
	}
	out := map[string]mapping.Value{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := c.queryIn(ctx, "read "+e.cfg.Object, e.cfg.Object, "_id", ids)
	if err != nil {
		return nil, err
	}
	if rows, err = c.withDetails(ctx, e, rows); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[erp.Text(r.Get("_id"))] = r
	}
	return out, nil
}
