package odoofake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// env is one call's environment: the transaction's store, the context
// and the server's settings.
type env struct {
	srv   *Server
	s     *store
	octx  map[string]any
	now   time.Time
	whole bool
}

// methodSpec is a public method the fake implements: its parameters in
// order (for positional arguments) and whether it is an @api.model method
// (called without ids).
type methodSpec struct {
	params   []string
	apiModel bool
}

func methodOf(model, method string) (methodSpec, bool) {
	if model == "res.users" { // only the user's context is served
		return methodSpec{apiModel: true}, method == "context_get"
	}
	switch method {
	case "search_read":
		return methodSpec{params: []string{"domain", "fields", "offset", "limit", "order"}, apiModel: true}, true
	case "search":
		return methodSpec{params: []string{"domain", "offset", "limit", "order"}, apiModel: true}, true
	case "search_count":
		return methodSpec{params: []string{"domain", "limit"}, apiModel: true}, true
	case "create":
		return methodSpec{params: []string{"vals_list"}, apiModel: true}, true
	case "read":
		return methodSpec{params: []string{"fields", "load"}}, true
	case "write":
		return methodSpec{params: []string{"vals"}}, true
	case "unlink":
		return methodSpec{}, true
	case "action_confirm":
		return methodSpec{}, model == "sale.order"
	}
	return methodSpec{}, false
}

// bind merges positional and named arguments as Python would.
func bind(model, method string, spec methodSpec, args []any, kwargs map[string]any) (map[string]any, *pyErr) {
	out := map[string]any{}
	if len(args) > len(spec.params) {
		return nil, typeError("%s() takes from 1 to %d positional arguments but %d were given", method, len(spec.params)+1, len(args)+1)
	}
	for i, a := range args {
		out[spec.params[i]] = a
	}
	for k, v := range kwargs {
		if k == "context" {
			continue
		}
		if !slices.Contains(spec.params, k) {
			return nil, typeError("%s.%s() got an unexpected keyword argument %s", model, method, pyRepr(k))
		}
		if _, dup := out[k]; dup {
			return nil, typeError("%s.%s() got multiple values for argument %s", model, method, pyRepr(k))
		}
		out[k] = v
	}
	return out, nil
}

func intArg(v any) int {
	if n, ok := v.(json.Number); ok {
		i, _ := n.Int64()
		return int(i)
	}
	return 0
}

// call runs model.method on ids with the bound arguments, in the
// transaction of e; the result is ready for JSON.
func (e *env) call(modelName, method string, ids []int64, kw map[string]any) (any, *pyErr) {
	if modelName == "res.users" && method == "context_get" {
		return map[string]any{"lang": "en_US", "tz": "Europe/Brussels", "uid": e.srv.uid}, nil
	}
	m := e.s.models[modelName]
	switch method {
	case "search_read", "search", "search_count":
		order, _ := kw["order"].(string)
		rs, err := e.s.search(m, kw["domain"], e.octx, e.whole, intArg(kw["offset"]), intArg(kw["limit"]), order)
		if err != nil {
			return nil, err
		}
		switch method {
		case "search_count":
			return len(rs), nil
		case "search":
			out := make([]int64, len(rs))
			for i, r := range rs {
				out[i] = r.ID()
			}
			return out, nil
		}
		return e.read(m, rs, kw["fields"])
	case "read":
		var rs []Record
		for _, id := range ids {
			r, ok := e.s.get(m.name, id)
			if !ok {
				return nil, missingError(fmt.Sprintf("Record does not exist or has been deleted.\n(Record: %s(%d,), User: %d)", m.name, id, e.srv.uid))
			}
			rs = append(rs, r)
		}
		return e.read(m, rs, kw["fields"])
	case "create":
		list, ok := kw["vals_list"].([]any)
		if !ok {
			if one, isMap := kw["vals_list"].(map[string]any); isMap {
				id, err := e.create(m, one)
				return id, err
			}
			return nil, typeError("create() missing 1 required positional argument: 'vals_list'")
		}
		out := make([]int64, 0, len(list))
		for _, v := range list {
			vals, ok := v.(map[string]any)
			if !ok {
				return nil, valueError("create() expects dicts, got %v", v)
			}
			id, err := e.create(m, vals)
			if err != nil {
				return nil, err
			}
			out = append(out, id)
		}
		return out, nil
	case "write":
		vals, ok := kw["vals"].(map[string]any)
		if !ok {
			return nil, typeError("write() missing 1 required positional argument: 'vals'")
		}
		for _, id := range ids {
			if err := e.write(m, id, vals); err != nil {
				return nil, err
			}
		}
		return true, nil
	case "unlink":
		for _, id := range ids {
			if err := e.unlink(m, id); err != nil {
				return nil, err
			}
		}
		return true, nil
	case "action_confirm":
		for _, id := range ids {
			r, ok := e.s.get(m.name, id)
			if !ok {
				return nil, missingError(fmt.Sprintf("Record does not exist or has been deleted.\n(Record: %s(%d,), User: %d)", m.name, id, e.srv.uid))
			}
			if st := r.Str("state"); st != "draft" && st != "sent" {
				return nil, userError("Some orders are not in a state requiring confirmation.")
			}
		}
		for _, id := range ids {
			// _prepare_confirmation_values: the order date becomes the
			// confirmation time.
			if err := e.write(m, id, map[string]any{"state": "sale", "date_order": e.now.Format("2006-01-02 15:04:05")}); err != nil {
				return nil, err
			}
		}
		return true, nil
	}
	return nil, builtin("AttributeError", fmt.Sprintf("The method '%s.%s' does not exist", modelName, method))
}

// read renders records as Odoo's read() does: false for empty fields,
// [id, display_name] for a Many2one, id lists for x2many, datetimes as
// "YYYY-MM-DD HH:MM:SS" (whole seconds) and floats as Python prints them.
func (e *env) read(m *model, rs []Record, fieldsArg any) ([]map[string]any, *pyErr) {
	var names []string
	if l, ok := fieldsArg.([]any); ok && len(l) > 0 {
		for _, f := range l {
			n, _ := f.(string)
			if !m.has(n) {
				return nil, valueError("Invalid field %s on model %s", pyRepr(n), pyRepr(m.name))
			}
			names = append(names, n)
		}
	} else {
		names = m.fieldNames()
	}
	out := make([]map[string]any, len(rs))
	for i, r := range rs {
		row := map[string]any{"id": r.ID()}
		for _, n := range names {
			row[n] = e.readValue(m, r, n)
		}
		out[i] = row
	}
	return out, nil
}

func (e *env) readValue(m *model, r Record, name string) any {
	f, _ := m.field(name)
	var v any = r[name]
	if f.compute != nil {
		v = f.compute(e.s, r)
	}
	switch f.typ {
	case tBool:
		b, _ := v.(bool)
		return b
	case tInt:
		i, _ := v.(int64)
		return i
	case tFloat:
		x, _ := v.(float64)
		return pyFloat(x)
	case tDatetime:
		t, _ := v.(time.Time)
		if t.IsZero() {
			return false
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	case tM2O:
		id, _ := v.(int64)
		c, ok := e.s.get(f.comodel, id)
		if id == 0 || !ok {
			return false
		}
		return []any{id, e.s.models[f.comodel].displayName(e.s, c)}
	case tO2M:
		ids := []int64{}
		for _, c := range e.s.children(f.comodel, f.inverse, r.ID()) {
			ids = append(ids, c.ID())
		}
		return ids
	case tM2M:
		ids, _ := v.([]int64)
		return append([]int64{}, ids...)
	}
	s, _ := v.(string)
	if s == "" {
		return false
	}
	return s
}

func (m *model) displayName(s *store, r Record) string {
	if m.display != nil {
		return m.display(s, r)
	}
	return r.Str("name")
}

// pyFloat is a float that encodes as Python's repr does (2.0, 199.99).
type pyFloat float64

func (f pyFloat) MarshalJSON() ([]byte, error) {
	s := strconv.FormatFloat(float64(f), 'g', -1, 64)
	if x := float64(f); x == float64(int64(x)) && x < 1e16 && x > -1e16 {
		s = strconv.FormatFloat(x, 'f', 1, 64)
	} else if !strings.ContainsAny(s, "e") {
		s = strconv.FormatFloat(x, 'f', -1, 64)
	}
	return []byte(s), nil
}

// ---- writes ----

// convert turns an incoming value for field f into its stored form.
func (e *env) convert(m *model, name string, f field, v any) (any, *pyErr) {
	if v == nil || v == false {
		if f.typ == tM2M {
			return []int64{}, nil
		}
		return zero(f), nil
	}
	switch f.typ {
	case tChar, tSel, tDate:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		default:
			return nil, valueError("Wrong value for %s.%s: %v", m.name, name, v)
		}
		if f.typ == tSel && s != "" && !slices.Contains(f.sel, s) {
			return nil, valueError("Wrong value for %s.%s: %s", m.name, name, pyRepr(s))
		}
		if f.typ == tDate && s != "" {
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				return nil, valueError("time data %s does not match format '%%Y-%%m-%%d'", pyRepr(s))
			}
		}
		return s, nil
	case tHTML:
		s, ok := v.(string)
		if !ok {
			return nil, valueError("Wrong value for %s.%s: %v", m.name, name, v)
		}
		// html_sanitize wraps bare text in a paragraph.
		if t := strings.TrimSpace(s); t != "" && !strings.HasPrefix(t, "<") {
			s = "<p>" + t + "</p>"
		}
		return s, nil
	case tBool:
		b, ok := v.(bool)
		if !ok {
			return nil, valueError("Wrong value for %s.%s: %v", m.name, name, v)
		}
		return b, nil
	case tInt, tM2O:
		n, ok := v.(json.Number)
		if !ok {
			if i, isInt := v.(int64); isInt {
				n = json.Number(strconv.FormatInt(i, 10))
			} else {
				return nil, valueError("Wrong value for %s.%s: %v", m.name, name, v)
			}
		}
		i, err := n.Int64()
		if err != nil {
			return nil, valueError("invalid literal for int() with base 10: %s", pyRepr(n.String()))
		}
		if f.typ == tM2O {
			if _, ok := e.s.get(f.comodel, i); !ok {
				return nil, foreignKey(m, name)
			}
		}
		return i, nil
	case tFloat:
		n, ok := v.(json.Number)
		if !ok {
			return nil, valueError("could not convert string to float: %v", v)
		}
		x, err := n.Float64()
		if err != nil {
			return nil, valueError("could not convert string to float: %s", pyRepr(n.String()))
		}
		return x, nil
	case tDatetime:
		s, ok := v.(string)
		if !ok {
			return nil, valueError("Wrong value for %s.%s: %v", m.name, name, v)
		}
		t, err := parseDatetime(s)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, valueError("field %s.%s cannot take %v", m.name, name, v)
}

// apply sets vals on r (a new record when isNew); x2many commands are
// returned to run once r exists.
func (e *env) apply(m *model, r Record, vals map[string]any, isNew bool) (map[string][]any, *pyErr) {
	cmds := map[string][]any{}
	for _, name := range sortedKeys(vals) {
		v := vals[name]
		if name == "id" || name == "display_name" || name == "create_date" || name == "write_date" {
			continue // magic fields are not writable
		}
		f, ok := m.fields[name]
		if !ok {
			return nil, valueError("Invalid field %s on model %s", pyRepr(name), pyRepr(m.name))
		}
		if f.compute != nil {
			continue // a computed field without inverse ignores writes
		}
		if f.typ == tO2M || f.typ == tM2M {
			list, ok := v.([]any)
			if !ok && v != false {
				return nil, valueError("Wrong value for %s.%s: %v", m.name, name, v)
			}
			cmds[name] = list
			continue
		}
		x, err := e.convert(m, name, f, v)
		if err != nil {
			return nil, err
		}
		r[name] = x
	}
	return cmds, nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// defaults fills in what Odoo would on create.
func (e *env) defaults(m *model, r Record) {
	switch m.name {
	case "res.partner", "product.product":
		if _, ok := r["active"]; !ok {
			r["active"] = true
		}
	case "sale.order":
		if r.Str("name") == "" {
			r["name"] = fmt.Sprintf("S%05d", r.ID())
		}
		if r.Str("state") == "" {
			r["state"] = "draft"
		}
		if r.Str("invoice_status") == "" {
			r["invoice_status"] = "no"
		}
		if r.Time("date_order").IsZero() {
			r["date_order"] = e.now
		}
		if r.Int("company_id") == 0 {
			r["company_id"] = int64(1)
		}
		if co, ok := e.s.get("res.company", r.Int("company_id")); ok && r.Int("currency_id") == 0 {
			r["currency_id"] = co.Int("currency_id")
		}
	case "sale.order.line", "account.move.line":
		if _, ok := r["sequence"]; !ok {
			r["sequence"] = int64(10)
		}
		qty := "product_uom_qty"
		if m.name == "account.move.line" {
			qty = "quantity"
			if r.Str("display_type") == "" {
				r["display_type"] = "product"
			}
		}
		if _, ok := r[qty]; !ok {
			r[qty] = 1.0
		}
		e.productDefaults(r, nil)
	case "account.move":
		if r.Str("name") == "" {
			r["name"] = "/"
		}
		for k, v := range map[string]string{"move_type": "entry", "state": "draft", "payment_state": "not_paid"} {
			if r.Str(k) == "" {
				r[k] = v
			}
		}
		if r.Int("currency_id") == 0 {
			r["currency_id"] = int64(1)
		}
	}
}

// productDefaults computes a line's description and price from its
// product, as the computed fields do when they are not given (vals nil:
// on create, for what is missing).
func (e *env) productDefaults(r Record, vals map[string]any) {
	p, ok := e.s.get("product.product", r.Int("product_id"))
	if !ok {
		return
	}
	_, nameGiven := vals["name"]
	_, priceGiven := vals["price_unit"]
	if (vals == nil && r.Str("name") == "") || (vals != nil && !nameGiven) {
		r["name"] = e.s.models["product.product"].displayName(e.s, p)
	}
	if _, has := r["price_unit"]; (vals == nil && !has) || (vals != nil && !priceGiven) {
		r["price_unit"] = p.Float("list_price")
	}
}

func (e *env) check(m *model, r Record) *pyErr {
	for _, name := range sortedFieldNames(m) {
		f := m.fields[name]
		if f.required && f.compute == nil && unset(r[name]) {
			return notNull(m, name)
		}
	}
	if fn := e.srv.refuse[m.name]; fn != nil {
		if msg := fn(r.clone()); msg != "" {
			return validationError(msg)
		}
	}
	return nil
}

func sortedFieldNames(m *model) []string {
	out := make([]string, 0, len(m.fields))
	for k := range m.fields {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (e *env) create(m *model, vals map[string]any) (int64, *pyErr) {
	e.s.seq[m.name]++
	id := e.s.seq[m.name]
	r := Record{"id": id, "create_date": e.now, "write_date": e.now}
	cmds, err := e.apply(m, r, vals, true)
	if err != nil {
		return 0, err
	}
	e.defaults(m, r)
	if err := e.check(m, r); err != nil {
		return 0, err
	}
	e.s.recs[m.name][id] = r
	if err := e.x2many(m, r, cmds); err != nil {
		return 0, err
	}
	return id, nil
}

func (e *env) write(m *model, id int64, vals map[string]any) *pyErr {
	r, ok := e.s.get(m.name, id)
	if !ok {
		return missingError(fmt.Sprintf("Record does not exist or has been deleted.\n(Record: %s(%d,), User: %d)", m.name, id, e.srv.uid))
	}
	if m.name == "sale.order.line" {
		if o, ok := e.s.get("sale.order", r.Int("order_id")); ok && o.Str("state") == "sale" {
			if _, changes := vals["product_id"]; changes {
				return userError("You cannot change the product of a line of a confirmed order.")
			}
		}
	}
	cmds, err := e.apply(m, r, vals, false)
	if err != nil {
		return err
	}
	if _, changes := vals["product_id"]; changes {
		e.productDefaults(r, vals)
	}
	if err := e.check(m, r); err != nil {
		return err
	}
	r["write_date"] = e.now
	return e.x2many(m, r, cmds)
}

func (e *env) unlink(m *model, id int64) *pyErr {
	r, ok := e.s.get(m.name, id)
	if !ok {
		return missingError(fmt.Sprintf("Record does not exist or has been deleted.\n(Record: %s(%d,), User: %d)", m.name, id, e.srv.uid))
	}
	switch m.name {
	case "sale.order":
		if st := r.Str("state"); st != "draft" && st != "cancel" {
			return userError("You can not delete a sent quotation or a confirmed sales order. You must first cancel it.")
		}
		for _, l := range e.s.children("sale.order.line", "order_id", id) {
			delete(e.s.recs["sale.order.line"], l.ID())
		}
	case "sale.order.line":
		if o, ok := e.s.get("sale.order", r.Int("order_id")); ok && o.Str("state") == "sale" {
			return userError("You can not remove an order line once the sales order is confirmed.\nYou should rather set the quantity to 0.")
		}
	case "account.move":
		for _, l := range e.s.children("account.move.line", "move_id", id) {
			delete(e.s.recs["account.move.line"], l.ID())
		}
	}
	delete(e.s.recs[m.name], id)
	return nil
}

// x2many runs the commands given for x2many fields of r: for a One2many
// (0, 0, vals) create, (1, id, vals) update, (2, id, 0) delete,
// (3, id, 0) unlink (delete too, the inverse being required),
// (4, id, 0) link, (5, 0, 0) clear, (6, 0, ids) replace; for a
// Many2many the same on the relation (2 and 3 only remove the link).
func (e *env) x2many(m *model, r Record, cmds map[string][]any) *pyErr {
	for _, name := range sortedCmdKeys(cmds) {
		f := m.fields[name]
		cm := e.s.models[f.comodel]
		for _, c := range cmds[name] {
			cmd, ok := c.([]any)
			if !ok || len(cmd) == 0 {
				return valueError("Invalid command %v for field %s.%s", c, m.name, name)
			}
			op := intArg(cmd[0])
			arg := func(i int) any {
				if i < len(cmd) {
					return cmd[i]
				}
				return nil
			}
			id := int64(intArg(arg(1)))
			mine := func() *pyErr {
				if f.typ == tO2M {
					if l, ok := e.s.get(cm.name, id); !ok || l.Int(f.inverse) != r.ID() {
						return missingError(fmt.Sprintf("Record does not exist or has been deleted.\n(Record: %s(%d,), User: %d)", cm.name, id, e.srv.uid))
					}
				}
				return nil
			}
			switch op {
			case 0:
				vals, _ := arg(2).(map[string]any)
				if vals == nil {
					vals = map[string]any{}
				}
				v := make(map[string]any, len(vals)+1)
				for k, x := range vals {
					v[k] = x
				}
				if f.typ == tO2M {
					v[f.inverse] = json.Number(strconv.FormatInt(r.ID(), 10))
				}
				nid, err := e.create(cm, v)
				if err != nil {
					return err
				}
				if f.typ == tM2M {
					r[name] = append(r.IDs(name), nid)
				}
			case 1:
				if err := mine(); err != nil {
					return err
				}
				vals, _ := arg(2).(map[string]any)
				if err := e.write(cm, id, vals); err != nil {
					return err
				}
			case 2, 3:
				if f.typ == tM2M {
					r[name] = slices.DeleteFunc(r.IDs(name), func(x int64) bool { return x == id })
					if op == 3 {
						continue
					}
				} else if err := mine(); err != nil {
					return err
				}
				if err := e.unlink(cm, id); err != nil {
					return err
				}
			case 4:
				if f.typ == tM2M {
					if !slices.Contains(r.IDs(name), id) {
						r[name] = append(r.IDs(name), id)
					}
				} else if err := e.write(cm, id, map[string]any{f.inverse: json.Number(strconv.FormatInt(r.ID(), 10))}); err != nil {
					return err
				}
			case 5, 6:
				if f.typ == tM2M {
					r[name] = []int64{}
				} else {
					for _, l := range e.s.children(cm.name, f.inverse, r.ID()) {
						if err := e.unlink(cm, l.ID()); err != nil {
							return err
						}
					}
				}
				if op == 6 {
					list, _ := arg(2).([]any)
					for _, x := range list {
						lid := int64(intArg(x))
						if f.typ == tM2M {
							if _, ok := e.s.get(cm.name, lid); !ok {
								return foreignKey(m, name)
							}
							r[name] = append(r.IDs(name), lid)
						} else if err := e.write(cm, lid, map[string]any{f.inverse: json.Number(strconv.FormatInt(r.ID(), 10))}); err != nil {
							return err
						}
					}
				}
			default:
				return valueError("Invalid command %v for field %s.%s", c, m.name, name)
			}
		}
	}
	return nil
}

func sortedCmdKeys(m map[string][]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
