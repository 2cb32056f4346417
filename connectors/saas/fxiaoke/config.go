package fxiaoke

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/canonical"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/saas"
)

// Config is the settings block of a fxiaoke connector:
//
//	url: https://open.fxiaoke.com
//	app_id: FSAID_131xxxx
//	app_secret: ${FXIAOKE_APP_SECRET}
//	permanent_code: ${FXIAOKE_PERMANENT_CODE}
//	open_user_id: FSUID_xxxx            # the user the hub acts as (currentOpenUserId)
//	entities:
//	  customer: {object: AccountObj}
//	  order: {object: SalesOrderObj, details: SalesOrderProductObj}
//	  invoice: {object: InvoiceApplicationObj, match_field: external_ref__c}
type Config struct {
	URL           string `mapstructure:"url" yaml:"url" default:"https://open.fxiaoke.com" doc:"the OpenAPI's base URL"`
	AppID         string `mapstructure:"app_id" yaml:"app_id" required:"true" doc:"the app's appId"`
	AppSecret     string `mapstructure:"app_secret" yaml:"app_secret" required:"true" secret:"true" doc:"the app's appSecret"`
	PermanentCode string `mapstructure:"permanent_code" yaml:"permanent_code" required:"true" secret:"true" doc:"the tenant's permanent authorization code of the app (permanentCode)"`
	OpenUserID    string `mapstructure:"open_user_id" yaml:"open_user_id" required:"true" doc:"the user every call acts as (currentOpenUserId): its rights are the connector's"`

	TokenRenewBefore time.Duration `mapstructure:"token_renew_before" yaml:"token_renew_before" default:"10m" doc:"how long before its expiresIn runs out a corpAccessToken is renewed (Fxiaoke hands out the same token for its first 6,600 of 7,200 seconds)"`
	PerEndpoint      int           `mapstructure:"per_endpoint" yaml:"per_endpoint" default:"100" doc:"calls per endpoint per endpoint_window: Fxiaoke's limit (100 per 20 s per endpoint); a call that would go over waits"`
	EndpointWindow   time.Duration `mapstructure:"endpoint_window" yaml:"endpoint_window" default:"20s" doc:"the window of per_endpoint"`
	DailyCalls       int           `mapstructure:"daily_calls" yaml:"daily_calls" defaultdoc:"0: no limit" doc:"calls this connector may make in any 24 hours (the tenant's daily quota, less what other apps need); a call that would go over waits"`
	PollInterval     time.Duration `mapstructure:"poll_interval" yaml:"poll_interval" default:"30s" doc:"how often a source asks again while nothing changed"`
	CheckEvery       time.Duration `mapstructure:"check_every" yaml:"check_every" default:"1m" doc:"readiness probes make a call only when no call succeeded for this long (each call counts against the quotas)"`
	PageSize         int           `mapstructure:"page_size" yaml:"page_size" default:"100" doc:"records per query page (and per read and scan page), 1 to 100"`
	ProductObject    string        `mapstructure:"product_object" yaml:"product_object" default:"ProductObj" doc:"the object detail lines name their product in (product_id)"`
	ProductCode      string        `mapstructure:"product_code" yaml:"product_code" default:"product_code" doc:"the product field that holds the SKU: a line read gets it as product_code, a line written may name its product by it"`

	saas.Transport `mapstructure:",squash" yaml:",inline"`

	Entities   map[string]EntityConfig `mapstructure:"entities" yaml:"entities" required:"true" mapkey:"entity" doc:"the objects, by canonical entity: customer, order, invoice"`
	ErrorCodes ErrorCodes              `mapstructure:"error_codes" yaml:"error_codes" doc:"how errorCode values are classified (never the message): the defaults are the connector's table of Fxiaoke's codes; check them against the tenant's documentation and extend them here"`
}

// EntityConfig is one entity's object.
type EntityConfig struct {
	Object      string `mapstructure:"object" yaml:"object" required:"true" doc:"the object's api name: AccountObj or ContactObj (customer), SalesOrderObj (order), InvoiceApplicationObj or PaymentObj (invoice), or a custom object (ending in __c, through the custom endpoints)"`
	Details     string `mapstructure:"details" yaml:"details" defaultdoc:"SalesOrderProductObj for SalesOrderObj" doc:"the detail object of the master's lines, read into and written from the record's member of that name"`
	DetailField string `mapstructure:"detail_field" yaml:"detail_field" defaultdoc:"order_id for SalesOrderProductObj" doc:"the detail's field that names its master"`
	MatchField  string `mapstructure:"match_field" yaml:"match_field" doc:"a unique field (a custom one such as hub_ref__c) the sink finds a record by when the hub has no _id for it (a first write, a rerun after the hub lost its state); without it such a record is always created"`
	Deletes     *bool  `mapstructure:"deletes" yaml:"deletes" default:"true" doc:"read voided records (is_deleted) as deletes"`
	ReadOnly    bool   `mapstructure:"read_only" yaml:"read_only" defaultdoc:"false" doc:"never written"`
}

// ErrorCodes classifies errorCode values. A code in none of the lists is
// retried (an unknown failure is not the record's fault for sure).
type ErrorCodes struct {
	Token      []int `mapstructure:"token" yaml:"token" default:"20016" doc:"the corpAccessToken expired or is unknown: a new token is fetched and the call made again once"`
	Busy       []int `mapstructure:"busy" yaml:"busy" default:"-1" doc:"the system is busy: retried"`
	RateLimit  []int `mapstructure:"rate_limit" yaml:"rate_limit" default:"20025" doc:"over an endpoint's call limit: retried after endpoint_window"`
	Quota      []int `mapstructure:"quota" yaml:"quota" default:"20026" doc:"the daily quota is spent: retried (the pipeline backs off)"`
	Credential []int `mapstructure:"credential" yaml:"credential" default:"20001" doc:"appId, appSecret or permanentCode refused: the connector is unavailable until a person fixes them"`
	Permission []int `mapstructure:"permission" yaml:"permission" default:"20017" doc:"the user or app lacks a right: unavailable, for every record alike"`
	Validation []int `mapstructure:"validation" yaml:"validation" default:"30001" doc:"a field or parameter is refused: the record's fault, dead-lettered"`
	NotFound   []int `mapstructure:"not_found" yaml:"not_found" default:"30002" doc:"no such record: an update or delete of it is NotFound"`
}

// predefined detail objects and the field naming their master.
var detailDefaults = map[string][2]string{"SalesOrderObj": {"SalesOrderProductObj", "order_id"}}

func validName(s string) bool { return s != "" && !strings.ContainsAny(s, " '\",()/") }

// check fills in defaults that depend on other keys and checks what the
// spec cannot.
func (c *Config) check(p *connectors.FieldErrors) {
	c.URL = strings.TrimRight(c.URL, "/")
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add("url", "%q is not an http(s) URL", c.URL)
	}
	if c.PageSize < 1 || c.PageSize > 100 {
		p.Add("page_size", "must be between 1 and 100")
	}
	if c.PerEndpoint < 1 {
		p.Add("per_endpoint", "must be at least 1")
	}
	if c.EndpointWindow <= 0 {
		p.Add("endpoint_window", "must be positive")
	}
	if c.DailyCalls < 0 {
		p.Add("daily_calls", "must not be negative")
	}
	if c.PollInterval <= 0 {
		p.Add("poll_interval", "must be positive")
	}
	if c.TokenRenewBefore < 0 || c.TokenRenewBefore >= time.Hour {
		p.Add("token_renew_before", "must be between 0 and 1h")
	}
	if len(c.Entities) == 0 {
		p.Add("entities", "names no entity: customer, order or invoice")
	}
	names := make([]string, 0, len(c.Entities))
	for n := range c.Entities {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e := c.Entities[n]
		key := "entities." + n
		if !canonical.IsEntity(n) || n == canonical.Interaction {
			p.Add(key, "unknown entity %q (customer, order or invoice)", n)
			continue
		}
		if !validName(e.Object) {
			p.Add(key+".object", "%q is not an object's api name", e.Object)
		}
		if d, ok := detailDefaults[e.Object]; ok {
			if e.Details == "" {
				e.Details = d[0]
			}
			if e.DetailField == "" && e.Details == d[0] {
				e.DetailField = d[1]
			}
		}
		if (e.Details == "") != (e.DetailField == "") {
			p.Add(key+".detail_field", "details and detail_field go together")
		}
		for k, v := range map[string]string{"details": e.Details, "detail_field": e.DetailField, "match_field": e.MatchField} {
			if v != "" && !validName(v) {
				p.Add(key+"."+k, "%q is not an api name", v)
			}
		}
		c.Entities[n] = e
	}
}

// http is the erp client config.
func (c *Config) http(p *erp.Problems) erp.HTTPConfig { return c.Transport.HTTP(c.URL, p) }
