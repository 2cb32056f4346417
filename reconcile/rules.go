package reconcile

import (
	"bytes"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/mapping"
)

// Lookup returns the member at a dotted path of doc ("customer.email"), or
// null.
func Lookup(doc mapping.Value, path string) mapping.Value {
	for {
		name, rest, more := strings.Cut(path, ".")
		doc = doc.Get(name)
		if !more {
			return doc
		}
		path = rest
	}
}

// Equal reports whether a and b are equal under rule. Two nulls are equal;
// a null and a value are not (except under RuleIgnore).
func Equal(rule Rule, a, b mapping.Value) bool {
	if rule.Kind == RuleIgnore {
		return true
	}
	if a.IsNull() || b.IsNull() {
		return a.IsNull() && b.IsNull()
	}
	switch rule.Kind {
	case RuleCaseInsensitive:
		if a.Kind() == mapping.String && b.Kind() == mapping.String {
			return strings.EqualFold(strings.TrimSpace(a.Str()), strings.TrimSpace(b.Str()))
		}
	case RuleTolerance:
		da, errA := decimalOf(a)
		db, errB := decimalOf(b)
		if errA == nil && errB == nil {
			return da.Sub(db).Abs().LessThanOrEqual(rule.Tolerance)
		}
	case RuleDays:
		ta, okA := timeOf(a)
		tb, okB := timeOf(b)
		if okA && okB {
			d := ta.Sub(tb)
			if d < 0 {
				d = -d
			}
			return d <= time.Duration(rule.Days)*24*time.Hour
		}
	}
	return exact(a, b)
}

// exact compares canonical values: numbers as decimals, containers by
// their JSON, scalars by kind and text.
func exact(a, b mapping.Value) bool {
	if a.Kind() == mapping.Number && b.Kind() == mapping.Number {
		da, errA := decimal.NewFromString(a.Str())
		db, errB := decimal.NewFromString(b.Str())
		if errA == nil && errB == nil {
			return da.Equal(db)
		}
	}
	if a.Kind() != b.Kind() {
		return false
	}
	if a.Kind() == mapping.Array || a.Kind() == mapping.Object {
		return bytes.Equal(mapping.AppendJSON(nil, a), mapping.AppendJSON(nil, b))
	}
	return a.Str() == b.Str()
}

// decimalOf reads a number or a decimal string (canonical money).
func decimalOf(v mapping.Value) (decimal.Decimal, error) {
	return decimal.NewFromString(strings.TrimSpace(v.Str()))
}

// timeOf reads a canonical date (YYYY-MM-DD) or timestamp (RFC 3339).
func timeOf(v mapping.Value) (time.Time, bool) {
	if v.Kind() != mapping.String {
		return time.Time{}, false
	}
	s := strings.TrimSpace(v.Str())
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly, time.DateTime} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
