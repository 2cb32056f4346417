package odoo

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// readFields are the fields the source and scanner read of each entity's
// model; enrich adds what lives in other models (lines, codes, the sale
// order of an invoice) and shape turns the result into the native record.
func readFields(entity string) []string {
	switch entity {
	case EntityCustomer:
		return append(partnerReadFields(), "create_date", "write_date")
	case EntityOrder:
		return []string{"name", "client_order_ref", "state", "partner_id", "date_order", "currency_id", "origin", "note",
			"amount_untaxed", "amount_tax", "amount_total", "invoice_status", "create_date", "write_date"}
	case EntityInvoice:
		return []string{"name", "move_type", "state", "payment_state", "invoice_date", "invoice_date_due", "partner_id",
			"currency_id", "amount_untaxed", "amount_tax", "amount_total", "amount_residual", "invoice_origin", "ref",
			"create_date", "write_date"}
	}
	return nil
}

// baseDomain restricts an entity's model: invoices are customer invoices.
func baseDomain(entity string) []any {
	if entity == EntityInvoice {
		return []any{[]any{"move_type", "=", "out_invoice"}}
	}
	return []any{}
}

func and(base []any, clauses ...any) []any {
	return append(append([]any{}, base...), clauses...)
}

// readContext is the call context of source reads: archived partners too.
func readContext(octx map[string]any) map[string]any {
	return withContext(octx, "active_test", false)
}

// fetch reads the rows of entity matching domain (with readFields) and
// returns them as records, enriched and shaped, in the order Odoo gave.
func (c *Conn) fetch(ctx context.Context, r *rpc, octx map[string]any, entity string, domain []any, limit int, order string) ([]connectors.Record, error) {
	rows, err := r.searchRead(ctx, modelOf(entity), readContext(octx), domain, readFields(entity), 0, limit, order)
	if err != nil {
		return nil, err
	}
	return c.records(ctx, r, octx, entity, rows)
}

func (c *Conn) records(ctx context.Context, r *rpc, octx map[string]any, entity string, rows []Row) ([]connectors.Record, error) {
	x, err := c.enrich(ctx, r, octx, entity, rows)
	if err != nil {
		return nil, err
	}
	out := make([]connectors.Record, len(rows))
	for i, row := range rows {
		v, _ := parseTime(row["write_date"])
		out[i] = connectors.Record{Entity: entity, Key: idString(row.ID()), Op: connectors.OpUpsert, Version: v, Data: shape(entity, row, x)}
	}
	return out, nil
}

// extra is what enrich read besides the rows.
type extra struct {
	lines     map[int64][]Row  // order or invoice id -> its product lines
	products  map[int64]string // product id -> internal reference
	countries map[int64]string // country id -> ISO code
	sales     map[int64]Row    // invoice id -> the sale order it bills
}

func (c *Conn) enrich(ctx context.Context, r *rpc, octx map[string]any, entity string, rows []Row) (extra, error) {
	x := extra{lines: map[int64][]Row{}, sales: map[int64]Row{}}
	if len(rows) == 0 {
		return x, nil
	}
	ids := make([]int64, len(rows))
	for i, row := range rows {
		ids[i] = row.ID()
	}
	var err error
	switch entity {
	case EntityCustomer:
		var cs []int64
		for _, row := range rows {
			if id, _ := many2one(row["country_id"]); id > 0 {
				cs = append(cs, id)
			}
		}
		if x.countries, err = c.countries.codes(ctx, r, octx, cs); err != nil {
			return x, err
		}
	case EntityOrder:
		ls, err := r.searchRead(ctx, "sale.order.line", octx, []any{[]any{"order_id", "in", ids}},
			[]string{"order_id", "product_id", "name", "product_uom_qty", "price_unit", "price_subtotal", "price_total", "display_type"},
			0, 0, "sequence, id")
		if err != nil {
			return x, fmt.Errorf("read the lines of sale orders: %w", err)
		}
		if x.products, err = c.linesOf(ctx, r, octx, ls, "order_id", x.lines); err != nil {
			return x, err
		}
	case EntityInvoice:
		ls, err := r.searchRead(ctx, "account.move.line", octx, []any{[]any{"move_id", "in", ids}, []any{"display_type", "=", "product"}},
			[]string{"move_id", "product_id", "name", "quantity", "price_unit", "price_subtotal", "price_total", "sale_line_ids", "display_type"},
			0, 0, "sequence, id")
		if err != nil {
			return x, fmt.Errorf("read the lines of invoices: %w", err)
		}
		if x.products, err = c.linesOf(ctx, r, octx, ls, "move_id", x.lines); err != nil {
			return x, err
		}
		if x.sales, err = c.invoiceSales(ctx, r, octx, rows, x.lines); err != nil {
			return x, err
		}
	}
	return x, nil
}

// linesOf files product lines under their parent (the Many2one parent)
// and returns the internal references of their products.
func (c *Conn) linesOf(ctx context.Context, r *rpc, octx map[string]any, ls []Row, parent string, into map[int64][]Row) (map[int64]string, error) {
	var prods []int64
	for _, l := range ls {
		if dt, _ := l["display_type"].(string); dt != "" && dt != "product" {
			continue
		}
		pid, _ := many2one(l[parent])
		into[pid] = append(into[pid], l)
		if id, _ := many2one(l["product_id"]); id > 0 {
			prods = append(prods, id)
		}
	}
	return c.products.codes(ctx, r, octx, prods)
}

// invoiceSales finds the sale order each invoice bills: through its lines'
// sale_line_ids, else by the order name in invoice_origin.
func (c *Conn) invoiceSales(ctx context.Context, r *rpc, octx map[string]any, rows []Row, lines map[int64][]Row) (map[int64]Row, error) {
	out := map[int64]Row{}
	var saleLines []int64
	for _, ls := range lines {
		for _, l := range ls {
			saleLines = append(saleLines, idList(l["sale_line_ids"])...)
		}
	}
	orderOf := map[int64]int64{} // sale line -> order
	var orders []int64
	if len(saleLines) > 0 {
		sl, err := r.searchRead(ctx, "sale.order.line", octx, []any{[]any{"id", "in", saleLines}}, []string{"order_id"}, 0, 0, "id")
		if err != nil {
			return nil, fmt.Errorf("read the sale lines of invoices: %w", err)
		}
		for _, l := range sl {
			oid, _ := many2one(l["order_id"])
			orderOf[l.ID()] = oid
			orders = append(orders, oid)
		}
	}
	var names []string
	for _, row := range rows {
		for _, n := range strings.Split(asString(row["invoice_origin"]), ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	if len(orders) == 0 && len(names) == 0 {
		return out, nil
	}
	so, err := r.searchRead(ctx, "sale.order", octx, []any{"|", []any{"id", "in", orders}, []any{"name", "in", names}},
		[]string{"name", "client_order_ref"}, 0, 0, "id")
	if err != nil {
		return nil, fmt.Errorf("read the sale orders of invoices: %w", err)
	}
	byID, byName := map[int64]Row{}, map[string]Row{}
	for _, o := range so {
		byID[o.ID()] = o
		byName[asString(o["name"])] = o
	}
	for _, row := range rows {
		var found Row
		for _, l := range lines[row.ID()] {
			for _, sl := range idList(l["sale_line_ids"]) {
				if o := byID[orderOf[sl]]; o != nil && found == nil {
					found = o
				}
			}
		}
		if found == nil {
			for _, n := range strings.Split(asString(row["invoice_origin"]), ",") {
				if o := byName[strings.TrimSpace(n)]; o != nil {
					found = o
					break
				}
			}
		}
		if found != nil {
			out[row.ID()] = found
		}
	}
	return out, nil
}

type kv = mapping.Member

func mv(key string, v mapping.Value) kv { return kv{Key: key, Value: v} }

// m2o renders a Many2one as its id and its display name.
func m2o(row Row, field, idKey, nameKey string) []kv {
	id, name := many2one(row[field])
	n := mapping.Value{}
	if name != "" {
		n = mapping.StringValue(name)
	}
	return []kv{mv(idKey, idValue(id)), mv(nameKey, n)}
}

// shape turns a row read with readFields(entity), and what enrich read,
// into the native record (docs/connectors/odoo.md).
func shape(entity string, row Row, x extra) mapping.Value {
	id := mapping.IntValue(row.ID())
	stamps := []kv{mv("create_date", datetime(row["create_date"])), mv("write_date", datetime(row["write_date"]))}
	switch entity {
	case EntityCustomer:
		ms := []kv{{Key: "id", Value: id}, mv("ref", text(row["ref"])), mv("name", text(row["name"])),
			mv("is_company", boolean(row["is_company"]))}
		for _, f := range partnerText() {
			ms = append(ms, mv(f, text(row[f])))
		}
		country := mapping.Value{}
		if cid, _ := many2one(row["country_id"]); cid > 0 && x.countries[cid] != "" {
			country = mapping.StringValue(x.countries[cid])
		}
		ms = append(ms, mv("country", country), mv("active", boolean(row["active"])))
		return mapping.ObjectValue(append(ms, stamps...)...)
	case EntityOrder:
		ms := []kv{{Key: "id", Value: id}, mv("name", text(row["name"])), mv("client_order_ref", text(row["client_order_ref"])),
			mv("state", text(row["state"]))}
		ms = append(ms, m2o(row, "partner_id", "partner_id", "partner_name")...)
		_, cur := many2one(row["currency_id"])
		ms = append(ms, mv("date_order", datetime(row["date_order"])), mv("currency", text(cur)),
			mv("origin", text(row["origin"])), mv("note", text(row["note"])),
			mv("amount_untaxed", num(row["amount_untaxed"])), mv("amount_tax", num(row["amount_tax"])),
			mv("amount_total", num(row["amount_total"])), mv("invoice_status", text(row["invoice_status"])),
			mv("lines", shapeLines(x.lines[row.ID()], x.products, "product_uom_qty")))
		return mapping.ObjectValue(append(ms, stamps...)...)
	case EntityInvoice:
		ms := []kv{{Key: "id", Value: id}, mv("name", text(row["name"])), mv("move_type", text(row["move_type"])),
			mv("state", text(row["state"])), mv("payment_state", text(row["payment_state"])),
			mv("invoice_date", text(row["invoice_date"])), mv("invoice_date_due", text(row["invoice_date_due"]))}
		ms = append(ms, m2o(row, "partner_id", "partner_id", "partner_name")...)
		_, cur := many2one(row["currency_id"])
		ms = append(ms, mv("currency", text(cur)), mv("amount_untaxed", num(row["amount_untaxed"])),
			mv("amount_tax", num(row["amount_tax"])), mv("amount_total", num(row["amount_total"])),
			mv("amount_residual", num(row["amount_residual"])), mv("invoice_origin", text(row["invoice_origin"])),
			mv("ref", text(row["ref"])))
		sale := x.sales[row.ID()]
		ms = append(ms, mv("sale_order_id", idValue(sale.ID())), mv("sale_order_name", text(sale["name"])),
			mv("sale_client_order_ref", text(sale["client_order_ref"])),
			mv("lines", shapeLines(x.lines[row.ID()], x.products, "quantity")))
		return mapping.ObjectValue(append(ms, stamps...)...)
	}
	return mapping.Value{}
}

func shapeLines(ls []Row, products map[int64]string, qty string) mapping.Value {
	out := make([]mapping.Value, 0, len(ls))
	for _, l := range ls {
		pid, _ := many2one(l["product_id"])
		prod := mapping.Value{}
		if code := products[pid]; code != "" {
			prod = mapping.StringValue(code)
		}
		out = append(out, mapping.ObjectValue(mv("id", mapping.IntValue(l.ID())), mv("product", prod),
			mv("name", text(l["name"])), mv(qty, num(l[qty])), mv("price_unit", num(l["price_unit"])),
			mv("price_subtotal", num(l["price_subtotal"])), mv("price_total", num(l["price_total"]))))
	}
	return mapping.ArrayValue(out)
}

// ---- the source ----

// cursor is the source's position: T is the newest write_date read (Odoo
// shows whole seconds, "YYYY-MM-DD HH:MM:SS"), S the records read whose
// write_date is within the look-back window behind it, by id: the
// write_date and a hash of the record as last delivered, and when (this
// process's clock, Unix seconds) that version was first seen.
//
// Odoo stores write_date with microseconds but shows and compares
// seconds, and sorts by the stored value, so (write_date, id) is not a
// usable key: records of one second come in any id order, and on Odoo
// before 18.4 `write_date = T` matches nothing. The source therefore asks
// only `write_date >= T - look_back` minus the ids it has read, and
// re-checks the ids it has read: by write_date, and, while a version is
// young (look_back + 1 s), by content, which catches a second write within
// the same second.
type cursor struct {
	V int             `json:"v"`
	T string          `json:"t,omitempty"`
	S map[string]seen `json:"s,omitempty"`
}

type seen struct {
	W  string `json:"w"`
	H  string `json:"h"`
	At int64  `json:"a"`
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	err := erp.DecodeCursor(s, &c)
	if err == nil && c.T != "" {
		_, err = time.ParseInLocation(odooTime, c.T, time.UTC)
	}
	if err != nil || c.V != 1 {
		return cursor{}, connectors.Permanent(fmt.Errorf("invalid cursor %q", s))
	}
	return c, nil
}

func (c cursor) encode() string {
	c.V = 1
	return erp.EncodeCursor(c)
}

// hashOf is a short content hash of a native record.
func hashOf(v mapping.Value) string {
	sum := sha256.Sum256(mapping.AppendJSON(nil, v))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// settle is how long after the look-back window a version keeps being
// compared by content: Odoo's write_date has whole seconds.
const settle = time.Second

// Read returns the records of entity changed after cursor (by write_date,
// which Odoo sets on create too), at most max (capped by batch_size),
// oldest first. It first re-checks the records read inside the look-back
// window for changes since. With nothing new it polls every poll_interval
// until ctx is done and then returns an empty batch with the same cursor.
// Odoo deletes records for good, so a source sees no deletes; a partner
// archived in Odoo arrives with "active": false.
func (c *Conn) Read(ctx context.Context, entity, cur string, max int) (connectors.Batch, error) {
	r, octx, err := c.started(entity)
	if err != nil {
		return connectors.Batch{}, err
	}
	if max <= 0 || max > c.cfg.BatchSize {
		max = c.cfg.BatchSize
	}
	b, err := connectors.Poll(ctx, c.cfg.PollInterval, cur, func(cur string) (connectors.Batch, error) {
		return c.readOnce(ctx, r, octx, entity, cur, max)
	})
	if err != nil {
		return connectors.Batch{}, fmt.Errorf("odoo %s: read %s: %w", c.name, entity, err)
	}
	return b, nil
}

func (c *Conn) readOnce(ctx context.Context, r *rpc, octx map[string]any, entity, cur string, max int) (connectors.Batch, error) {
	st, err := decodeCursor(cur)
	if err != nil {
		return connectors.Batch{}, err
	}
	lb := *c.cfg.LookBack
	now := c.now().Unix()
	base := baseDomain(entity)
	seenIDs := make([]int64, 0, len(st.S))
	var hot, cold []int64
	for k, s := range st.S {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil || id <= 0 {
			return connectors.Batch{}, connectors.Permanent(fmt.Errorf("invalid cursor: id %q", k))
		}
		seenIDs = append(seenIDs, id)
		if now-s.At <= int64((lb+settle)/time.Second) {
			hot = append(hot, id)
		} else {
			cold = append(cold, id)
		}
	}
	slices.Sort(seenIDs)
	slices.Sort(hot)
	slices.Sort(cold)

	// 1. Records read before that changed since.
	var changed []connectors.Record
	if len(hot) > 0 {
		recs, err := c.fetch(ctx, r, octx, entity, and(base, []any{"id", "in", hot}), 0, "id")
		if err != nil {
			return connectors.Batch{}, fmt.Errorf("re-check records: %w", err)
		}
		for _, rec := range recs {
			// The hash covers write_date too.
			if hashOf(rec.Data) != st.S[rec.Key].H {
				changed = append(changed, rec)
			}
		}
	}
	if len(cold) > 0 {
		rows, err := r.searchRead(ctx, modelOf(entity), readContext(octx), and(base, []any{"id", "in", cold}), []string{"write_date"}, 0, 0, "id")
		if err != nil {
			return connectors.Batch{}, fmt.Errorf("re-check records: %w", err)
		}
		var moved []int64
		for _, row := range rows {
			if asString(row["write_date"]) != st.S[idString(row.ID())].W {
				moved = append(moved, row.ID())
			}
		}
		if len(moved) > 0 {
			recs, err := c.fetch(ctx, r, octx, entity, and(base, []any{"id", "in", moved}), 0, "id")
			if err != nil {
				return connectors.Batch{}, fmt.Errorf("re-check records: %w", err)
			}
			changed = append(changed, recs...)
		}
	}
	sortRecords(changed)
	if len(changed) > max {
		changed = changed[:max]
	}
	// 2. Records not read yet, oldest first.
	var fresh []connectors.Record
	if n := max - len(changed); n > 0 {
		domain := base
		if st.T != "" {
			low, _ := time.ParseInLocation(odooTime, st.T, time.UTC)
			domain = and(domain, []any{"write_date", ">=", low.Add(-lb).Format(odooTime)})
		}
		if len(seenIDs) > 0 {
			domain = and(domain, []any{"id", "not in", seenIDs})
		}
		if fresh, err = c.fetch(ctx, r, octx, entity, domain, n, "write_date asc, id asc"); err != nil {
			return connectors.Batch{}, err
		}
	}
	recs := append(changed, fresh...)
	if st.S == nil {
		st.S = map[string]seen{}
	}
	for _, rec := range recs {
		w := rec.Version.UTC().Format(odooTime)
		st.S[rec.Key] = seen{W: w, H: hashOf(rec.Data), At: now}
		if w > st.T {
			st.T = w
		}
	}
	if st.T != "" {
		t, _ := time.ParseInLocation(odooTime, st.T, time.UTC)
		horizon := t.Add(-lb).Format(odooTime)
		for k, s := range st.S {
			if s.W < horizon {
				delete(st.S, k)
			}
		}
	}
	return connectors.Batch{Records: recs, Cursor: st.encode()}, nil
}

func sortRecords(recs []connectors.Record) {
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].Version.Equal(recs[j].Version) {
			return recs[i].Version.Before(recs[j].Version)
		}
		return keyID(recs[i].Key) < keyID(recs[j].Key)
	})
}

func keyID(k string) int64 {
	id, _ := strconv.ParseInt(k, 10, 64)
	return id
}
