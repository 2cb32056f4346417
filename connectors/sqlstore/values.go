package sqlstore

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/hub/mapping"
)

var jsonNumberRe = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// numericType reports whether a live column type holds numbers.
func numericType(t string) bool {
	t = strings.TrimSpace(strings.ToLower(t))
	if i := strings.IndexAny(t, "( "); i >= 0 {
		t = t[:i]
	}
	switch t {
	case "int", "integer", "int2", "int4", "int8", "smallint", "bigint", "tinyint", "mediumint",
		"numeric", "decimal", "real", "double", "float", "float4", "float8", "number", "dec", "fixed":
		return true
	}
	return false
}

// dateType reports whether a live column type holds a date without time.
func dateType(t string) bool { return strings.TrimSpace(strings.ToLower(t)) == "date" }

// timestampType reports whether a live column type holds a point in time.
func timestampType(t string) bool {
	t = strings.ToLower(t)
	return strings.HasPrefix(t, "timestamp") || strings.HasPrefix(t, "datetime")
}

// toValue converts a scanned column value to a mapping.Value: integers and
// decimals as number text (NUMERIC arrives as text, never through float64),
// timestamps RFC 3339 UTC, dates YYYY-MM-DD, NULL as null.
func toValue(v any, typ string) mapping.Value {
	switch x := v.(type) {
	case nil:
		return mapping.Value{}
	case int64:
		return mapping.IntValue(x)
	case float64:
		return floatValue(x, 64)
	case float32:
		return floatValue(float64(x), 32)
	case bool:
		return mapping.BoolValue(x)
	case time.Time:
		if dateType(typ) {
			return mapping.StringValue(x.Format(time.DateOnly))
		}
		return mapping.StringValue(x.UTC().Format(time.RFC3339Nano))
	case []byte:
		return textValue(string(x), typ)
	case string:
		return textValue(x, typ)
	}
	if v, ok := mapping.FromAny(v); ok {
		return v
	}
	return mapping.Value{}
}

func floatValue(f float64, bits int) mapping.Value {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return mapping.Value{}
	}
	return mapping.NumberValue(strconv.FormatFloat(f, 'f', -1, bits))
}

func textValue(s, typ string) mapping.Value {
	if numericType(typ) && jsonNumberRe.MatchString(s) {
		return mapping.NumberValue(s)
	}
	if timestampType(typ) {
		if t, ok := parseTimeText(s); ok {
			return mapping.StringValue(t.UTC().Format(time.RFC3339Nano))
		}
	}
	return mapping.StringValue(s)
}

// timeLayouts are the text forms of timestamps found in SQLite databases
// (and in MySQL without parseTime), most specific first.
var timeLayouts = [...]string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseTimeText parses a timestamp's text; values without a zone are UTC.
func parseTimeText(s string) (time.Time, bool) {
	t, _, ok := parseTimeLayout(s)
	return t, ok
}

// parseTimeLayout also returns a layout that formats the time back to the
// same text, or "" when none does.
func parseTimeLayout(s string) (time.Time, string, bool) {
	var first time.Time
	found := false
	for _, l := range timeLayouts {
		t, err := time.Parse(l, s)
		if err != nil {
			continue
		}
		if !found {
			first, found = t, true
		}
		if t.Format(l) == s {
			return t, l, true
		}
	}
	return first, "", found
}

// timeOf converts a scanned timestamp to time.Time.
func timeOf(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), true
	case string:
		t, ok := parseTimeText(x)
		return t.UTC(), ok
	case []byte:
		t, ok := parseTimeText(string(x))
		return t.UTC(), ok
	case int64: // unix seconds
		return time.Unix(x, 0).UTC(), true
	}
	return time.Time{}, false
}

// keyString is a key's text, as it appears in Record.Key and the outbox.
func keyString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case []byte:
		return string(x)
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return toValue(v, "").Str()
}

// keyArg turns a key's text back into a parameter for a column of type typ.
func keyArg(s, typ string) any {
	if numericType(typ) {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	return s
}

// keyValue is a key's text as a Value for a column of type typ.
func keyValue(s, typ string) mapping.Value {
	if numericType(typ) && jsonNumberRe.MatchString(s) {
		return mapping.NumberValue(s)
	}
	return mapping.StringValue(s)
}

// toArg converts a record's value to a parameter for a column of type typ.
// Numbers stay exact: integers as int64, everything else as its text, which
// every database parses into its own numeric type.
func (d dialect) toArg(v mapping.Value, typ string) any {
	switch v.Kind() {
	case mapping.Null:
		return nil
	case mapping.Bool:
		return v.Bool()
	case mapping.Number:
		if i, err := strconv.ParseInt(v.Str(), 10, 64); err == nil {
			return i
		}
		return v.Str()
	case mapping.String:
		s := v.Str()
		if d == mariadb && timestampType(typ) {
			// MySQL rejects RFC 3339's "T" and zone in DATETIME.
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t.UTC()
			}
		}
		return s
	}
	return jsonText(v)
}

// jsonText encodes an array or object as JSON text (for JSON columns).
func jsonText(v mapping.Value) string {
	var b strings.Builder
	writeJSON(&b, v)
	return b.String()
}

func writeJSON(b *strings.Builder, v mapping.Value) {
	switch v.Kind() {
	case mapping.Null:
		b.WriteString("null")
	case mapping.Bool, mapping.Number:
		b.WriteString(v.Str())
	case mapping.String:
		q, _ := json.Marshal(v.Str())
		b.Write(q)
	case mapping.Array:
		b.WriteByte('[')
		for i, e := range v.Elems() {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case mapping.Object:
		b.WriteByte('{')
		for i, m := range v.Members() {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(m.Key)
			b.Write(q)
			b.WriteByte(':')
			writeJSON(b, m.Value)
		}
		b.WriteByte('}')
	}
}
