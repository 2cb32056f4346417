package rest

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/canonical"
	"github.com/crmhub/hub/connectors"
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
	Auth erp.AuthConfig `mapstructure:"auth" yaml:"auth" doc:"how requests authenticate"`
	// PollInterval is how often Read lists again while nothing changed.
	PollInterval time.Duration `mapstructure:"poll_interval" yaml:"poll_interval" default:"5s" doc:"how often a source lists again while nothing changed"`
	// Entities maps canonical entity names (customer, order, invoice,
	// interaction) to their REST resources.
	Entities map[string]EntityConfig `mapstructure:"entities" yaml:"entities" required:"true" mapkey:"entity" doc:"the REST resources, by canonical entity: customer, order, invoice or interaction"`
}

// EntityConfig describes one entity's REST resource.
type EntityConfig struct {
	// List is the collection path (relative to url), e.g.
	// /api/resource/Customer. Source, scanner and match lookups GET it.
	List string `mapstructure:"list" yaml:"list" required:"true" doc:"the collection path, relative to url (/api/resource/Customer); source, scanner and match lookups GET it"`
	// Get is the path of one record, with {id}; default List + "/{id}".
	Get string `mapstructure:"get" yaml:"get" defaultdoc:"list/{id}" doc:"the path of one record; {id} is filled in path-escaped"`
	// Create is where a new record is sent; default POST to List.
	Create WriteConfig `mapstructure:"create" yaml:"create" doc:"where a new record is sent: by default POST to list"`
	// Update is where a changed record is sent; default PUT to Get.
	Update WriteConfig `mapstructure:"update" yaml:"update" doc:"where a changed record is sent: by default PUT to get"`
	// Delete says how the sink applies deletes; default: not at all (a
	// delete is a permanent error).
	Delete DeleteConfig `mapstructure:"delete" yaml:"delete" doc:"how the sink applies deletes"`
	// ReadOnly entities are never written (invoices, usually).
	ReadOnly bool `mapstructure:"read_only" yaml:"read_only" defaultdoc:"false" doc:"never written: no create, update, delete or match (invoices, usually)"`
	// IDField is the dotted path of the record's id in a returned record
	// (ERPNext: "name").
	IDField string `mapstructure:"id_field" yaml:"id_field" default:"id" doc:"the dotted path of the id in a record (ERPNext: name)"`
	// UpdatedAt is the record's change time: the source's cursor and the
	// record's version.
	UpdatedAt TimeField `mapstructure:"updated_at" yaml:"updated_at" doc:"the record's change time: the source's cursor and the record's version"`
	// UpdatedSince is how the list asks for records changed since a time;
	// without it every poll lists everything.
	UpdatedSince SinceConfig `mapstructure:"updated_since" yaml:"updated_since" doc:"how the list asks for records changed since a time; without it every poll lists everything (correct, but costly)"`
	// Params are sent with every list request (ERPNext: fields, order_by).
	// The source needs the list oldest change first, ties in a fixed order
	// (order_by: modified asc, name asc).
	Params map[string]string `mapstructure:"params" yaml:"params" doc:"query parameters of every list request (ERPNext: fields, order_by); updated_since and match parameters of the same name replace them. The source needs the list oldest change first, ties in a fixed order (order_by: modified asc, name asc)"`
	// Query is more list params as "name=value" text: the config loader
	// lower-cases the keys of params, so a name with capitals (orderBy)
	// goes here.
	Query []string `mapstructure:"query" yaml:"query" doc:"more list parameters as name=value text: the config loader lower-cases the keys of params, so a name with capitals (orderBy) goes here"`
	// Records is the dotted path of the array of records in a list reply;
	// "" (the reply is the array, as WooCommerce's). ERPNext: data.
	Records string `mapstructure:"records" yaml:"records" defaultdoc:"none: the reply is the array" doc:"the dotted path of the array in a list reply (ERPNext: data); a missing or null member is an empty page"`
	// Record is the dotted path of the record in a get, create or update
	// reply; "" (the reply is the record). ERPNext: data.
	Record string `mapstructure:"record" yaml:"record" defaultdoc:"none: the reply is the record" doc:"the dotted path of the record in get, create and update replies (ERPNext: data)"`
	// Wrap sends create and update bodies as {"<wrap>": record}; default
	// none (the record is the body).
	Wrap string `mapstructure:"wrap" yaml:"wrap" defaultdoc:"none: the record is the body" doc:"send create and update bodies as {\"<wrap>\": record}"`
	// Pagination is how the list is paged.
	Pagination PageConfig `mapstructure:"pagination" yaml:"pagination" doc:"how the list is paged"`
	// Match finds an existing record by a reference field when the
	// pipeline does not know the record's id (a first write, or a rerun
	// after a crash between the create and the pipeline recording the id).
	Match MatchConfig `mapstructure:"match" yaml:"match" doc:"how the sink finds a record it has no id for (a first write, a rerun after a crash) by a reference field; without it such a record is always created"`
	// ReadEach reads every listed record again with Get, for APIs whose
	// lists leave out nested data (ERPNext lists carry no child tables).
	ReadEach bool `mapstructure:"read_each" yaml:"read_each" defaultdoc:"false" doc:"read each listed record again with get, for lists that leave out nested data (ERPNext lists carry no child tables)"`
	// SkipUnchanged reads a record before updating it and writes only when
	// the record sent differs from what the target holds (updates bump the
	// target's change time, which the source would read back as a
	// change).
	SkipUnchanged *bool `mapstructure:"skip_unchanged" yaml:"skip_unchanged" default:"true" doc:"read a record before updating it and send nothing when the target already holds every field as sent (an update bumps the target's change time, which a source would read back as a change)"`
	// WriteOnly lists dotted paths the target takes on a write but does
	// not return (ERPNext's Customer address_line1, city, ... that become
	// its primary address): skip_unchanged leaves them out of the
	// comparison.
	WriteOnly []string `mapstructure:"write_only" yaml:"write_only" doc:"dotted paths the target takes on a write but never returns (ERPNext's Customer address_line1, city, ...): skip_unchanged leaves them out of its comparison"`
	// LookBack re-reads changes this far behind the cursor, for records
	// committed late; 0 off.
	LookBack *time.Duration `mapstructure:"look_back" yaml:"look_back" default:"10s" doc:"how far behind its cursor a source lists again, for changes that commit late; 0 turns it off"`
	// BatchSize caps the records one Read returns.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size" default:"100" doc:"the most records per source read, 1 to 10000"`
}

// WriteConfig is a create or update endpoint.
type WriteConfig struct {
	// Path, relative to url; an update path holds {id}.
	Path string `mapstructure:"path" yaml:"path" defaultdoc:"create: list; update: get" doc:"the path, relative to url; an update path holds {id}"`
	// Method: POST (create default) or PUT; PUT (update default), PATCH
	// or POST.
	Method string `mapstructure:"method" yaml:"method" defaultdoc:"create: POST; update: PUT" doc:"create: POST or PUT; update: PUT, PATCH or POST"`
}

// DeleteConfig is the sink's delete handling.
type DeleteConfig struct {
	// Mode is none (a delete is a permanent error), hard (send Method to
	// Path) or soft (update the record with Field set to Value).
	Mode string `mapstructure:"mode" yaml:"mode" default:"none" enum:"none|hard|soft" doc:"none (a delete is a permanent error), hard (send method to path) or soft (an update setting field to value)"`
	// Path of a hard delete, with {id}; default Get (WooCommerce:
	// /wp-json/wc/v3/orders/{id}?force=true).
	Path string `mapstructure:"path" yaml:"path" defaultdoc:"get" doc:"hard: the path, with {id} (WooCommerce: /wp-json/wc/v3/orders/{id}?force=true); a 404 or 410 counts as done"`
	// Method of a hard delete; default DELETE.
	Method string `mapstructure:"method" yaml:"method" defaultdoc:"DELETE" doc:"hard: DELETE, POST, PUT or PATCH"`
	// Field and Value of a soft delete (ERPNext: disabled, 1).
	Field string `mapstructure:"field" yaml:"field" doc:"soft: the dotted path of the field the update sets (ERPNext: disabled, or docstatus to cancel)"`
	Value any    `mapstructure:"value" yaml:"value" doc:"soft: the value it sets (ERPNext: 1, or 2 for docstatus)"`
}

// TimeField is a time member of the records.
type TimeField struct {
	// Field is its dotted path.
	Field string `mapstructure:"field" yaml:"field" required:"true" doc:"its dotted path (ERPNext: modified)"`
	// Format: rfc3339, frappe ("2006-01-02 15:04:05.999999"), unix,
	// unix_ms, or a Go layout such as "2006-01-02T15:04:05".
	Format string `mapstructure:"format" yaml:"format" default:"rfc3339" doc:"rfc3339, frappe (2006-01-02 15:04:05.999999), unix, unix_ms, or a Go layout such as 2006-01-02T15:04:05"`
	// TimeZone reads times written without an offset (ERPNext's system
	// time zone); default UTC.
	TimeZone string `mapstructure:"time_zone" yaml:"time_zone" defaultdoc:"UTC" doc:"the zone of times written without an offset (ERPNext: the site's time zone)"`
}

// SinceConfig is the list's updated-since query: either one parameter
// holding the time, or templates for filter-style APIs in which {since}
// stands for the time (and "{since}" with its quotes for a JSON string).
type SinceConfig struct {
	// Param is a query parameter that takes the time (modified_after).
	Param string `mapstructure:"param" yaml:"param" doc:"a query parameter that takes the time (WooCommerce: modified_after)"`
	// Params are query parameters with {since} in their values; they
	// replace list params of the same name.
	Params map[string]string `mapstructure:"params" yaml:"params" doc:"query parameters with {since} in their values, for filter-style APIs (\"{since}\" with its quotes becomes a JSON string); they replace list params of the same name"`
	// Query is more such parameters as "name=value" (names with capitals).
	Query []string `mapstructure:"query" yaml:"query" doc:"more such parameters as name=value text, for names with capitals"`
	// Format of the time sent; default updated_at.format.
	Format string `mapstructure:"format" yaml:"format" defaultdoc:"the value of updated_at.format" doc:"how the time is written"`
	// TimeZone of the time sent; default updated_at.time_zone.
	TimeZone string `mapstructure:"time_zone" yaml:"time_zone" defaultdoc:"the value of updated_at.time_zone" doc:"the zone the time is written in"`
	// Exclusive says the server returns records changed strictly after
	// the time (WooCommerce's modified_after): the source then asks from
	// one second earlier, so equal times are never skipped.
	Exclusive bool `mapstructure:"exclusive" yaml:"exclusive" defaultdoc:"false" doc:"the server returns records changed strictly after the time (WooCommerce's modified_after): the source asks from one second earlier, so equal times are never skipped"`
}

// PageConfig is the list's pagination.
type PageConfig struct {
	// Type is page, offset, cursor, link or none.
	Type string `mapstructure:"type" yaml:"type" required:"true" enum:"page|offset|cursor|link|none" doc:"page numbers, offsets, a cursor from the reply, the Link header's rel=next (RFC 8288, same scheme and host as url only), or none (one request)"`
	// Size is the page size asked for. It must not exceed the server's
	// own maximum (WooCommerce 100), or a full page looks short.
	Size int `mapstructure:"size" yaml:"size" defaultdoc:"100; none for type none" doc:"the page size asked for, 2 to 10000; not above the server's own maximum (WooCommerce 100), or a full page looks short"`
	// SizeParam carries Size; default per_page (page, link), limit (offset,
	// cursor). ERPNext: limit_page_length.
	SizeParam string `mapstructure:"size_param" yaml:"size_param" defaultdoc:"per_page (page, link), limit (offset, cursor)" doc:"the parameter carrying size (ERPNext: limit_page_length)"`
	// PageParam (type page) is the page number's parameter.
	PageParam string `mapstructure:"page_param" yaml:"page_param" defaultdoc:"page, for type page" doc:"page: the page number's parameter"`
	// FirstPage (type page) is the first page's number.
	FirstPage *int `mapstructure:"first_page" yaml:"first_page" defaultdoc:"1, for type page" doc:"page: the first page's number"`
	// OffsetParam (type offset). ERPNext: limit_start.
	OffsetParam string `mapstructure:"offset_param" yaml:"offset_param" defaultdoc:"offset, for type offset" doc:"offset: the offset's parameter (ERPNext: limit_start)"`
	// CursorParam (type cursor) sends the next cursor.
	CursorParam string `mapstructure:"cursor_param" yaml:"cursor_param" defaultdoc:"cursor, for type cursor" doc:"cursor: the parameter that sends the next cursor"`
	// NextCursor (type cursor) is the dotted path of the next cursor in
	// the reply; null or "" ends the list. Required for type cursor.
	NextCursor string `mapstructure:"next_cursor" yaml:"next_cursor" doc:"cursor, required: the dotted path of the next cursor in the reply; null or empty ends the list"`
	// HasMore (type cursor, optional) is the dotted path of a boolean that
	// is false on the last page.
	HasMore string `mapstructure:"has_more" yaml:"has_more" doc:"cursor: the dotted path of a boolean, false on the last page; when the reply has it, it decides (an empty page with has_more true goes on); without it an empty page ends the list"`
	// TotalPagesHeader (type page) is a reply header with the number of
	// pages (WooCommerce X-WP-TotalPages).
	TotalPagesHeader string `mapstructure:"total_pages_header" yaml:"total_pages_header" doc:"page: a reply header with the number of pages (WooCommerce: X-WP-TotalPages); the list ends on that page"`
	// TotalHeader (type page, offset) is a reply header with the number of
	// records (X-WP-Total).
	TotalHeader string `mapstructure:"total_header" yaml:"total_header" doc:"page, offset: a reply header with the number of records (X-WP-Total); the list ends after that many"`
	// Stop says when a page or offset list ends without a total header:
	// short_page (fewer records than size) or empty_page (one request
	// more, for servers that may return less than asked).
	Stop string `mapstructure:"stop" yaml:"stop" defaultdoc:"short_page, for types page and offset" enum:"short_page|empty_page" doc:"page, offset: when the list ends without a total header: on a page shorter than size, or only on an empty one (one request more, for servers that may return less than asked)"`
	// MaxPages stops a list that never ends (a server bug).
	MaxPages int `mapstructure:"max_pages" yaml:"max_pages" default:"100000" doc:"a list longer than this is an error (a server bug)"`
}

// MatchConfig finds a record by a reference field.
type MatchConfig struct {
	// Field is the dotted path of the reference in the record sent and in
	// the records listed (ERPNext's po_no or a custom field). A record
	// sent without it gets the hub id there.
	Field string `mapstructure:"field" yaml:"field" doc:"the dotted path of a reference in the record sent and in the records listed (ERPNext: po_no or a custom field; WooCommerce: customer_note); a record sent without it gets the hub id there"`
	// Param is a list query parameter that takes the value.
	Param string `mapstructure:"param" yaml:"param" doc:"a list parameter that takes the value (WooCommerce: search)"`
	// Params are list query parameters with {value} in their values ("{value}"
	// with its quotes for a JSON string); they replace list params of the
	// same name. The connector keeps only records whose Field equals the
	// value exactly, so a fuzzy search parameter is fine.
	Params map[string]string `mapstructure:"params" yaml:"params" doc:"list parameters with {value} in their values (\"{value}\" with its quotes becomes a JSON string); they replace list params of the same name. Only records whose field equals the value exactly are kept, so a fuzzy search is fine"`
	// Query is more such parameters as "name=value" (names with capitals).
	Query []string `mapstructure:"query" yaml:"query" doc:"more such parameters as name=value text, for names with capitals"`
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
	defaultPageSize = 100
	maxBatchSize    = 10000
	maxPageSize     = 10000
)

func knownEntity(e string) bool { return canonical.IsEntity(e) }

// withDefaults returns cfg with every default filled in (the spec's, then
// those that depend on other keys) and its entities compiled, and
// FieldErrors naming every bad key.
func (cfg Config) withDefaults() (Config, map[string]*entity, error) {
	spec := connectors.Resolve(&cfg)
	var p erp.Problems
	out := cfg
	out.HTTPConfig = cfg.HTTPConfig.WithDefaults(&p)
	out.Auth = cfg.Auth.WithDefaults(&p, "auth")
	if cfg.PollInterval < 0 {
		p.Add("poll_interval", "must not be negative")
	}
	ents := map[string]*entity{}
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
	return out, ents, spec.Merge(p.Err())
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

// checkMethod sets *method, in upper case, to one of allowed (the first
// when it is empty), or records a problem naming them.
func checkMethod(p *erp.Problems, key string, method *string, allowed ...string) {
	m := strings.ToUpper(*method)
	switch {
	case m == "":
		*method = allowed[0]
	case slices.Contains(allowed, m):
		*method = m
	default:
		last := len(allowed) - 1
		p.Add(key, "unknown method %q (%s or %s)", *method, strings.Join(allowed[:last], ", "), allowed[last])
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

	compileWrites(p, key, &ec, e)

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
	if ec.UpdatedAt.Field != "" {
		if e.updatedPath, err = parsePath(ec.UpdatedAt.Field); err != nil {
			p.Add(key+".updated_at.field", "%v", err)
		}
	}
	e.updatedFmt = compileFormat(p, key+".updated_at", ec.UpdatedAt.Format, ec.UpdatedAt.TimeZone)

	compileSince(p, key, &ec, e)

	e.static = compileStatic(p, key+".params", mergeQuery(p, key, ec.Params, ec.Query))

	// pagination
	ec.Pagination = compilePage(p, key+".pagination", ec.Pagination, &e.page)

	compileMatch(p, key, &ec, e)

	for i, w := range ec.WriteOnly {
		wp, err := parsePath(w)
		if err != nil || len(wp) == 0 {
			p.Add(fmt.Sprintf("%s.write_only[%d]", key, i), "%q is not a member path", w)
			continue
		}
		e.writeOnly = append(e.writeOnly, wp)
	}
	if ec.LookBack != nil && *ec.LookBack < 0 {
		p.Add(key+".look_back", "must not be negative")
	}
	if ec.BatchSize < 1 || ec.BatchSize > maxBatchSize {
		p.Add(key+".batch_size", "must be between 1 and %d", maxBatchSize)
	}
	e.cfg = ec
	return ec, e
}

// compileWrites checks and completes how a writable entity is created,
// updated and deleted (paths default to list and get, methods to POST,
// PUT and DELETE); a read-only one may say none of it.
func compileWrites(p *erp.Problems, key string, ec *EntityConfig, e *entity) {
	if ec.ReadOnly {
		if ec.Create != (WriteConfig{}) || ec.Update != (WriteConfig{}) || ec.Delete.Mode != "" && ec.Delete.Mode != DeleteNone {
			p.Add(key+".read_only", "a read-only entity takes no create, update or delete")
		}
		return
	}
	if ec.Create.Path == "" {
		ec.Create.Path = ec.List
	}
	if ec.Create.Path != "" {
		checkPath(p, key+".create.path", ec.Create.Path, false)
	}
	checkMethod(p, key+".create.method", &ec.Create.Method, http.MethodPost, http.MethodPut)
	if ec.Update.Path == "" {
		ec.Update.Path = ec.Get
	}
	if ec.Update.Path != "" {
		checkPath(p, key+".update.path", ec.Update.Path, true)
	}
	checkMethod(p, key+".update.method", &ec.Update.Method, http.MethodPut, http.MethodPatch, http.MethodPost)
	compileDelete(p, key, ec, e)
}

// compileDelete checks the delete mode and its keys; a soft delete's value
// is compiled into e.
func compileDelete(p *erp.Problems, key string, ec *EntityConfig, e *entity) {
	switch ec.Delete.Mode {
	case DeleteNone:
		if ec.Delete.Path != "" || ec.Delete.Method != "" || ec.Delete.Field != "" || ec.Delete.Value != nil {
			p.Add(key+".delete.mode", "is required with the other delete keys (hard or soft)")
		}
	case DeleteHard:
		if ec.Delete.Path == "" {
			ec.Delete.Path = ec.Get
		}
		checkPath(p, key+".delete.path", ec.Delete.Path, true)
		checkMethod(p, key+".delete.method", &ec.Delete.Method, http.MethodDelete, http.MethodPost, http.MethodPut, http.MethodPatch)
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
	}
}

// compileSince compiles how a read asks for what changed since a time
// (format and zone default to updated_at's).
func compileSince(p *erp.Problems, key string, ec *EntityConfig, e *entity) {
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
}

// compileMatch compiles how the sink finds a record by a field before it
// creates one.
func compileMatch(p *erp.Problems, key string, ec *EntityConfig, e *entity) {
	m := ec.Match
	matchParams := mergeQuery(p, key+".match", m.Params, m.Query)
	if m.Field != "" || m.Param != "" || len(matchParams) > 0 {
		if ec.ReadOnly {
			p.Add(key+".match", "a read-only entity is never written: match is for the sink")
		}
		if m.Field == "" {
			p.Add(key+".match.field", "is required")
		} else if mp, err := parsePath(m.Field); err != nil {
			p.Add(key+".match.field", "%v", err)
		} else {
			e.matchPath = mp
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
	ps.kind = pc.Type // the spec checks it
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
	if pc.Stop == "" && (pc.Type == PageNumber || pc.Type == PageOffset) {
		pc.Stop = "short_page"
	}
	if pc.MaxPages < 0 {
		p.Add(key+".max_pages", "must not be negative")
	}
	ps.size, ps.sizeParam = pc.Size, pc.SizeParam
	ps.totalPagesHeader, ps.totalHeader = pc.TotalPagesHeader, pc.TotalHeader
	ps.stopEmpty = pc.Stop == "empty_page"
	ps.maxPages = pc.MaxPages
	return pc
}
