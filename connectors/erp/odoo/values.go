package odoo

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// Row is one record Odoo returned: field names to JSON values (numbers as
// json.Number). Odoo writes an empty field as false, a Many2one as
// [id, "display name"] and an x2many as a list of ids.
type Row map[string]any

// ID returns the record's id.
func (r Row) ID() int64 { return erp.AsInt(r["id"]) }

// asString is the text of a string or number; "" for false and null.
func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

// many2one reads [id, "display name"]; (0, "") for false.
func many2one(v any) (int64, string) {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return erp.AsInt(v), ""
	}
	id := erp.AsInt(l[0])
	if len(l) > 1 {
		s, _ := l[1].(string)
		return id, s
	}
	return id, ""
}

// idList reads an x2many (a list of ids).
func idList(v any) []int64 {
	l, _ := v.([]any)
	out := make([]int64, 0, len(l))
	for _, e := range l {
		if id := erp.AsInt(e); id > 0 {
			out = append(out, id)
		}
	}
	return out
}

// odooTime is the layout of Odoo's datetimes (UTC, whole seconds).
const odooTime = "2006-01-02 15:04:05"

// parseTime reads an Odoo datetime ("2026-03-01 12:00:00", UTC).
func parseTime(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok || s == "" {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(odooTime, s, time.UTC)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// text is a char, text or selection field: a string, null for false.
func text(v any) mapping.Value {
	if s, ok := v.(string); ok && s != "" {
		return mapping.StringValue(s)
	}
	return mapping.Value{}
}

// num is a float, monetary or integer field as its JSON number text.
func num(v any) mapping.Value {
	if n, ok := v.(json.Number); ok {
		return mapping.NumberValue(n.String())
	}
	return mapping.Value{}
}

// boolean is a boolean field.
func boolean(v any) mapping.Value {
	b, _ := v.(bool)
	return mapping.BoolValue(b)
}

// datetime is a datetime field as RFC 3339 UTC, null for false.
func datetime(v any) mapping.Value {
	if t, ok := parseTime(v); ok {
		return mapping.StringValue(t.Format(time.RFC3339))
	}
	return mapping.Value{}
}

// idValue is an id, null for 0.
func idValue(id int64) mapping.Value {
	if id == 0 {
		return mapping.Value{}
	}
	return mapping.IntValue(id)
}

func idString(id int64) string { return strconv.FormatInt(id, 10) }

// member returns the member key of an object and whether it is there at
// all (a member that is null is there; one that is absent is not).
func member(v mapping.Value, key string) (mapping.Value, bool) {
	for _, m := range v.Members() {
		if m.Key == key {
			return m.Value, true
		}
	}
	return mapping.Value{}, false
}
