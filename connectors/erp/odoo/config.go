package odoo

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

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
	// Protocol is jsonrpc (default: POST /jsonrpc, execute_kw) or json2
	// (Odoo 19+: POST /json/2/<model>/<method> with a bearer API key).
	Protocol string `mapstructure:"protocol" yaml:"protocol"`
	// Database is the Odoo database. Required for jsonrpc; with json2 it
	// is sent as X-Odoo-Database when set (needed when one server hosts
	// several databases).
	Database string `mapstructure:"database" yaml:"database"`
	// Login is the user that jsonrpc logs in as (common.login).
	Login string `mapstructure:"login" yaml:"login"`
	// Password is the jsonrpc user's password; APIKey an API key of the
	// user (Preferences > Account Security), which jsonrpc accepts in
	// place of the password and json2 requires. Set one of them.
	Password string `mapstructure:"password" yaml:"password"`
	APIKey   string `mapstructure:"api_key" yaml:"api_key"`
	// Company is the company id every call runs in (context
	// allowed_company_ids) and new sale orders belong to; 0 (default)
	// takes the user's default company.
	Company int64 `mapstructure:"company" yaml:"company"`
	// Entities this connector reads and writes: customer (res.partner),
	// order (sale.order), invoice (account.move, read only); default all.
	Entities []string `mapstructure:"entities" yaml:"entities"`
	// SaleState is where the sink leaves an order it wrote: draft (a
	// quotation) or confirmed (default: action_confirm, a sales order).
	SaleState string `mapstructure:"sale_state" yaml:"sale_state"`
	// PollInterval is how often Read asks again while nothing changed;
	// default 5s.
	PollInterval time.Duration `mapstructure:"poll_interval" yaml:"poll_interval"`
	// LookBack re-reads changes this far behind the cursor, for
	// transactions that committed after later ones; default 10s, 0 off.
	LookBack *time.Duration `mapstructure:"look_back" yaml:"look_back"`
	// BatchSize caps the records one Read or Scan page returns; default 200.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size"`
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

const (
	defaultPollInterval = 5 * time.Second
	defaultLookBack     = 10 * time.Second
	defaultBatchSize    = 200
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

// withDefaults returns cfg with every default filled in, and an error
// naming every bad key.
func (cfg Config) withDefaults() (Config, error) {
	var p erp.Problems
	out := cfg
	out.HTTPConfig = cfg.HTTPConfig.WithDefaults(&p)
	if u, err := url.Parse(out.URL); err == nil && u.Host != "" {
		path := strings.TrimRight(u.Path, "/")
		if strings.HasSuffix(path, "/jsonrpc") || strings.HasSuffix(path, "/json/2") || strings.Contains(path, "/json/2/") {
			p.Add("url", "%q: give the server's base URL (the connector adds /jsonrpc or /json/2 itself)", cfg.URL)
		}
	}
	switch cfg.Protocol {
	case "":
		out.Protocol = ProtocolJSONRPC
	case ProtocolJSONRPC, ProtocolJSON2:
	default:
		p.Add("protocol", "unknown protocol %q (jsonrpc or json2)", cfg.Protocol)
	}
	if cfg.Database != "" && !dbName.MatchString(cfg.Database) {
		p.Add("database", "%q is not a database name", cfg.Database)
	}
	switch out.Protocol {
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
	if len(cfg.Entities) == 0 {
		out.Entities = []string{EntityCustomer, EntityInvoice, EntityOrder}
	} else {
		out.Entities = nil
		for i, e := range cfg.Entities {
			if modelOf(e) == "" {
				p.Add(fmt.Sprintf("entities[%d]", i), "unknown entity %q (customer, order, invoice)", e)
				continue
			}
			if slices.Contains(out.Entities, e) {
				p.Add(fmt.Sprintf("entities[%d]", i), "%q is listed twice", e)
				continue
			}
			out.Entities = append(out.Entities, e)
		}
		slices.Sort(out.Entities)
	}
	switch cfg.SaleState {
	case "":
		out.SaleState = SaleConfirmed
	case SaleDraft, SaleConfirmed:
	default:
		p.Add("sale_state", "unknown state %q (draft or confirmed)", cfg.SaleState)
	}
	switch {
	case cfg.PollInterval == 0:
		out.PollInterval = defaultPollInterval
	case cfg.PollInterval < 0:
		p.Add("poll_interval", "must not be negative")
	}
	if cfg.LookBack == nil {
		d := defaultLookBack
		out.LookBack = &d
	} else if *cfg.LookBack < 0 {
		p.Add("look_back", "must not be negative")
	}
	switch {
	case cfg.BatchSize == 0:
		out.BatchSize = defaultBatchSize
	case cfg.BatchSize < 0 || cfg.BatchSize > 10000:
		p.Add("batch_size", "must be between 1 and 10000")
	}
	return out, p.Err()
}

// secret is the credential that goes with every call.
func (cfg Config) secret() string {
	if cfg.APIKey != "" {
		return cfg.APIKey
	}
	return cfg.Password
}
