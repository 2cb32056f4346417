package odoo

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

// The defaults Config's spec declares.
const (
	defaultPollInterval = 5 * time.Second
	defaultLookBack     = 10 * time.Second
	defaultBatchSize    = 200
)

func TestConfigProblems(t *testing.T) {
	neg := -time.Second
	url := erp.HTTPConfig{URL: "https://erp.example.com"}
	tests := []struct {
		name string
		cfg  Config
		want []string // keys named in the error
	}{
		{"empty jsonrpc", Config{}, []string{"url:", "database:", "login:", "password:"}},
		{"bad values", Config{HTTPConfig: erp.HTTPConfig{URL: "nope"}, Protocol: "xmlrpc", Database: "a/b", Company: -1,
			Entities: []string{"order", "ledger", "order"}, SaleState: "sent", PollInterval: -1, LookBack: &neg, BatchSize: -1},
			[]string{"url:", "protocol:", "database:", "company:", "entities[1]:", "entities[2]:", "sale_state:", "poll_interval:", "look_back:", "batch_size:"}},
		{"both secrets", Config{HTTPConfig: url, Database: "erp", Login: "bot", Password: "p", APIKey: "k"}, []string{"api_key:"}},
		{"json2 without key", Config{HTTPConfig: url, Protocol: ProtocolJSON2, Password: "p"}, []string{"api_key:", "password:"}},
		{"endpoint in url", Config{HTTPConfig: erp.HTTPConfig{URL: "https://erp.example.com/jsonrpc"}, Database: "erp", Login: "bot", Password: "p"},
			[]string{"url:"}},
		{"json2 path in url", Config{HTTPConfig: erp.HTTPConfig{URL: "https://erp.example.com/json/2/"}, Protocol: ProtocolJSON2, APIKey: "k"},
			[]string{"url:"}},
	}
	for _, tt := range tests {
		_, err := tt.cfg.withDefaults()
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if _, ok := connectors.AsFieldErrors(err); !ok {
			t.Errorf("%s: error %q carries no field errors", tt.name, err)
		}
		for _, k := range tt.want {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("%s: problems lack %s: %v", tt.name, k, err)
			}
		}
		if n := strings.Count(err.Error(), ";") + 1; n != len(tt.want) {
			t.Errorf("%s: %d problems, want %d: %v", tt.name, n, len(tt.want), err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	for _, tt := range []struct {
		cfg    Config
		proto  string
		secret string
	}{
		{Config{HTTPConfig: erp.HTTPConfig{URL: "http://127.0.0.1:8069/"}, Database: "erp", Login: "bot", Password: "pw"}, ProtocolJSONRPC, "pw"},
		{Config{HTTPConfig: erp.HTTPConfig{URL: "http://127.0.0.1:8069/"}, Database: "erp", Login: "bot", APIKey: "key"}, ProtocolJSONRPC, "key"},
		{Config{HTTPConfig: erp.HTTPConfig{URL: "http://127.0.0.1:8069/"}, Protocol: ProtocolJSON2, APIKey: "key"}, ProtocolJSON2, "key"},
	} {
		cfg, err := tt.cfg.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Protocol != tt.proto || cfg.secret() != tt.secret || cfg.SaleState != SaleConfirmed || *cfg.LookBack != defaultLookBack ||
			cfg.BatchSize != defaultBatchSize || cfg.PollInterval != defaultPollInterval ||
			strings.Join(cfg.Entities, ",") != "customer,invoice,order" || cfg.URL != "http://127.0.0.1:8069" || *cfg.Retries != erp.DefaultRetries {
			t.Fatalf("defaults: %+v", cfg)
		}
	}
}

func TestRegister(t *testing.T) {
	r := connectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	if err := Register(r); err == nil {
		t.Fatal("registered twice without an error")
	}
	_, err := r.New(Kind, connectors.Params{Name: "erp", Decode: func(into any) error {
		*(into.(*Config)) = Config{Database: "erp"}
		return nil
	}})
	if err == nil || !strings.Contains(err.Error(), "url: is required") || !strings.Contains(err.Error(), "connector erp (odoo)") {
		t.Fatalf("err = %v", err)
	}
	c, err := r.New(Kind, connectors.Params{Name: "erp", Decode: func(into any) error {
		*(into.(*Config)) = Config{HTTPConfig: erp.HTTPConfig{URL: "https://erp.example.com"}, Protocol: ProtocolJSON2, APIKey: "k"}
		return nil
	}})
	if err != nil || c.Name() != "erp" {
		t.Fatalf("new: %v", err)
	}
	if _, ok := c.(connectors.Reader); !ok {
		t.Fatal("not a Reader")
	}
	if _, ok := c.(connectors.Writer); !ok {
		t.Fatal("not a Writer")
	}
}

// TestDecodeSquashed decodes settings the way the hub's config loader does
// (mapstructure, unknown keys reported): the shared HTTP keys sit at the
// top of the block, next to Odoo's own.
func TestDecodeSquashed(t *testing.T) {
	settings := map[string]any{"url": "https://erp.example.com", "protocol": "json2", "database": "erp", "api_key": "k",
		"timeout": "10s", "rate_limit": 5, "daily_budget": 1000, "sale_state": "draft", "look_back": "0s", "company": 3,
		"entities": []any{"invoice", "customer"}, "debug": true, "bogus": 1}
	var cfg Config
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.StringToTimeDurationHookFunc(), WeaklyTypedInput: true, Metadata: &md, Result: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(settings); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(md.Unused) != "[bogus]" {
		t.Fatalf("unused = %v", md.Unused)
	}
	got, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != "https://erp.example.com" || got.Protocol != ProtocolJSON2 || got.Timeout != 10*time.Second || got.RateLimit != 5 ||
		got.DailyBudget != 1000 || got.SaleState != SaleDraft || *got.LookBack != 0 || got.Company != 3 || !got.Debug ||
		strings.Join(got.Entities, ",") != "customer,invoice" || got.APIKey != "k" {
		t.Fatalf("decoded %+v", got)
	}
}
