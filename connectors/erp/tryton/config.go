package tryton

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors/erp"
)

// Config is the settings block of a tryton connector:
//
//	url: http://127.0.0.1:8000   # trytond's JSON-RPC (plus every erp.HTTPConfig key:
//	                             # timeout, retries, rate_limit, daily_budget, debug, ...)
//	database: erp
//	user: admin
//	password: ${TRYTON_PASSWORD}
//	language: en
//	company: 0                   # 0: the user's current company
//	entities: [customer, order, invoice]
//	sale_state: confirmed        # draft, quotation or confirmed: where a written sale ends
//	invoice_states: [posted, paid, cancelled]   # the invoices the source reads
//	poll_interval: 5s
//	look_back: 10s
//	batch_size: 200
//	button_batch: 10             # sales per quote/confirm call
type Config struct {
	erp.HTTPConfig `mapstructure:",squash" yaml:",inline"`
	// Database is the Tryton database (the first path segment of the URL).
	Database string `mapstructure:"database" yaml:"database"`
	// User and Password log in (common.db.login) for a session.
	User     string `mapstructure:"user" yaml:"user"`
	Password string `mapstructure:"password" yaml:"password"`
	// Language of Tryton's messages; default en.
	Language string `mapstructure:"language" yaml:"language"`
	// Company is the company id every call runs in; 0 (default) takes the
	// user's current company.
	Company int64 `mapstructure:"company" yaml:"company"`
	// Entities this connector reads and writes: customer (party.party),
	// order (sale.sale), invoice (account.invoice, read only); default all.
	Entities []string `mapstructure:"entities" yaml:"entities"`
	// SaleState is where the sink leaves a sale it wrote: draft,
	// quotation or confirmed (default; Tryton then processes it and, with
	// invoice method "order", drafts its invoice at once).
	SaleState string `mapstructure:"sale_state" yaml:"sale_state"`
	// InvoiceStates are the invoice states the source and scanner read;
	// default posted, paid and cancelled. A draft invoice is Tryton's
	// working copy: it has no number, and Tryton deletes and re-creates
	// it when its sale changes, which a source cannot see (Tryton reports
	// no deletes). Add draft to read drafts too.
	InvoiceStates []string `mapstructure:"invoice_states" yaml:"invoice_states"`
	// PollInterval is how often Read asks again while nothing changed;
	// default 5s.
	PollInterval time.Duration `mapstructure:"poll_interval" yaml:"poll_interval"`
	// LookBack re-reads changes this far behind the cursor, for
	// transactions that committed after later ones; default 10s, 0 off.
	LookBack *time.Duration `mapstructure:"look_back" yaml:"look_back"`
	// BatchSize caps the records one Read or Scan page returns; default 200.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size"`
	// ButtonBatch caps the sales one quote, confirm or cancel call moves;
	// default 10. Without a queue worker Tryton processes a sale as it is
	// confirmed (invoice, shipment: 0.2-0.4 s a sale on a small server),
	// so one call for a whole batch can outlast the HTTP timeout.
	ButtonBatch int `mapstructure:"button_batch" yaml:"button_batch"`
}

// The entities and the Tryton models they map to.
const (
	EntityCustomer = "customer"
	EntityOrder    = "order"
	EntityInvoice  = "invoice"
)

// The sale states a sink can leave a sale in.
const (
	SaleDraft     = "draft"
	SaleQuotation = "quotation"
	SaleConfirmed = "confirmed"
)

const (
	defaultPollInterval = 5 * time.Second
	defaultLookBack     = 10 * time.Second
	defaultBatchSize    = 200
	defaultButtonBatch  = 10
)

func modelOf(entity string) string {
	switch entity {
	case EntityCustomer:
		return "party.party"
	case EntityOrder:
		return "sale.sale"
	case EntityInvoice:
		return "account.invoice"
	}
	return ""
}

// withDefaults returns cfg with every default filled in, and an error
// naming every bad key.
func (cfg Config) withDefaults() (Config, error) {
	var p erp.Problems
	out := cfg
	out.HTTPConfig = cfg.HTTPConfig.WithDefaults(&p)
	switch {
	case strings.TrimSpace(cfg.Database) == "":
		p.Add("database", "is required")
	case strings.ContainsAny(cfg.Database, "/?#% "):
		p.Add("database", "%q is not a database name", cfg.Database)
	}
	if strings.TrimSpace(cfg.User) == "" {
		p.Add("user", "is required")
	}
	if cfg.Password == "" {
		p.Add("password", "is required (use ${VAR} to read it from the environment)")
	}
	if out.Language == "" {
		out.Language = "en"
	}
	if cfg.Company < 0 {
		p.Add("company", "must be a company id, or 0 for the user's company")
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
	case SaleDraft, SaleQuotation, SaleConfirmed:
	default:
		p.Add("sale_state", "unknown state %q (draft, quotation or confirmed)", cfg.SaleState)
	}
	if len(cfg.InvoiceStates) == 0 {
		out.InvoiceStates = []string{"posted", "paid", "cancelled"}
	} else {
		out.InvoiceStates = nil
		for i, st := range cfg.InvoiceStates {
			switch st {
			case "draft", "validated", "posted", "paid", "cancelled":
			default:
				p.Add(fmt.Sprintf("invoice_states[%d]", i), "unknown invoice state %q (draft, validated, posted, paid, cancelled)", st)
				continue
			}
			if !slices.Contains(out.InvoiceStates, st) {
				out.InvoiceStates = append(out.InvoiceStates, st)
			}
		}
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
	switch {
	case cfg.ButtonBatch == 0:
		out.ButtonBatch = defaultButtonBatch
	case cfg.ButtonBatch < 0 || cfg.ButtonBatch > 1000:
		p.Add("button_batch", "must be between 1 and 1000")
	}
	return out, p.Err()
}
