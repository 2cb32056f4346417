package fxiaoke

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/saas"
	"github.com/crmhub/hub/mapping"
)

// cursor is a source's position: the last_modified_time (epoch ms) of
// the last change read and the records read at exactly that time, each
// as _id@version, so that a record changed again within that millisecond
// (created and voided at once) is read again. (A cursor of before names
// bare _ids: those are skipped at that time whatever their version.)
type cursor struct {
	V   int      `json:"v"`
	T   int64    `json:"t,omitempty"`
	IDs []string `json:"ids,omitempty"`
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	if err := erp.DecodeCursor(s, &c); err != nil || c.V != 1 {
		return cursor{}, connectors.Permanent(fmt.Errorf("invalid cursor %q", s))
	}
	return c, nil
}

func (c cursor) encode() string {
	c.V = 1
	return erp.EncodeCursor(c)
}

// row is a record's key as a source orders it.
type row struct {
	id  string
	lmt int64
	ver string // the record's version: every change counts it up
	rec mapping.Value
}

func rowOf(r mapping.Value) (row, error) {
	id := erp.Text(r.Get("_id"))
	lmt, err := strconv.ParseInt(erp.Text(r.Get("last_modified_time")), 10, 64)
	if id == "" || err != nil {
		return row{}, fmt.Errorf("a record without _id or last_modified_time (%q)", id)
	}
	return row{id: id, lmt: lmt, ver: erp.Text(r.Get("version")), rec: r}, nil
}

// seenAs is how the cursor names the row among those read at its time.
func (r row) seenAs() string {
	if r.ver == "" {
		return r.id
	}
	return r.id + "@" + r.ver
}

// seen reports whether the cursor read r (this version of it) already.
func (c cursor) seen(r row) bool {
	return r.lmt == c.T && (slices.Contains(c.IDs, r.seenAs()) || slices.Contains(c.IDs, r.id))
}

// ids are the _ids of the records read at the cursor's time.
func (c cursor) ids() []any {
	out := make([]any, len(c.IDs))
	for i, s := range c.IDs {
		id, _, _ := strings.Cut(s, "@")
		out[i] = id
	}
	return out
}

// Read returns the records of entity changed after cursor, oldest first
// by (last_modified_time, _id), at most max (and page_size); a voided
// record (is_deleted) comes as a delete. One query a read, ordered on
// last_modified_time and _id from the cursor's time, offset 0: a record
// that changes while it is read moves behind the cursor and comes again,
// so nothing shifts out of sight. Records read at the cursor's very
// millisecond are skipped by their _id; when more than a page of them
// fills the answer, the read asks for the rest of that millisecond by
// _id (NIN) and then for what came after. A sales order comes with its
// lines (SalesOrderProductObj) under the details object's name, each
// line's product with its code.
func (c *Conn) Read(ctx context.Context, entity, cur string, max int) (connectors.Batch, error) {
	e, err := c.entity(entity)
	if err != nil {
		return connectors.Batch{}, err
	}
	if max <= 0 || max > c.cfg.PageSize {
		max = c.cfg.PageSize
	}
	b, err := connectors.Poll(ctx, c.cfg.PollInterval, cur, func(cur string) (connectors.Batch, error) {
		return c.readOnce(ctx, e, cur, max)
	})
	if err != nil {
		return connectors.Batch{}, fmt.Errorf("fxiaoke %s: read %s: %w", c.name, entity, err)
	}
	return b, nil
}

func (c *Conn) readOnce(ctx context.Context, e *entity, cur string, max int) (connectors.Batch, error) {
	st, err := decodeCursor(cur)
	if err != nil {
		return connectors.Batch{}, err
	}
	rows, err := c.changes(ctx, e, st, max)
	if err != nil {
		return connectors.Batch{}, err
	}
	for _, r := range rows {
		if r.lmt > st.T {
			st.T, st.IDs = r.lmt, []string{r.seenAs()}
		} else {
			st.IDs = append(st.IDs, r.seenAs())
		}
	}
	recs, err := c.records(ctx, e, rows)
	if err != nil {
		return connectors.Batch{}, err
	}
	return connectors.Batch{Records: recs, Cursor: st.encode()}, nil
}

// base are the filters every query of e's source has: voided records too
// where deletes are read.
func (c *Conn) base(e *entity) []cond {
	if e.deletes() {
		return []cond{{Field: "is_deleted", Values: []any{true, false}, Operator: "IN"}}
	}
	return nil
}

var byTime = []sortBy{{Field: "last_modified_time", Asc: true}, {Field: "_id", Asc: true}}

// changes returns the rows after st, at most max.
func (c *Conn) changes(ctx context.Context, e *entity, st cursor, max int) ([]row, error) {
	op := "read changes of " + e.cfg.Object
	since := append(c.base(e), cond{Field: "last_modified_time", Values: []any{st.T}, Operator: "GTE"})
	page, _, err := c.query(ctx, op, e.cfg.Object, since, byTime, 0, max)
	if err != nil {
		return nil, err
	}
	var out []row
	for _, v := range page {
		r, err := rowOf(v)
		if err != nil {
			return nil, connectors.Retryable(fmt.Errorf("%s: %w", op, err), 0)
		}
		if r.lmt < st.T || st.seen(r) {
			continue
		}
		out = append(out, r)
	}
	if len(out) > 0 || len(page) < max {
		return out, nil
	}
	// A whole page of records read before, at the cursor's millisecond:
	// the rest of that millisecond, then what came after. (A record read
	// at that millisecond and changed again within it is left out here:
	// only where more than a page of records share one millisecond.)
	ties := append(c.base(e), cond{Field: "last_modified_time", Values: []any{st.T}, Operator: "EQ"})
	if len(st.IDs) > 0 {
		ties = append(ties, cond{Field: "_id", Values: st.ids(), Operator: "NIN"})
	}
	page, _, err = c.query(ctx, op, e.cfg.Object, ties, []sortBy{{Field: "_id", Asc: true}}, 0, max)
	if err != nil {
		return nil, err
	}
	if len(page) == 0 {
		after := append(c.base(e), cond{Field: "last_modified_time", Values: []any{st.T}, Operator: "GT"})
		if page, _, err = c.query(ctx, op, e.cfg.Object, after, byTime, 0, max); err != nil {
			return nil, err
		}
	}
	for _, v := range page {
		r, err := rowOf(v)
		if err != nil {
			return nil, connectors.Retryable(fmt.Errorf("%s: %w", op, err), 0)
		}
		out = append(out, r)
	}
	return out, nil
}

// records turns rows into records: voided ones as deletes, the others
// with their detail lines.
func (c *Conn) records(ctx context.Context, e *entity, rows []row) ([]connectors.Record, error) {
	var live []mapping.Value
	for _, r := range rows {
		if !r.rec.Get("is_deleted").Bool() {
			live = append(live, r.rec)
		}
	}
	live, err := c.withDetails(ctx, e, live)
	if err != nil {
		return nil, err
	}
	out := make([]connectors.Record, 0, len(rows))
	k := 0
	for _, r := range rows {
		rec := connectors.Record{Entity: e.name, Key: r.id, Op: connectors.OpUpsert, Version: time.UnixMilli(r.lmt).UTC(), Data: r.rec}
		if r.rec.Get("is_deleted").Bool() {
			rec.Op = connectors.OpDelete
		} else {
			rec.Data = live[k]
			k++
		}
		out = append(out, rec)
	}
	return out, nil
}

// withDetails adds each master's detail lines (ordered by _id, each with
// its product's code) under the details object's name.
func (c *Conn) withDetails(ctx context.Context, e *entity, masters []mapping.Value) ([]mapping.Value, error) {
	if e.cfg.Details == "" || len(masters) == 0 {
		return masters, nil
	}
	ids := make([]string, len(masters))
	for i, m := range masters {
		ids[i] = erp.Text(m.Get("_id"))
	}
	lines, err := c.queryIn(ctx, "read lines of "+e.cfg.Object, e.cfg.Details, e.cfg.DetailField, ids)
	if err != nil {
		return nil, err
	}
	if lines, err = c.withCodes(ctx, lines); err != nil {
		return nil, err
	}
	by := map[string][]mapping.Value{}
	for _, l := range lines {
		m := erp.Text(l.Get(e.cfg.DetailField))
		by[m] = append(by[m], l)
	}
	out := make([]mapping.Value, len(masters))
	for i, m := range masters {
		ls := by[ids[i]]
		sort.SliceStable(ls, func(a, b int) bool { return erp.Text(ls[a].Get("_id")) < erp.Text(ls[b].Get("_id")) })
		if ls == nil {
			ls = []mapping.Value{}
		}
		out[i] = saas.With(m, e.cfg.Details, mapping.ArrayValue(ls))
	}
	return out, nil
}

// productCache maps product _ids to their codes and back.
type productCache struct {
	mu     sync.Mutex
	byID   map[string]string
	byCode map[string]string
}

// lookupProducts caches the products whose field (_id or the code field)
// is one of values.
func (c *Conn) lookupProducts(ctx context.Context, field string, values []string) error {
	pc := c.products
	pc.mu.Lock()
	var missing []string
	for _, v := range values {
		_, known := pc.byID[v]
		if field != "_id" {
			_, known = pc.byCode[v]
		}
		if !known && v != "" && !slices.Contains(missing, v) {
			missing = append(missing, v)
		}
	}
	pc.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	rows, err := c.queryIn(ctx, "look up products", c.cfg.ProductObject, field, missing)
	if err != nil {
		return err
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, r := range rows {
		id, code := erp.Text(r.Get("_id")), erp.Text(r.Get(c.cfg.ProductCode))
		pc.byID[id] = code
		if code != "" {
			pc.byCode[code] = id
		}
	}
	return nil
}

// withCodes adds the product code to each line that names a product.
func (c *Conn) withCodes(ctx context.Context, lines []mapping.Value) ([]mapping.Value, error) {
	var ids []string
	for _, l := range lines {
		ids = append(ids, erp.Text(l.Get("product_id")))
	}
	if err := c.lookupProducts(ctx, "_id", ids); err != nil {
		return nil, err
	}
	pc := c.products
	pc.mu.Lock()
	defer pc.mu.Unlock()
	out := make([]mapping.Value, len(lines))
	for i, l := range lines {
		out[i] = l
		if code, ok := pc.byID[erp.Text(l.Get("product_id"))]; ok {
			out[i] = saas.With(l, c.cfg.ProductCode, mapping.StringValue(code))
		}
	}
	return out, nil
}

// DescribeCursor says where a cursor stands.
func (c *Conn) DescribeCursor(_ context.Context, entity, cur string) (string, error) {
	if _, err := c.entity(entity); err != nil {
		return "", err
	}
	st, err := decodeCursor(cur)
	if err != nil {
		return "", err
	}
	if st.T == 0 {
		return "the beginning", nil
	}
	return fmt.Sprintf("changes after %s (%d records read at that millisecond)", time.UnixMilli(st.T).UTC().Format(time.RFC3339Nano), len(st.IDs)), nil
}

// CursorSince is the cursor from which Read returns every change at or
// after since.
func (c *Conn) CursorSince(_ context.Context, entity string, since time.Time) (string, error) {
	if _, err := c.entity(entity); err != nil {
		return "", err
	}
	return cursor{T: since.UnixMilli()}.encode(), nil
}
