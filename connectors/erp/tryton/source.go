package tryton

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// readFields are the fields the source and scanner read of each entity;
// shape turns such a row into the entity's native record.
func readFields(entity string) []string {
	switch entity {
	case EntityCustomer:
		return []string{"code", "name", "active", "create_date", "write_date",
			"contact_mechanisms.type", "contact_mechanisms.value",
			"addresses.name", "addresses.street", "addresses.postal_code", "addresses.city", "addresses.country.code"}
	case EntityOrder:
		return []string{"number", "reference", "state", "party", "party.code", "party.name", "sale_date", "currency.code",
			"description", "comment", "untaxed_amount", "tax_amount", "total_amount", "invoice_state", "shipment_state",
			"invoices", "create_date", "write_date",
			"lines.type", "lines.product.code", "lines.description", "lines.quantity", "lines.unit.symbol", "lines.unit_price", "lines.amount"}
	case EntityInvoice:
		return []string{"number", "type", "state", "invoice_date", "party", "party.code", "party.name", "currency.code",
			"untaxed_amount", "tax_amount", "total_amount", "amount_to_pay", "reference", "description",
			"sales.reference", "sales.number", "create_date", "write_date",
			"lines.type", "lines.product.code", "lines.description", "lines.quantity", "lines.unit.symbol", "lines.unit_price", "lines.amount"}
	}
	return nil
}

// baseDomain restricts an entity's model: invoices are customer invoices
// in the configured states.
func (c *Conn) baseDomain(entity string) []any {
	if entity == EntityInvoice {
		return []any{[]any{"type", "=", "out"}, []any{"state", "in", c.cfg.InvoiceStates}}
	}
	return []any{}
}

// nested is a member of a dotted Many2One read ("party." -> {"code": ..}).
func nested(row map[string]any, field, member string) any {
	if m, ok := row[field+"."].(map[string]any); ok {
		return m[member]
	}
	return nil
}

type member = mapping.Member

func mv(key string, v any) member { return member{Key: key, Value: toValue(v)} }

// shape turns a row read with readFields(entity) into the native record.
func shape(entity string, row Row) mapping.Value {
	id := mapping.IntValue(row.ID())
	switch entity {
	case EntityCustomer:
		ms := []member{{Key: "id", Value: id}, mv("code", row["code"]), mv("name", row["name"])}
		for _, kind := range contactKinds() {
			var val any
			for _, m := range sub(row, "contact_mechanisms") {
				if m["type"] == kind {
					val = m["value"]
					break
				}
			}
			ms = append(ms, mv(kind, val))
		}
		addr := mapping.Value{}
		if as := sub(row, "addresses"); len(as) > 0 {
			a := as[0]
			addr = mapping.ObjectValue(mv("name", a["name"]), mv("street", a["street"]), mv("postal_code", a["postal_code"]),
				mv("city", a["city"]), mv("country", nested(a, "country", "code")))
		}
		ms = append(ms, member{Key: "address", Value: addr}, member{Key: "active", Value: mapping.BoolValue(asBool(row["active"]))},
			mv("create_date", row["create_date"]), mv("write_date", row["write_date"]))
		return mapping.ObjectValue(ms...)
	case EntityOrder:
		return mapping.ObjectValue(member{Key: "id", Value: id}, mv("number", row["number"]), mv("reference", row["reference"]),
			mv("state", row["state"]), mv("party", row["party"]), mv("party_code", nested(row, "party", "code")),
			mv("party_name", nested(row, "party", "name")), mv("sale_date", row["sale_date"]),
			mv("currency", nested(row, "currency", "code")), mv("description", row["description"]), mv("comment", row["comment"]),
			mv("untaxed_amount", row["untaxed_amount"]), mv("tax_amount", row["tax_amount"]), mv("total_amount", row["total_amount"]),
			mv("invoice_state", row["invoice_state"]), mv("shipment_state", row["shipment_state"]),
			member{Key: "lines", Value: shapeLines(row)}, mv("invoices", row["invoices"]),
			mv("create_date", row["create_date"]), mv("write_date", row["write_date"]))
	case EntityInvoice:
		var sale, saleRef, saleNo any
		if ss := sub(row, "sales"); len(ss) > 0 {
			sale, saleRef, saleNo = ss[0]["id"], ss[0]["reference"], ss[0]["number"]
		}
		return mapping.ObjectValue(member{Key: "id", Value: id}, mv("number", row["number"]), mv("type", row["type"]),
			mv("state", row["state"]), mv("invoice_date", row["invoice_date"]), mv("party", row["party"]),
			mv("party_code", nested(row, "party", "code")), mv("party_name", nested(row, "party", "name")),
			mv("currency", nested(row, "currency", "code")), mv("untaxed_amount", row["untaxed_amount"]),
			mv("tax_amount", row["tax_amount"]), mv("total_amount", row["total_amount"]), mv("amount_to_pay", row["amount_to_pay"]),
			mv("reference", row["reference"]), mv("description", row["description"]),
			mv("sale", sale), mv("sale_reference", saleRef), mv("sale_number", saleNo),
			member{Key: "lines", Value: shapeLines(row)},
			mv("create_date", row["create_date"]), mv("write_date", row["write_date"]))
	}
	return toValue(map[string]any(row))
}

func shapeLines(row Row) mapping.Value {
	var out []mapping.Value
	for _, l := range sub(row, "lines") {
		if l["type"] != "line" {
			continue
		}
		out = append(out, mapping.ObjectValue(mv("id", l["id"]), mv("product", nested(l, "product", "code")),
			mv("description", l["description"]), mv("quantity", l["quantity"]), mv("unit", nested(l, "unit", "symbol")),
			mv("unit_price", l["unit_price"]), mv("amount", l["amount"])))
	}
	if out == nil {
		out = []mapping.Value{}
	}
	return mapping.ArrayValue(out)
}

// modified is a row's change time: write_date, or create_date for a
// record never written since.
func modified(row Row) time.Time {
	if t, ok := asTime(row["write_date"]); ok {
		return t
	}
	t, _ := asTime(row["create_date"])
	return t
}

func record(entity string, row Row) connectors.Record {
	return connectors.Record{Entity: entity, Key: idString(row.ID()), Op: connectors.OpUpsert, Version: modified(row), Data: shape(entity, row)}
}

// cursor is the source's position: the last (modified, id) read, and the
// records read inside the look-back window behind it (id -> modified in
// µs), so a re-read of the window yields only changes that committed late.
type cursor struct {
	V    int              `json:"v"`
	T    string           `json:"t,omitempty"`
	ID   int64            `json:"id,omitempty"`
	Seen map[string]int64 `json:"s,omitempty"`
}

func decodeCursor(s string) (cursor, time.Time, error) {
	var c cursor
	if s == "" {
		return c, time.Time{}, nil
	}
	err := erp.DecodeCursor(s, &c)
	var t time.Time
	if err == nil && c.T != "" {
		t, err = time.Parse(time.RFC3339Nano, c.T)
	}
	if err != nil || c.V != 1 {
		return c, t, connectors.Permanent(fmt.Errorf("invalid cursor %q", s))
	}
	return c, t, nil
}

func (c cursor) encode() string {
	c.V = 1
	return erp.EncodeCursor(c)
}

// after is the domain of records whose (field, id) comes after (t, id);
// upTo the domain of those at or before it.
func after(field string, t time.Time, id int64) []any {
	return []any{"OR", []any{field, ">", DateTime{t}}, []any{[]any{field, "=", DateTime{t}}, []any{"id", ">", id}}}
}

func upTo(field string, t time.Time, id int64) []any {
	return []any{"OR", []any{field, "<", DateTime{t}}, []any{[]any{field, "=", DateTime{t}}, []any{"id", "<=", id}}}
}

func and(base []any, clauses ...any) []any {
	return append(append([]any{}, base...), clauses...)
}

// changes returns the ids and change times of records changed after (t,
// id) (all records when t is zero), in change order, at most n.
func (c *Conn) changes(ctx context.Context, r *rpc, tctx map[string]any, entity string, t time.Time, id int64, n int) ([]Row, error) {
	model, base := modelOf(entity), c.baseDomain(entity)
	written, created := and(base, []any{"write_date", "!=", nil}), and(base, []any{"write_date", "=", nil})
	if !t.IsZero() {
		written = and(written, after("write_date", t, id))
		created = and(created, after("create_date", t, id))
	}
	fields := []string{"create_date", "write_date"}
	w, err := r.searchRead(ctx, model, tctx, written, 0, n, [][2]string{{"write_date", "ASC"}, {"id", "ASC"}}, fields)
	if err != nil {
		return nil, err
	}
	cr, err := r.searchRead(ctx, model, tctx, created, 0, n, [][2]string{{"create_date", "ASC"}, {"id", "ASC"}}, fields)
	if err != nil {
		return nil, err
	}
	all := append(w, cr...)
	sortRows(all)
	if len(all) > n {
		all = all[:n]
	}
	return all, nil
}

// window returns the records changed in [low, (t, id)].
func (c *Conn) window(ctx context.Context, r *rpc, tctx map[string]any, entity string, low, t time.Time, id int64) ([]Row, error) {
	model, base := modelOf(entity), c.baseDomain(entity)
	fields := []string{"create_date", "write_date"}
	w, err := r.searchRead(ctx, model, tctx, and(base, []any{"write_date", ">=", DateTime{low}}, upTo("write_date", t, id)), 0, 0, nil, fields)
	if err != nil {
		return nil, err
	}
	cr, err := r.searchRead(ctx, model, tctx, and(base, []any{"write_date", "=", nil}, []any{"create_date", ">=", DateTime{low}},
		upTo("create_date", t, id)), 0, 0, nil, fields)
	if err != nil {
		return nil, err
	}
	all := append(w, cr...)
	sortRows(all)
	return all, nil
}

func sortRows(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := modified(rows[i]), modified(rows[j])
		if !a.Equal(b) {
			return a.Before(b)
		}
		return rows[i].ID() < rows[j].ID()
	})
}

// readRows reads the full rows of ids, in the order of ids.
func (c *Conn) readRows(ctx context.Context, r *rpc, tctx map[string]any, entity string, ids []int64) ([]Row, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := r.searchRead(ctx, modelOf(entity), withActiveTest(tctx), []any{[]any{"id", "in", ids}}, 0, 0, nil, readFields(entity))
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]Row, len(rows))
	for _, row := range rows {
		byID[row.ID()] = row
	}
	out := make([]Row, 0, len(ids))
	for _, id := range ids {
		if row, ok := byID[id]; ok {
			out = append(out, row)
		}
	}
	return out, nil
}

// Read returns the records of entity changed after cursor (write_date, or
// create_date for records never written), at most max (capped by
// batch_size), oldest first. It first re-reads the look-back window behind
// the cursor for changes not read before. With nothing new it polls every
// poll_interval until ctx is done and then returns an empty batch with the
// same cursor. Tryton deletes records for good, so a source sees no
// deletes; a party archived in Tryton arrives with "active": false.
func (c *Conn) Read(ctx context.Context, entity, cur string, max int) (connectors.Batch, error) {
	r, tctx, err := c.started(entity)
	if err != nil {
		return connectors.Batch{}, err
	}
	if max <= 0 || max > c.cfg.BatchSize {
		max = c.cfg.BatchSize
	}
	b, err := connectors.Poll(ctx, c.cfg.PollInterval, cur, func(cur string) (connectors.Batch, error) {
		return c.readOnce(ctx, r, tctx, entity, cur, max)
	})
	if err != nil {
		return connectors.Batch{}, fmt.Errorf("tryton %s: read %s: %w", c.name, entity, err)
	}
	return b, nil
}

func (c *Conn) readOnce(ctx context.Context, r *rpc, tctx map[string]any, entity, cur string, max int) (connectors.Batch, error) {
	st, t, err := decodeCursor(cur)
	if err != nil {
		return connectors.Batch{}, err
	}
	lb := *c.cfg.LookBack
	var picked []Row
	if !t.IsZero() && lb > 0 {
		win, err := c.window(ctx, r, tctx, entity, t.Add(-lb), t, st.ID)
		if err != nil {
			return connectors.Batch{}, fmt.Errorf("look-back: %w", err)
		}
		for _, row := range win {
			if v, seen := st.Seen[idString(row.ID())]; !seen || v != modified(row).UnixMicro() {
				if len(picked) < max {
					picked = append(picked, row)
				}
			}
		}
	}
	var fwd []Row
	if n := max - len(picked); n > 0 {
		if fwd, err = c.changes(ctx, r, tctx, entity, t, st.ID, n); err != nil {
			return connectors.Batch{}, err
		}
	}
	picked = append(picked, fwd...)
	if len(fwd) > 0 {
		last := fwd[len(fwd)-1]
		t, st.ID = modified(last), last.ID()
		st.T = t.Format(time.RFC3339Nano)
	}
	if lb > 0 && !t.IsZero() {
		horizon := t.Add(-lb).UnixMicro()
		seen := map[string]int64{}
		for k, v := range st.Seen {
			if v >= horizon {
				seen[k] = v
			}
		}
		for _, row := range picked {
			if v := modified(row).UnixMicro(); v >= horizon {
				seen[idString(row.ID())] = v
			}
		}
		st.Seen = seen
	}
	ids := make([]int64, len(picked))
	for i, row := range picked {
		ids[i] = row.ID()
	}
	rows, err := c.readRows(ctx, r, tctx, entity, ids)
	if err != nil {
		return connectors.Batch{}, err
	}
	b := connectors.Batch{Records: make([]connectors.Record, 0, len(rows)), Cursor: st.encode()}
	for _, row := range rows {
		b.Records = append(b.Records, record(entity, row))
	}
	return b, nil
}
