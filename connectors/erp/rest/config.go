package rest

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/canonical"
	"github.com/crmhub/hub/connectors/erp"
)

// Config is the settings block of a rest connector (docs/connectors/rest.md
// has every key with ERPNext and WooCommerce examples):
//
//	url: https://erp.example.com   # plus every erp.HTTPConfig key (timeout,
//	                               # retries, rate_limit, daily_budget, debug, ...)
//	auth: {type: api_key, header: Authorization, prefix: "token ", key: ${ERPNEXT_KEY}:${ERPNEXT_SECRET}}
//	poll_interval: 5s
//	entities:
//	  customer:
//	    list: /api/resource/Customer
//	    get: /api/resource/Customer/{id}
//	    id_field: name
//	    records: data
//	    record: data
//	    updated_at: {field: modified, format: frappe, time_zone: Europe/Berlin}
//	    updated_since:
//	      params: {filters: '[["modified",">=","{since}"]]'}
//	    params: {fields: '["*"]', order_by: "modified asc, name asc"}
//	    pagination: {type: offset, offset_param: limit_start, size_param: limit_page_length, size: 100}
//	    match: {field: custom_hub_id, params: {filters: '[["custom_hub_id","=","{value}"]]'}}
type Config struct {
	erp.HTTPConfig `mapstructure:",squash" yaml:",inline"`
	// Auth is how requests authenticate: none, basic, bearer, api_key
	// (any header, with an optional prefix: ERPNext's "token key:secret")
	// or oauth2 client credentials.
	Auth erp.AuthConfig `mapstructure:"auth" yaml:"auth"`
	// PollInterval is how often Read lists again while nothing changed;
	// default 5s.
	PollInterval time.Duration `mapstructure:"poll_interval" yaml:"poll_interval"`
	// Entities maps canonical entity names (customer, order, invoice,
	// interaction) to their REST resources.
	Entities map[string]EntityConfig `mapstructure:"entities" yaml:"entities"`
}

// EntityConfig describes one entity's REST resource.
type EntityConfig struct {
	// List is the collection path (relative to url), e.g.
	// /api/resource/Customer. Source, scanner and match lookups GET it.
	List string `mapstructure:"list" yaml:"list"`
	// Get is the path of one record, with {id}; default List + "/{id}".
	Get string `mapstructure:"get" yaml:"get"`
	// Create is where a new record is sent; default POST to List.
	Create WriteConfig `mapstructure:"create" yaml:"create"`
	// Update is where a changed record is sent; default PUT to Get.
	Update WriteConfig `mapstructure:"update" yaml:"update"`
	// Delete says how the sink applies deletes; default: not at all (a
	// delete is a permanent error).
	Delete DeleteConfig `mapstructure:"delete" yaml:"delete"`
	// ReadOnly entities are never written (invoices, usually).
	ReadOnly bool `mapstructure:"read_only" yaml:"read_only"`
	// IDField is the dotted path of the record's id in a returned record;
	// default "id" (ERPNext: "name").
	IDField string `mapstructure:"id_field" yaml:"id_field"`
	// UpdatedAt is the record's change time: the source's cursor and the
	// record's version.
	UpdatedAt TimeField `mapstructure:"updated_at" yaml:"updated_at"`
	// UpdatedSince is how the list asks for records changed since a time;
	// without it every poll lists everything.
	UpdatedSince SinceConfig `mapstructure:"updated_since" yaml:"updated_since"`
	// Params are sent with every list request (ERPNext: fields, order_by).
	// The source needs the list oldest change first, ties in a fixed order
	// (order_by: modified asc, name asc).
	Params map[string]string `mapstructure:"params" yaml:"params"`
	// Query is more list params as "name=value" text: the config loader
	// lower-cases the keys of params, so a name with capitals (orderBy)
	// goes here.
	Query []string `mapstructure:"query" yaml:"query"`
	// Records is the dotted path of the array of records in a list reply;
	// default "" (the reply is the array, as WooCommerce's). ERPNext: data.
	Records string `mapstructure:"records" yaml:"records"`
	// Record is the dotted path of the record in a get, create or update
	// reply; default "" (the reply is the record). ERPNext: data.
	Record string `mapstructure:"record" yaml:"record"`
	// Wrap sends create and update bodies as {"<wrap>": record}; default
	// none (the record is the body).
	Wrap string `mapstructure:"wrap" yaml:"wrap"`
	// Pagination is how the list is paged; required.
	Pagination PageConfig `mapstructure:"pagination" yaml:"pagination"`
	// Match finds an existing record by a reference field when the
	// pipeline does not know the record's id (a first write, or a rerun
	// after a crash between the create and the pipeline recording the id).
	Match MatchConfig `mapstructure:"match" yaml:"match"`
	// ReadEach reads every listed record again with Get, for APIs whose
	// lists leave out nested data (ERPNext lists carry no child tables).
	ReadEach bool `mapstructure:"read_each" yaml:"read_each"`
	// SkipUnchanged reads a record before updating it and writes only when
	// the record sent differs from what the target holds; default true
	// (updates bump the target's change time, which the source would read
	// back as a change).
	SkipUnchanged *bool `mapstructure:"skip_unchanged" yaml:"skip_unchanged"`
	// WriteOnly lists dotted paths the target takes on a write but does
	// not return (ERPNext's Customer address_line1, city, ... that become
	// its primary address): skip_unchanged leaves them out of the
	// comparison.
	WriteOnly []string `mapstructure:"write_only" yaml:"write_only"`
	// LookBack re-reads changes this far behind the cursor, for records
	// committed late; default 10s, 0 off.
	LookBack *time.Duration `mapstructure:"look_back" yaml:"look_back"`
	// BatchSize caps the records one Read returns; default 100.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size"`
}

// WriteConfig is a create or update endpoint.
type WriteConfig struct {
	// Path, relative to url; an update path holds {id}.
	Path string `mapstructure:"path" yaml:"path"`
	// Method: POST (create default) or PUT; PUT (update default), PATCH
	// or POST.
	Method string `mapstructure:"method" yaml:"method"`
}

// DeleteConfig is the sink's delete handling.
type DeleteConfig struct {
	// Mode is none (default: a delete is a permanent error), hard (send
	// Method to Path) or soft (update the record with Field set to Value).
	Mode string `mapstructure:"mode" yaml:"mode"`
	// Path of a hard delete, with {id}; default Get (WooCommerce:
	// /wp-json/wc/v3/orders/{id}?force=true).
	Path string `mapstructure:"path" yaml:"path"`
	// Method of a hard delete; default DELETE.
	Method string `mapstructure:"method" yaml:"method"`
	// Field and Value of a soft delete (ERPNext: disabled, 1).
	Field string `mapstructure:"field" yaml:"field"`
	Value any    `mapstructure:"value" yaml:"value"`
}

// TimeField is a time member of the records.
type TimeField struct {
	// Field is its dotted path; required.
	Field string `mapstructure:"field" yaml:"field"`
	// Format: rfc3339 (default), frappe ("2006-01-02 15:04:05.999999"),
	// unix, unix_ms, or a Go layout such as "2006-01-02T15:04:05".
	Format string `mapstructure:"format" yaml:"format"`
	// TimeZone reads times written without an offset (ERPNext's system
	// time zone); default UTC.
	TimeZone string `mapstructure:"time_zone" yaml:"time_zone"`
}

// SinceConfig is the list's updated-since query: either one parameter
// holding the time, or templates for filter-style APIs in which {since}
// stands for the time (and "{since}" with its quotes for a JSON string).
type SinceConfig struct {
	// Param is a query parameter that takes the time (modified_after).
	Param string `mapstructure:"param" yaml:"param"`
	// Params are query parameters with {since} in their values; they
	// replace list params of the same name.
	Params map[string]string `mapstructure:"params" yaml:"params"`
	// Query is more such parameters as "name=value" (names with capitals).
	Query []string `mapstructure:"query" yaml:"query"`
	// Format of the time sent; default updated_at.format.
	Format string `mapstructure:"format" yaml:"format"`
	// TimeZone of the time sent; default updated_at.time_zone.
	TimeZone string `mapstructure:"time_zone" yaml:"time_zone"`
	// Exclusive says the server returns records changed strictly after
	// the time (WooCommerce's modified_after): the source then asks from
	// one second earlier, so equal times are never skipped.
	Exclusive bool `mapstructure:"exclusive" yaml:"exclusive"`
}

// PageConfig is the list's pagination.
type PageConfig struct {
	// Type is page, offset, cursor, link or none; required.
	Type string `mapstructure:"type" yaml:"type"`
	// Size is the page size asked for; default 100. It must not exceed the
	// server's own maximum (WooCommerce 100), or a full page looks short.
	Size int `mapstructure:"size" yaml:"size"`
	// SizeParam carries Size; default per_page (page, link), limit (offset,
	// cursor). ERPNext: limit_page_length.
	SizeParam string `mapstructure:"size_param" yaml:"size_param"`
	// PageParam (type page) is the page number's parameter; default page.
	PageParam string `mapstructure:"page_param" yaml:"page_param"`
	// FirstPage (type page) is the first page's number; default 1.
	FirstPage *int `mapstructure:"first_page" yaml:"first_page"`
	// OffsetParam (type offset); default offset. ERPNext: limit_start.
	OffsetParam string `mapstructure:"offset_param" yaml:"offset_param"`
	// CursorParam (type cursor) sends the next cursor; default cursor.
	CursorParam string `mapstructure:"cursor_param" yaml:"cursor_param"`
	// NextCursor (type cursor) is the dotted path of the next cursor in
	// the reply; null or "" ends the list. Required for type cursor.
	NextCursor string `mapstructure:"next_cursor" yaml:"next_cursor"`
	// HasMore (type cursor, optional) is the dotted path of a boolean that
	// is false on the last page.
	HasMore string `mapstructure:"has_more" yaml:"has_more"`
	// TotalPagesHeader (type page) is a reply header with the number of
	// pages (WooCommerce X-WP-TotalPages).
	TotalPagesHeader string `mapstructure:"total_pages_header" yaml:"total_pages_header"`
	// TotalHeader (type page, offset) is a reply header with the number of
	// records (X-WP-Total).
	TotalHeader string `mapstructure:"total_header" yaml:"total_header"`
	// Stop says when a page or offset list ends without a total header:
	// short_page (default: fewer records than size) or empty_page (one
	// request more, for servers that may return less than asked).
	Stop string `mapstructure:"stop" yaml:"stop"`
	// MaxPages stops a list that never ends (a server bug); default 100000.
	MaxPages int `mapstructure:"max_pages" yaml:"max_pages"`
}

// MatchConfig finds a record by a reference field.
type MatchConfig struct {
	// Field is the dotted path of the reference in the record sent and in
	// the records listed (ERPNext's po_no or a custom field). A record
	// sent without it gets the hub id there.
	Field string `mapstructure:"field" yaml:"field"`
	// Param is a list query parameter that takes the value.
	Param string `mapstructure:"param" yaml:"param"`
	// Params are list query parameters with {value} in their values ("{value}"
	// with its quotes for a JSON string); they replace list params of the
	// same name. The connector keeps only records whose Field equals the
	// value exactly, so a fuzzy search parameter is fine.
	Params map[string]string `mapstructure:"params" yaml:"params"`
	// Query is more such parameters as "name=value" (names with capitals).
	Query []string `mapstructure:"query" yaml:"query"`
}

// The pagination types.
const (
	PageNumber = "page"
	PageOffset = "offset"
	PageCursor = "cursor"
	PageLink   = "link"
	PageNone   = "none"
)

// The delete modes.
const (
	DeleteNone = "none"
	DeleteHard = "hard"
	DeleteSoft = "soft"
)

const (
	defaultPollInterval = 5 * time.Second
	defaultLookBack     = 10 * time.Second
	defaultBatchSize    = 100
	defaultPageSize     = 100
	defaultMaxPages     = 100000
	maxBatchSize        = 10000
	maxPageSize         = 10000
)

func knownEntity(e string) bool { return canonical.IsEntity(e) }

// withDefaults returns cfg with every default filled in and its entities
// compiled, and an error naming every bad key.
func (cfg Config) withDefaults() (Config, map[string]*entity, error) {
	var p erp.Problems
	out := cfg
	out.HTTPConfig = cfg.HTTPConfig.WithDefaults(&p)
	out.Auth = cfg.Auth.WithDefaults(&p, "auth")
	switch {
	case cfg.PollInterval == 0:
		out.PollInterval = defaultPollInterval
	case cfg.PollInterval < 0:
		p.Add("poll_interval", "must not be negative")
	}
	ents := map[string]*entity{}
	if len(cfg.Entities) == 0 {
		p.Add("entities", "is required: at least one of %s", canonical.List())
	}
	names := make([]string, 0, len(cfg.Entities))
	for name := range cfg.Entities {
		names = append(names, name)
	}
	sort.Strings(names)
	out.Entities = make(map[string]EntityConfig, len(cfg.Entities))
	for _, name := range names {
		key := "entities." + name
		if !knownEntity(name) {
			p.Add(key, "unknown entity %q (%s)", name, canonical.List())
			continue
		}
		ec, e := compileEntity(&p, key, name, cfg.Entities[name])
		out.Entities[name] = ec
		ents[name] = e
	}
	return out, ents, p.Err()
}

// checkPath records a problem unless path is a relative path ("/...");
// with id it must hold {id}.
func checkPath(p *erp.Problems, key, path string, id bool) {
	switch {
	case path == "":
		p.Add(key, "is required")
	case !strings.HasPrefix(path, "/"):
		p.Add(key, "%q must be a path relative to url, starting with /", path)
	case strings.ContainsAny(path, "#\r\n"):
		p.Add(key, "%q is not a path", path)
	case id && strings.Count(path, "{id}") != 1:
		p.Add(key, "%q must hold {id} exactly once", path)
	case !id && strings.Contains(path, "{id}"):
		p.Add(key, "%q must not hold {id}", path)
	}
}

func checkParamName(p *erp.Problems, key, name string) {
	if name == "" || strings.ContainsAny(name, "&=#? \r\n") {
		p.Add(key, "%q is not a query parameter name", name)
	}
}

func compileEntity(p *erp.Problems, key, name string, ec EntityConfig) (EntityConfig, *entity) {
	e := &entity{name: name}
	checkPath(p, key+".list", ec.List, false)
	if ec.Get == "" && ec.List != "" {
		ec.Get = strings.TrimRight(ec.List, "/") + "/{id}"
	}
	checkPath(p, key+".get", ec.Get, true)

	if ec.ReadOnly {
		if ec.Create != (WriteConfig{}) || ec.Update != (WriteConfig{}) || ec.Delete.Mode != "" && ec.Delete.Mode != DeleteNone {
			p.Add(key+".read_only", "a read-only entity takes no create, update or delete")
		}
	} else {
		if ec.Create.Path == "" {
			ec.Create.Path = ec.List
		}
		if ec.Create.Path != "" {
			checkPath(p, key+".create.path", ec.Create.Path, false)
		}
		switch m := strings.ToUpper(ec.Create.Method); m {
		case "":
			ec.Create.Method = http.MethodPost
		case http.MethodPost, http.MethodPut:
			ec.Create.Method = m
		default:
			p.Add(key+".create.method", "unknown method %q (POST or PUT)", ec.Create.Method)
		}
		if ec.Update.Path == "" {
			ec.Update.Path = ec.Get
		}
		if ec.Update.Path != "" {
			checkPath(p, key+".update.path", ec.Update.Path, true)
		}
		switch m := strings.ToUpper(ec.Update.Method); m {
		case "":
			ec.Update.Method = http.MethodPut
		case http.MethodPut, http.MethodPatch, http.MethodPost:
			ec.Update.Method = m
		default:
			p.Add(key+".update.method", "unknown method %q (PUT, PATCH or POST)", ec.Update.Method)
		}
		switch ec.Delete.Mode {
		case "", DeleteNone:
			ec.Delete.Mode = DeleteNone
			if ec.Delete.Path != "" || ec.Delete.Method != "" || ec.Delete.Field != "" || ec.Delete.Value != nil {
				p.Add(key+".delete.mode", "is required with the other delete keys (hard or soft)")
			}
		case DeleteHard:
			if ec.Delete.Path == "" {
				ec.Delete.Path = ec.Get
			}
			checkPath(p, key+".delete.path", ec.Delete.Path, true)
			switch m := strings.ToUpper(ec.Delete.Method); m {
			case "":
				ec.Delete.Method = http.MethodDelete
			case http.MethodDelete, http.MethodPost, http.MethodPut, http.MethodPatch:
				ec.Delete.Method = m
			default:
				p.Add(key+".delete.method", "unknown method %q (DELETE, POST, PUT or PATCH)", ec.Delete.Method)
			}
			if ec.Delete.Field != "" || ec.Delete.Value != nil {
				p.Add(key+".delete.field", "belongs to a soft delete, not a hard one")
			}
		case DeleteSoft:
			if ec.Delete.Path != "" || ec.Delete.Method != "" {
				p.Add(key+".delete.path", "a soft delete is an update (update.path and update.method)")
			}
			if ec.Delete.Field == "" {
				p.Add(key+".delete.field", "is required for a soft delete")
			} else if _, err := parsePath(ec.Delete.Field); err != nil {
				p.Add(key+".delete.field", "%v", err)
			}
			if ec.Delete.Value == nil {
				p.Add(key+".delete.value", "is required for a soft delete")
			} else if v, err := valueOf(ec.Delete.Value); err != nil {
				p.Add(key+".delete.value", "%v", err)
			} else {
				e.softValue = v
			}
		default:
			p.Add(key+".delete.mode", "unknown mode %q (none, hard or soft)", ec.Delete.Mode)
		}
	}

	if ec.IDField == "" {
		ec.IDField = "id"
	}
	var err error
	if e.idPath, err = parsePath(ec.IDField); err != nil {
		p.Add(key+".id_field", "%v", err)
	}
	if e.recordsPath, err = parsePath(ec.Records); err != nil {
		p.Add(key+".records", "%v", err)
	}
	if e.recordPath, err = parsePath(ec.Record); err != nil {
		p.Add(key+".record", "%v", err)
	}
	if ec.Wrap != "" && strings.TrimSpace(ec.Wrap) != ec.Wrap {
		p.Add(key+".wrap", "%q is not a member name", ec.Wrap)
	}

	// change time
	if ec.UpdatedAt.Field == "" {
		p.Add(key+".updated_at.field", "is required (the record's change time, e.g. modified)")
	} else if e.updatedPath, err = parsePath(ec.UpdatedAt.Field); err != nil {
		p.Add(key+".updated_at.field", "%v", err)
	}
	if ec.UpdatedAt.Format == "" {
		ec.UpdatedAt.Format = FormatRFC3339
	}
	e.updatedFmt = compileFormat(p, key+".updated_at", ec.UpdatedAt.Format, ec.UpdatedAt.TimeZone)

	// updated-since
	us := ec.UpdatedSince
	if us.Format == "" {
		us.Format = ec.UpdatedAt.Format
	}
	if us.TimeZone == "" {
		us.TimeZone = ec.UpdatedAt.TimeZone
	}
	ec.UpdatedSince = us
	e.sinceFmt = compileFormat(p, key+".updated_since", us.Format, us.TimeZone)
	sinceParams := mergeQuery(p, key+".updated_since", us.Params, us.Query)
	switch {
	case us.Param != "" && len(sinceParams) > 0:
		p.Add(key+".updated_since", "takes param or params, not both")
	case us.Param != "":
		checkParamName(p, key+".updated_since.param", us.Param)
		e.since = []param{{name: us.Param, tmpl: "{since}"}}
	case len(sinceParams) > 0:
		e.since = compileParams(p, key+".updated_since.params", sinceParams, "since")
	}
	e.exclusive = us.Exclusive

	e.static = compileStatic(p, key+".params", mergeQuery(p, key, ec.Params, ec.Query))

	// pagination
	ec.Pagination = compilePage(p, key+".pagination", ec.Pagination, &e.page)

	// match
	m := ec.Match
	matchParams := mergeQuery(p, key+".match", m.Params, m.Query)
	if m.Field != "" || m.Param != "" || len(matchParams) > 0 {
		if ec.ReadOnly {
			p.Add(key+".match", "a read-only entity is never written: match is for the sink")
		}
		if m.Field == "" {
			p.Add(key+".match.field", "is required")
		} else if e.matchPath, err = parsePath(m.Field); err != nil {
			p.Add(key+".match.field", "%v", err)
		}
		switch {
		case m.Param != "" && len(matchParams) > 0:
			p.Add(key+".match", "takes param or params, not both")
		case m.Param != "":
			checkParamName(p, key+".match.param", m.Param)
			e.match = []param{{name: m.Param, tmpl: "{value}"}}
		case len(matchParams) > 0:
			e.match = compileParams(p, key+".match.params", matchParams, "value")
		default:
			p.Add(key+".match", "needs param or params: how the list finds a record by %s", m.Field)
		}
	}

	for i, w := range ec.WriteOnly {
		wp, err := parsePath(w)
		if err != nil || len(wp) == 0 {
			p.Add(fmt.Sprintf("%s.write_only[%d]", key, i), "%q is not a member path", w)
			continue
		}
		e.writeOnly = append(e.writeOnly, wp)
	}
	if ec.SkipUnchanged == nil {
		t := true
		ec.SkipUnchanged = &t
	}
	if ec.LookBack == nil {
		d := defaultLookBack
		ec.LookBack = &d
	} else if *ec.LookBack < 0 {
		p.Add(key+".look_back", "must not be negative")
	}
	switch {
	case ec.BatchSize == 0:
		ec.BatchSize = defaultBatchSize
	case ec.BatchSize < 0 || ec.BatchSize > maxBatchSize:
		p.Add(key+".batch_size", "must be between 1 and %d", maxBatchSize)
	}
	e.cfg = ec
	return ec, e
}

// mergeQuery returns params with the "name=value" entries of query added
// (key.query[i] names a bad one; a name in both is a problem too).
func mergeQuery(p *erp.Problems, key string, params map[string]string, query []string) map[string]string {
	out := make(map[string]string, len(params)+len(query))
	for k, v := range params {
		out[k] = v
	}
	for i, q := range query {
		name, value, ok := strings.Cut(q, "=")
		k := fmt.Sprintf("%s.query[%d]", key, i)
		_, inParams := params[name]
		_, twice := out[name]
		switch {
		case !ok || name == "":
			p.Add(k, "%q is not name=value", q)
		case inParams:
			p.Add(k, "%q is also in params", name)
		case twice:
			p.Add(k, "%q is listed twice", name)
		default:
			out[name] = value
		}
	}
	return out
}

// compileParams checks templated parameters: each value must hold the
// placeholder {<word>}.
func compileParams(p *erp.Problems, key string, params map[string]string, word string) []param {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]param, 0, len(names))
	found := false
	for _, n := range names {
		checkParamName(p, key, n)
		v := params[n]
		if strings.Contains(v, "{"+word+"}") {
			found = true
		}
		out = append(out, param{name: n, tmpl: v})
	}
	if !found {
		p.Add(key, "no value holds {%s}", word)
	}
	return out
}

func compileStatic(p *erp.Problems, key string, params map[string]string) []param {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]param, 0, len(names))
	for _, n := range names {
		checkParamName(p, key, n)
		out = append(out, param{name: n, tmpl: params[n]})
	}
	return out
}

func compilePage(p *erp.Problems, key string, pc PageConfig, ps *pageSpec) PageConfig {
	ps.kind = pc.Type
	switch pc.Type {
	case "":
		p.Add(key+".type", "is required (page, offset, cursor, link or none)")
	case PageNumber, PageOffset, PageCursor, PageLink, PageNone:
	default:
		p.Add(key+".type", "unknown type %q (page, offset, cursor, link or none)", pc.Type)
	}
	only := func(k, v string, kinds ...string) {
		if v == "" {
			return
		}
		for _, kd := range kinds {
			if pc.Type == kd {
				return
			}
		}
		p.Add(key+"."+k, "does not apply to pagination type %q (only %s)", pc.Type, strings.Join(kinds, ", "))
	}
	only("page_param", pc.PageParam, PageNumber)
	if pc.FirstPage != nil {
		only("first_page", "set", PageNumber)
	}
	only("offset_param", pc.OffsetParam, PageOffset)
	only("cursor_param", pc.CursorParam, PageCursor)
	only("next_cursor", pc.NextCursor, PageCursor)
	only("has_more", pc.HasMore, PageCursor)
	only("total_pages_header", pc.TotalPagesHeader, PageNumber)
	only("total_header", pc.TotalHeader, PageNumber, PageOffset)
	only("stop", pc.Stop, PageNumber, PageOffset)
	if pc.Type == PageNone && (pc.Size != 0 || pc.SizeParam != "") {
		p.Add(key+".size", "size and size_param do not apply to pagination type none")
	}
	switch {
	case pc.Type == PageNone:
	case pc.Size == 0:
		pc.Size = defaultPageSize
	case pc.Size < 2 || pc.Size > maxPageSize:
		p.Add(key+".size", "must be between 2 and %d", maxPageSize)
	}
	if pc.SizeParam == "" {
		switch pc.Type {
		case PageNumber, PageLink:
			pc.SizeParam = "per_page"
		case PageOffset, PageCursor:
			pc.SizeParam = "limit"
		}
	}
	if pc.SizeParam != "" {
		checkParamName(p, key+".size_param", pc.SizeParam)
	}
	switch pc.Type {
	case PageNumber:
		if pc.PageParam == "" {
			pc.PageParam = "page"
		}
		checkParamName(p, key+".page_param", pc.PageParam)
		if pc.FirstPage == nil {
			one := 1
			pc.FirstPage = &one
		} else if *pc.FirstPage < 0 {
			p.Add(key+".first_page", "must not be negative")
		}
		ps.firstPage = *pc.FirstPage
		ps.pageParam = pc.PageParam
	case PageOffset:
		if pc.OffsetParam == "" {
			pc.OffsetParam = "offset"
		}
		checkParamName(p, key+".offset_param", pc.OffsetParam)
		ps.offsetParam = pc.OffsetParam
	case PageCursor:
		if pc.CursorParam == "" {
			pc.CursorParam = "cursor"
		}
		checkParamName(p, key+".cursor_param", pc.CursorParam)
		ps.cursorParam = pc.CursorParam
		var err error
		if pc.NextCursor == "" {
			p.Add(key+".next_cursor", "is required for pagination type cursor (the path of the next cursor in the reply)")
		} else if ps.nextCursor, err = parsePath(pc.NextCursor); err != nil || len(ps.nextCursor) == 0 {
			p.Add(key+".next_cursor", "%q is not a member path", pc.NextCursor)
		}
		if pc.HasMore != "" {
			if ps.hasMore, err = parsePath(pc.HasMore); err != nil || len(ps.hasMore) == 0 {
				p.Add(key+".has_more", "%q is not a member path", pc.HasMore)
			}
		}
	}
	for k, h := range map[string]string{"total_pages_header": pc.TotalPagesHeader, "total_header": pc.TotalHeader} {
		if h != "" && strings.ContainsAny(h, " :\r\n") {
			p.Add(key+"."+k, "%q is not a header name", h)
		}
	}
	switch pc.Stop {
	case "":
		if pc.Type == PageNumber || pc.Type == PageOffset {
			pc.Stop = "short_page"
		}
	case "short_page", "empty_page":
	default:
		p.Add(key+".stop", "unknown value %q (short_page or empty_page)", pc.Stop)
	}
	switch {
	case pc.MaxPages == 0:
		pc.MaxPages = defaultMaxPages
	case pc.MaxPages < 0:
		p.Add(key+".max_pages", "must not be negative")
	}
	ps.size, ps.sizeParam = pc.Size, pc.SizeParam
	ps.totalPagesHeader, ps.totalHeader = pc.TotalPagesHeader, pc.TotalHeader
	ps.stopEmpty = pc.Stop == "empty_page"
	ps.maxPages = pc.MaxPages
	return pc
}
