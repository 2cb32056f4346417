package erp

import (
	"encoding/json"
	"html"
	"strings"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

// Text is the text of a string or number member, trimmed; "" for anything
// else.
func Text(v mapping.Value) string {
	switch v.Kind() {
	case mapping.String, mapping.Number:
		return strings.TrimSpace(v.Str())
	}
	return ""
}

// RecordKey is a record's key in an ERP: the member field of its data (a
// party's code, a partner's ref), else its hub id.
func RecordKey(rec connectors.WriteRecord, field string) string {
	if k := Text(rec.Data.Get(field)); k != "" {
		return k
	}
	return rec.HubID
}

// HTMLText is the text of HTML: tags stripped, character references
// decoded and white space folded. Error pages say what went wrong in a
// line or two of text; rich-text fields (an Odoo note) hold "<p>...</p>";
// Frappe's messages carry <strong> and <br>.
func HTMLText(s string) string {
	var b strings.Builder
	in := false
	for _, c := range s {
		switch {
		case c == '<':
			in = true
			b.WriteByte(' ')
		case c == '>' && in:
			in = false
		case !in:
			b.WriteRune(c)
		}
	}
	return strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
}

// AsInt is an id or count from decoded JSON (json.Number, float64 or an
// int); 0 for anything else (false, null: "no record").
func AsInt(v any) int64 {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return int64(f)
	case float64:
		return int64(x)
	case int64:
		return x
	case int:
		return int64(x)
	}
	return 0
}
