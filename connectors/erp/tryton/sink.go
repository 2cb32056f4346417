package tryton

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

// Write writes a batch of customers (party.party) or orders (sale.sale).
// Records are keyed on the party's code and the sale's reference (the
// record's own "code"/"reference", else its hub id), looked up first, so
// writing a record again updates it (Written), or changes nothing when
// Tryton already holds the same content (Unchanged). A record whose
// external id Tryton no longer has, and that no party or sale carries the
// key of, is NotFound, as is a delete of one already gone; it is not
// created again. Invoices are read-only.
func (c *Conn) Write(ctx context.Context, entity string, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	r, tctx, err := c.started(entity)
	if err != nil {
		return nil, err
	}
	switch entity {
	case EntityCustomer:
		return erp.Settled(erp.SystemFault(c.writeParties(ctx, r, tctx, recs)))
	case EntityOrder:
		return erp.Settled(erp.SystemFault(c.writeSales(ctx, r, tctx, recs)))
	}
	return nil, connectors.Permanent(fmt.Errorf("tryton %s: %s records are read-only", c.name, entity))
}

func recErr(format string, args ...any) error {
	return connectors.Permanent(fmt.Errorf(format, args...))
}

// ---- customers ----

// partyReadFields are what the sink reads of an existing party.
func partyReadFields() []string {
	return []string{"code", "name", "active",
		"contact_mechanisms.type", "contact_mechanisms.value",
		"addresses.name", "addresses.street", "addresses.postal_code", "addresses.city", "addresses.country.code"}
}

type partyJob struct {
	i        int
	key      string
	existing Row
	vals     map[string]any
}

func (c *Conn) writeParties(ctx context.Context, r *rpc, tctx map[string]any, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	res := make([]connectors.Result, len(recs))
	keys := make([]string, len(recs))
	ids := []int64{}
	for i, rec := range recs {
		keys[i] = erp.RecordKey(rec, "code")
		if id, err := strconv.ParseInt(rec.ExternalID, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	actx := withActiveTest(tctx)
	rows, err := r.searchRead(ctx, "party.party", actx,
		[]any{"OR", []any{"code", "in", keys}, []any{"id", "in", ids}}, 0, 0, [][2]string{{"id", "ASC"}}, partyReadFields())
	if err != nil {
		return nil, fmt.Errorf("tryton %s: look up parties: %w", c.name, err)
	}
	byCode, byID := map[string]Row{}, map[string]Row{}
	for _, row := range rows {
		if code := asString(row["code"]); code != "" {
			if _, dup := byCode[code]; !dup {
				byCode[code] = row
			}
		}
		byID[idString(row.ID())] = row
	}
	var creates, updates []partyJob
	for i, rec := range recs {
		ex := byCode[keys[i]]
		if ex == nil && rec.ExternalID != "" {
			ex = byID[rec.ExternalID]
		}
		if ex == nil && (rec.Op == connectors.OpDelete || rec.ExternalID != "") {
			res[i] = connectors.Result{Outcome: connectors.NotFound, ExternalID: rec.ExternalID}
			continue
		}
		if rec.Op == connectors.OpDelete {
			res[i] = connectors.Result{ExternalID: idString(ex.ID()), Outcome: connectors.Unchanged}
			if asBool(ex["active"]) {
				updates = append(updates, partyJob{i: i, key: keys[i], existing: ex, vals: map[string]any{"active": false}})
			}
			continue
		}
		vals, err := c.partyValues(ctx, r, tctx, rec.Data, ex)
		if err != nil {
			res[i].Err = fmt.Errorf("tryton %s: customer %s: %w", c.name, keys[i], err)
			continue
		}
		job := partyJob{i: i, key: keys[i], existing: ex, vals: vals}
		if ex == nil {
			vals["code"] = keys[i]
			creates = append(creates, job)
			continue
		}
		res[i] = connectors.Result{ExternalID: idString(ex.ID()), Outcome: connectors.Unchanged}
		if len(vals) > 0 {
			updates = append(updates, job)
		}
	}
	errs := erp.Each(creates, func(jobs []partyJob) error {
		vals := make([]map[string]any, len(jobs))
		for k, j := range jobs {
			vals[k] = j.vals
		}
		var ids []int64
		if err := r.model(ctx, "party.party", "create", tctx, &ids, vals); err != nil {
			return err
		}
		for k, j := range jobs {
			if k < len(ids) {
				res[j.i] = connectors.Result{ExternalID: idString(ids[k]), Outcome: connectors.Written}
			}
		}
		return nil
	})
	for k, j := range creates {
		if errs[k] != nil {
			res[j.i].Err = fmt.Errorf("tryton %s: create party %s: %w", c.name, j.key, errs[k])
		}
	}
	for _, j := range updates {
		if err := r.model(ctx, "party.party", "write", tctx, nil, []int64{j.existing.ID()}, j.vals); err != nil {
			res[j.i].Err = fmt.Errorf("tryton %s: update party %s (%d): %w", c.name, j.key, j.existing.ID(), err)
			continue
		}
		res[j.i].Outcome = connectors.Written
	}
	return res, nil
}

// withActiveTest returns tctx that also finds inactive records.
func withActiveTest(tctx map[string]any) map[string]any {
	out := make(map[string]any, len(tctx)+1)
	for k, v := range tctx {
		out[k] = v
	}
	out["active_test"] = false
	return out
}

// sub returns the list of a dotted x2many read ("addresses." members).
func sub(row Row, field string) []map[string]any {
	list, _ := row[field+"."].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// contactKinds are the contact mechanisms a party record carries, by
// member name (the same as Tryton's type).
func contactKinds() []string { return []string{"email", "phone", "mobile"} }

func sameContact(kind, have, want string) bool {
	if kind == "email" {
		return strings.EqualFold(strings.TrimSpace(have), want)
	}
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

// partyValues returns the create values of a new party (ex nil) or the
// changes to write to an existing one (empty when nothing differs).
func (c *Conn) partyValues(ctx context.Context, r *rpc, tctx map[string]any, d mapping.Value, ex Row) (map[string]any, error) {
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
	if ex != nil && !asBool(ex["active"]) {
		vals["active"] = true
	}
	var mechOps []any
	var mechCreates []map[string]any
	have := []map[string]any{}
	if ex != nil {
		have = sub(ex, "contact_mechanisms")
	}
	for _, kind := range contactKinds() {
		want := erp.Text(d.Get(kind))
		if want == "" {
			continue
		}
		var m map[string]any
		for _, h := range have {
			if h["type"] == kind {
				m = h
				break
			}
		}
		switch {
		case m == nil:
			mechCreates = append(mechCreates, map[string]any{"type": kind, "value": want})
		case !sameContact(kind, asString(m["value"]), want):
			mechOps = append(mechOps, []any{"write", []int64{erp.AsInt(m["id"])}, map[string]any{"value": want}})
		}
	}
	if len(mechCreates) > 0 {
		mechOps = append(mechOps, []any{"create", mechCreates})
	}
	if len(mechOps) > 0 {
		vals["contact_mechanisms"] = mechOps
	}
	if a := d.Get("address"); a.Kind() == mapping.Object {
		want := map[string]any{}
		for _, f := range []string{"name", "street", "postal_code", "city"} {
			want[f] = erp.Text(a.Get(f))
		}
		var country any
		if code := strings.ToUpper(erp.Text(a.Get("country"))); code != "" {
			id, err := c.codeID(ctx, r, tctx, "country.country", code)
			if err != nil {
				return nil, fmt.Errorf("address.country: %w", err)
			}
			country = id
		}
		want["country"] = country
		var cur map[string]any
		if ex != nil {
			if as := sub(ex, "addresses"); len(as) > 0 {
				cur = as[0]
			}
		}
		if cur == nil {
			vals["addresses"] = []any{[]any{"create", []any{want}}}
		} else {
			diff := map[string]any{}
			for _, f := range []string{"name", "street", "postal_code", "city"} {
				if asString(cur[f]) != want[f] {
					diff[f] = want[f]
				}
			}
			var haveCountry any
			if m, ok := cur["country."].(map[string]any); ok {
				haveCountry = erp.AsInt(m["id"])
			}
			if country != nil && haveCountry != country || country == nil && haveCountry != nil {
				diff["country"] = country
			}
			if len(diff) > 0 {
				vals["addresses"] = []any{[]any{"write", []int64{erp.AsInt(cur["id"])}, diff}}
			}
		}
	}
	return vals, nil
}

// ---- orders ----

// saleReadFields are what the sink reads of an existing sale.
func saleReadFields() []string {
	return []string{"reference", "state", "party", "sale_date", "currency", "description", "comment",
		"lines.type", "lines.product", "lines.quantity", "lines.unit", "lines.unit_price", "lines.description"}
}

// editable reports whether Tryton lets a sale in state change its lines.
func editable(state string) bool { return state == SaleDraft || state == SaleQuotation }

type saleJob struct {
	i     int
	key   string
	id    int64
	state string
	vals  map[string]any
	// amend changes the lines of a sale Tryton processes already, as
	// sale_amendment "line" actions; nil when the change cannot be one
	// (lines added or removed).
	amend []map[string]any
}

type wantLine struct {
	product  int64
	qty      decimal.Decimal
	unit     int64
	price    decimal.Decimal
	desc     string
	qtyText  string
	priceTxt string
}

func (c *Conn) writeSales(ctx context.Context, r *rpc, tctx map[string]any, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	res := make([]connectors.Result, len(recs))
	keys := make([]string, len(recs))
	for i, rec := range recs {
		keys[i] = erp.RecordKey(rec, "reference")
	}
	have, err := c.lookUpSales(ctx, r, tctx, recs, keys)
	if err != nil {
		return nil, err
	}
	creates, updates, cancels := c.planSales(ctx, r, tctx, recs, keys, have, res)
	moving := c.createSales(ctx, r, tctx, creates, res)
	moving = append(moving, c.updateSales(ctx, r, tctx, updates, res)...)
	c.button(ctx, r, tctx, "cancel", cancels, res)
	c.moveOn(ctx, r, tctx, moving, res)
	return res, nil
}

// saleLookups is what Tryton holds for a batch of orders: the sales by
// reference and by id, the products by code, the units, and the
// customers' addresses.
type saleLookups struct {
	byRef, byID map[string]Row
	prods       map[string]product
	units       map[string]int64
	addrs       map[int64]int64
}

// lookUpSales reads what Tryton holds for recs (keys are their references).
func (c *Conn) lookUpSales(ctx context.Context, r *rpc, tctx map[string]any, recs []connectors.WriteRecord, keys []string) (saleLookups, error) {
	ids := []int64{}
	var codes []string
	parties := map[int64]bool{}
	for _, rec := range recs {
		if id, err := strconv.ParseInt(rec.ExternalID, 10, 64); err == nil {
			ids = append(ids, id)
		}
		for _, l := range rec.Data.Get("lines").Elems() {
			if code := erp.Text(l.Get("product")); code != "" && !contains(codes, code) {
				codes = append(codes, code)
			}
		}
		if p := partyOf(rec); p > 0 {
			parties[p] = true
		}
	}
	rows, err := r.searchRead(ctx, "sale.sale", tctx,
		[]any{"OR", []any{"reference", "in", keys}, []any{"id", "in", ids}}, 0, 0, [][2]string{{"id", "ASC"}}, saleReadFields())
	if err != nil {
		return saleLookups{}, fmt.Errorf("tryton %s: look up sales: %w", c.name, err)
	}
	have := saleLookups{byRef: map[string]Row{}, byID: map[string]Row{}}
	for _, row := range rows {
		if ref := asString(row["reference"]); ref != "" {
			if _, dup := have.byRef[ref]; !dup {
				have.byRef[ref] = row
			}
		}
		have.byID[idString(row.ID())] = row
	}
	if have.prods, err = c.lookupProducts(ctx, r, tctx, codes); err != nil {
		return saleLookups{}, fmt.Errorf("tryton %s: %w", c.name, err)
	}
	if have.units, _, err = c.loadUnits(ctx, r, tctx); err != nil {
		return saleLookups{}, fmt.Errorf("tryton %s: %w", c.name, err)
	}
	if have.addrs, err = c.partyAddresses(ctx, r, tctx, parties); err != nil {
		return saleLookups{}, fmt.Errorf("tryton %s: %w", c.name, err)
	}
	return have, nil
}

// planSales sorts recs into sales to create, to update and to cancel, and
// sets the result of each record that needs nothing more (not found,
// unchanged, refused).
func (c *Conn) planSales(ctx context.Context, r *rpc, tctx map[string]any, recs []connectors.WriteRecord, keys []string,
	have saleLookups, res []connectors.Result) (creates, updates, cancels []saleJob) {
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
			switch {
			case asString(ex["state"]) == "cancelled":
				res[i] = connectors.Result{ExternalID: idString(ex.ID()), Outcome: connectors.Unchanged}
			case editable(asString(ex["state"])):
				res[i].ExternalID = idString(ex.ID())
				cancels = append(cancels, saleJob{i: i, key: keys[i], id: ex.ID(), state: asString(ex["state"])})
			default:
				res[i].ExternalID = idString(ex.ID())
				res[i].Err = recErr("tryton %s: cancel sale %s: it is %s; Tryton cancels only draft or quotation sales", c.name, keys[i], asString(ex["state"]))
			}
			continue
		}
		job, err := c.saleValues(ctx, r, tctx, rec, keys[i], ex, have.prods, have.units, have.addrs)
		if err != nil {
			if ex != nil {
				res[i].ExternalID = idString(ex.ID())
			}
			res[i].Err = fmt.Errorf("tryton %s: order %s: %w", c.name, keys[i], err)
			continue
		}
		job.i = i
		if ex == nil {
			creates = append(creates, job)
		} else {
			// Unchanged unless a write, an amendment or a button below
			// changes it.
			res[i] = connectors.Result{ExternalID: idString(ex.ID()), Outcome: connectors.Unchanged}
			updates = append(updates, job)
		}
	}
	return creates, updates, cancels
}

// createSales creates the new sales, in one call for all and each alone
// when Tryton refuses one, and returns those it created (drafts).
func (c *Conn) createSales(ctx context.Context, r *rpc, tctx map[string]any, creates []saleJob, res []connectors.Result) []saleJob {
	errs := erp.Each(creates, func(jobs []saleJob) error {
		vals := make([]map[string]any, len(jobs))
		for k, j := range jobs {
			vals[k] = j.vals
		}
		var ids []int64
		if err := r.model(ctx, "sale.sale", "create", tctx, &ids, vals); err != nil {
			return err
		}
		for k := range jobs {
			if k < len(ids) {
				jobs[k].id = ids[k]
			}
		}
		return nil
	})
	var created []saleJob
	for k, j := range creates {
		if errs[k] != nil {
			res[j.i].Err = fmt.Errorf("tryton %s: create sale %s: %w", c.name, j.key, errs[k])
			continue
		}
		res[j.i] = connectors.Result{ExternalID: idString(j.id), Outcome: connectors.Written}
		j.state = SaleDraft
		created = append(created, j)
	}
	return created
}

// updateSales edits existing sales: drafts and quotations (a quotation
// goes back to draft first); a confirmed sale is amended. It returns the
// sales that may move on.
func (c *Conn) updateSales(ctx context.Context, r *rpc, tctx map[string]any, updates []saleJob, res []connectors.Result) []saleJob {
	var moving []saleJob
	for _, j := range updates {
		if len(j.vals) > 0 {
			if !editable(j.state) {
				if err := c.amendSale(ctx, r, tctx, j); err != nil {
					res[j.i].Err = err
					continue
				}
				res[j.i].Outcome = connectors.Written
				continue
			}
			if j.state == SaleQuotation {
				if err := r.model(ctx, "sale.sale", "draft", tctx, nil, []int64{j.id}); err != nil {
					res[j.i].Err = fmt.Errorf("tryton %s: reset sale %s (%d) to draft: %w", c.name, j.key, j.id, err)
					continue
				}
				j.state = SaleDraft
			}
			if err := r.model(ctx, "sale.sale", "write", tctx, nil, []int64{j.id}, j.vals); err != nil {
				res[j.i].Err = fmt.Errorf("tryton %s: update sale %s (%d): %w", c.name, j.key, j.id, err)
				continue
			}
			res[j.i].Outcome = connectors.Written
		}
		moving = append(moving, j)
	}
	return moving
}

// moveOn moves the sales on, draft -> quotation -> confirmed, as far as
// sale_state says, and processes confirmed sales Tryton never processed.
func (c *Conn) moveOn(ctx context.Context, r *rpc, tctx map[string]any, moving []saleJob, res []connectors.Result) {
	target := c.cfg.SaleState
	var quote, confirm, process []saleJob
	for _, j := range moving {
		switch {
		case j.state == SaleDraft && (target == SaleQuotation || target == SaleConfirmed):
			quote = append(quote, j)
		case j.state == SaleQuotation && target == SaleConfirmed:
			confirm = append(confirm, j)
		case j.state == SaleConfirmed && target == SaleConfirmed:
			// Confirmed but never processed: Tryton processes a sale in a
			// transaction of its own after the confirm, and a crash (or
			// a kill) in between leaves it so, without invoice or
			// shipment. Process is idempotent; it moves the sale on.
			process = append(process, j)
		}
	}
	for _, j := range c.button(ctx, r, tctx, "quote", quote, res) {
		if target == SaleConfirmed {
			confirm = append(confirm, j)
		}
	}
	c.button(ctx, r, tctx, "confirm", confirm, res)
	c.button(ctx, r, tctx, "process", process, res)
}

// amendSale changes the lines of a sale that Tryton processes already
// (its invoice drafted, its shipment waiting) through the sale_amendment
// module: one amendment with a "line" action per changed line, validated
// at once, after which Tryton re-computes the sale and replaces its draft
// invoice and shipment lines. Other changes of such a sale (lines added or
// removed, another party, dates) are permanent errors that say why.
func (c *Conn) amendSale(ctx context.Context, r *rpc, tctx map[string]any, j saleJob) error {
	changed := make([]string, 0, len(j.vals))
	for k := range j.vals {
		changed = append(changed, k)
	}
	slices.Sort(changed)
	switch {
	case j.state != "processing" && j.state != "done":
		return recErr("tryton %s: update sale %s (%d): it is %s in Tryton and cannot change now", c.name, j.key, j.id, j.state)
	case len(changed) != 1 || changed[0] != "lines":
		return recErr("tryton %s: update sale %s (%d): it is %s in Tryton; only its lines' quantities, prices and descriptions "+
			"can still change (through sale_amendment), not %s", c.name, j.key, j.id, j.state, strings.Join(changed, ", "))
	case j.amend == nil:
		return recErr("tryton %s: update sale %s (%d): it is %s in Tryton and lines were added or removed; "+
			"Tryton's amendments change existing lines only (cancel and re-create it)", c.name, j.key, j.id, j.state)
	}
	ok, err := c.hasAmendments(ctx, r, tctx)
	if err != nil {
		return err
	}
	if !ok {
		return recErr("tryton %s: update sale %s (%d): it is %s in Tryton and its lines can no longer change "+
			"(activate Tryton's sale_amendment module to let the hub amend it, or cancel and re-create)", c.name, j.key, j.id, j.state)
	}
	var ids []int64
	vals := map[string]any{"sale": j.id, "description": "hub: " + j.key, "lines": []any{[]any{"create", j.amend}}}
	if err := r.model(ctx, "sale.amendment", "create", tctx, &ids, []map[string]any{vals}); err != nil {
		return fmt.Errorf("tryton %s: amend sale %s (%d): create the amendment: %w", c.name, j.key, j.id, err)
	}
	if err := r.model(ctx, "sale.amendment", "validate_amendment", tctx, nil, ids); err != nil {
		// An amendment left in draft changes nothing; remove it so the
		// next attempt starts clean.
		_ = r.model(ctx, "sale.amendment", "delete", tctx, nil, ids)
		return fmt.Errorf("tryton %s: amend sale %s (%d): validate the amendment: %w", c.name, j.key, j.id, err)
	}
	return nil
}

// hasAmendments reports whether the sale_amendment module is activated,
// asked once per connector start.
func (c *Conn) hasAmendments(ctx context.Context, r *rpc, tctx map[string]any) (bool, error) {
	c.mu.RLock()
	known, ok := c.amendments != nil, c.amendments != nil && *c.amendments
	c.mu.RUnlock()
	if known {
		return ok, nil
	}
	rows, err := r.searchRead(ctx, "ir.module", tctx,
		[]any{[]any{"name", "=", "sale_amendment"}, []any{"state", "=", "activated"}}, 0, 1, nil, []string{"name"})
	if err != nil {
		return false, fmt.Errorf("tryton %s: is sale_amendment activated: %w", c.name, err)
	}
	ok = len(rows) == 1
	c.mu.Lock()
	c.amendments = &ok
	c.mu.Unlock()
	return ok, nil
}

// button calls a sale button (quote, confirm, cancel) on the jobs' sales,
// button_batch at a time and then alone when Tryton refuses one; the
// sales it moved are Written, and it returns their jobs.
func (c *Conn) button(ctx context.Context, r *rpc, tctx map[string]any, name string, jobs []saleJob, res []connectors.Result) []saleJob {
	errs := make([]error, 0, len(jobs))
	for chunk := range slices.Chunk(jobs, c.cfg.ButtonBatch) {
		errs = append(errs, erp.Each(chunk, func(js []saleJob) error {
			ids := make([]int64, len(js))
			for k, j := range js {
				ids[k] = j.id
			}
			return r.model(ctx, "sale.sale", name, tctx, nil, ids)
		})...)
	}
	var ok []saleJob
	for k, j := range jobs {
		if errs[k] != nil {
			res[j.i].Err = fmt.Errorf("tryton %s: %s sale %s (%d): %w", c.name, name, j.key, j.id, errs[k])
			continue
		}
		res[j.i].Outcome = connectors.Written
		ok = append(ok, j)
	}
	return ok
}

// partyOf is the party id of an order: its "party" member (the mapping's
// xref: customer) or the pipeline's customer reference.
func partyOf(rec connectors.WriteRecord) int64 {
	s := erp.Text(rec.Data.Get("party"))
	if s == "" {
		s = rec.Refs["customer"]
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// partyAddresses returns the first address of each party (0 when it has
// none), which the sink uses as a sale's invoice and shipment address:
// Tryton does not fill them in on a server-side create.
func (c *Conn) partyAddresses(ctx context.Context, r *rpc, tctx map[string]any, parties map[int64]bool) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(parties) == 0 {
		return out, nil
	}
	ids := make([]int64, 0, len(parties))
	for id := range parties {
		ids = append(ids, id)
	}
	rows, err := r.searchRead(ctx, "party.party", withActiveTest(tctx), []any{[]any{"id", "in", ids}}, 0, 0, nil, []string{"addresses"})
	if err != nil {
		return nil, fmt.Errorf("read the addresses of parties: %w", err)
	}
	for _, row := range rows {
		out[row.ID()] = 0
		if as, _ := row["addresses"].([]any); len(as) > 0 {
			out[row.ID()] = erp.AsInt(as[0])
		}
	}
	return out, nil
}

func parseDecimal(field string, v mapping.Value) (decimal.Decimal, string, error) {
	s := erp.Text(v)
	if s == "" {
		return decimal.Decimal{}, "", recErr("%s is required", field)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, "", recErr("%s: %q is not a decimal", field, s)
	}
	return d, s, nil
}

// saleValues checks an order and returns its job: create values for a new
// sale, or the changes to write to an existing one (none when it already
// holds the same content).
func (c *Conn) saleValues(ctx context.Context, r *rpc, tctx map[string]any, rec connectors.WriteRecord, key string, ex Row,
	prods map[string]product, units map[string]int64, addrs map[int64]int64) (saleJob, error) {
	d := rec.Data
	if d.Kind() != mapping.Object {
		return saleJob{}, recErr("the record is a %s, not an object", d.Kind())
	}
	party := partyOf(rec)
	if party == 0 {
		return saleJob{}, recErr("party is required (the customer's party id, from xref: customer)")
	}
	addr, known := addrs[party]
	if !known {
		return saleJob{}, recErr("party %d does not exist in Tryton", party)
	}
	lines := d.Get("lines").Elems()
	if len(lines) == 0 {
		return saleJob{}, recErr("an order needs at least one line")
	}
	want := make([]wantLine, len(lines))
	var problems []string
	for n, l := range lines {
		at := fmt.Sprintf("lines[%d]", n)
		code := erp.Text(l.Get("product"))
		p, ok := prods[code]
		if code == "" {
			problems = append(problems, at+".product: is required (a product code)")
		} else if !ok {
			problems = append(problems, fmt.Sprintf("%s.product: no product with code %q in Tryton", at, code))
		}
		w := wantLine{product: p.id, unit: p.unit, desc: erp.Text(l.Get("description"))}
		var err error
		if w.qty, w.qtyText, err = parseDecimal(at+".quantity", l.Get("quantity")); err != nil {
			problems = append(problems, err.Error())
		}
		if w.price, w.priceTxt, err = parseDecimal(at+".unit_price", l.Get("unit_price")); err != nil {
			problems = append(problems, err.Error())
		}
		if sym := erp.Text(l.Get("unit")); sym != "" {
			u, ok := units[sym]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s.unit: no unit with symbol %q in Tryton", at, sym))
			}
			w.unit = u
		}
		want[n] = w
	}
	if len(problems) > 0 {
		return saleJob{}, recErr("%s", strings.Join(problems, "; "))
	}
	header := map[string]any{"party": party}
	if s := erp.Text(d.Get("sale_date")); s != "" {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return saleJob{}, recErr("sale_date: %q is not a date (YYYY-MM-DD)", s)
		}
		header["sale_date"] = Date{t}
	}
	if code := strings.ToUpper(erp.Text(d.Get("currency"))); code != "" {
		id, err := c.codeID(ctx, r, tctx, "currency.currency", code)
		if err != nil {
			return saleJob{}, fmt.Errorf("currency: %w", err)
		}
		header["currency"] = id
	}
	for _, f := range []string{"description", "comment"} {
		if s := erp.Text(d.Get(f)); s != "" {
			header[f] = s
		}
	}
	lineVals := func() []map[string]any {
		out := make([]map[string]any, len(want))
		for n, w := range want {
			v := map[string]any{"type": "line", "product": w.product, "quantity": json.Number(w.qtyText),
				"unit": w.unit, "unit_price": Decimal(w.priceTxt)}
			if w.desc != "" {
				v["description"] = w.desc
			}
			out[n] = v
		}
		return out
	}
	if ex == nil {
		vals := map[string]any{"reference": key, "company": tctx["company"], "lines": []any{[]any{"create", lineVals()}}}
		for k, v := range header {
			vals[k] = v
		}
		if addr != 0 {
			vals["invoice_address"], vals["shipment_address"] = addr, addr
		}
		return saleJob{key: key, vals: vals}, nil
	}
	job := saleJob{key: key, id: ex.ID(), state: asString(ex["state"]), vals: map[string]any{}}
	if erp.AsInt(ex["party"]) != party {
		job.vals["party"] = party
		if addr != 0 {
			job.vals["invoice_address"], job.vals["shipment_address"] = addr, addr
		}
	}
	if v, ok := header["sale_date"]; ok {
		if t, _ := asTime(ex["sale_date"]); !t.Equal(v.(Date).Time) {
			job.vals["sale_date"] = v
		}
	}
	if v, ok := header["currency"]; ok && erp.AsInt(ex["currency"]) != v.(int64) {
		job.vals["currency"] = v
	}
	for _, f := range []string{"description", "comment"} {
		if v, ok := header[f]; ok && asString(ex[f]) != v {
			job.vals[f] = v
		}
	}
	var have []map[string]any
	for _, l := range sub(ex, "lines") {
		if l["type"] == "line" {
			have = append(have, l)
		}
	}
	if !sameLines(have, want) {
		job.amend = amendLines(have, want)
		ops := []any{}
		var del []int64
		for _, l := range sub(ex, "lines") {
			del = append(del, erp.AsInt(l["id"]))
		}
		if len(del) > 0 {
			ops = append(ops, []any{"delete", del})
		}
		job.vals["lines"] = append(ops, []any{"create", lineVals()})
	}
	return job, nil
}

// amendLines returns the sale_amendment "line" actions that turn a sale's
// lines into the wanted ones, position by position, or nil when the number
// of lines differs (an amendment cannot add or remove lines).
func amendLines(have []map[string]any, want []wantLine) []map[string]any {
	if len(have) != len(want) {
		return nil
	}
	out := []map[string]any{}
	for n, w := range want {
		if sameLines(have[n:n+1], want[n:n+1]) {
			continue
		}
		desc := w.desc
		if desc == "" {
			desc = asString(have[n]["description"])
		}
		out = append(out, map[string]any{"action": "line", "line": erp.AsInt(have[n]["id"]), "product": w.product,
			"quantity": json.Number(w.qtyText), "unit": w.unit, "unit_price": Decimal(w.priceTxt), "description": desc})
	}
	return out
}

// sameLines compares a sale's lines with the wanted ones, in order.
func sameLines(have []map[string]any, want []wantLine) bool {
	if len(have) != len(want) {
		return false
	}
	for n, w := range want {
		h := have[n]
		if erp.AsInt(h["product"]) != w.product || erp.AsInt(h["unit"]) != w.unit {
			return false
		}
		q, err := decimal.NewFromString(asString(h["quantity"]))
		if err != nil || !q.Equal(w.qty) {
			return false
		}
		p, err := decimal.NewFromString(asString(h["unit_price"]))
		if err != nil || !p.Equal(w.price) {
			return false
		}
		if w.desc != "" && asString(h["description"]) != w.desc {
			return false
		}
	}
	return true
}
