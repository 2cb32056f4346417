// Package odoofake is a stand-in Odoo server for the tests of the odoo
// connector, which cannot run a real Odoo on the build machines. It
// follows Odoo's published request and response shapes for both external
// APIs: the JSON-2 API of Odoo 19 (POST /json/2/<model>/<method>, a bearer
// API key, named arguments, error objects {name, message, arguments,
// context, debug} with real HTTP statuses) and the legacy JSON-RPC
// endpoint (POST /jsonrpc, common.login and object.execute_kw, errors as
// HTTP 200 {"error": {"code": 200, "message": "Odoo Server Error",
// "data": {...}}}, code 100 for an expired session).
//
// It keeps the records of the models the connector uses in memory
// (res.partner, res.country, res.currency, res.company, product.product,
// sale.order, sale.order.line, account.move, account.move.line), stores
// write_date with microseconds and compares it the way Odoo does (before
// 18.4: stored microseconds count; with WholeSeconds: whole seconds),
// applies x2many commands, runs every call in a transaction that an error
// rolls back, and can be told to fail: answer 429 with Retry-After or 503,
// expire the JSON-RPC session, revoke the API key, change the user id, or
// refuse records with a ValidationError.
//
// It has no package-level state: every Server is independent.
package odoofake

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

type ftype int

const (
	tChar ftype = iota
	tHTML
	tSel
	tBool
	tInt
	tFloat
	tDate
	tDatetime
	tM2O
	tO2M
	tM2M
)

type field struct {
	label    string
	typ      ftype
	comodel  string // relational fields
	inverse  string // One2many: the comodel's Many2one
	required bool
	// computed fields are read-only and not stored
	compute func(s *store, r Record) any
	// sel are the values of a selection
	sel []string
}

type model struct {
	name, label string
	fields      map[string]field
	// display is the record's display name
	display func(s *store, r Record) string
}

func (m *model) has(name string) bool {
	if name == "id" || name == "display_name" || name == "create_date" || name == "write_date" {
		return true
	}
	_, ok := m.fields[name]
	return ok
}

func (m *model) field(name string) (field, bool) {
	switch name {
	case "id":
		return field{label: "ID", typ: tInt}, true
	case "display_name":
		return field{label: "Display Name", typ: tChar, compute: func(s *store, r Record) any { return m.display(s, r) }}, true
	case "create_date":
		return field{label: "Created on", typ: tDatetime}, true
	case "write_date":
		return field{label: "Last Updated on", typ: tDatetime}, true
	}
	f, ok := m.fields[name]
	return f, ok
}

// fieldNames are the model's fields, sorted, with the magic ones.
func (m *model) fieldNames() []string {
	out := []string{"id", "display_name", "create_date", "write_date"}
	for k := range m.fields {
		out = append(out, k)
	}
	slices.Sort(out[4:])
	return out
}

func byName(s *store, r Record) string { return r.Str("name") }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// lineSum is the sum of qty * price of a parent's product lines.
func lineSum(s *store, lineModel, parent, qty string, id int64) float64 {
	var sum float64
	for _, l := range s.children(lineModel, parent, id) {
		if dt := l.Str("display_type"); dt == "" || dt == "product" {
			sum += round2(l.Float(qty) * l.Float("price_unit"))
		}
	}
	return round2(sum)
}

func newModels() map[string]*model {
	ms := []*model{
		{name: "res.company", label: "Companies", display: byName, fields: map[string]field{
			"name":        {label: "Company Name", typ: tChar, required: true},
			"currency_id": {label: "Currency", typ: tM2O, comodel: "res.currency"},
		}},
		{name: "res.currency", label: "Currency", display: byName, fields: map[string]field{
			"name": {label: "Currency", typ: tChar, required: true},
		}},
		{name: "res.country", label: "Country", display: byName, fields: map[string]field{
			"name": {label: "Country Name", typ: tChar, required: true},
			"code": {label: "Country Code", typ: tChar},
		}},
		{name: "res.partner", label: "Contact", display: byName, fields: map[string]field{
			"name":       {label: "Name", typ: tChar, required: true},
			"ref":        {label: "Reference", typ: tChar},
			"email":      {label: "Email", typ: tChar},
			"phone":      {label: "Phone", typ: tChar},
			"vat":        {label: "Tax ID", typ: tChar},
			"is_company": {label: "Is a Company", typ: tBool},
			"street":     {label: "Street", typ: tChar},
			"street2":    {label: "Street2", typ: tChar},
			"zip":        {label: "Zip", typ: tChar},
			"city":       {label: "City", typ: tChar},
			"country_id": {label: "Country", typ: tM2O, comodel: "res.country"},
			"active":     {label: "Active", typ: tBool},
			"company_id": {label: "Company", typ: tM2O, comodel: "res.company"},
		}},
		{name: "product.product", label: "Product Variant", fields: map[string]field{
			"name":         {label: "Name", typ: tChar, required: true},
			"default_code": {label: "Internal Reference", typ: tChar},
			"list_price":   {label: "Sales Price", typ: tFloat},
			"active":       {label: "Active", typ: tBool},
		}, display: func(s *store, r Record) string {
			if c := r.Str("default_code"); c != "" {
				return "[" + c + "] " + r.Str("name")
			}
			return r.Str("name")
		}},
		{name: "sale.order", label: "Sales Order", display: byName, fields: map[string]field{
			"name":             {label: "Order Reference", typ: tChar, required: true},
			"client_order_ref": {label: "Customer Reference", typ: tChar},
			"partner_id":       {label: "Customer", typ: tM2O, comodel: "res.partner", required: true},
			"date_order":       {label: "Order Date", typ: tDatetime, required: true},
			"state":            {label: "Status", typ: tSel, sel: []string{"draft", "sent", "sale", "cancel"}},
			"origin":           {label: "Source Document", typ: tChar},
			"note":             {label: "Terms and conditions", typ: tHTML},
			"company_id":       {label: "Company", typ: tM2O, comodel: "res.company", required: true},
			"currency_id":      {label: "Currency", typ: tM2O, comodel: "res.currency"},
			"order_line":       {label: "Order Lines", typ: tO2M, comodel: "sale.order.line", inverse: "order_id"},
			"invoice_status":   {label: "Invoice Status", typ: tSel, sel: []string{"upselling", "invoiced", "to invoice", "no"}},
			"amount_untaxed": {label: "Untaxed Amount", typ: tFloat, compute: func(s *store, r Record) any {
				return lineSum(s, "sale.order.line", "order_id", "product_uom_qty", r.ID())
			}},
			"amount_tax": {label: "Taxes", typ: tFloat, compute: func(*store, Record) any { return 0.0 }},
			"amount_total": {label: "Total", typ: tFloat, compute: func(s *store, r Record) any {
				return lineSum(s, "sale.order.line", "order_id", "product_uom_qty", r.ID())
			}},
		}},
		{name: "sale.order.line", label: "Sales Order Line", fields: map[string]field{
			"order_id":        {label: "Order Reference", typ: tM2O, comodel: "sale.order", required: true},
			"product_id":      {label: "Product", typ: tM2O, comodel: "product.product"},
			"name":            {label: "Description", typ: tChar, required: true},
			"product_uom_qty": {label: "Quantity", typ: tFloat},
			"price_unit":      {label: "Unit Price", typ: tFloat},
			"display_type":    {label: "Display Type", typ: tSel, sel: []string{"line_section", "line_note"}},
			"sequence":        {label: "Sequence", typ: tInt},
			"price_subtotal": {label: "Subtotal", typ: tFloat, compute: func(s *store, r Record) any {
				return round2(r.Float("product_uom_qty") * r.Float("price_unit"))
			}},
			"price_total": {label: "Total", typ: tFloat, compute: func(s *store, r Record) any {
				return round2(r.Float("product_uom_qty") * r.Float("price_unit"))
			}},
		}, display: func(s *store, r Record) string {
			o, _ := s.get("sale.order", r.Int("order_id"))
			return o.Str("name") + " - " + r.Str("name")
		}},
		{name: "account.move", label: "Journal Entry", display: byName, fields: map[string]field{
			"name":      {label: "Number", typ: tChar},
			"move_type": {label: "Type", typ: tSel, sel: []string{"entry", "out_invoice", "out_refund", "in_invoice", "in_refund"}},
			"state":     {label: "Status", typ: tSel, sel: []string{"draft", "posted", "cancel"}},
			"payment_state": {label: "Payment Status", typ: tSel,
				sel: []string{"not_paid", "in_payment", "paid", "partial", "reversed", "blocked", "invoicing_legacy"}},
			"invoice_date":     {label: "Invoice/Bill Date", typ: tDate},
			"invoice_date_due": {label: "Due Date", typ: tDate},
			"partner_id":       {label: "Partner", typ: tM2O, comodel: "res.partner"},
			"currency_id":      {label: "Currency", typ: tM2O, comodel: "res.currency"},
			"amount_untaxed":   {label: "Untaxed Amount", typ: tFloat},
			"amount_tax":       {label: "Tax", typ: tFloat},
			"amount_total":     {label: "Total", typ: tFloat},
			"amount_residual":  {label: "Amount Due", typ: tFloat},
			"invoice_origin":   {label: "Origin", typ: tChar},
			"ref":              {label: "Reference", typ: tChar},
			"invoice_line_ids": {label: "Invoice lines", typ: tO2M, comodel: "account.move.line", inverse: "move_id"},
		}},
		{name: "account.move.line", label: "Journal Item", display: byName, fields: map[string]field{
			"move_id":    {label: "Journal Entry", typ: tM2O, comodel: "account.move", required: true},
			"product_id": {label: "Product", typ: tM2O, comodel: "product.product"},
			"name":       {label: "Label", typ: tChar},
			"quantity":   {label: "Quantity", typ: tFloat},
			"price_unit": {label: "Unit Price", typ: tFloat},
			"display_type": {label: "Display Type", typ: tSel, sel: []string{"product", "cogs", "tax", "discount", "rounding",
				"payment_term", "line_section", "line_note", "epd"}},
			"sequence":      {label: "Sequence", typ: tInt},
			"sale_line_ids": {label: "Sales Order Lines", typ: tM2M, comodel: "sale.order.line"},
			"price_subtotal": {label: "Subtotal", typ: tFloat, compute: func(s *store, r Record) any {
				return round2(r.Float("quantity") * r.Float("price_unit"))
			}},
			"price_total": {label: "Total", typ: tFloat, compute: func(s *store, r Record) any {
				return round2(r.Float("quantity") * r.Float("price_unit"))
			}},
		}},
	}
	out := make(map[string]*model, len(ms))
	for _, m := range ms {
		out[m.name] = m
	}
	return out
}

// Record is a record as the fake stores it: char, html, selection and
// date fields as strings ("" is unset), booleans, integers as int64,
// floats as float64, datetimes as time.Time (UTC, microseconds; zero is
// unset), Many2one as the id (0 is unset), Many2many as []int64.
type Record map[string]any

// ID is the record's id.
func (r Record) ID() int64 { return r.Int("id") }

// Str is a text field.
func (r Record) Str(f string) string { s, _ := r[f].(string); return s }

// Int is an integer or Many2one field.
func (r Record) Int(f string) int64 { i, _ := r[f].(int64); return i }

// Float is a float field.
func (r Record) Float(f string) float64 { x, _ := r[f].(float64); return x }

// Bool is a boolean field.
func (r Record) Bool(f string) bool { b, _ := r[f].(bool); return b }

// Time is a datetime field.
func (r Record) Time(f string) time.Time { t, _ := r[f].(time.Time); return t }

// IDs is a Many2many field.
func (r Record) IDs(f string) []int64 { l, _ := r[f].([]int64); return append([]int64(nil), l...) }

func (r Record) clone() Record {
	out := make(Record, len(r))
	for k, v := range r {
		if l, ok := v.([]int64); ok {
			v = append([]int64(nil), l...)
		}
		out[k] = v
	}
	return out
}

// store is the database: records by model and id.
type store struct {
	models map[string]*model
	recs   map[string]map[int64]Record
	seq    map[string]int64
}

func newStore() *store {
	s := &store{models: newModels(), recs: map[string]map[int64]Record{}, seq: map[string]int64{}}
	for name := range s.models {
		s.recs[name] = map[int64]Record{}
	}
	return s
}

func (s *store) clone() *store {
	out := &store{models: s.models, recs: make(map[string]map[int64]Record, len(s.recs)), seq: make(map[string]int64, len(s.seq))}
	for m, rs := range s.recs {
		c := make(map[int64]Record, len(rs))
		for id, r := range rs {
			c[id] = r.clone()
		}
		out.recs[m] = c
	}
	for k, v := range s.seq {
		out.seq[k] = v
	}
	return out
}

func (s *store) get(model string, id int64) (Record, bool) {
	r, ok := s.recs[model][id]
	return r, ok
}

// children are the records of lineModel whose Many2one parent is id, in
// (sequence, id) order.
func (s *store) children(lineModel, parent string, id int64) []Record {
	var out []Record
	for _, r := range s.recs[lineModel] {
		if r.Int(parent) == id {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Record) int {
		if d := a.Int("sequence") - b.Int("sequence"); d != 0 {
			return int(d)
		}
		return int(a.ID() - b.ID())
	})
	return out
}

func (s *store) sorted(model string) []Record {
	out := make([]Record, 0, len(s.recs[model]))
	for _, r := range s.recs[model] {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return int(a.ID() - b.ID()) })
	return out
}

// pyRepr renders a string as Python's repr does ('x').
func pyRepr(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func notNull(m *model, f string) *pyErr {
	fd, _ := m.field(f)
	return validationError(fmt.Sprintf("The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n"+
		"- Delete: another model requires the record being deleted. If possible, archive it instead.\n\n"+
		"Model: %s (%s)\nField: %s (%s)", m.label, m.name, fd.label, f))
}

func foreignKey(m *model, f string) *pyErr {
	return validationError(fmt.Sprintf("The operation cannot be completed: another model requires the record being deleted. "+
		"If possible, archive it instead.\n\nModel: %s (%s)\nConstraint: %s_%s_fkey", m.label, m.name, strings.ReplaceAll(m.name, ".", "_"), f))
}
