package odoo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/erp/odoo/internal/odoofake"
)

// wire records every request the connector sends, as it goes out.
type wire struct {
	mu   sync.Mutex
	reqs []wireReq
}

type wireReq struct {
	path   string
	header http.Header
	body   []byte
}

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		b, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	w.mu.Lock()
	w.reqs = append(w.reqs, wireReq{path: r.URL.Path, header: r.Header.Clone(), body: b})
	w.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (w *wire) all() []wireReq {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wireReq(nil), w.reqs...)
}

// allowedArgs are the named arguments the connector may pass per method
// (the parameters of Odoo's methods, plus the context).
var allowedArgs = map[string][]string{
	"search_read":    {"domain", "fields", "offset", "limit", "order", "context"},
	"create":         {"vals_list", "context"},
	"write":          {"vals", "context"},
	"action_confirm": {"context"},
	"unlink":         {"context"},
	"context_get":    {},
}

func keysOf(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestWireShapes runs every kind of call the connector makes (start,
// sink creates and updates, confirm, delete, source read, scan) and checks
// each request on the wire against Odoo's published shapes: JSON-2 posts a
// JSON object of named arguments to /json/2/<model>/<method> with
// "Authorization: bearer <key>" and X-Odoo-Database; JSON-RPC posts
// {"jsonrpc": "2.0", "method": "call", "params": {"service": "object",
// "method": "execute_kw", "args": [db, uid, secret, model, method, args,
// kwargs]}, "id": n} to /jsonrpc after common.login.
func TestWireShapes(t *testing.T) {
	pathRE := regexp.MustCompile(`^/json/2/([a-z]+(?:\.[a-z_]+)+)/([a-z_]+)$`)
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			w := &wire{}
			fake := odoofake.Start(odoofake.Options{DB: "odoo", Login: "hub", Password: testPassword, APIKey: testAPIKey})
			defer fake.Close()
			cfg := Config{HTTPConfig: erp.HTTPConfig{URL: fake.URL}, Protocol: proto, Database: "odoo", SaleState: SaleConfirmed,
				PollInterval: 10 * time.Millisecond, BatchSize: 3}
			if proto == ProtocolJSON2 {
				cfg.APIKey = testAPIKey
			} else {
				cfg.Login, cfg.Password = "hub", testPassword
			}
			c, err := New("wire", cfg, erp.Options{Transport: w})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res := mustWrite(t, c, EntityCustomer, []connectors.WriteRecord{customer(1), customer(2)})
			upd := customer(1)
			upd.Data = obj("ref", "C0001", "name", "Customer 1 SA")
			mustWrite(t, c, EntityCustomer, []connectors.WriteRecord{upd})
			ores := mustWrite(t, c, EntityOrder, []connectors.WriteRecord{order(1, res[0].ExternalID, orderLines(1)...)})
			if ores[0].Err != nil {
				t.Fatal(ores[0].Err)
			}
			cfgDraft := c.cfg
			cfgDraft.SaleState = SaleDraft
			c.cfg = cfgDraft
			mustWrite(t, c, EntityOrder, []connectors.WriteRecord{order(2, res[1].ExternalID, orderLines(2)...)})
			del := order(2, res[1].ExternalID)
			del.Op = connectors.OpDelete
			if r := mustWrite(t, c, EntityOrder, []connectors.WriteRecord{del}); r[0].Err != nil {
				t.Fatal(r[0].Err)
			}
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			b, err := c.Read(rctx, EntityOrder, "", 10)
			cancel()
			if err != nil || len(b.Records) != 1 {
				t.Fatalf("read: %d records, %v", len(b.Records), err)
			}
			if n := len(scanAll(t, c, EntityCustomer, 10)); n != 4 {
				t.Fatalf("scan: %d", n)
			}

			methods := map[string]int{}
			for _, r := range w.all() {
				switch proto {
				case ProtocolJSON2:
					m := pathRE.FindStringSubmatch(r.path)
					if m == nil {
						t.Fatalf("path %q", r.path)
					}
					if got := r.header.Get("Authorization"); got != "bearer "+testAPIKey {
						t.Errorf("%s: Authorization %q", r.path, got)
					}
					if r.header.Get("X-Odoo-Database") != "odoo" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
						t.Errorf("%s: headers %v", r.path, r.header)
					}
					var body map[string]json.RawMessage
					if err := json.Unmarshal(r.body, &body); err != nil {
						t.Fatalf("%s: body is not a JSON object: %s", r.path, r.body)
					}
					method := m[2]
					methods[method]++
					allowed, known := allowedArgs[method]
					if !known {
						t.Fatalf("unexpected method %s", method)
					}
					for _, k := range keysOf(body) {
						if k == "ids" {
							continue
						}
						if !slices.Contains(allowed, k) {
							t.Errorf("%s: argument %q", r.path, k)
						}
					}
					_, hasIDs := body["ids"]
					if record := method == "write" || method == "action_confirm" || method == "unlink"; record != hasIDs {
						t.Errorf("%s: ids given = %v: %s", r.path, hasIDs, r.body)
					}
					if method == "search_read" {
						var dom []any
						if json.Unmarshal(body["domain"], &dom) != nil || body["fields"] == nil {
							t.Errorf("%s: search_read without a domain list or fields: %s", r.path, r.body)
						}
					}
				case ProtocolJSONRPC:
					if r.path != "/jsonrpc" {
						t.Fatalf("path %q", r.path)
					}
					if r.header.Get("Authorization") != "" {
						t.Errorf("JSON-RPC sent an Authorization header")
					}
					var env struct {
						JSONRPC string `json:"jsonrpc"`
						Method  string `json:"method"`
						ID      *int64 `json:"id"`
						Params  struct {
							Service string            `json:"service"`
							Method  string            `json:"method"`
							Args    []json.RawMessage `json:"args"`
						} `json:"params"`
					}
					if err := json.Unmarshal(r.body, &env); err != nil || env.JSONRPC != "2.0" || env.Method != "call" || env.ID == nil {
						t.Fatalf("envelope %s", r.body)
					}
					args := env.Params.Args
					str := func(i int) string {
						var s string
						_ = json.Unmarshal(args[i], &s)
						return s
					}
					switch env.Params.Service + "." + env.Params.Method {
					case "common.login":
						methods["login"]++
						if len(args) != 3 || str(0) != "odoo" || str(1) != "hub" || str(2) != testPassword {
							t.Errorf("login args %s", r.body)
						}
					case "object.execute_kw":
						if len(args) != 7 || str(0) != "odoo" || string(args[1]) != "2" || str(2) != testPassword {
							t.Fatalf("execute_kw args %s", r.body)
						}
						method := str(4)
						methods[method]++
						var pos []json.RawMessage
						var kw map[string]json.RawMessage
						if json.Unmarshal(args[5], &pos) != nil || json.Unmarshal(args[6], &kw) != nil {
							t.Fatalf("execute_kw args/kwargs %s", r.body)
						}
						record := method == "write" || method == "action_confirm" || method == "unlink"
						if (record && len(pos) != 1) || (!record && len(pos) != 0) {
							t.Errorf("%s: positional args %s", method, args[5])
						}
						for _, k := range keysOf(kw) {
							if !slices.Contains(allowedArgs[method], k) {
								t.Errorf("%s: argument %q", method, k)
							}
						}
					default:
						t.Fatalf("unexpected call %s", r.body)
					}
				}
			}
			for _, m := range []string{"context_get", "search_read", "create", "write", "action_confirm", "unlink"} {
				if methods[m] == 0 {
					t.Errorf("no %s call was made", m)
				}
			}
			if proto == ProtocolJSONRPC && methods["login"] != 1 {
				t.Errorf("logins = %d, want 1", methods["login"])
			}
			// And the fake, which binds arguments as Odoo does, served all.
			for _, call := range fake.Calls() {
				if call.Error != "" {
					t.Errorf("%s.%s failed: %s", call.Model, call.Method, call.Error)
				}
			}
		})
	}
}

// TestOdooErrors: Odoo's error replies of both protocols become *Error
// values with Odoo's class and message, classified.
func TestOdooErrors(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, proto, setup{})
			e.fake.Refuse("res.partner", func(r odoofake.Record) string {
				if r.Str("vat") == "BAD" {
					return "The VAT number [BAD] does not seem to be valid."
				}
				return ""
			})
			res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1)})
			pid := mustID(t, res[0].ExternalID)
			ores := mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{order(1, res[0].ExternalID, line{"SKU-1", "1", "1"})})
			sid := mustID(t, ores[0].ExternalID)
			r := e.conn.rpc
			ctx := context.Background()
			tests := []struct {
				name   string
				call   func() error
				kind   connectors.ErrorKind
				class  string
				text   string
				status int // JSON-2
			}{
				{"validation", func() error { return r.write(ctx, "res.partner", nil, []int64{pid}, map[string]any{"vat": "BAD"}) },
					connectors.KindPermanent, "ValidationError", "The VAT number [BAD] does not seem to be valid.", 422},
				{"user error", func() error { return r.method(ctx, "sale.order", "action_confirm", nil, []int64{sid}) },
					connectors.KindPermanent, "UserError", "Some orders are not in a state requiring confirmation.", 422},
				{"missing record", func() error { return r.write(ctx, "res.partner", nil, []int64{9999}, map[string]any{"name": "x"}) },
					connectors.KindPermanent, "MissingError", "Record does not exist or has been deleted.", 404},
				{"unknown field", func() error { return r.write(ctx, "res.partner", nil, []int64{pid}, map[string]any{"bogus": 1}) },
					connectors.KindPermanent, "ValueError", "Invalid field 'bogus' on model 'res.partner'", 500},
				{"unknown argument", func() error {
					return r.call(ctx, "res.partner", "search_read", nil, map[string]any{"domian": []any{}}, nil)
				},
					connectors.KindPermanent, "", "unexpected keyword argument 'domian'", 422},
				{"unknown model", func() error {
					return r.call(ctx, "res.nothing", "search_read", nil, map[string]any{"domain": []any{}}, nil)
				},
					connectors.KindPermanent, "", "res.nothing", 404},
			}
			for _, tt := range tests {
				err := tt.call()
				var oe *Error
				if err == nil || kindOf(err) != tt.kind || !errors.As(err, &oe) || !strings.Contains(err.Error(), tt.text) ||
					(tt.class != "" && oe.short() != tt.class) {
					t.Errorf("%s: %v (kind %v), want %v %s containing %q", tt.name, err, kindOf(err), tt.kind, tt.class, tt.text)
					continue
				}
				if proto == ProtocolJSON2 && oe.Status != tt.status {
					t.Errorf("%s: HTTP %d, want %d", tt.name, oe.Status, tt.status)
				}
				if proto == ProtocolJSONRPC && (oe.Status != 0 || oe.Code == 0) {
					t.Errorf("%s: JSON-RPC error with status %d code %d", tt.name, oe.Status, oe.Code)
				}
				if strings.Contains(err.Error(), "Traceback") {
					t.Errorf("%s: the traceback reached the error: %v", tt.name, err)
				}
			}
			if p, _ := e.fake.Get("res.partner", pid); p.Str("vat") != "" || p.Str("name") != "Customer 1" {
				t.Errorf("a refused write changed the partner: %v", p)
			}
		})
	}
}

// TestRetryAfter: 429 with Retry-After is waited for exactly and the call
// goes through once; a Retry-After longer than retry_max_wait is handed
// to the pipeline (retryable, with the wait) without writing anything.
func TestRetryAfter(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, proto, setup{})
			e.fake.FailNext(odoofake.Fault{Status: 429, RetryAfter: "2", Method: "create"}, odoofake.Fault{Status: 429, RetryAfter: "3", Method: "create"})
			res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1)})
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			if got := e.slept.all(); !slices.Equal(got, []time.Duration{2 * time.Second, 3 * time.Second}) {
				t.Fatalf("waits = %v, want [2s 3s] (Retry-After)", got)
			}
			if n := len(withField(e.fake.Records("res.partner"), "ref")); n != 1 {
				t.Fatalf("partners = %d, want 1", n)
			}
			e.fake.FailNext(odoofake.Fault{Status: 429, RetryAfter: "120", Method: "create"})
			res = mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(2)})
			k, after := connectors.Classify(res[0].Err)
			if res[0].Err == nil || k != connectors.KindRetryable || after != 120*time.Second {
				t.Fatalf("long Retry-After: %v (%v, %v)", res[0].Err, k, after)
			}
			if n := len(withField(e.fake.Records("res.partner"), "ref")); n != 1 {
				t.Fatalf("partners = %d, want still 1", n)
			}
		})
	}
}

// TestUnavailable: a 503 is retried (the server did not process the
// call); when it persists the batch fails retryable with nothing written,
// and the pipeline's retry writes each record once.
func TestUnavailable(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, proto, setup{})
			e.fake.FailNext(odoofake.Fault{Status: 503, Method: "create"})
			res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1)})
			if res[0].Err != nil || len(e.slept.all()) != 1 {
				t.Fatalf("one 503: %+v, waits %v", res[0], e.slept.all())
			}
			f := odoofake.Fault{Status: 503, Method: "search_read"}
			e.fake.FailNext(f, f, f, f)
			_, err := e.conn.Write(context.Background(), EntityCustomer, []connectors.WriteRecord{customer(2), customer(3)})
			if err == nil || kindOf(err) != connectors.KindRetryable || !strings.Contains(err.Error(), "503") {
				t.Fatalf("persistent 503: %v", err)
			}
			res = mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(2), customer(3)})
			if res[0].Err != nil || res[1].Err != nil {
				t.Fatalf("retry: %+v", res)
			}
			if n := len(withField(e.fake.Records("res.partner"), "ref")); n != 3 {
				t.Fatalf("partners = %d, want 3", n)
			}
		})
	}
}

// TestTimeoutThenRetry: Odoo creates the partner but answers after the
// client gave up; the write fails retryable (a create is not sent again
// blindly) and the pipeline's retry finds the partner by its ref instead
// of creating a second one.
func TestTimeoutThenRetry(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, proto, setup{cfg: func(c *Config) { c.Timeout = 250 * time.Millisecond }})
			e.fake.FailNext(odoofake.Fault{Delay: 600 * time.Millisecond, Method: "create"})
			res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1)})
			if res[0].Err == nil || kindOf(res[0].Err) != connectors.KindRetryable {
				t.Fatalf("timed out create: %+v", res[0])
			}
			// The server finishes the create it was given.
			for deadline := time.Now().Add(3 * time.Second); len(withField(e.fake.Records("res.partner"), "ref")) == 0; {
				if time.Now().After(deadline) {
					t.Fatal("the fake never created the partner")
				}
				time.Sleep(10 * time.Millisecond)
			}
			res = mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1)})
			ps := withField(e.fake.Records("res.partner"), "ref")
			if res[0].Err != nil || len(ps) != 1 || res[0].ExternalID != idString(ps[0].ID()) {
				t.Fatalf("retry: %+v, partners %v", res[0], ps)
			}
			if n := e.fake.Count("res.partner", "create"); n != 1 {
				t.Fatalf("creates = %d, want 1", n)
			}
		})
	}
}

// TestSessionRelogin (JSON-RPC): an expired session (code 100) and a
// changed user id (AccessDenied) each lead to one new login, after which
// the call succeeds.
func TestSessionRelogin(t *testing.T) {
	e := newEnv(t, ProtocolJSONRPC, setup{})
	e.fake.ExpireSession()
	res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1)})
	if res[0].Err != nil {
		t.Fatalf("after session expiry: %v", res[0].Err)
	}
	if st := e.conn.CallStats(); st.Relogins != 1 || e.fake.Count("", "login") != 2 {
		t.Fatalf("relogins %d, logins %d; want 1, 2", st.Relogins, e.fake.Count("", "login"))
	}
	e.fake.ChangeUID(7)
	e.fake.ResetCalls()
	res = mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(2)})
	if res[0].Err != nil {
		t.Fatalf("after a uid change: %v", res[0].Err)
	}
	calls := e.fake.Calls()
	if calls[0].Error != "odoo.exceptions.AccessDenied" || calls[1].Method != "login" {
		t.Fatalf("calls %+v", calls[:2])
	}
	if e.conn.CallStats().Relogins != 2 || len(withField(e.fake.Records("res.partner"), "ref")) != 2 {
		t.Fatalf("relogins %d", e.conn.CallStats().Relogins)
	}
}

// TestRevokedKey: once the key (or password) is revoked the connector
// fails the batch Unavailable after at most one new login, writing
// nothing.
func TestRevokedKey(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, proto, setup{})
			e.fake.RevokeKey()
			e.fake.ResetCalls()
			_, err := e.conn.Write(context.Background(), EntityCustomer, []connectors.WriteRecord{customer(1)})
			want := "refused"
			if proto == ProtocolJSON2 {
				want = "Invalid apikey"
			}
			if err == nil || kindOf(err) != connectors.KindUnavailable || !strings.Contains(err.Error(), want) {
				t.Fatalf("revoked: %v", err)
			}
			calls := e.fake.Calls()
			switch proto {
			case ProtocolJSON2:
				if len(calls) != 1 || calls[0].Status != 401 {
					t.Fatalf("calls %+v, want one 401", calls)
				}
			case ProtocolJSONRPC:
				if len(calls) != 2 || calls[0].Error != "odoo.exceptions.AccessDenied" || calls[1].Method != "login" {
					t.Fatalf("calls %+v, want AccessDenied then one login", calls)
				}
			}
			if n := len(withField(e.fake.Records("res.partner"), "ref")); n != 0 {
				t.Fatalf("partners = %d", n)
			}
		})
	}
}

// TestWrongCredentialsAtStart: Start fails Unavailable and says why.
func TestWrongCredentialsAtStart(t *testing.T) {
	fake := odoofake.Start(odoofake.Options{Login: "hub", Password: testPassword, APIKey: testAPIKey})
	defer fake.Close()
	for _, cfg := range []Config{
		{Protocol: ProtocolJSONRPC, Database: "odoo", Login: "hub", Password: "wrong"},
		{Protocol: ProtocolJSONRPC, Database: "nope", Login: "hub", Password: testPassword},
		{Protocol: ProtocolJSON2, APIKey: "wrong"},
	} {
		cfg.URL = fake.URL
		c, err := New("t", cfg, erp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Start(context.Background())
		if err == nil || kindOf(err) != connectors.KindUnavailable {
			t.Errorf("%s/%s: %v", cfg.Protocol, cfg.Database, err)
		}
		t.Logf("%s: %v", cfg.Protocol, err)
	}
}

// TestDebugLogHasNoSecret logs every request and response at debug level,
// through logins, a relogin and errors, and finds neither the password
// nor the API key in the log or in the errors.
func TestDebugLogHasNoSecret(t *testing.T) {
	variants := []struct {
		name, proto string
		apiKey      bool
	}{{"jsonrpc-password", ProtocolJSONRPC, false}, {"jsonrpc-apikey", ProtocolJSONRPC, true}, {"json2", ProtocolJSON2, true}}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			e := newEnv(t, v.proto, setup{debugLog: true, cfg: func(c *Config) {
				c.Debug = true
				if v.proto == ProtocolJSONRPC && v.apiKey {
					c.Password, c.APIKey = "", testAPIKey
				}
			}})
			e.fake.Refuse("res.partner", func(r odoofake.Record) string {
				if r.Str("ref") == "C0002" {
					return "refused " + r.Str("name")
				}
				return ""
			})
			e.fake.ExpireSession()
			res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1), customer(2)})
			e.fake.FailNext(odoofake.Fault{Status: 503})
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = e.conn.Read(rctx, EntityCustomer, "", 10)
			cancel()
			e.fake.RevokeKey()
			_, werr := e.conn.Write(context.Background(), EntityCustomer, []connectors.WriteRecord{customer(3)})
			log := e.log.String()
			for _, s := range []string{testPassword, testAPIKey} {
				if strings.Contains(log, s) {
					t.Fatalf("the debug log holds a secret:\n%s", log)
				}
				for _, r := range res {
					if r.Err != nil && strings.Contains(r.Err.Error(), s) {
						t.Fatalf("an error holds a secret: %v", r.Err)
					}
				}
				if werr != nil && strings.Contains(werr.Error(), s) {
					t.Fatalf("an error holds a secret: %v", werr)
				}
			}
			// The log is there and shows the traffic, with the secret
			// replaced.
			for _, want := range []string{"res.partner.create", "refused Customer 2", "[redacted]"} {
				if !strings.Contains(log, want) {
					t.Errorf("the debug log lacks %q", want)
				}
			}
			if v.proto == ProtocolJSONRPC && !strings.Contains(log, "common.login") {
				t.Errorf("the debug log lacks the login")
			}
		})
	}
}

// TestClassify is the retry policy for Odoo's exception classes.
func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		e    Error
		kind connectors.ErrorKind
	}{
		{Error{Name: "odoo.exceptions.ValidationError"}, connectors.KindPermanent},
		{Error{Name: "odoo.exceptions.UserError", Status: 422}, connectors.KindPermanent},
		{Error{Name: "odoo.exceptions.AccessError", Status: 403}, connectors.KindUnavailable},
		{Error{Name: "odoo.exceptions.AccessDenied"}, connectors.KindUnavailable},
		{Error{Name: "odoo.exceptions.MissingError", Status: 404}, connectors.KindPermanent},
		{Error{Name: "builtins.ValueError", Status: 500}, connectors.KindPermanent},
		{Error{Name: "werkzeug.exceptions.NotFound", Code: 404}, connectors.KindPermanent},
		{Error{Name: "psycopg2.OperationalError", Message: `FATAL:  database "x" does not exist`}, connectors.KindUnavailable},
		{Error{Name: "odoo.exceptions.LockError", Status: 409}, connectors.KindRetryable},
		{Error{Name: "psycopg2.errors.SerializationFailure"}, connectors.KindRetryable},
		{Error{Name: "psycopg2.OperationalError", Message: "server closed the connection unexpectedly"}, connectors.KindRetryable},
		{Error{Name: "builtins.RuntimeError", Status: 500}, connectors.KindRetryable},
		{Error{Name: "builtins.RuntimeError"}, connectors.KindRetryable},
	} {
		e := tt.e
		if k := kindOf(classify(&e, 0)); k != tt.kind {
			t.Errorf("%s (HTTP %d): %v, want %v", tt.e.Name, tt.e.Status, k, tt.kind)
		}
	}
}
