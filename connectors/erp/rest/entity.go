package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// entity is one configured entity, compiled: its config with defaults and
// the parsed paths, formats and query templates.
type entity struct {
	name string
	cfg  EntityConfig

	idPath, updatedPath, recordsPath, recordPath, matchPath path
	updatedFmt, sinceFmt                                    timeFormat
	static, since, match                                    []param
	exclusive                                               bool
	softValue                                               mapping.Value
	writeOnly                                               []path
	page                                                    pageSpec
}

// pageSpec is a compiled PageConfig.
type pageSpec struct {
	kind                              string
	size                              int
	sizeParam, pageParam, offsetParam string
	cursorParam                       string
	firstPage                         int
	nextCursor, hasMore               path
	totalPagesHeader, totalHeader     string
	stopEmpty                         bool
	maxPages                          int
}

// ---- dotted paths ----

// path is a dotted member path ("data", "meta.next_cursor"); a segment of
// digits indexes an array. The empty path is the value itself.
type path []string

func parsePath(s string) (path, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "." || s == "$" {
		return nil, nil
	}
	parts := strings.Split(s, ".")
	for _, part := range parts {
		if part == "" {
			return nil, fmt.Errorf("%q is not a dotted path (empty segment)", s)
		}
	}
	return parts, nil
}

func (p path) String() string {
	if len(p) == 0 {
		return "(the whole reply)"
	}
	return strings.Join(p, ".")
}

// get returns the value at p in v, or null.
func (p path) get(v mapping.Value) mapping.Value {
	for _, seg := range p {
		switch v.Kind() {
		case mapping.Object:
			v = v.Get(seg)
		case mapping.Array:
			i, err := strconv.Atoi(seg)
			if err != nil {
				return mapping.Value{}
			}
			v = v.Index(i)
		default:
			return mapping.Value{}
		}
	}
	return v
}

// set returns a copy of the object v with p set to x, creating objects on
// the way; v must be an object (or null) at every step.
func (p path) set(v mapping.Value, x mapping.Value) mapping.Value {
	if len(p) == 0 {
		return x
	}
	ms := v.Members()
	for i, m := range ms {
		if m.Key == p[0] {
			ms[i].Value = p[1:].set(m.Value, x)
			return mapping.ObjectValue(ms...)
		}
	}
	return mapping.ObjectValue(append(ms, mapping.Member{Key: p[0], Value: p[1:].set(mapping.Value{}, x)})...)
}

// without returns a copy of v without the member at p (v itself when it
// has none).
func (p path) without(v mapping.Value) mapping.Value {
	if len(p) == 0 || v.Kind() != mapping.Object {
		return v
	}
	ms := v.Members()
	for i, m := range ms {
		if m.Key != p[0] {
			continue
		}
		if len(p) == 1 {
			return mapping.ObjectValue(append(ms[:i:i], ms[i+1:]...)...)
		}
		ms[i].Value = p[1:].without(m.Value)
		return mapping.ObjectValue(ms...)
	}
	return v
}

// text is the text of a scalar: a string's content, a number's literal
// (integral floats such as 12.0 without the fraction), "" otherwise.
func text(v mapping.Value) string {
	switch v.Kind() {
	case mapping.String:
		return strings.TrimSpace(v.Str())
	case mapping.Number:
		s := v.Str()
		if strings.ContainsAny(s, ".eE") {
			if d, err := decimal.NewFromString(s); err == nil && d.Equal(d.Truncate(0)) {
				return d.Truncate(0).String()
			}
		}
		return s
	case mapping.Bool:
		return v.Str()
	}
	return ""
}

// valueOf converts a config value (YAML scalar, list or map) to a Value.
func valueOf(x any) (mapping.Value, error) {
	if m, ok := x.(map[any]any); ok {
		conv := make(map[string]any, len(m))
		for k, v := range m {
			conv[fmt.Sprint(k)] = v
		}
		x = conv
	}
	v, ok := mapping.FromAny(x)
	if !ok {
		return mapping.Value{}, fmt.Errorf("%v (%T) has no JSON form", x, x)
	}
	return v, nil
}

// ---- query templates ----

// param is a query parameter whose value may hold a placeholder.
type param struct{ name, tmpl string }

// render replaces "{word}" (with its quotes) by value as a JSON string and
// {word} by value as it is.
func render(tmpl, word, value string) string {
	quoted, _ := json.Marshal(value)
	s := strings.ReplaceAll(tmpl, `"{`+word+`}"`, string(quoted))
	return strings.ReplaceAll(s, "{"+word+"}", value)
}

// query builds a list query: the static params, then ps rendered with
// word = value replacing those of the same name.
func (e *entity) query(ps []param, word, value string) url.Values {
	q := url.Values{}
	for _, p := range e.static {
		q.Set(p.name, p.tmpl)
	}
	for _, p := range ps {
		q.Set(p.name, render(p.tmpl, word, value))
	}
	return q
}

// pathOf fills a path template's {id}.
func pathOf(tmpl, id string) string {
	return strings.Replace(tmpl, "{id}", url.PathEscape(id), 1)
}

// ---- record members ----

func (e *entity) idOf(rec mapping.Value) (string, error) {
	id := text(e.idPath.get(rec))
	if id == "" {
		return "", fmt.Errorf("the record has no id at %s", e.idPath)
	}
	return id, nil
}

func (e *entity) updatedOf(rec mapping.Value) (time.Time, error) {
	v := e.updatedPath.get(rec)
	t, err := e.updatedFmt.parse(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("updated_at %s: %w", e.updatedPath, err)
	}
	return t, nil
}

// ---- time formats ----

// The named time formats.
const (
	FormatRFC3339 = "rfc3339"
	FormatFrappe  = "frappe"
	FormatUnix    = "unix"
	FormatUnixMS  = "unix_ms"
)

type timeFormat struct {
	name     string
	unix     int // 0: layout; 1: seconds; 1000: milliseconds
	parseL   string
	formatL  string
	loc      *time.Location
	explicit bool // the layout carries its own offset
}

func compileFormat(p *erp.Problems, key, name, zone string) timeFormat {
	f := timeFormat{name: name, loc: time.UTC}
	if zone != "" {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			p.Add(key+".time_zone", "unknown time zone %q", zone)
		} else {
			f.loc = loc
		}
	}
	switch name {
	case FormatRFC3339:
		f.parseL, f.formatL, f.explicit = time.RFC3339Nano, time.RFC3339, true
	case FormatFrappe:
		// str(datetime) in Python: microseconds only when not zero.
		f.parseL, f.formatL = "2006-01-02 15:04:05.999999", "2006-01-02 15:04:05.000000"
	case FormatUnix:
		f.unix = 1
	case FormatUnixMS:
		f.unix = 1000
	default:
		if !strings.Contains(name, "2006") {
			p.Add(key+".format", "unknown format %q (rfc3339, frappe, unix, unix_ms or a Go layout with 2006)", name)
			break
		}
		ref := time.Date(2026, 3, 1, 4, 5, 6, 0, time.UTC)
		if _, err := time.Parse(name, ref.Format(name)); err != nil {
			p.Add(key+".format", "layout %q does not read back what it writes: %v", name, err)
		}
		f.parseL, f.formatL = name, name
	}
	return f
}

func (f timeFormat) parse(v mapping.Value) (time.Time, error) {
	switch v.Kind() {
	case mapping.Null:
		return time.Time{}, errors.New("missing")
	case mapping.Number, mapping.String:
	default:
		return time.Time{}, fmt.Errorf("a %s, not a time", v.Kind())
	}
	s := strings.TrimSpace(v.Str())
	if f.unix > 0 {
		d, err := decimal.NewFromString(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a Unix time", s)
		}
		if f.unix == 1000 {
			return time.UnixMilli(d.IntPart()).UTC(), nil
		}
		sec := d.IntPart()
		ns := d.Sub(decimal.NewFromInt(sec)).Mul(decimal.NewFromInt(1e9)).IntPart()
		return time.Unix(sec, ns).UTC(), nil
	}
	t, err := time.ParseInLocation(f.parseL, s, f.loc)
	if err != nil && f.name == FormatRFC3339 {
		// a time without an offset, read in the configured zone
		t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, f.loc)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time in format %s", s, f.name)
	}
	return t.UTC(), nil
}

func (f timeFormat) format(t time.Time) string {
	switch f.unix {
	case 1:
		return strconv.FormatInt(t.Unix(), 10)
	case 1000:
		return strconv.FormatInt(t.UnixMilli(), 10)
	}
	if f.explicit {
		return t.UTC().Format(f.formatL)
	}
	return t.In(f.loc).Format(f.formatL)
}
