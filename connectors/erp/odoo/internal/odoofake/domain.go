package odoofake

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// cond is a parsed domain: Odoo's prefix notation ("&", "|", "!" and
// [field, operator, value] leaves, implicitly and-ed at the top).
type cond func(r Record) bool

type domainParser struct {
	s     *store
	m     *model
	whole bool // compare datetimes in whole seconds
	toks  []any
	i     int
	// fields lists the fields the leaves name
	fields []string
}

func (s *store) parseDomain(m *model, domain any, whole bool) (cond, []string, *pyErr) {
	if domain == nil || domain == false {
		return func(Record) bool { return true }, nil, nil
	}
	toks, ok := domain.([]any)
	if !ok {
		return nil, nil, valueError("Invalid domain %v", domain)
	}
	p := &domainParser{s: s, m: m, whole: whole, toks: toks}
	var all []cond
	for p.i < len(p.toks) {
		c, err := p.expr()
		if err != nil {
			return nil, nil, err
		}
		all = append(all, c)
	}
	return func(r Record) bool {
		for _, c := range all {
			if !c(r) {
				return false
			}
		}
		return true
	}, p.fields, nil
}

func (p *domainParser) expr() (cond, *pyErr) {
	if p.i >= len(p.toks) {
		return nil, valueError("Domain %v is syntactically not correct", p.toks)
	}
	t := p.toks[p.i]
	p.i++
	switch t := t.(type) {
	case string:
		switch t {
		case "&", "|":
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			b, err := p.expr()
			if err != nil {
				return nil, err
			}
			if t == "&" {
				return func(r Record) bool { return a(r) && b(r) }, nil
			}
			return func(r Record) bool { return a(r) || b(r) }, nil
		case "!":
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			return func(r Record) bool { return !a(r) }, nil
		}
		return nil, valueError("Invalid domain term %s", pyRepr(t))
	case []any:
		return p.leaf(t)
	}
	return nil, valueError("Invalid domain term %v", t)
}

func (p *domainParser) leaf(l []any) (cond, *pyErr) {
	if len(l) != 3 {
		return nil, valueError("Invalid leaf %v", l)
	}
	name, ok1 := l[0].(string)
	op, ok2 := l[1].(string)
	if !ok1 || !ok2 {
		return nil, valueError("Invalid leaf %v", l)
	}
	f, ok := p.m.field(name)
	if !ok {
		return nil, valueError("Invalid field %s.%s in leaf %v", p.m.name, name, l)
	}
	if f.compute != nil {
		return nil, valueError("Cannot search on the non-stored field %s.%s", p.m.name, name)
	}
	p.fields = append(p.fields, name)
	op = strings.ToLower(op)
	val := l[2]
	switch op {
	case "in", "not in":
		list, ok := val.([]any)
		if !ok {
			list = []any{val}
		}
		want := make([]any, len(list))
		for i, v := range list {
			x, err := p.operand(f, v)
			if err != nil {
				return nil, err
			}
			want[i] = x
		}
		in := func(r Record) bool {
			have := r[name]
			if f.typ == tM2M {
				for _, id := range r.IDs(name) {
					if slices.Contains(want, any(id)) {
						return true
					}
				}
				return false
			}
			for _, w := range want {
				if equal(have, w, p.whole) {
					return true
				}
			}
			return false
		}
		if op == "in" {
			return in, nil
		}
		return func(r Record) bool { return !in(r) }, nil
	case "=", "!=", "<", "<=", ">", ">=":
		want, err := p.operand(f, val)
		if err != nil {
			return nil, err
		}
		return func(r Record) bool {
			have := r[name]
			if f.typ == tM2M {
				id, _ := want.(int64)
				return op == "=" && slices.Contains(r.IDs(name), id)
			}
			if op == "=" {
				return equal(have, want, p.whole)
			}
			if op == "!=" {
				return !equal(have, want, p.whole)
			}
			if nullable(f) && (unset(have) || unset(want)) {
				return false // SQL: a comparison with NULL is not true
			}
			c := compare(have, want, p.whole)
			switch op {
			case "<":
				return c < 0
			case "<=":
				return c <= 0
			case ">":
				return c > 0
			}
			return c >= 0
		}, nil
	case "like", "ilike", "not like", "not ilike", "=like", "=ilike":
		s, _ := val.(string)
		fold := strings.Contains(op, "ilike")
		match := func(r Record) bool {
			have := r.Str(name)
			needle := strings.Trim(s, "%")
			if fold {
				have, needle = strings.ToLower(have), strings.ToLower(needle)
			}
			if strings.HasPrefix(op, "=") {
				return have == needle
			}
			return strings.Contains(have, needle)
		}
		if strings.HasPrefix(op, "not") {
			return func(r Record) bool { return !match(r) }, nil
		}
		return match, nil
	}
	return nil, valueError("Invalid leaf %v: unknown operator %s", l, pyRepr(op))
}

// operand converts a domain value to the stored form of field f.
func (p *domainParser) operand(f field, v any) (any, *pyErr) {
	if v == false || v == nil {
		return zero(f), nil
	}
	switch f.typ {
	case tInt, tM2O, tM2M, tO2M:
		n, ok := v.(json.Number)
		if !ok {
			return nil, valueError("Invalid value %v for an integer field", v)
		}
		i, err := n.Int64()
		if err != nil {
			return nil, valueError("invalid literal for int() with base 10: %s", pyRepr(n.String()))
		}
		return i, nil
	case tFloat:
		n, ok := v.(json.Number)
		if !ok {
			return nil, valueError("could not convert string to float: %v", v)
		}
		x, _ := n.Float64()
		return x, nil
	case tBool:
		b, ok := v.(bool)
		if !ok {
			return nil, valueError("Invalid value %v for a boolean field", v)
		}
		return b, nil
	case tDatetime:
		s, _ := v.(string)
		t, err := parseDatetime(s)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	s, ok := v.(string)
	if !ok {
		if n, isNum := v.(json.Number); isNum {
			return n.String(), nil
		}
		return nil, valueError("Invalid value %v", v)
	}
	return s, nil
}

func zero(f field) any {
	switch f.typ {
	case tInt, tM2O:
		return int64(0)
	case tFloat:
		return 0.0
	case tBool:
		return false
	case tDatetime:
		return time.Time{}
	case tM2M, tO2M:
		return int64(0)
	}
	return ""
}

// nullable fields store "unset" (NULL) as their zero value; numbers and
// booleans do not.
func nullable(f field) bool {
	switch f.typ {
	case tInt, tFloat, tBool:
		return false
	}
	return true
}

func unset(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case int64:
		return x == 0
	case time.Time:
		return x.IsZero()
	}
	return false
}

// parseDatetime reads "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DD" (UTC).
func parseDatetime(s string) (time.Time, *pyErr) {
	if t, err := time.ParseInLocation("2006-01-02 15:04:05", s, time.UTC); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.UTC); err == nil {
		return t, nil
	}
	return time.Time{}, valueError("time data %s does not match format '%%Y-%%m-%%d %%H:%%M:%%S'", pyRepr(s))
}

func equal(a, b any, whole bool) bool {
	if ta, ok := a.(time.Time); ok {
		tb, _ := b.(time.Time)
		if whole {
			ta = ta.Truncate(time.Second)
		}
		return ta.Equal(tb)
	}
	if a == nil {
		return unset(b)
	}
	if b == nil {
		return unset(a)
	}
	return a == b
}

func compare(a, b any, whole bool) int {
	switch x := a.(type) {
	case time.Time:
		y, _ := b.(time.Time)
		if whole {
			x = x.Truncate(time.Second)
		}
		return x.Compare(y)
	case int64:
		y, _ := b.(int64)
		return cmpOrdered(x, y)
	case float64:
		y, _ := b.(float64)
		return cmpOrdered(x, y)
	case string:
		y, _ := b.(string)
		return strings.Compare(x, y)
	case bool:
		y, _ := b.(bool)
		if x == y {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	}
	return 0
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortRecords orders rs by an Odoo order spec ("write_date asc, id asc"),
// on the stored values (datetimes with their microseconds, as PostgreSQL
// sorts them); unset values sort last ascending, as NULLs do.
func (s *store) sortRecords(m *model, rs []Record, order string) *pyErr {
	type key struct {
		f    string
		desc bool
	}
	var keys []key
	if strings.TrimSpace(order) == "" {
		order = "id"
	}
	for _, part := range strings.Split(order, ",") {
		w := strings.Fields(part)
		if len(w) == 0 || len(w) > 2 {
			return valueError("Invalid \"order\" specified (%s).", order)
		}
		f, ok := m.field(w[0])
		if !ok || f.compute != nil || f.typ == tO2M || f.typ == tM2M {
			return valueError("Invalid \"order\" specified (%s). A valid \"order\" specification is a comma-separated list of valid field names", order)
		}
		k := key{f: w[0]}
		if len(w) == 2 {
			switch strings.ToLower(w[1]) {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return valueError("Invalid \"order\" specified (%s).", order)
			}
		}
		keys = append(keys, k)
	}
	keys = append(keys, key{f: "id"})
	slices.SortStableFunc(rs, func(a, b Record) int {
		for _, k := range keys {
			x, y := a[k.f], b[k.f]
			f, _ := m.field(k.f)
			var c int
			switch {
			case !nullable(f):
				c = compare(x, y, false)
			case unset(x) && unset(y):
				c = 0
			case unset(x):
				c = 1
			case unset(y):
				c = -1
			default:
				c = compare(x, y, false)
			}
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return nil
}

func (s *store) search(m *model, domain any, octx map[string]any, whole bool, offset, limit int, order string) ([]Record, *pyErr) {
	c, fields, err := s.parseDomain(m, domain, whole)
	if err != nil {
		return nil, err
	}
	activeTest := true
	if v, ok := octx["active_test"].(bool); ok && !v {
		activeTest = false
	}
	filterActive := activeTest && m.has("active") && !slices.Contains(fields, "active")
	var out []Record
	for _, r := range s.recs[m.name] {
		if filterActive && !r.Bool("active") {
			continue
		}
		if c(r) {
			out = append(out, r)
		}
	}
	if err := s.sortRecords(m, out, order); err != nil {
		return nil, err
	}
	if offset > 0 {
		if offset >= len(out) {
			return nil, nil
		}
		out = out[offset:]
	}
	if limit > 0 && limit < len(out) {
		out = out[:limit]
	}
	return out, nil
}
