package odoo

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// Write writes a batch of customers (res.partner) or orders (sale.order).
// Records are keyed on the partner's ref and the order's client_order_ref
// (the record's own "ref"/"client_order_ref", else its hub id), looked up
// first, so writing a record again updates it (Written), or changes
// nothing when Odoo already holds the same content (Unchanged). A record
// whose external id Odoo no longer has, and that no partner or order
// carries the key of, is NotFound, as is a delete of one already gone; it
// is not created again. Invoices are read-only.
func (c *Conn) Write(ctx context.Context, entity string, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	r, octx, err := c.started(entity)
	if err != nil {
		return nil, err
	}
	switch entity {
	case EntityCustomer:
		return erp.Settled(inWaves(recs, partnerKey, func(b []connectors.WriteRecord) ([]connectors.Result, error) {
			return erp.SystemFault(c.writePartners(ctx, r, octx, b))
		}))
	case EntityOrder:
		return erp.Settled(inWaves(recs, orderKey, func(b []connectors.WriteRecord) ([]connectors.Result, error) {
			return erp.SystemFault(c.writeOrders(ctx, r, octx, b))
		}))
	}
	return nil, connectors.Permanent(fmt.Errorf("odoo %s: %s records are read-only", c.name, entity))
}

func partnerKey(rec connectors.WriteRecord) string { return erp.RecordKey(rec, "ref") }
func orderKey(rec connectors.WriteRecord) string   { return erp.RecordKey(rec, "client_order_ref") }

func recErr(format string, args ...any) error {
	return connectors.Permanent(fmt.Errorf(format, args...))
}

// inWaves writes recs with write, a wave at a time in which every key
// occurs once: a key sent twice in one batch is created by the first wave
// and found (and updated) by the next, never created twice.
func inWaves(recs []connectors.WriteRecord, key func(connectors.WriteRecord) string,
	write func([]connectors.WriteRecord) ([]connectors.Result, error)) ([]connectors.Result, error) {
	res := make([]connectors.Result, len(recs))
	pending := make([]int, len(recs))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		seen := map[string]bool{}
		var now, later []int
		for _, i := range pending {
			if k := key(recs[i]); seen[k] {
				later = append(later, i)
			} else {
				seen[k] = true
				now = append(now, i)
			}
		}
		wave := make([]connectors.WriteRecord, len(now))
		for j, i := range now {
			wave[j] = recs[i]
		}
		out, err := write(wave)
		if err != nil {
			return nil, err
		}
		for j, i := range now {
			res[i] = out[j]
		}
		pending = later
	}
	return res, nil
}

// ---- customers ----

// partnerText are the text fields a customer record carries under Odoo's
// own names.
func partnerText() []string {
	return []string{"email", "phone", "vat", "street", "street2", "zip", "city"}
}

func partnerReadFields() []string {
	return append([]string{"ref", "name", "is_company", "country_id", "active"}, partnerText()...)
}

type partnerJob struct {
	i    int
	key  string
	id   int64
	vals map[string]any
}

func (c *Conn) writePartners(ctx context.Context, r *rpc, octx map[string]any, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	res := make([]connectors.Result, len(recs))
	keys := make([]string, len(recs))
	ids := []int64{}
	var codes []string
	for i, rec := range recs {
		keys[i] = partnerKey(rec)
		if id, err := strconv.ParseInt(rec.ExternalID, 10, 64); err == nil {
			ids = append(ids, id)
		}
		if code := strings.ToUpper(erp.Text(rec.Data.Get("country"))); code != "" && !slices.Contains(codes, code) {
			codes = append(codes, code)
		}
	}
	rows, err := r.searchRead(ctx, "res.partner", withContext(octx, "active_test", false),
		[]any{"|", []any{"ref", "in", keys}, []any{"id", "in", ids}}, partnerReadFields(), 0, 0, "id")
	if err != nil {
		return nil, fmt.Errorf("odoo %s: look up partners: %w", c.name, err)
	}
	byRef, byID := map[string]Row{}, map[string]Row{}
	for _, row := range rows {
		if ref := asString(row["ref"]); ref != "" {
			if _, dup := byRef[ref]; !dup {
				byRef[ref] = row
			}
		}
		byID[idString(row.ID())] = row
	}
	countries, err := c.countries.ids(ctx, r, octx, codes)
	if err != nil {
		return nil, fmt.Errorf("odoo %s: %w", c.name, err)
	}
	var creates, updates []partnerJob
	for i, rec := range recs {
		ex := byRef[keys[i]]
		if ex == nil && rec.ExternalID != "" {
			ex = byID[rec.ExternalID]
		}
		if ex == nil && (rec.Op == connectors.OpDelete || rec.ExternalID != "") {
			res[i] = connectors.Result{Outcome: connectors.NotFound, ExternalID: rec.ExternalID}
			continue
		}
		if rec.Op == connectors.OpDelete {
			// Odoo keeps partners that documents refer to: archive.
			res[i] = connectors.Result{ExternalID: idString(ex.ID()), Outcome: connectors.Unchanged}
			if ex["active"] != false {
				updates = append(updates, partnerJob{i: i, key: keys[i], id: ex.ID(), vals: map[string]any{"active": false}})
			}
			continue
		}
		vals, err := partnerValues(rec.Data, ex, countries)
		if err != nil {
			if ex != nil {
				res[i].ExternalID = idString(ex.ID())
			}
			res[i].Err = fmt.Errorf("odoo %s: customer %s: %w", c.name, keys[i], err)
			continue
		}
		if ex == nil {
			vals["ref"] = keys[i]
			creates = append(creates, partnerJob{i: i, key: keys[i], vals: vals})
			continue
		}
		res[i] = connectors.Result{ExternalID: idString(ex.ID()), Outcome: connectors.Unchanged}
		if len(vals) > 0 {
			updates = append(updates, partnerJob{i: i, key: keys[i], id: ex.ID(), vals: vals})
		}
	}
	errs := erp.Each(creates, func(jobs []partnerJob) error {
		vals := make([]map[string]any, len(jobs))
		for k, j := range jobs {
			vals[k] = j.vals
		}
		ids, err := r.create(ctx, "res.partner", octx, vals)
		if err != nil {
			return err
		}
		for k, j := range jobs {
			res[j.i] = connectors.Result{ExternalID: idString(ids[k]), Outcome: connectors.Written}
		}
		return nil
	})
	for k, j := range creates {
		if errs[k] != nil {
			res[j.i].Err = fmt.Errorf("odoo %s: create partner %s: %w", c.name, j.key, errs[k])
		}
	}
	for _, j := range updates {
		if err := r.write(ctx, "res.partner", octx, []int64{j.id}, j.vals); err != nil {
			res[j.i].Err = fmt.Errorf("odoo %s: update partner %s (%d): %w", c.name, j.key, j.id, err)
			continue
		}
		res[j.i].Outcome = connectors.Written
	}
	return res, nil
}

// sameText compares a stored field with the wanted value: e-mails without
// case, phones by their digits, the rest exactly (trimmed).
func sameText(field, have, want string) bool {
	have = strings.TrimSpace(have)
	switch field {
	case "email":
		return strings.EqualFold(have, want)
	case "phone":
		norm := func(s string) string {
			var b strings.Builder
			for _, r := range s {
				if r == '+' || (r >= '0' && r <= '9') {
					b.WriteRune(r)
				}
			}
			return b.String()
		}
		return norm(have) == norm(want)
	}
	return have == want
}

// partnerValues returns the create values of a new partner (ex nil) or
// the changes to write to an existing one (empty when nothing differs). A
// member that is absent leaves the field alone; one that is null or empty
// clears it.
func partnerValues(d mapping.Value, ex Row, countries map[string]int64) (map[string]any, error) {
	if d.Kind() != mapping.Object {
		return nil, recErr("the record is a %s, not an object", d.Kind())
	}
	vals := map[string]any{}
	name := erp.Text(d.Get("name"))
	if name == "" {
		return nil, recErr("name is required")
	}
	if ex == nil || asString(ex["name"]) != name {
		vals["name"] = name
	}
	if ex != nil && ex["active"] == false {
		vals["active"] = true
	}
	for _, f := range partnerText() {
		v, ok := member(d, f)
		if !ok {
			continue
		}
		want := erp.Text(v)
		switch {
		case ex == nil:
			if want != "" {
				vals[f] = want
			}
		case !sameText(f, asString(ex[f]), want):
			if want == "" {
				vals[f] = false
			} else {
				vals[f] = want
			}
		}
	}
	if v, ok := member(d, "is_company"); ok && v.Kind() == mapping.Bool {
		if want := v.Bool(); (ex == nil && want) || (ex != nil && ex["is_company"] != want) {
			vals["is_company"] = want
		}
	}
	if v, ok := member(d, "country"); ok {
		var want int64
		if code := strings.ToUpper(erp.Text(v)); code != "" {
			id, known := countries[code]
			if !known {
				return nil, recErr("country: %q is not a country code Odoo knows (res.country)", code)
			}
			want = id
		}
		var have int64
		if ex != nil {
			have, _ = many2one(ex["country_id"])
		}
		if have != want {
			if want == 0 {
				vals["country_id"] = false
			} else {
				vals["country_id"] = want
			}
		}
	}
	return vals, nil
}

// ---- orders ----

func saleReadFields() []string {
	return []string{"client_order_ref", "state", "partner_id", "date_order", "origin", "note"}
}

func saleLineReadFields() []string {
	return []string{"order_id", "product_id", "name", "product_uom_qty", "price_unit", "display_type", "sequence"}
}

// editable reports whether the sink changes the lines and customer of an
// order in state (a quotation, sent or not).
func editable(state string) bool { return state == "draft" || state == "sent" }

// stateName is how Odoo shows a sale order's state.
func stateName(state string) string {
	switch state {
	case "draft":
		return "a quotation"
	case "sent":
		return "a sent quotation"
	case "sale":
		return "a confirmed sales order"
	case "done":
		return "a locked sales order"
	case "cancel":
		return "cancelled"
	}
	return "in state " + state
}

type orderJob struct {
	i     int
	key   string
	id    int64
	state string
	vals  map[string]any
	// structural changes (lines, customer) need an editable order
	structural bool
}

type wantLine struct {
	product    int64
	qty, price decimal.Decimal
	name       string
}

func (w wantLine) vals() map[string]any {
	v := map[string]any{"product_id": w.product, "product_uom_qty": json.Number(w.qty.String()),
		"price_unit": json.Number(w.price.String())}
	if w.name != "" {
		v["name"] = w.name
	}
	return v
}

// partnerOf is the partner id of an order: its "partner_id" member (the
// mapping's xref: customer) or the pipeline's customer reference.
func partnerOf(rec connectors.WriteRecord) int64 {
	s := erp.Text(rec.Data.Get("partner_id"))
	if s == "" {
		s = rec.Refs["customer"]
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

func (c *Conn) writeOrders(ctx context.Context, r *rpc, octx map[string]any, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	res := make([]connectors.Result, len(recs))
	keys := make([]string, len(recs))
	for i, rec := range recs {
		keys[i] = orderKey(rec)
	}
	have, err := c.lookUpOrders(ctx, r, octx, recs, keys)
	if err != nil {
		return nil, err
	}
	creates, updates, unlinks := c.planOrders(recs, keys, have, res)
	moving := c.createOrders(ctx, r, octx, creates, res)
	moving = append(moving, c.updateOrders(ctx, r, octx, updates, res)...)
	c.orderMethod(ctx, r, octx, "unlink", "delete", unlinks, res)
	if c.cfg.SaleState == SaleConfirmed {
		var confirm []orderJob
		for _, j := range moving {
			if editable(j.state) {
				confirm = append(confirm, j)
			}
		}
		c.orderMethod(ctx, r, octx, "action_confirm", "confirm", confirm, res)
	}
	return res, nil
}

// orderLookups is what Odoo holds for a batch of orders: the sale orders
// by reference and by id, their lines, the products' ids by code, and
// which of the customers exist.
type orderLookups struct {
	byRef, byID map[string]Row
	lines       map[int64][]Row
	prods       map[string]int64
	known       map[int64]bool
}

// lookUpOrders reads what Odoo holds for recs (keys are their references).
func (c *Conn) lookUpOrders(ctx context.Context, r *rpc, octx map[string]any, recs []connectors.WriteRecord, keys []string) (orderLookups, error) {
	ids := []int64{}
	var codes []string
	var partners []int64
	for _, rec := range recs {
		if id, err := strconv.ParseInt(rec.ExternalID, 10, 64); err == nil {
			ids = append(ids, id)
		}
		for _, l := range rec.Data.Get("lines").Elems() {
			if code := erp.Text(l.Get("product")); code != "" && !slices.Contains(codes, code) {
				codes = append(codes, code)
			}
		}
		if p := partnerOf(rec); p > 0 && !slices.Contains(partners, p) {
			partners = append(partners, p)
		}
	}
	rows, err := r.searchRead(ctx, "sale.order", octx,
		[]any{"|", []any{"client_order_ref", "in", keys}, []any{"id", "in", ids}}, saleReadFields(), 0, 0, "id")
	if err != nil {
		return orderLookups{}, fmt.Errorf("odoo %s: look up sale orders: %w", c.name, err)
	}
	have := orderLookups{byRef: map[string]Row{}, byID: map[string]Row{}, lines: map[int64][]Row{}, known: map[int64]bool{}}
	found := make([]int64, 0, len(rows))
	for _, row := range rows {
		if ref := asString(row["client_order_ref"]); ref != "" {
			if _, dup := have.byRef[ref]; !dup {
				have.byRef[ref] = row
			}
		}
		have.byID[idString(row.ID())] = row
		found = append(found, row.ID())
	}
	if len(found) > 0 {
		ls, err := r.searchRead(ctx, "sale.order.line", octx, []any{[]any{"order_id", "in", found}}, saleLineReadFields(), 0, 0, "sequence, id")
		if err != nil {
			return orderLookups{}, fmt.Errorf("odoo %s: read the lines of sale orders: %w", c.name, err)
		}
		for _, l := range ls {
			if dt, _ := l["display_type"].(string); dt != "" {
				continue // sections and notes stay as they are
			}
			oid, _ := many2one(l["order_id"])
			have.lines[oid] = append(have.lines[oid], l)
		}
	}
	if have.prods, err = c.products.ids(ctx, r, octx, codes); err != nil {
		return orderLookups{}, fmt.Errorf("odoo %s: %w", c.name, err)
	}
	if len(partners) > 0 {
		ps, err := r.searchRead(ctx, "res.partner", withContext(octx, "active_test", false), []any{[]any{"id", "in", partners}}, []string{"id"}, 0, 0, "id")
		if err != nil {
			return orderLookups{}, fmt.Errorf("odoo %s: check the customers of sale orders: %w", c.name, err)
		}
		for _, p := range ps {
			have.known[p.ID()] = true
		}
	}
	return have, nil
}

// planOrders sorts recs into orders to create, to update and to delete,
// and sets the result of each record that needs nothing more (not found,
// unchanged, refused).
func (c *Conn) planOrders(recs []connectors.WriteRecord, keys []string, have orderLookups, res []connectors.Result) (creates, updates, unlinks []orderJob) {
	for i, rec := range recs {
		ex := have.byRef[keys[i]]
		if ex == nil && rec.ExternalID != "" {
			ex = have.byID[rec.ExternalID]
		}
		if ex == nil && (rec.Op == connectors.OpDelete || rec.ExternalID != "") {
			res[i] = connectors.Result{Outcome: connectors.NotFound, ExternalID: rec.ExternalID}
			continue
		}
		if rec.Op == connectors.OpDelete {
			switch state := asString(ex["state"]); {
			case state == "cancel":
				res[i] = connectors.Result{ExternalID: idString(ex.ID()), Outcome: connectors.Unchanged}
			case state == "draft":
				res[i].ExternalID = idString(ex.ID())
				unlinks = append(unlinks, orderJob{i: i, key: keys[i], id: ex.ID(), state: state})
			default:
				res[i].ExternalID = idString(ex.ID())
				res[i].Err = recErr("odoo %s: delete sale order %s (%d): it is %s; Odoo deletes only quotations that were not sent "+
					"(cancel it in Odoo instead)", c.name, keys[i], ex.ID(), stateName(state))
			}
			continue
		}
		job, err := c.orderValues(rec, keys[i], ex, have.lines[ex.ID()], have.prods, have.known)
		if err != nil {
			if ex != nil {
				res[i].ExternalID = idString(ex.ID())
			}
			res[i].Err = fmt.Errorf("odoo %s: order %s: %w", c.name, keys[i], err)
			continue
		}
		job.i = i
		if ex == nil {
			creates = append(creates, job)
		} else {
			// Unchanged unless a write or the confirmation below changes it.
			res[i] = connectors.Result{ExternalID: idString(ex.ID()), Outcome: connectors.Unchanged}
			updates = append(updates, job)
		}
	}
	return creates, updates, unlinks
}

// createOrders creates the new orders, in one call for all and each alone
// when Odoo refuses one, and returns those it created (drafts).
func (c *Conn) createOrders(ctx context.Context, r *rpc, octx map[string]any, creates []orderJob, res []connectors.Result) []orderJob {
	errs := erp.Each(creates, func(jobs []orderJob) error {
		vals := make([]map[string]any, len(jobs))
		for k, j := range jobs {
			vals[k] = j.vals
		}
		ids, err := r.create(ctx, "sale.order", octx, vals)
		if err != nil {
			return err
		}
		for k := range jobs {
			jobs[k].id = ids[k]
		}
		return nil
	})
	var created []orderJob
	for k, j := range creates {
		if errs[k] != nil {
			res[j.i].Err = fmt.Errorf("odoo %s: create sale order %s: %w", c.name, j.key, errs[k])
			continue
		}
		res[j.i] = connectors.Result{ExternalID: idString(j.id), Outcome: connectors.Written}
		j.state = "draft"
		created = append(created, j)
	}
	return created
}

// updateOrders writes the changes of existing orders: lines and customer
// change only on quotations; a confirmed order takes header changes
// (origin, note) only. It returns the orders that may move on.
func (c *Conn) updateOrders(ctx context.Context, r *rpc, octx map[string]any, updates []orderJob, res []connectors.Result) []orderJob {
	var moving []orderJob
	for _, j := range updates {
		if j.structural && !editable(j.state) {
			res[j.i].Err = recErr("odoo %s: update sale order %s (%d): it is %s in Odoo and its lines and customer can no longer change "+
				"(the sink edits only quotations; amend it in Odoo, or cancel it and send the order again under a new reference)",
				c.name, j.key, j.id, stateName(j.state))
			continue
		}
		if len(j.vals) > 0 {
			if err := r.write(ctx, "sale.order", octx, []int64{j.id}, j.vals); err != nil {
				res[j.i].Err = fmt.Errorf("odoo %s: update sale order %s (%d): %w", c.name, j.key, j.id, err)
				continue
			}
			res[j.i].Outcome = connectors.Written
		}
		moving = append(moving, j)
	}
	return moving
}

// orderMethod calls a method (action_confirm, unlink) on the jobs' orders,
// together and then alone when Odoo refuses one; the orders it changed
// are Written.
func (c *Conn) orderMethod(ctx context.Context, r *rpc, octx map[string]any, method, what string, jobs []orderJob, res []connectors.Result) {
	errs := erp.Each(jobs, func(js []orderJob) error {
		ids := make([]int64, len(js))
		for k, j := range js {
			ids[k] = j.id
		}
		return r.method(ctx, "sale.order", method, octx, ids)
	})
	for k, j := range jobs {
		if errs[k] != nil {
			res[j.i].Err = fmt.Errorf("odoo %s: %s sale order %s (%d): %w", c.name, what, j.key, j.id, errs[k])
			continue
		}
		res[j.i].Outcome = connectors.Written
	}
}

func parseDecimal(field string, v mapping.Value) (decimal.Decimal, error) {
	s := erp.Text(v)
	if s == "" {
		return decimal.Decimal{}, recErr("%s is required", field)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, recErr("%s: %q is not a decimal", field, s)
	}
	return d, nil
}

// odooDate turns an order date into Odoo's datetime: a plain date becomes
// noon UTC of that day, so that it shows as that day in every time zone
// from UTC-11 to UTC+11; a date-time is converted to UTC.
func odooDate(s string) (string, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(12 * time.Hour).Format(odooTime), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(odooTime), nil
	}
	if t, err := time.ParseInLocation(odooTime, s, time.UTC); err == nil {
		return t.Format(odooTime), nil
	}
	return "", recErr("date_order: %q is not a date (YYYY-MM-DD) or an RFC 3339 date-time", s)
}

// orderValues checks an order and returns its job: create values for a
// new order, or the changes to write to an existing one (none when it
// already holds the same content).
func (c *Conn) orderValues(rec connectors.WriteRecord, key string, ex Row, have []Row, prods map[string]int64, known map[int64]bool) (orderJob, error) {
	d := rec.Data
	if d.Kind() != mapping.Object {
		return orderJob{}, recErr("the record is a %s, not an object", d.Kind())
	}
	partner := partnerOf(rec)
	if partner == 0 {
		return orderJob{}, recErr("partner_id is required (the customer's res.partner id, from xref: customer)")
	}
	if !known[partner] {
		return orderJob{}, recErr("partner_id: partner %d does not exist in Odoo", partner)
	}
	ls := d.Get("lines").Elems()
	if len(ls) == 0 {
		return orderJob{}, recErr("an order needs at least one line")
	}
	want := make([]wantLine, len(ls))
	var problems []string
	for n, l := range ls {
		at := fmt.Sprintf("lines[%d]", n)
		code := erp.Text(l.Get("product"))
		id, ok := prods[code]
		if code == "" {
			problems = append(problems, at+".product: is required (a product's internal reference)")
		} else if !ok {
			problems = append(problems, fmt.Sprintf("%s.product: no product with internal reference %q in Odoo", at, code))
		}
		w := wantLine{product: id, name: erp.Text(l.Get("name"))}
		var err error
		if w.qty, err = parseDecimal(at+".product_uom_qty", l.Get("product_uom_qty")); err != nil {
			problems = append(problems, err.Error())
		}
		if w.price, err = parseDecimal(at+".price_unit", l.Get("price_unit")); err != nil {
			problems = append(problems, err.Error())
		}
		want[n] = w
	}
	if len(problems) > 0 {
		return orderJob{}, recErr("%s", strings.Join(problems, "; "))
	}
	var date string
	if s := erp.Text(d.Get("date_order")); s != "" {
		var err error
		if date, err = odooDate(s); err != nil {
			return orderJob{}, err
		}
	}
	if ex == nil {
		lv := make([]any, len(want))
		for n, w := range want {
			lv[n] = []any{0, 0, w.vals()}
		}
		vals := map[string]any{"partner_id": partner, "client_order_ref": key, "order_line": lv}
		if date != "" {
			vals["date_order"] = date
		}
		for _, f := range []string{"origin", "note"} {
			if s := erp.Text(d.Get(f)); s != "" {
				vals[f] = s
			}
		}
		if c.cfg.Company > 0 {
			vals["company_id"] = c.cfg.Company
		}
		return orderJob{key: key, vals: vals}, nil
	}
	job := orderJob{key: key, id: ex.ID(), state: asString(ex["state"]), vals: map[string]any{}}
	if pid, _ := many2one(ex["partner_id"]); pid != partner {
		job.vals["partner_id"] = partner
		job.structural = true
	}
	// Confirming sets date_order to the confirmation time: compare it on
	// quotations only.
	if date != "" && editable(job.state) && asString(ex["date_order"]) != date {
		job.vals["date_order"] = date
	}
	if v, ok := member(d, "origin"); ok && asString(ex["origin"]) != erp.Text(v) {
		job.vals["origin"] = orFalse(erp.Text(v))
	}
	if v, ok := member(d, "note"); ok && erp.HTMLText(asString(ex["note"])) != erp.HTMLText(erp.Text(v)) {
		job.vals["note"] = orFalse(erp.Text(v))
	}
	if cmds := lineCommands(have, want); len(cmds) > 0 {
		job.vals["order_line"] = cmds
		job.structural = true
	}
	return job, nil
}

func orFalse(s string) any {
	if s == "" {
		return false
	}
	return s
}

func decEq(v any, want decimal.Decimal) bool {
	d, err := decimal.NewFromString(asString(v))
	return err == nil && d.Equal(want)
}

// lineCommands returns the x2many commands that turn an order's product
// lines (in order) into the wanted ones: [1, id, {changes}] for a line
// that differs, [2, id, 0] for one too many, [0, 0, {values}] for a new
// one; none when they are the same.
func lineCommands(have []Row, want []wantLine) []any {
	var cmds []any
	for i := 0; i < max(len(have), len(want)); i++ {
		switch {
		case i >= len(want):
			cmds = append(cmds, []any{2, have[i].ID(), 0})
		case i >= len(have):
			cmds = append(cmds, []any{0, 0, want[i].vals()})
		default:
			h, w := have[i], want[i]
			diff := map[string]any{}
			if pid, _ := many2one(h["product_id"]); pid != w.product {
				// A new product recomputes name and price: send them all.
				diff = w.vals()
			} else {
				if !decEq(h["product_uom_qty"], w.qty) {
					diff["product_uom_qty"] = json.Number(w.qty.String())
				}
				if !decEq(h["price_unit"], w.price) {
					diff["price_unit"] = json.Number(w.price.String())
				}
				if w.name != "" && asString(h["name"]) != w.name {
					diff["name"] = w.name
				}
			}
			if len(diff) > 0 {
				cmds = append(cmds, []any{1, h.ID(), diff})
			}
		}
	}
	return cmds
}
