package zoho

import (
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/canonical"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/saas"
)

// Config is the settings block of a zoho connector:
//
//	data_center: eu                     # com, eu, in, com.au, com.cn, jp, ca
//	client_id: 1000.XXXX
//	client_secret: ${ZOHO_CLIENT_SECRET}
//	refresh_token: ${ZOHO_REFRESH_TOKEN}
//	daily_credits: 40000                # the org's credits per 24 h this hub may spend
//	concurrency: 5                      # calls in flight (the org's limit is shared)
//	entities:
//	  customer: {module: Contacts}
//	  order: {module: Sales_Orders}
//	  invoice: {module: Invoices}
//	notifications:                      # optional: a push source
//	  url: https://hub.example.com/webhooks/zoho/zoho
//	  token: ${ZOHO_CHANNEL_TOKEN}
//	  channel_id: "1000000068001"
type Config struct {
	DataCenter   string `mapstructure:"data_center" yaml:"data_center" default:"com" enum:"com|eu|in|com.au|com.cn|jp|ca" doc:"the Zoho data center of the org: its accounts server is https://accounts.zoho.<data_center> (ca: accounts.zohocloud.ca)"`
	AccountsURL  string `mapstructure:"accounts_url" yaml:"accounts_url" defaultdoc:"the data center's accounts server" doc:"the accounts server that mints access tokens (a test's stand-in)"`
	APIDomain    string `mapstructure:"api_domain" yaml:"api_domain" defaultdoc:"the api_domain of the token reply" doc:"the API's base URL; by default the one the accounts server names with each token"`
	ClientID     string `mapstructure:"client_id" yaml:"client_id" required:"true" doc:"the OAuth client id (api-console.zoho.<data_center>, a self client or server-based client)"`
	ClientSecret string `mapstructure:"client_secret" yaml:"client_secret" required:"true" secret:"true" doc:"the OAuth client secret"`
	RefreshToken string `mapstructure:"refresh_token" yaml:"refresh_token" required:"true" secret:"true" doc:"the refresh token (scopes ZohoCRM.modules.ALL, ZohoCRM.coql.READ, and ZohoCRM.notifications.ALL for notifications); it mints access tokens, at most 10 in 10 minutes"`

	DailyCredits   int            `mapstructure:"daily_credits" yaml:"daily_credits" defaultdoc:"0: no limit" doc:"the API credits this connector may spend in any 24 hours (Zoho's limit is a rolling 24-hour window per org); a call that would go over waits. Leave room for the org's other integrations"`
	Concurrency    int            `mapstructure:"concurrency" yaml:"concurrency" default:"5" doc:"the most calls in flight, 1 to 25: Zoho's concurrency limit per org (5 to 25 by edition) is shared by every client of the org; a 429 is retried after a backoff"`
	PollInterval   time.Duration  `mapstructure:"poll_interval" yaml:"poll_interval" default:"30s" doc:"how often a source asks again while nothing changed; each ask costs credits (COQL, and the deleted records list)"`
	Settle         *time.Duration `mapstructure:"settle" yaml:"settle" default:"2s" doc:"changes younger than this (by Zoho's own clock, the Date of its reply) wait for the next read: Modified_Time has whole seconds, and a second is complete only once it has passed; 0 trusts Zoho's clock to the second"`
	PageSize       int            `mapstructure:"page_size" yaml:"page_size" default:"100" doc:"records per read, scan page and write call, 1 to 100 (a record fetch takes at most 100 ids, an upsert at most 100 records)"`
	CheckEvery     time.Duration  `mapstructure:"check_every" yaml:"check_every" default:"5m" doc:"readiness probes make a call only when no call succeeded for this long (each call costs a credit)"`
	ProductsModule string         `mapstructure:"products_module" yaml:"products_module" default:"Products" doc:"the module line items name their product in"`
	ProductCode    string         `mapstructure:"product_code" yaml:"product_code" default:"Product_Code" doc:"the product field that holds the SKU: a line item read gets it under Product_Name.<product_code>, and a line item written names its product by it"`

	saas.Transport `mapstructure:",squash" yaml:",inline"`

	Entities      map[string]EntityConfig `mapstructure:"entities" yaml:"entities" required:"true" mapkey:"entity" doc:"the modules, by canonical entity: customer, order, invoice"`
	Notifications *NotifyConfig           `mapstructure:"notifications" yaml:"notifications" doc:"notification channels (actions/watch): Zoho posts the ids of changed records, which a push source reads; without it only polling"`
}

// EntityConfig is one entity's module.
type EntityConfig struct {
	Module               string   `mapstructure:"module" yaml:"module" required:"true" doc:"the module's API name: Contacts or Accounts (customer), Sales_Orders (order), Invoices (invoice), or a custom module"`
	Fields               []string `mapstructure:"fields" yaml:"fields" defaultdoc:"the module's usual fields (see the page)" doc:"the fields read and compared on writes; id and Modified_Time are always read"`
	LineItems            string   `mapstructure:"line_items" yaml:"line_items" defaultdoc:"Ordered_Items for Sales_Orders, Invoiced_Items for Invoices" doc:"the line items subform; an item names its product by id in Product_Name"`
	DuplicateCheckFields []string `mapstructure:"duplicate_check_fields" yaml:"duplicate_check_fields" defaultdoc:"Email (Contacts), Account_Name (Accounts), Subject (Sales_Orders, Invoices), Name (custom)" doc:"the unique fields a record is found by when the hub has no id for it (a first write, a rerun): upsert's duplicate_check_fields"`
	Deletes              *bool    `mapstructure:"deletes" yaml:"deletes" default:"true" doc:"read deletes from the deleted records list (one more call per read)"`
	ReadOnly             bool     `mapstructure:"read_only" yaml:"read_only" defaultdoc:"false" doc:"never written"`
}

// NotifyConfig is the notification channel.
type NotifyConfig struct {
	URL         string        `mapstructure:"url" yaml:"url" required:"true" doc:"the hub's public URL of this connector's webhook, https://<hub>/webhooks/zoho/<connector> (notify_url)"`
	Token       string        `mapstructure:"token" yaml:"token" required:"true" secret:"true" doc:"the channel's token, at most 50 characters: Zoho sends it with every notification and the hub refuses one without it"`
	ChannelID   string        `mapstructure:"channel_id" yaml:"channel_id" required:"true" doc:"the channel's id, a number unique in the org"`
	Expiry      time.Duration `mapstructure:"expiry" yaml:"expiry" default:"24h" doc:"how long a subscription lasts, at most 7 days (168h); it is renewed before then"`
	RenewBefore time.Duration `mapstructure:"renew_before" yaml:"renew_before" default:"1h" doc:"how long before it expires the channel is renewed (and again after a failure, every minute)"`
}

// dataCenters maps a data center to its accounts server.
var dataCenters = map[string]string{
	"com": "https://accounts.zoho.com", "eu": "https://accounts.zoho.eu", "in": "https://accounts.zoho.in",
	"com.au": "https://accounts.zoho.com.au", "com.cn": "https://accounts.zoho.com.cn", "jp": "https://accounts.zoho.jp",
	"ca": "https://accounts.zohocloud.ca",
}

// moduleDefaults are the fields, line items and duplicate check fields of
// the standard modules.
func moduleDefaults(module string) (fields []string, lines string, dup []string) {
	switch module {
	case "Contacts":
		return []string{"First_Name", "Last_Name", "Full_Name", "Email", "Phone", "Mobile", "Account_Name", "Mailing_Street",
			"Mailing_City", "Mailing_State", "Mailing_Zip", "Mailing_Country", "Description", "Created_Time"}, "", []string{"Email"}
	case "Accounts":
		return []string{"Account_Name", "Account_Number", "Phone", "Website", "Billing_Street", "Billing_City", "Billing_State",
			"Billing_Code", "Billing_Country", "Description", "Created_Time"}, "", []string{"Account_Name"}
	case "Sales_Orders":
		return []string{"Subject", "SO_Number", "Contact_Name", "Account_Name", "Status", "Currency", "Sub_Total", "Tax",
			"Discount", "Adjustment", "Grand_Total", "Due_Date", "Billing_Street", "Billing_City", "Billing_Code",
			"Billing_Country", "Description", "Created_Time"}, "Ordered_Items", []string{"Subject"}
	case "Invoices":
		return []string{"Subject", "Invoice_Number", "Invoice_Date", "Due_Date", "Sales_Order", "Contact_Name", "Account_Name",
			"Status", "Currency", "Sub_Total", "Tax", "Grand_Total", "Description", "Created_Time"}, "Invoiced_Items", []string{"Subject"}
	case "Quotes":
		return []string{"Subject", "Contact_Name", "Account_Name", "Quote_Stage", "Grand_Total", "Created_Time"}, "Quoted_Items", []string{"Subject"}
	}
	return []string{"Name", "Created_Time"}, "", []string{"Name"}
}

const maxPage = 100

// check fills in the defaults that depend on other keys and checks what
// the spec cannot.
func (c *Config) check(p *connectors.FieldErrors) {
	if c.AccountsURL == "" {
		c.AccountsURL = dataCenters[c.DataCenter]
	}
	c.AccountsURL = strings.TrimRight(c.AccountsURL, "/")
	c.APIDomain = strings.TrimRight(c.APIDomain, "/")
	for k, u := range map[string]string{"accounts_url": c.AccountsURL, "api_domain": c.APIDomain} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			p.Add(k, "%q is not an http(s) URL", u)
		}
	}
	if c.Concurrency < 1 || c.Concurrency > 25 {
		p.Add("concurrency", "must be between 1 and 25")
	}
	if c.DailyCredits < 0 {
		p.Add("daily_credits", "must not be negative")
	}
	if c.PageSize < 1 || c.PageSize > maxPage {
		p.Add("page_size", "must be between 1 and %d", maxPage)
	}
	if c.PollInterval <= 0 {
		p.Add("poll_interval", "must be positive")
	}
	if c.Settle != nil && *c.Settle < 0 {
		p.Add("settle", "must not be negative")
	}
	c.checkEntities(p)
	if n := c.Notifications; n != nil {
		if u, err := url.Parse(n.URL); n.URL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.Contains(u.Path, "/webhooks/")) {
			p.Add("notifications.url", "%q is not the hub's http(s) URL of a path under /webhooks/", n.URL)
		}
		if len(n.Token) > 50 {
			p.Add("notifications.token", "is longer than Zoho's 50 characters")
		}
		if strings.Trim(n.ChannelID, "0123456789") != "" {
			p.Add("notifications.channel_id", "%q is not a number", n.ChannelID)
		}
		if n.Expiry <= 0 || n.Expiry > 7*24*time.Hour {
			p.Add("notifications.expiry", "must be positive and at most 168h")
		}
		if n.RenewBefore <= 0 || n.RenewBefore >= n.Expiry {
			p.Add("notifications.renew_before", "must be positive and shorter than expiry")
		}
	}
}

func (c *Config) checkEntities(p *connectors.FieldErrors) {
	if len(c.Entities) == 0 {
		p.Add("entities", "names no entity: customer, order or invoice")
	}
	names := make([]string, 0, len(c.Entities))
	for n := range c.Entities {
		names = append(names, n)
	}
	sort.Strings(names)
	modules := map[string]string{}
	for _, n := range names {
		e := c.Entities[n]
		key := "entities." + n
		if !canonical.IsEntity(n) || n == canonical.Interaction {
			p.Add(key, "unknown entity %q (customer, order or invoice)", n)
			continue
		}
		if strings.ContainsAny(e.Module, " '\",()/") {
			p.Add(key+".module", "%q is not a module's API name", e.Module)
		}
		if other, dup := modules[e.Module]; dup && e.Module != "" {
			p.Add(key+".module", "module %s is already entity %s's", e.Module, other)
		}
		modules[e.Module] = n
		fields, lines, dupFields := moduleDefaults(e.Module)
		if len(e.Fields) == 0 {
			e.Fields = fields
		}
		if e.LineItems == "" {
			e.LineItems = lines
		}
		if len(e.DuplicateCheckFields) == 0 {
			e.DuplicateCheckFields = dupFields
		}
		for _, f := range append(slices.Clone(e.Fields), e.DuplicateCheckFields...) {
			if f == "" || strings.ContainsAny(f, " '\",()") {
				p.Add(key+".fields", "%q is not a field's API name", f)
			}
		}
		c.Entities[n] = e
	}
}

// http is the erp client config of the connector: its base URL is the
// accounts server (API calls use absolute URLs under the api domain).
func (c *Config) http(p *erp.Problems) erp.HTTPConfig { return c.Transport.HTTP(c.AccountsURL, p) }
