package tryton

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

// The defaults Config's spec declares.
const (
	defaultLookBack    = 10 * time.Second
	defaultBatchSize   = 200
	defaultButtonBatch = 10
)

func TestConfigProblems(t *testing.T) {
	neg := -time.Second
	_, err := Config{HTTPConfig: erp.HTTPConfig{URL: "nope"}, Database: "a/b", Entities: []string{"order", "ledger", "order"},
		SaleState: "done", LookBack: &neg, BatchSize: -1, ButtonBatch: 5000, InvoiceStates: []string{"posted", "open"}}.withDefaults()
	if err == nil {
		t.Fatal("no error")
	}
	if _, ok := connectors.AsFieldErrors(err); !ok {
		t.Errorf("error %q carries no field errors", err)
	}
	for _, k := range []string{"url:", "database:", "user:", "password:", "entities[1]:", "entities[2]:", "sale_state:", "look_back:", "batch_size:", "invoice_states[1]:", "button_batch:"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("problems lack %s: %v", k, err)
		}
	}
	cfg, err := Config{HTTPConfig: erp.HTTPConfig{URL: "http://127.0.0.1:8000/"}, Database: "erp", User: "admin", Password: "x"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SaleState != SaleConfirmed || *cfg.LookBack != defaultLookBack || cfg.BatchSize != defaultBatchSize || cfg.ButtonBatch != defaultButtonBatch ||
		strings.Join(cfg.Entities, ",") != "customer,invoice,order" || strings.Join(cfg.InvoiceStates, ",") != "posted,paid,cancelled" || cfg.URL != "http://127.0.0.1:8000" || cfg.Language != "en" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestRegister(t *testing.T) {
	r := connectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	_, err := r.New(Kind, connectors.Params{Name: "erp", Decode: func(into any) error {
		*(into.(*Config)) = Config{Database: "erp"}
		return nil
	}})
	if err == nil || !strings.Contains(err.Error(), "url: is required") || !strings.Contains(err.Error(), "connector erp (tryton)") {
		t.Fatalf("err = %v", err)
	}
}

// fakeTryton answers like trytond 6.0 (payloads as observed on a real one):
// login, then each method's canned reply; a session it did not hand out is
// HTTP 401 with an HTML body.
func fakeTryton(t *testing.T, replies map[string]string) (*httptest.Server, *atomic.Int32) {
	var logins atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := string(body)
		if strings.Contains(s, `"common.db.login"`) {
			logins.Add(1)
			io.WriteString(w, `{"id": 1, "result": [1, "0123456789abcdef"]}`)
			return
		}
		if r.Header.Get("Authorization") != "Session YWRtaW46MTowMTIzNDU2Nzg5YWJjZGVm" { // admin:1:0123456789abcdef
			w.WriteHeader(401)
			io.WriteString(w, "<html><h1>Unauthorized</h1></html>")
			return
		}
		for m, reply := range replies {
			if strings.Contains(s, `"`+m+`"`) {
				io.WriteString(w, reply)
				return
			}
		}
		w.WriteHeader(403)
	}))
	t.Cleanup(srv.Close)
	return srv, &logins
}

func TestRPCErrors(t *testing.T) {
	srv, logins := fakeTryton(t, map[string]string{
		"model.res.user.get_preferences": `{"id": 2, "result": {"company": 1, "language": "en"}}`,
		"model.party.party.create":       `{"id": 3, "error": ["UserError", ["The code on party must be unique.", "", null]]}`,
		"model.sale.sale.write":          `{"id": 4, "error": ["ConcurrencyException", "Records were modified in the meanwhile"]}`,
		"model.sale.sale.quote":          `{"id": 5, "error": ["database is locked", "Traceback (most recent call last):\n  File ...\nsqlite3.OperationalError: database is locked\n"]}`,
		"model.sale.sale.confirm":        `{"id": 6, "error": ["RequiredValidationError", ["A value is required for field \"Invoice Address\" in \"Sale\".", "", null]]}`,
	})
	c, err := New("t", Config{HTTPConfig: erp.HTTPConfig{URL: srv.URL}, Database: "erp", User: "admin", Password: "pw"}, erp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r, tctx, _ := c.started("")
	tests := []struct {
		model, method string
		kind          connectors.ErrorKind
		text          string
	}{
		{"party.party", "create", connectors.KindPermanent, "UserError: The code on party must be unique."},
		{"sale.sale", "write", connectors.KindRetryable, "ConcurrencyException: Records were modified"},
		{"sale.sale", "quote", connectors.KindRetryable, "sqlite3.OperationalError: database is locked"},
		{"sale.sale", "confirm", connectors.KindPermanent, `A value is required for field "Invoice Address"`},
		// Tryton answers 403 for a method it does not have (a module not
		// activated): every record would fail alike.
		{"sale.sale", "nosuch", connectors.KindUnavailable, "HTTP 403"},
	}
	for _, tt := range tests {
		err := r.model(ctx, tt.model, tt.method, tctx, nil, []int64{1})
		if k, _ := connectors.Classify(err); err == nil || k != tt.kind || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("%s.%s: %v (kind %v), want %v containing %q", tt.model, tt.method, err, k, tt.kind, tt.text)
		}
		var re *RPCError
		if tt.text != "HTTP 403" && !errors.As(err, &re) {
			t.Errorf("%s.%s: not an *RPCError", tt.model, tt.method)
		}
	}
	if logins.Load() != 1 {
		t.Fatalf("logins = %d, want 1 (the session is kept)", logins.Load())
	}
}

func TestWrongPasswordIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		io.WriteString(w, "<html><h1>Unauthorized</h1></html>")
	}))
	defer srv.Close()
	c, _ := New("t", Config{HTTPConfig: erp.HTTPConfig{URL: srv.URL}, Database: "erp", User: "admin", Password: "bad"}, erp.Options{})
	err := c.Start(context.Background())
	if k, _ := connectors.Classify(err); err == nil || k != connectors.KindUnavailable || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v", err)
	}
}

// TestDecodeSquashed decodes settings the way the hub's config loader does
// (mapstructure, unknown keys reported): the shared HTTP keys sit at the
// top of the block.
func TestDecodeSquashed(t *testing.T) {
	settings := map[string]any{"url": "http://127.0.0.1:8000", "database": "erp", "user": "admin", "password": "pw",
		"timeout": "10s", "rate_limit": 5, "daily_budget": 1000, "sale_state": "quotation", "look_back": "0s", "bogus": 1}
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
	if got.URL != "http://127.0.0.1:8000" || got.Timeout != 10*time.Second || got.RateLimit != 5 || got.DailyBudget != 1000 ||
		got.SaleState != SaleQuotation || *got.LookBack != 0 {
		t.Fatalf("decoded %+v", got)
	}
}
