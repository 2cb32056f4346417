package callcenter

import (
	"net/url"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter/phone"
)

// ScreenpopConfig is the settings block of a screenpop connector.
//
//	default_region: DE
//	snapshot: data/screenpop.snap
//	snapshot_interval: 1m
//	recent_orders: 5
type ScreenpopConfig struct {
	DefaultRegion    string        `mapstructure:"default_region" yaml:"default_region" default:"US" doc:"the region (ISO 3166-1 alpha-2) of numbers written without a country code, in lookups and in customers' records without a billing country"`
	Snapshot         string        `mapstructure:"snapshot" yaml:"snapshot" doc:"a file the index is saved to (periodically and at stop) with the topic positions it stands at, so that a restart reads only what came since; relative to the hub's working directory. Without it every start reads the topics from the start"`
	SnapshotInterval time.Duration `mapstructure:"snapshot_interval" yaml:"snapshot_interval" default:"1m" doc:"how often the snapshot is written while the hub runs"`
	RecentOrders     int           `mapstructure:"recent_orders" yaml:"recent_orders" default:"5" doc:"the most recent orders kept and shown per customer (1 to 100)"`
	OpenInvoices     int           `mapstructure:"open_invoices" yaml:"open_invoices" default:"20" doc:"the open invoices kept and shown per customer, soonest due first (1 to 1000); the balance due adds up those"`
	Interactions     int           `mapstructure:"interactions" yaml:"interactions" default:"5" doc:"the last interactions (calls, e-mails) kept and shown per customer (1 to 100)"`
	MaxCustomers     int           `mapstructure:"max_customers" yaml:"max_customers" default:"5000000" doc:"the most customers indexed; beyond it customers are not indexed (hub_screenpop_dropped_total counts them). About 500 bytes of memory a customer with 3 orders"`
	Agents           AgentsConfig  `mapstructure:"agents" yaml:"agents" doc:"the push of call events to agents' browsers"`
}

// AgentsConfig is the agent push.
type AgentsConfig struct {
	Keep      int           `mapstructure:"keep" yaml:"keep" default:"16" doc:"the events kept per agent for a browser that reconnects (Last-Event-ID)"`
	Heartbeat time.Duration `mapstructure:"heartbeat" yaml:"heartbeat" default:"15s" doc:"how often an idle event stream gets a heartbeat"`
}

// withDefaults checks the settings the spec cannot.
func (c ScreenpopConfig) check() (*phone.Normalizer, error) {
	var p connectors.FieldErrors
	n, err := phone.New(c.DefaultRegion)
	if err != nil {
		p.Add("default_region", "%v", err)
	}
	between(&p, "recent_orders", c.RecentOrders, 1, 100)
	between(&p, "open_invoices", c.OpenInvoices, 1, 1000)
	between(&p, "interactions", c.Interactions, 1, 100)
	if c.MaxCustomers < 0 {
		p.Add("max_customers", "must not be negative")
	}
	if c.SnapshotInterval < time.Second {
		p.Add("snapshot_interval", "must be at least 1s")
	}
	between(&p, "agents.keep", c.Agents.Keep, 1, 1000)
	if c.Agents.Heartbeat < time.Second {
		p.Add("agents.heartbeat", "must be at least 1s")
	}
	return n, p.Err()
}

func between(p *connectors.FieldErrors, key string, v, lo, hi int) {
	if v < lo || v > hi {
		p.Add(key, "must be between %d and %d, got %d", lo, hi, v)
	}
}

// CallsConfig is the settings block of a calls connector.
//
//	view: screenpop
//	twilio: {auth_token: ${TWILIO_AUTH_TOKEN}}
//	ami: {addr: pbx:5038, username: hub, secret: ${AMI_SECRET}}
type CallsConfig struct {
	View    string        `mapstructure:"view" yaml:"view" required:"true" doc:"the screenpop connector whose index finds the callers, and whose agents' browsers get the screen-pop when their phone rings"`
	CallTTL time.Duration `mapstructure:"call_ttl" yaml:"call_ttl" default:"1h" doc:"how long a call is remembered: its stages are merged within it, and a repeated ended event within it logs the same record again"`
	// MaxCalls bounds the calls remembered.
	MaxCalls int           `mapstructure:"max_calls" yaml:"max_calls" default:"10000" doc:"the most calls remembered at once; the oldest is forgotten first"`
	Twilio   *TwilioConfig `mapstructure:"twilio" yaml:"twilio" doc:"Twilio's voice webhooks at POST /webhooks/calls/<name>/twilio"`
	AMI      *AMIConfig    `mapstructure:"ami" yaml:"ami" doc:"Asterisk's manager interface: the hub logs in and follows the calls"`
}

// TwilioConfig is Twilio's voice webhooks.
type TwilioConfig struct {
	AuthToken string `mapstructure:"auth_token" yaml:"auth_token" required:"true" secret:"true" doc:"the Twilio account's auth token: it keys the X-Twilio-Signature of every webhook"`
	PublicURL string `mapstructure:"public_url" yaml:"public_url" defaultdoc:"the scheme and host the request came to (X-Forwarded-Proto and X-Forwarded-Host when set)" doc:"the scheme and host Twilio calls the hub at (https://hub.example.com): the signature covers the full URL Twilio requested, which a proxy in front of the hub hides"`
	Answer    string `mapstructure:"answer" yaml:"answer" defaultdoc:"an empty <Response/>" doc:"the TwiML that answers Twilio's voice request of an incoming call (when the hub is the number's voice URL, e.g. <Response><Dial><Client>alice</Client></Dial></Response>); status callbacks get an empty <Response/>"`
	// Agents maps numbers to agents.
	Agents map[string]string `mapstructure:"agents" yaml:"agents" mapkey:"number" doc:"the agent a call to a number (E.164) rings, for legs that dial a number rather than client:NAME or sip:NAME@host (those name the agent themselves)"`
}

// AMIConfig is a manager connection to Asterisk.
type AMIConfig struct {
	Addr             string        `mapstructure:"addr" yaml:"addr" required:"true" doc:"the manager's host:port (manager.conf; Asterisk listens on 5038)"`
	Username         string        `mapstructure:"username" yaml:"username" required:"true" doc:"the manager user (a [section] of manager.conf with read = call)"`
	Secret           string        `mapstructure:"secret" yaml:"secret" required:"true" secret:"true" doc:"its secret"`
	OutboundContexts []string      `mapstructure:"outbound_contexts" yaml:"outbound_contexts" default:"from-internal" doc:"the dialplan contexts of calls that agents place: a call whose first channel starts in another context is inbound"`
	PingInterval     time.Duration `mapstructure:"ping_interval" yaml:"ping_interval" default:"20s" doc:"how often the hub pings the manager; three intervals without a word end the connection, which is then opened again"`
}

// check checks the settings the spec cannot.
func (c CallsConfig) check() error {
	var p connectors.FieldErrors
	if c.CallTTL < time.Second {
		p.Add("call_ttl", "must be at least 1s")
	}
	between(&p, "max_calls", c.MaxCalls, 1, 10000000)
	if t := c.Twilio; t != nil && t.PublicURL != "" {
		if u, err := url.Parse(t.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			p.Add("twilio.public_url", "want a scheme and host such as https://hub.example.com, got %q", t.PublicURL)
		}
	}
	if a := c.AMI; a != nil && a.PingInterval < time.Second {
		p.Add("ami.ping_interval", "must be at least 1s")
	}
	return p.Err()
}
