package rest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// The defaults Config's spec declares.
const (
	defaultPollInterval = 5 * time.Second
	defaultLookBack     = 10 * time.Second
	defaultBatchSize    = 100
	defaultMaxPages     = 100000
)

// validEntity is a complete, valid entity (ERPNext's Customer).
func validEntity() EntityConfig {
	return EntityConfig{
		List: "/api/resource/Customer", IDField: "name", Records: "data", Record: "data",
		UpdatedAt:    TimeField{Field: "modified", Format: FormatFrappe, TimeZone: "Europe/Berlin"},
		UpdatedSince: SinceConfig{Params: map[string]string{"filters": `[["modified",">=","{since}"]]`}},
		Params:       map[string]string{"fields": `["*"]`, "order_by": "modified asc, name asc"},
		Pagination:   PageConfig{Type: PageOffset, OffsetParam: "limit_start", SizeParam: "limit_page_length"},
		Match:        MatchConfig{Field: "custom_hub_id", Params: map[string]string{"filters": `[["custom_hub_id","=","{value}"]]`}},
	}
}

func validConfig() Config {
	return Config{
		HTTPConfig: erp.HTTPConfig{URL: "https://erp.example.com/"},
		Auth:       erp.AuthConfig{Type: erp.AuthAPIKey, Header: "Authorization", Prefix: "token ", Key: "k:s"},
		Entities:   map[string]EntityConfig{"customer": validEntity()},
	}
}

// TestConfigProblems: every bad key is reported by name, all at once.
func TestConfigProblems(t *testing.T) {
	neg := -time.Second
	zero := 0
	negPage := -1
	tests := []struct {
		name string
		mod  func(*Config, *EntityConfig)
		want []string // substrings of the error, each naming a key
	}{
		{"valid", func(*Config, *EntityConfig) {}, nil},
		{"no url", func(c *Config, _ *EntityConfig) { c.URL = "" }, []string{"url: is required"}},
		{"bad url", func(c *Config, _ *EntityConfig) { c.URL = "erp.example.com" }, []string{"url: \"erp.example.com\" is not an http(s) URL"}},
		{"http keys", func(c *Config, _ *EntityConfig) { c.Timeout = -1; c.RateLimit = -2 }, []string{"timeout:", "rate_limit:"}},
		{"auth type", func(c *Config, _ *EntityConfig) { c.Auth = erp.AuthConfig{Type: "token"} }, []string{`auth.type: "token" is not one of none, basic, bearer, api_key, oauth2`}},
		{"api key without key", func(c *Config, _ *EntityConfig) { c.Auth.Key = "" }, []string{"auth.key: is required"}},
		{"oauth2 incomplete", func(c *Config, _ *EntityConfig) { c.Auth = erp.AuthConfig{Type: erp.AuthOAuth2, TokenURL: "ftp://x"} },
			[]string{"auth.client_id:", "auth.client_secret:", "auth.token_url: \"ftp://x\""}},
		{"poll interval", func(c *Config, _ *EntityConfig) { c.PollInterval = -time.Second }, []string{"poll_interval: must not be negative"}},
		{"no entities", func(c *Config, _ *EntityConfig) { c.Entities = nil }, []string{"entities: is required"}},
		{"unknown entity", func(c *Config, e *EntityConfig) { c.Entities["ledger"] = *e }, []string{"entities.ledger: unknown entity"}},
		{"no list", func(_ *Config, e *EntityConfig) { e.List = "" }, []string{"entities.customer.list: is required"}},
		{"relative list", func(_ *Config, e *EntityConfig) { e.List = "api/resource/Customer" }, []string{"entities.customer.list: \"api/resource/Customer\" must be a path relative to url"}},
		{"list with id", func(_ *Config, e *EntityConfig) { e.List = "/x/{id}" }, []string{"entities.customer.list: \"/x/{id}\" must not hold {id}"}},
		{"get without id", func(_ *Config, e *EntityConfig) { e.Get = "/api/resource/Customer/one" }, []string{"entities.customer.get: \"/api/resource/Customer/one\" must hold {id} exactly once"}},
		{"create method", func(_ *Config, e *EntityConfig) { e.Create.Method = "PATCH" }, []string{"entities.customer.create.method: unknown method \"PATCH\" (POST or PUT)"}},
		{"update path", func(_ *Config, e *EntityConfig) { e.Update.Path = "/api/resource/Customer" }, []string{"entities.customer.update.path:"}},
		{"update method", func(_ *Config, e *EntityConfig) { e.Update.Method = "DELETE" }, []string{"entities.customer.update.method: unknown method \"DELETE\" (PUT, PATCH or POST)"}},
		{"delete mode", func(_ *Config, e *EntityConfig) { e.Delete.Mode = "archive" }, []string{`entities.customer.delete.mode: "archive" is not one of none, hard, soft`}},
		{"delete keys without mode", func(_ *Config, e *EntityConfig) { e.Delete.Field = "disabled" }, []string{"entities.customer.delete.mode: is required"}},
		{"soft delete without field", func(_ *Config, e *EntityConfig) { e.Delete = DeleteConfig{Mode: DeleteSoft} },
			[]string{"entities.customer.delete.field: is required", "entities.customer.delete.value: is required"}},
		{"soft delete with path", func(_ *Config, e *EntityConfig) {
			e.Delete = DeleteConfig{Mode: DeleteSoft, Path: "/x/{id}", Field: "f", Value: 1}
		},
			[]string{"entities.customer.delete.path: a soft delete is an update"}},
		{"hard delete with field", func(_ *Config, e *EntityConfig) { e.Delete = DeleteConfig{Mode: DeleteHard, Field: "f"} },
			[]string{"entities.customer.delete.field: belongs to a soft delete"}},
		{"hard delete method", func(_ *Config, e *EntityConfig) { e.Delete = DeleteConfig{Mode: DeleteHard, Method: "GET"} },
			[]string{"entities.customer.delete.method: unknown method \"GET\" (DELETE, POST, PUT or PATCH)"}},
		{"read only with writes", func(_ *Config, e *EntityConfig) { e.ReadOnly = true; e.Match = MatchConfig{}; e.Create.Method = "POST" },
			[]string{"entities.customer.read_only: a read-only entity takes no create"}},
		{"read only with match", func(_ *Config, e *EntityConfig) { e.ReadOnly = true }, []string{"entities.customer.match: a read-only entity is never written"}},
		{"id field", func(_ *Config, e *EntityConfig) { e.IDField = "data..name" }, []string{"entities.customer.id_field: \"data..name\" is not a dotted path"}},
		{"records path", func(_ *Config, e *EntityConfig) { e.Records = ".data" }, []string{"entities.customer.records:"}},
		{"record path", func(_ *Config, e *EntityConfig) { e.Record = "data." }, []string{"entities.customer.record:"}},
		{"no updated_at", func(_ *Config, e *EntityConfig) { e.UpdatedAt.Field = "" }, []string{"entities.customer.updated_at.field: is required"}},
		{"time format", func(_ *Config, e *EntityConfig) { e.UpdatedAt.Format = "iso" }, []string{"entities.customer.updated_at.format: unknown format \"iso\""}},
		{"time zone", func(_ *Config, e *EntityConfig) { e.UpdatedAt.TimeZone = "Mars/Olympus" }, []string{"entities.customer.updated_at.time_zone: unknown time zone \"Mars/Olympus\""}},
		{"since format", func(_ *Config, e *EntityConfig) { e.UpdatedSince.Format = "dd.mm.yyyy" }, []string{"entities.customer.updated_since.format:"}},
		{"since both", func(_ *Config, e *EntityConfig) { e.UpdatedSince.Param = "modified_after" }, []string{"entities.customer.updated_since: takes param or params, not both"}},
		{"since without placeholder", func(_ *Config, e *EntityConfig) {
			e.UpdatedSince.Params = map[string]string{"filters": `[["modified",">","x"]]`}
		},
			[]string{"entities.customer.updated_since.params: no value holds {since}"}},
		{"since param name", func(_ *Config, e *EntityConfig) { e.UpdatedSince = SinceConfig{Param: "modified after"} },
			[]string{"entities.customer.updated_since.param: \"modified after\" is not a query parameter name"}},
		{"param name", func(_ *Config, e *EntityConfig) { e.Params = map[string]string{"a=b": "c"} }, []string{"entities.customer.params: \"a=b\""}},
		{"query", func(_ *Config, e *EntityConfig) {
			e.Query = []string{"orderBy=modified", "fields=x", "noequals", "orderBy=id"}
		},
			[]string{"entities.customer.query[1]: \"fields\" is also in params", "entities.customer.query[2]: \"noequals\" is not name=value",
				"entities.customer.query[3]: \"orderBy\" is listed twice"}},
		{"since query", func(_ *Config, e *EntityConfig) {
			e.UpdatedSince = SinceConfig{Query: []string{"modifiedAfter={since}"}}
		}, nil},
		{"match query and param", func(_ *Config, e *EntityConfig) {
			e.Match = MatchConfig{Field: "ref", Param: "search", Query: []string{"refNo={value}"}}
		},
			[]string{"entities.customer.match: takes param or params, not both"}},
		{"no pagination", func(_ *Config, e *EntityConfig) { e.Pagination = PageConfig{} }, []string{"entities.customer.pagination.type: is required"}},
		{"pagination type", func(_ *Config, e *EntityConfig) { e.Pagination = PageConfig{Type: "keyset"} }, []string{`entities.customer.pagination.type: "keyset" is not one of page, offset, cursor, link, none`}},
		{"page size", func(_ *Config, e *EntityConfig) { e.Pagination.Size = 1 }, []string{"entities.customer.pagination.size: must be between 2 and 10000"}},
		{"keys of another type", func(_ *Config, e *EntityConfig) { e.Pagination.PageParam = "p"; e.Pagination.NextCursor = "next" },
			[]string{"entities.customer.pagination.page_param: does not apply to pagination type \"offset\"", "entities.customer.pagination.next_cursor: does not apply"}},
		{"cursor without next", func(_ *Config, e *EntityConfig) { e.Pagination = PageConfig{Type: PageCursor} },
			[]string{"entities.customer.pagination.next_cursor: is required for pagination type cursor"}},
		{"first page", func(_ *Config, e *EntityConfig) { e.Pagination = PageConfig{Type: PageNumber, FirstPage: &negPage} },
			[]string{"entities.customer.pagination.first_page: must not be negative"}},
		{"first page zero is fine", func(_ *Config, e *EntityConfig) { e.Pagination = PageConfig{Type: PageNumber, FirstPage: &zero} }, nil},
		{"header name", func(_ *Config, e *EntityConfig) {
			e.Pagination = PageConfig{Type: PageNumber, TotalPagesHeader: "X WP"}
		},
			[]string{"entities.customer.pagination.total_pages_header: \"X WP\" is not a header name"}},
		{"stop", func(_ *Config, e *EntityConfig) { e.Pagination.Stop = "never" }, []string{`entities.customer.pagination.stop: "never" is not one of short_page, empty_page`}},
		{"size with none", func(_ *Config, e *EntityConfig) { e.Pagination = PageConfig{Type: PageNone, Size: 10} },
			[]string{"entities.customer.pagination.size: size and size_param do not apply to pagination type none"}},
		{"max pages", func(_ *Config, e *EntityConfig) { e.Pagination.MaxPages = -1 }, []string{"entities.customer.pagination.max_pages: must not be negative"}},
		{"match without field", func(_ *Config, e *EntityConfig) { e.Match.Field = "" }, []string{"entities.customer.match.field: is required"}},
		{"match without query", func(_ *Config, e *EntityConfig) { e.Match.Params = nil }, []string{"entities.customer.match: needs param or params"}},
		{"match both", func(_ *Config, e *EntityConfig) { e.Match.Param = "search" }, []string{"entities.customer.match: takes param or params, not both"}},
		{"match placeholder", func(_ *Config, e *EntityConfig) { e.Match.Params = map[string]string{"filters": "[]"} },
			[]string{"entities.customer.match.params: no value holds {value}"}},
		{"write only", func(_ *Config, e *EntityConfig) { e.WriteOnly = []string{"city", ""} }, []string{"entities.customer.write_only[1]: \"\" is not a member path"}},
		{"look back", func(_ *Config, e *EntityConfig) { e.LookBack = &neg }, []string{"entities.customer.look_back: must not be negative"}},
		{"batch size", func(_ *Config, e *EntityConfig) { e.BatchSize = 20000 }, []string{"entities.customer.batch_size: must be between 1 and 10000"}},
		{"wrap", func(_ *Config, e *EntityConfig) { e.Wrap = " order" }, []string{"entities.customer.wrap:"}},
		{"several at once", func(c *Config, e *EntityConfig) { c.URL = ""; e.List = ""; e.Pagination = PageConfig{} },
			[]string{"url:", "entities.customer.list:", "entities.customer.pagination.type:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			e := validEntity()
			cfg.Entities["customer"] = e
			tt.mod(&cfg, &e)
			if cfg.Entities != nil {
				cfg.Entities["customer"] = e
			}
			_, err := New("erp", cfg, erp.Options{})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tt.want)
			}
			if _, ok := connectors.AsFieldErrors(err); !ok {
				t.Errorf("error %q carries no field errors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems lack %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestConfigDefaults: the defaults filled in for a minimal entity.
func TestConfigDefaults(t *testing.T) {
	cfg := Config{HTTPConfig: erp.HTTPConfig{URL: "https://shop.example.com/"}, Entities: map[string]EntityConfig{
		"order": {List: "/wp-json/wc/v3/orders/", UpdatedAt: TimeField{Field: "date_modified_gmt"}, Pagination: PageConfig{Type: PageNumber}},
	}}
	c, err := New("shop", cfg, erp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Config()
	o := got.Entities["order"]
	checks := []struct {
		what string
		have any
		want any
	}{
		{"url", got.URL, "https://shop.example.com"},
		{"poll_interval", got.PollInterval, defaultPollInterval},
		{"auth.type", got.Auth.Type, erp.AuthNone},
		{"get", o.Get, "/wp-json/wc/v3/orders/{id}"},
		{"create", o.Create, WriteConfig{Path: "/wp-json/wc/v3/orders/", Method: http.MethodPost}},
		{"update", o.Update, WriteConfig{Path: "/wp-json/wc/v3/orders/{id}", Method: http.MethodPut}},
		{"delete.mode", o.Delete.Mode, DeleteNone},
		{"id_field", o.IDField, "id"},
		{"updated_at.format", o.UpdatedAt.Format, FormatRFC3339},
		{"updated_since.format", o.UpdatedSince.Format, FormatRFC3339},
		{"skip_unchanged", *o.SkipUnchanged, true},
		{"look_back", *o.LookBack, defaultLookBack},
		{"batch_size", o.BatchSize, defaultBatchSize},
		{"pagination.size", o.Pagination.Size, defaultPageSize},
		{"pagination.size_param", o.Pagination.SizeParam, "per_page"},
		{"pagination.page_param", o.Pagination.PageParam, "page"},
		{"pagination.first_page", *o.Pagination.FirstPage, 1},
		{"pagination.stop", o.Pagination.Stop, "short_page"},
		{"pagination.max_pages", o.Pagination.MaxPages, defaultMaxPages},
	}
	for _, ch := range checks {
		if fmt.Sprint(ch.have) != fmt.Sprint(ch.want) {
			t.Errorf("%s = %v, want %v", ch.what, ch.have, ch.want)
		}
	}
	if got := c.Reads(); len(got) != 1 || got[0].Entity != "order" {
		t.Errorf("reads = %v", got)
	}
	for typ, want := range map[string]string{PageOffset: "limit", PageCursor: "limit", PageLink: "per_page"} {
		pc := PageConfig{Type: typ}
		if typ == PageCursor {
			pc.NextCursor = "next"
		}
		var p erp.Problems
		var ps pageSpec
		if got := compilePage(&p, "k", pc, &ps); got.SizeParam != want || p.Err() != nil {
			t.Errorf("%s: size_param %q (problems %v), want %q", typ, got.SizeParam, p.Err(), want)
		}
	}
}

// TestDecodeSquashed decodes settings the way the hub's config loader does
// (mapstructure with its hooks, keys lower-cased by viper, unknown keys
// reported): the shared HTTP keys sit at the top of the block, beside
// auth and entities.
func TestDecodeSquashed(t *testing.T) {
	settings := map[string]any{
		"url": "https://erp.example.com", "timeout": "10s", "retries": 5, "rate_limit": 4, "daily_budget": 50000,
		"auth":          map[string]any{"type": "api_key", "header": "Authorization", "prefix": "token ", "key": "k:s"},
		"poll_interval": "2s",
		"entities": map[string]any{
			"customer": map[string]any{
				"list": "/api/resource/Customer", "id_field": "name", "records": "data", "record": "data",
				"updated_at":     map[string]any{"field": "modified", "format": "frappe", "time_zone": "Europe/Berlin"},
				"updated_since":  map[string]any{"params": map[string]any{"filters": `[["modified",">=","{since}"]]`}},
				"params":         map[string]any{"fields": `["*"]`, "order_by": "modified asc, name asc"},
				"pagination":     map[string]any{"type": "offset", "offset_param": "limit_start", "size_param": "limit_page_length", "size": "50"},
				"match":          map[string]any{"field": "custom_hub_id", "params": map[string]any{"filters": `[["custom_hub_id","=","{value}"]]`}},
				"delete":         map[string]any{"mode": "soft", "field": "disabled", "value": 1},
				"look_back":      "30s",
				"skip_unchanged": false,
				"bogus":          true,
			},
		},
	}
	var cfg Config
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(",")),
		WeaklyTypedInput: true, Metadata: &md, Result: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(settings); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(md.Unused) != "[entities[customer].bogus]" {
		t.Fatalf("unused = %v", md.Unused)
	}
	c, err := New("erp", cfg, erp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Config()
	e := got.Entities["customer"]
	if got.Timeout != 10*time.Second || *got.Retries != 5 || got.RateLimit != 4 || got.DailyBudget != 50000 || got.PollInterval != 2*time.Second ||
		got.Auth.Prefix != "token " || e.Pagination.Size != 50 || *e.LookBack != 30*time.Second || *e.SkipUnchanged ||
		e.Delete.Value != 1 || e.UpdatedAt.TimeZone != "Europe/Berlin" {
		t.Fatalf("decoded %+v\nentity %+v", got, e)
	}
	if v := c.ents["customer"].softValue; v.Kind() != mapping.Number || v.Str() != "1" {
		t.Fatalf("soft delete value %s", mapping.AppendJSON(nil, v))
	}
}

func TestRegister(t *testing.T) {
	r := connectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.Kinds(), "rest") {
		t.Fatalf("kinds = %v", r.Kinds())
	}
	_, err := r.New(Kind, connectors.Params{Name: "erp", Decode: func(into any) error {
		*(into.(*Config)) = Config{Entities: map[string]EntityConfig{"order": {List: "/orders"}}}
		return nil
	}})
	if err == nil || !strings.Contains(err.Error(), "connector erp (rest)") || !strings.Contains(err.Error(), "url: is required") ||
		!strings.Contains(err.Error(), "entities.order.pagination.type: is required") {
		t.Fatalf("err = %v", err)
	}
	if _, err := r.New(Kind, connectors.Params{Name: "erp"}); err == nil {
		t.Fatal("no settings: no error")
	}
}

func TestTimeFormats(t *testing.T) {
	tests := []struct {
		format, zone string
		in           mapping.Value
		want         time.Time
		wantErr      bool
		out          string // format(want)
	}{
		{FormatFrappe, "Europe/Berlin", mapping.StringValue("2026-03-01 10:00:00.123456"), time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC), false, "2026-03-01 10:00:00.123456"},
		{FormatFrappe, "Europe/Berlin", mapping.StringValue("2026-07-01 10:00:00"), time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC), false, "2026-07-01 10:00:00.000000"},
		{FormatFrappe, "", mapping.StringValue("2026-03-01T10:00:00"), time.Time{}, true, ""},
		{FormatRFC3339, "", mapping.StringValue("2026-03-01T10:00:00+01:00"), time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), false, "2026-03-01T09:00:00Z"},
		{FormatRFC3339, "Europe/Berlin", mapping.StringValue("2026-03-01T10:00:00.5"), time.Date(2026, 3, 1, 9, 0, 0, 5e8, time.UTC), false, "2026-03-01T09:00:00Z"},
		{FormatUnix, "", mapping.NumberValue("1772355600"), time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), false, "1772355600"},
		{FormatUnix, "", mapping.StringValue("1772355600.25"), time.Date(2026, 3, 1, 9, 0, 0, 25e7, time.UTC), false, "1772355600"},
		{FormatUnixMS, "", mapping.NumberValue("1772355600123"), time.Date(2026, 3, 1, 9, 0, 0, 123e6, time.UTC), false, "1772355600123"},
		{"2006-01-02T15:04:05", "", mapping.StringValue("2026-03-01T09:00:00"), time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), false, "2026-03-01T09:00:00"},
		{"02.01.2006 15:04", "Europe/Berlin", mapping.StringValue("01.03.2026 10:00"), time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), false, "01.03.2026 10:00"},
		{FormatRFC3339, "", mapping.Value{}, time.Time{}, true, ""},
		{FormatRFC3339, "", mapping.BoolValue(true), time.Time{}, true, ""},
		{FormatUnix, "", mapping.StringValue("yesterday"), time.Time{}, true, ""},
	}
	for _, tt := range tests {
		var p erp.Problems
		f := compileFormat(&p, "k", tt.format, tt.zone)
		if p.Err() != nil {
			t.Fatalf("%s: %v", tt.format, p.Err())
		}
		got, err := f.parse(tt.in)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("%s %s: got %v, %v; want %v (error %v)", tt.format, mapping.AppendJSON(nil, tt.in), got, err, tt.want, tt.wantErr)
			continue
		}
		if !tt.wantErr {
			if s := f.format(got); s != tt.out {
				t.Errorf("%s: format %v = %q, want %q", tt.format, got, s, tt.out)
			}
		}
	}
}

// TestQueryKeepsCase: names given as query: "name=value" keep their
// capitals (the config loader lower-cases map keys) and join params.
func TestQueryKeepsCase(t *testing.T) {
	cfg := validConfig()
	e := validEntity()
	e.Query = []string{"orderBy=modified", "sortOrder=ASC"}
	e.UpdatedSince = SinceConfig{Query: []string{"modifiedSince={since}"}}
	e.Match = MatchConfig{Field: "ref", Query: []string{"refNo={value}"}}
	cfg.Entities["customer"] = e
	c, err := New("erp", cfg, erp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ent := c.ents["customer"]
	q := ent.query(ent.since, "since", "2026-03-01")
	if q.Get("orderBy") != "modified" || q.Get("sortOrder") != "ASC" || q.Get("fields") != `["*"]` || q.Get("modifiedSince") != "2026-03-01" {
		t.Fatalf("list query %v", q)
	}
	if q := ent.query(ent.match, "value", "crm:1"); q.Get("refNo") != "crm:1" {
		t.Fatalf("match query %v", q)
	}
}

func TestRender(t *testing.T) {
	tests := []struct{ tmpl, value, want string }{
		{"{value}", "crm:1", "crm:1"},
		{`[["po_no","=","{value}"]]`, `a"b\c`, `[["po_no","=","a\"b\\c"]]`},
		{`[["modified",">=","{since}"]]`, "2026-03-01 10:00:00.000000", `[["modified",">=","2026-03-01 10:00:00.000000"]]`},
	}
	for _, tt := range tests {
		word := "value"
		if strings.Contains(tt.tmpl, "since") {
			word = "since"
		}
		if got := render(tt.tmpl, word, tt.value); got != tt.want {
			t.Errorf("render(%q, %q) = %q, want %q", tt.tmpl, tt.value, got, tt.want)
		}
	}
	if got := pathOf("/api/resource/Customer/{id}", "Acme / Sons & Co"); got != "/api/resource/Customer/Acme%20%2F%20Sons%20&%20Co" {
		t.Errorf("pathOf = %q", got)
	}
}

// TestServerMessage: the message and class found in the failing replies
// of Frappe, WooCommerce, OAuth2 servers and others.
func TestServerMessage(t *testing.T) {
	frappe417 := `{"exc_type":"MandatoryError","exception":"frappe.exceptions.MandatoryError: [Customer, new-customer-1]: customer_name",` +
		`"exc":"[\"Traceback (most recent call last):\\n ...\"]",` +
		`"_server_messages":"[\"{\\\"message\\\": \\\"Error: Value missing for Customer: <strong>Customer Name</strong>\\\", \\\"title\\\": \\\"Message\\\", \\\"raise_exception\\\": 1}\"]"}`
	tests := []struct {
		name, body, ctype string
		typ, msg          string
	}{
		{"frappe server messages", frappe417, "application/json", "MandatoryError", "Error: Value missing for Customer: Customer Name"},
		{"frappe exception only", `{"exc_type":"DoesNotExistError","exception":"frappe.exceptions.DoesNotExistError: Customer X not found"}`, "", "DoesNotExistError", "Customer X not found"},
		{"frappe class only", `{"exception":"frappe.exceptions.AuthenticationError"}`, "", "AuthenticationError", ""},
		{"frappe exc_type only", `{"exc_type":"AuthenticationError"}`, "", "AuthenticationError", ""},
		{"frappe several messages", `{"_server_messages":"[\"{\\\"message\\\": \\\"A\\\"}\", \"{\\\"message\\\": \\\"B &amp; C\\\"}\", \"{\\\"message\\\": \\\"A\\\"}\"]"}`, "", "", "A; B & C"},
		{"frappe plain text message", `{"_server_messages":"[\"just text\"]"}`, "", "", "just text"},
		{"woocommerce", `{"code":"woocommerce_rest_shop_order_invalid_id","message":"Invalid ID.","data":{"status":404}}`, "", "woocommerce_rest_shop_order_invalid_id", "Invalid ID."},
		{"oauth2", `{"error":"invalid_client","error_description":"Client authentication failed"}`, "", "invalid_client", "Client authentication failed"},
		{"rfc 6750", `{"error":"invalid_token"}`, "", "", "invalid_token"},
		{"error object", `{"error":{"code":"invalid_email","message":"email is not a valid address"}}`, "", "invalid_email", "email is not a valid address"},
		{"errors list", `{"errors":[{"message":"name is required"},"tier too high"]}`, "", "", "name is required; tier too high"},
		{"problem details", `{"type":"about:blank","title":"Conflict","detail":"version mismatch"}`, "application/problem+json", "", "version mismatch"},
		{"json string", `"Too Many Requests"`, "", "", "Too Many Requests"},
		{"html", "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>", "text/html", "", "502 Bad Gateway nginx"},
		{"text", "Too Many Requests", "text/plain", "", "Too Many Requests"},
		{"empty", "", "", "", ""},
	}
	for _, tt := range tests {
		typ, msg := serverMessage([]byte(tt.body), tt.ctype)
		if typ != tt.typ || msg != tt.msg {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", tt.name, typ, msg, tt.typ, tt.msg)
		}
	}
	long := `{"message":"` + strings.Repeat("x", 2000) + `"}`
	if _, msg := serverMessage([]byte(long), ""); len(msg) > maxMessage+3 {
		t.Errorf("long message not clipped: %d bytes", len(msg))
	}
}

func TestNextLink(t *testing.T) {
	tests := []struct {
		values []string
		want   string
	}{
		{[]string{`<https://shop.example.com/wp-json/wc/v3/orders?page=2>; rel="next"`}, "https://shop.example.com/wp-json/wc/v3/orders?page=2"},
		{[]string{`<https://x/a?page=1>; rel="prev"`, `<https://x/a?page=3>; rel="next"`}, "https://x/a?page=3"},
		{[]string{`<https://x/a?page=1>; rel="prev", <https://x/a?page=3>; rel="next"`}, "https://x/a?page=3"},
		{[]string{`<https://x/a?q=a,b>; rel="next"; title="a, b"`}, "https://x/a?q=a,b"},
		{[]string{`</orders?cursor=abc>; rel="last next"`}, "/orders?cursor=abc"},
		{[]string{`<https://x/a?page=9>; rel=last`}, ""},
		{[]string{`garbage`}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := nextLink(tt.values); got != tt.want {
			t.Errorf("nextLink(%q) = %q, want %q", tt.values, got, tt.want)
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		name       string
		have, want mapping.Value
		covered    bool
	}{
		{"subset", obj("name", "A", "extra", 1), obj("name", "A"), true},
		{"differs", obj("name", "A"), obj("name", "B"), false},
		{"missing member", obj("x", 1), obj("name", "A"), false},
		{"number and text", obj("qty", mapping.NumberValue("2.0")), obj("qty", "2"), true},
		{"numbers", obj("rate", mapping.NumberValue("199")), obj("rate", mapping.NumberValue("199.00")), true},
		{"texts are not numbers", obj("zip", "01234"), obj("zip", "1234"), false},
		{"bool and 0/1", obj("disabled", mapping.NumberValue("0")), obj("disabled", false), true},
		{"bool and 1", obj("disabled", mapping.NumberValue("1")), obj("disabled", false), false},
		{"null and missing", obj(), obj("note", nil), true},
		{"null and empty", obj("note", ""), obj("note", nil), true},
		{"null and value", obj("note", "x"), obj("note", nil), false},
		{"rows", obj("items", []any{map[string]any{"item_code": "A", "qty": 2.0, "name": "r1"}}), obj("items", []any{map[string]any{"item_code": "A", "qty": "2"}}), true},
		{"fewer rows", obj("items", []any{map[string]any{"item_code": "A"}, map[string]any{"item_code": "B"}}), obj("items", []any{map[string]any{"item_code": "A"}}), false},
		{"object for scalar", obj("a", map[string]any{"b": 1}), obj("a", "x"), false},
	}
	for _, tt := range tests {
		if got := covers(tt.have, tt.want); got != tt.covered {
			t.Errorf("%s: covers = %v, want %v", tt.name, got, tt.covered)
		}
	}
}

func TestCursorDecode(t *testing.T) {
	for _, bad := range []string{"nope!", "e30", "eyJ2IjoyfQ"} { // not base64; {}; {"v":2}
		if _, _, err := decodeCursor(bad); kindOf(err) != connectors.KindPermanent {
			t.Errorf("cursor %q: %v, want a permanent error", bad, err)
		}
	}
	c := cursor{T: "2026-03-01T09:00:00.5Z", ID: "CUST-1", Seen: map[string]int64{"CUST-1": 1}}
	got, tm, err := decodeCursor(c.encode())
	if err != nil || got.ID != "CUST-1" || !tm.Equal(time.Date(2026, 3, 1, 9, 0, 0, 5e8, time.UTC)) || got.Seen["CUST-1"] != 1 {
		t.Fatalf("round trip: %+v %v %v", got, tm, err)
	}
	if !lessID("9", "10") || lessID("10", "9") || !lessID("10", "A") || !lessID("CUST-1", "CUST-2") {
		t.Fatal("lessID")
	}
}
