package saas

import (
	"math/big"
	"strings"

	"github.com/crmhub/hub/mapping"
)

// With returns object v with member key set to val (replaced in place, or
// added at the end).
func With(v mapping.Value, key string, val mapping.Value) mapping.Value {
	ms := v.Members()
	for i := range ms {
		if ms[i].Key == key {
			ms[i].Value = val
			return mapping.ObjectValue(ms...)
		}
	}
	return mapping.ObjectValue(append(ms, mapping.Member{Key: key, Value: val})...)
}

// Without returns object v without the members named.
func Without(v mapping.Value, keys ...string) mapping.Value {
	ms := v.Members()
	out := ms[:0]
	for _, m := range ms {
		drop := false
		for _, k := range keys {
			drop = drop || m.Key == k
		}
		if !drop {
			out = append(out, m)
		}
	}
	return mapping.ObjectValue(out...)
}

// Holds reports whether a stored record already holds every member of
// want as a write would send it, so that the write can be skipped (a
// write bumps the record's change time, which a source would read back,
// and costs quota). Lookups ({"id": ...}) compare by id, objects by the
// members sent, arrays element by element, numbers as exact decimals
// (10 and "10.00" are equal when either side is a number or a decimal
// with a point, as vendors keep amounts in text), text trimmed;
// a null sent matches a null, missing or empty stored value.
func Holds(want, have mapping.Value) bool {
	switch want.Kind() {
	case mapping.Null:
		return have.IsNull() || (have.Kind() == mapping.String && strings.TrimSpace(have.Str()) == "")
	case mapping.Object:
		if id := want.Get("id"); !id.IsNull() && want.Len() == 1 {
			return strings.TrimSpace(id.Str()) == strings.TrimSpace(have.Get("id").Str())
		}
		if have.Kind() != mapping.Object {
			return false
		}
		for _, m := range want.Members() {
			if !Holds(m.Value, have.Get(m.Key)) {
				return false
			}
		}
		return true
	case mapping.Array:
		w, h := want.Elems(), have.Elems()
		if have.Kind() != mapping.Array || len(w) != len(h) {
			return false
		}
		for i := range w {
			if !Holds(w[i], h[i]) {
				return false
			}
		}
		return true
	case mapping.Bool:
		return have.Kind() == mapping.Bool && have.Bool() == want.Bool()
	}
	if have.Kind() != mapping.Number && have.Kind() != mapping.String {
		return false
	}
	a, b := strings.TrimSpace(want.Str()), strings.TrimSpace(have.Str())
	if a == b {
		return true
	}
	if want.Kind() != mapping.Number && have.Kind() != mapping.Number && !decimalText(a) && !decimalText(b) {
		return false
	}
	x, okA := new(big.Rat).SetString(a)
	y, okB := new(big.Rat).SetString(b)
	return okA && okB && x.Cmp(y) == 0
}

// decimalText reports whether s is a decimal with a point ("2.00"): text
// vendors keep amounts in, which equals another spelling of the number
// ("2"). Text without a point ("01234", a postal code) stays text.
func decimalText(s string) bool {
	digits, point := 0, 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.':
			point++
		case r == '-' && i == 0:
		default:
			return false
		}
	}
	return digits > 0 && point == 1
}
