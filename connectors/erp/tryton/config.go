package tryton

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
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
	Database string `mapstructure:"database" yaml:"database" required:"true" doc:"the Tryton database (the first path segment of the URL)"`
	// User and Password log in (common.db.login) for a session.
	User     string `mapstructure:"user" yaml:"user" required:"true" doc:"the user the hub logs in as (common.db.login)"`
	Password string `mapstructure:"password" yaml:"password" required:"true" secret:"true" doc:"the user's password"`
	// Language of Tryton's messages.
	Language string `mapstructure:"language" yaml:"language" default:"en" doc:"the language of Tryton's messages"`
	// Company is the company id every call runs in; 0 (default) takes the
	// user's current company.
	Company int64 `mapstructure:"company" yaml:"company" defaultdoc:"0: the user's current company" doc:"the company id every call runs in"`
	// Entities this connector reads and writes: customer (party.party),
	// order (sale.sale), invoice (account.invoice, read only).
	Entities []string `mapstructure:"entities" yaml:"entities" default:"customer,invoice,order" enum:"customer|order|invoice" doc:"the entities this connector reads and writes: customer (party.party), order (sale.sale), invoice (account.invoice, read only)"`
	// SaleState is where the sink leaves a sale it wrote: draft,
	// quotation or confirmed (Tryton then processes it and, with invoice
	// method "order", drafts its invoice at once).
	SaleState string `mapstructure:"sale_state" yaml:"sale_state" default:"confirmed" enum:"draft|quotation|confirmed" doc:"where the sink leaves a sale it wrote; a confirmed sale is processed at once (with invoice method order, its invoice is drafted)"`
	// InvoiceStates are the invoice states the source and scanner read.
	// A draft invoice is Tryton's working copy: it has no number, and
	// Tryton deletes and re-creates it when its sale changes, which a
	// source cannot see (Tryton reports no deletes). Add draft to read
	// drafts too.
	InvoiceStates []string `mapstructure:"invoice_states" yaml:"invoice_states" default:"posted,paid,cancelled" enum:"draft|validated|posted|paid|cancelled" doc:"the invoice states the source and scanner read. A draft invoice has no number and Tryton re-creates it when its sale changes, unseen (Tryton reports no deletes): add draft to read drafts too"`
	// PollInterval is how often Read asks again while nothing changed.
	PollInterval time.Duration `mapstructure:"poll_interval" yaml:"poll_interval" default:"5s" doc:"how often a source asks again while nothing changed"`
	// LookBack re-reads changes this far behind the cursor, for
	// transactions that committed after later ones; 0 off.
	LookBack *time.Duration `mapstructure:"look_back" yaml:"look_back" default:"10s" doc:"how far behind its cursor a source reads again, for transactions that committed late; 0 turns it off"`
	// BatchSize caps the records one Read or Scan page returns.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size" default:"200" doc:"the most records per read and per scan page, 1 to 10000"`
	// ButtonBatch caps the sales one quote, confirm or cancel call moves.
	// Without a queue worker Tryton processes a sale as it is confirmed
	// (invoice, shipment: 0.2-0.4 s a sale on a small server), so one
	// call for a whole batch can outlast the HTTP timeout.
	ButtonBatch int `mapstructure:"button_batch" yaml:"button_batch" default:"10" doc:"the most sales one quote, confirm or cancel call moves, 1 to 1000: Tryton processes a sale as it is confirmed, so a large call can outlast the timeout"`
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

// withDefaults returns cfg with every default filled in (the spec's and
// the shared HTTP keys'), and FieldErrors naming every bad key.
func (cfg Config) withDefaults() (Config, error) {
	spec := connectors.Resolve(&cfg)
	var p erp.Problems
	out := cfg
	out.HTTPConfig = cfg.HTTPConfig.WithDefaults(&p)
	if strings.ContainsAny(cfg.Database, "/?#% ") {
		p.Add("database", "%q is not a database name", cfg.Database)
	}
	if cfg.Company < 0 {
		p.Add("company", "must be a company id, or 0 for the user's company")
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
	out.InvoiceStates = nil
	for _, st := range cfg.InvoiceStates {
		if !slices.Contains(out.InvoiceStates, st) {
			out.InvoiceStates = append(out.InvoiceStates, st)
		}
	}
	if cfg.PollInterval < 0 {
		p.Add("poll_interval", "must not be negative")
	}
	if cfg.LookBack != nil && *cfg.LookBack < 0 {
		p.Add("look_back", "must not be negative")
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > 10000 {
		p.Add("batch_size", "must be between 1 and 10000")
	}
	if cfg.ButtonBatch < 1 || cfg.ButtonBatch > 1000 {
		p.Add("button_batch", "must be between 1 and 1000")
	}
	return out, spec.Merge(p.Err())
}
