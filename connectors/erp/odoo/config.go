package odoo

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

// Config is the settings block of an odoo connector:
//
//	url: https://erp.example.com  # the Odoo server (plus every erp.HTTPConfig key:
//	                              # timeout, retries, rate_limit, daily_budget, debug, ...)
//	protocol: jsonrpc             # jsonrpc (default, /jsonrpc) or json2 (Odoo 19+, /json/2)
//	database: erp                 # required for jsonrpc; json2 sends it as X-Odoo-Database
//	login: hub-bot                # jsonrpc: the user who logs in
//	password: ${ODOO_PASSWORD}    # jsonrpc: the user's password, or
//	api_key: ${ODOO_API_KEY}      # an API key (jsonrpc and, required, json2)
//	company: 0                    # 0: the user's default company
//	entities: [customer, order, invoice]
//	sale_state: confirmed         # draft or confirmed: where a written order ends
//	poll_interval: 5s
//	look_back: 10s
//	batch_size: 200
type Config struct {
	erp.HTTPConfig `mapstructure:",squash" yaml:",inline"`
	// Protocol is jsonrpc (POST /jsonrpc, execute_kw) or json2 (Odoo 19+:
	// POST /json/2/<model>/<method> with a bearer API key).
	Protocol string `mapstructure:"protocol" yaml:"protocol" default:"jsonrpc" enum:"jsonrpc|json2" doc:"jsonrpc (POST /jsonrpc, execute_kw: Odoo 14 and later, deprecated since 19) or json2 (Odoo 19+: POST /json/2/<model>/<method> with a bearer API key)"`
	// Database is the Odoo database. Required for jsonrpc; with json2 it
	// is sent as X-Odoo-Database when set (needed when one server hosts
	// several databases).
	Database string `mapstructure:"database" yaml:"database" doc:"the Odoo database. Required with jsonrpc; with json2 sent as X-Odoo-Database when set, which Odoo needs when one server hosts several databases and dbfilter does not pick one by host name"`
	// Login is the user that jsonrpc logs in as (common.login).
	Login string `mapstructure:"login" yaml:"login" doc:"required with jsonrpc: the login of the user the hub works as (best a dedicated bot user with only the rights it needs)"`
	// Password is the jsonrpc user's password; APIKey an API key of the
	// user (Preferences > Account Security), which jsonrpc accepts in
	// place of the password and json2 requires. Set one of them.
	Password string `mapstructure:"password" yaml:"password" secret:"true" doc:"jsonrpc: the user's password; set it or api_key, not both. json2 refuses it"`
	APIKey   string `mapstructure:"api_key" yaml:"api_key" secret:"true" doc:"an API key of the user (Preferences > Account Security > New API Key; Odoo 19 keys expire after at most three months): jsonrpc takes it in place of the password, json2 requires it"`
	// Company is the company id every call runs in (context
	// allowed_company_ids) and new sale orders belong to; 0 (default)
	// takes the user's default company.
	Company int64 `mapstructure:"company" yaml:"company" defaultdoc:"0: the user's default company" doc:"a res.company id: every call runs with allowed_company_ids [company] in its context and new sale orders get company_id"`
	// Entities this connector reads and writes: customer (res.partner),
	// order (sale.order), invoice (account.move, read only).
	Entities []string `mapstructure:"entities" yaml:"entities" default:"customer,invoice,order" enum:"customer|order|invoice" doc:"the entities this connector reads and writes: customer (res.partner), order (sale.order), invoice (account.move, read only)"`
	// SaleState is where the sink leaves an order it wrote: draft (a
	// quotation) or confirmed (action_confirm, a sales order).
	SaleState string `mapstructure:"sale_state" yaml:"sale_state" default:"confirmed" enum:"draft|confirmed" doc:"where the sink leaves an order it wrote: confirmed (action_confirm, a sales order) or draft (a quotation)"`
	// PollInterval is how often Read asks again while nothing changed.
	PollInterval time.Duration `mapstructure:"poll_interval" yaml:"poll_interval" default:"5s" doc:"how often a source asks again while nothing changed"`
	// LookBack re-reads changes this far behind the cursor, for
	// transactions that committed after later ones; 0 off.
	LookBack *time.Duration `mapstructure:"look_back" yaml:"look_back" default:"10s" doc:"how far behind its cursor a source reads again, for transactions that committed late; 0 turns it off"`
	// BatchSize caps the records one Read or Scan page returns.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size" default:"200" doc:"the most records per read and per scan page, 1 to 10000"`
}

// The protocols.
const (
	ProtocolJSONRPC = "jsonrpc"
	ProtocolJSON2   = "json2"
)

// The entities and the Odoo models they map to.
const (
	EntityCustomer = "customer"
	EntityOrder    = "order"
	EntityInvoice  = "invoice"
)

// The sale states a sink can leave an order in.
const (
	SaleDraft     = "draft"
	SaleConfirmed = "confirmed"
)

// dbName is what Odoo accepts as a database name.
var dbName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func modelOf(entity string) string {
	switch entity {
	case EntityCustomer:
		return "res.partner"
	case EntityOrder:
		return "sale.order"
	case EntityInvoice:
		return "account.move"
	}
	return ""
}

// withDefaults returns cfg with every default filled in (the spec's and
// the shared HTTP keys'), and FieldErrors naming every bad key.
func (cfg Config) withDefaults() (Config, error) {
	spec := connectors.Resolve(&cfg)
	var p erp.Problems
	out := cfg
	out.HTTPConfig = cfg.HTTPConfig.WithDefaults(&p)
	if u, err := url.Parse(out.URL); err == nil && u.Host != "" {
		path := strings.TrimRight(u.Path, "/")
		if strings.HasSuffix(path, "/jsonrpc") || strings.HasSuffix(path, "/json/2") || strings.Contains(path, "/json/2/") {
			p.Add("url", "%q: give the server's base URL (the connector adds /jsonrpc or /json/2 itself)", cfg.URL)
		}
	}
	if cfg.Database != "" && !dbName.MatchString(cfg.Database) {
		p.Add("database", "%q is not a database name", cfg.Database)
	}
	switch cfg.Protocol {
	case ProtocolJSONRPC:
		if strings.TrimSpace(cfg.Database) == "" {
			p.Add("database", "is required with protocol jsonrpc")
		}
		if strings.TrimSpace(cfg.Login) == "" {
			p.Add("login", "is required with protocol jsonrpc")
		}
		switch {
		case cfg.Password == "" && cfg.APIKey == "":
			p.Add("password", "or api_key is required (use ${VAR} to read it from the environment)")
		case cfg.Password != "" && cfg.APIKey != "":
			p.Add("api_key", "set password or api_key, not both")
		}
	case ProtocolJSON2:
		if cfg.APIKey == "" {
			p.Add("api_key", "is required with protocol json2 (use ${VAR} to read it from the environment)")
		}
		if cfg.Password != "" {
			p.Add("password", "is not used with protocol json2, which authenticates with api_key only")
		}
	}
	if cfg.Company < 0 {
		p.Add("company", "must be a company id, or 0 for the user's default company")
	}
	out.Entities = nil
	for i, e := range cfg.Entities {
		if modelOf(e) == "" {
			continue // the spec reports it
		}
		if slices.Contains(out.Entities, e) {
			p.Add(fmt.Sprintf("entities[%d]", i), "%q is listed twice", e)
			continue
		}
		out.Entities = append(out.Entities, e)
	}
	slices.Sort(out.Entities)
	if cfg.PollInterval < 0 {
		p.Add("poll_interval", "must not be negative")
	}
	if cfg.LookBack != nil && *cfg.LookBack < 0 {
		p.Add("look_back", "must not be negative")
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > 10000 {
		p.Add("batch_size", "must be between 1 and 10000")
	}
	return out, spec.Merge(p.Err())
}

// secret is the credential that goes with every call.
func (cfg Config) secret() string {
	if cfg.APIKey != "" {
		return cfg.APIKey
	}
	return cfg.Password
}
