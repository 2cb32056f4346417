package odoofake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// DB is the database name; default "odoo".
	DB string
	// Login is the user's login; default "admin".
	Login string
	// Password is the user's password and APIKey one of the user's API
	// keys: JSON-RPC accepts either, JSON-2 only the key.
	Password, APIKey string
	// UID is the user's id; default 2.
	UID int64
	// WholeSeconds compares datetimes in domains by whole seconds, as Odoo
	// does from 18.4 on; by default the stored microseconds count (a
	// record written at 10:00:00.5 matches > "10:00:00" and not
	// = "10:00:00"), as before.
	WholeSeconds bool
	// Now is the server's clock; default time.Now.
	Now func() time.Time
}

// Fault is an answer the server gives instead of serving a request.
type Fault struct {
	// Status is the HTTP status (429, 503, ...); 0 serves the request
	// after Delay.
	Status int
	// RetryAfter is the Retry-After header, if any.
	RetryAfter string
	// Delay holds the answer back (a timeout for a client that waits
	// less); with Status 0 the request is then served all the same, as a
	// real server finishes what the client gave up on.
	Delay time.Duration
	// Method makes the fault wait for a call of that method (create,
	// login, ...); "" takes the next request.
	Method string
}

// Call is one request the server received.
type Call struct {
	// Protocol is "json2" or "jsonrpc".
	Protocol string
	// Service is the JSON-RPC service (common, object); "" for JSON-2.
	Service string
	// Model and Method name the call ("res.partner", "create"; for
	// common: "", "login").
	Model, Method string
	IDs           []int64
	// Args are the method's arguments by name, Context the call context.
	Args    map[string]any
	Context map[string]any
	// Status is the HTTP status of the answer, Error the Odoo exception
	// it carried ("" on success).
	Status int
	Error  string
	Header http.Header
}

// Server is a stand-in Odoo on a loopback port. It is safe for concurrent
// use; requests are served one at a time, as by a single Odoo worker.
type Server struct {
	// URL is the server's base URL.
	URL string
	hs  *httptest.Server

	mu      sync.Mutex
	opt     Options
	uid     int64
	db      *store
	faults  []Fault
	expired bool
	revoked bool
	refuse  map[string]func(Record) string
	calls   []Call
}

// Start starts a server with the seed data of a fresh database: company 1
// (EUR), currencies EUR and USD, a few countries (BE, DE, FR, US),
// products SKU-1 to SKU-5 and an archived OLD-1, and the company's and the
// admin's partners (1 and 3, without ref).
func Start(opt Options) *Server {
	if opt.DB == "" {
		opt.DB = "odoo"
	}
	if opt.Login == "" {
		opt.Login = "admin"
	}
	if opt.UID == 0 {
		opt.UID = 2
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Server{opt: opt, uid: opt.UID, db: newStore(), refuse: map[string]func(Record) string{}}
	s.seed()
	s.hs = httptest.NewServer(s)
	s.URL = s.hs.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.hs.Close() }

func (s *Server) seed() {
	put := func(model string, vals Record) {
		s.put(model, vals)
	}
	put("res.currency", Record{"name": "EUR"})
	put("res.currency", Record{"name": "USD"})
	put("res.company", Record{"name": "My Company", "currency_id": int64(1)})
	for _, c := range [][2]string{{"BE", "Belgium"}, {"DE", "Germany"}, {"FR", "France"}, {"US", "United States"}} {
		put("res.country", Record{"code": c[0], "name": c[1]})
	}
	put("res.partner", Record{"name": "My Company", "is_company": true, "company_id": int64(1)})
	s.db.seq["res.partner"] = 2 // 2 is OdooBot's
	put("res.partner", Record{"name": "Mitchell Admin", "email": "admin@example.com"})
	for i, price := range []float64{199, 25.5, 10, 3.99, 1} {
		put("product.product", Record{"default_code": fmt.Sprintf("SKU-%d", i+1), "name": fmt.Sprintf("Product %d", i+1), "list_price": price})
	}
	put("product.product", Record{"default_code": "OLD-1", "name": "Old product", "list_price": 5.0, "active": false})
}

func (s *Server) now() time.Time { return s.opt.Now().UTC().Truncate(time.Microsecond) }

// ---- controls ----

// FailNext makes the next requests fail (or wait), one fault each.
func (s *Server) FailNext(f ...Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, f...)
	s.mu.Unlock()
}

// ExpireSession makes JSON-RPC object calls answer "Odoo Session Expired"
// (code 100) until the next successful common.login.
func (s *Server) ExpireSession() {
	s.mu.Lock()
	s.expired = true
	s.mu.Unlock()
}

// RevokeKey revokes the API key and changes the password: JSON-2 answers
// 401 "Invalid apikey", JSON-RPC logins answer false and object calls
// AccessDenied.
func (s *Server) RevokeKey() {
	s.mu.Lock()
	s.revoked = true
	s.mu.Unlock()
}

// ReinstateKey undoes RevokeKey: the key and the password work again.
func (s *Server) ReinstateKey() {
	s.mu.Lock()
	s.revoked = false
	s.mu.Unlock()
}

// ChangeUID gives the user another id (a restored database): JSON-RPC
// calls with the old one answer AccessDenied, a new login returns uid.
func (s *Server) ChangeUID(uid int64) {
	s.mu.Lock()
	s.uid = uid
	s.mu.Unlock()
}

// Refuse makes create and write of model fail with a ValidationError
// carrying fn's message whenever fn returns one for a record (the whole
// call is rolled back, as Odoo's transaction is).
func (s *Server) Refuse(model string, fn func(r Record) string) {
	s.mu.Lock()
	s.refuse[model] = fn
	s.mu.Unlock()
}

// SetNow replaces the server's clock.
func (s *Server) SetNow(fn func() time.Time) {
	s.mu.Lock()
	s.opt.Now = fn
	s.mu.Unlock()
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// ResetCalls forgets the requests received so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}

// Count is the number of calls of model.method received so far ("" for
// any model).
func (s *Server) Count(model, method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Method == method && (model == "" || c.Model == model) {
			n++
		}
	}
	return n
}

// Records returns copies of the records of model, by id.
func (s *Server) Records(model string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.db.sorted(model)
	for i, r := range rs {
		rs[i] = r.clone()
	}
	return rs
}

// Get returns a copy of one record.
func (s *Server) Get(model string, id int64) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.db.get(model, id)
	if !ok {
		return nil, false
	}
	return r.clone(), true
}

// Put inserts a record directly, as another Odoo user would (stored
// values: strings, int64 or int ids, float64, bool, time.Time, []int64);
// create_date and write_date are the server's now unless given. It
// returns the new id.
func (s *Server) Put(model string, vals map[string]any) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(model, Record(vals))
}

func (s *Server) put(model string, vals Record) int64 {
	s.db.seq[model]++
	id := s.db.seq[model]
	r := Record{"id": id}
	for k, v := range vals {
		if i, ok := v.(int); ok {
			v = int64(i)
		}
		r[k] = v
	}
	now := s.now()
	for _, k := range []string{"create_date", "write_date"} {
		if _, ok := r[k]; !ok {
			r[k] = now
		}
	}
	e := &env{srv: s, s: s.db, now: now}
	e.defaults(s.db.models[model], r)
	s.db.recs[model][id] = r
	return id
}

// Set changes a record directly, as another Odoo user would; write_date
// becomes the server's now unless vals has one.
func (s *Server) Set(model string, id int64, vals map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.db.get(model, id)
	if !ok {
		return
	}
	for k, v := range vals {
		if i, ok := v.(int); ok {
			v = int64(i)
		}
		r[k] = v
	}
	if _, ok := vals["write_date"]; !ok {
		r["write_date"] = s.now()
	}
}

// Delete removes a record directly, as another Odoo user would, with
// the lines of a sale order or an invoice and without Odoo's checks (a
// confirmed order goes too).
func (s *Server) Delete(model string, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := map[string][2]string{"sale.order": {"sale.order.line", "order_id"}, "account.move": {"account.move.line", "move_id"}}
	if l, ok := lines[model]; ok {
		for _, r := range s.db.children(l[0], l[1], id) {
			delete(s.db.recs[l[0]], r.ID())
		}
	}
	delete(s.db.recs[model], id)
}

// ---- HTTP ----

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	var f *Fault
	if len(s.faults) > 0 && (s.faults[0].Method == "" || s.faults[0].Method == requestMethod(r.URL.Path, body)) {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()
	if f != nil {
		if f.Delay > 0 {
			time.Sleep(f.Delay)
		}
		if f.Status != 0 {
			s.fault(w, r, *f)
			return
		}
	}
	switch p := r.URL.Path; {
	case p == "/jsonrpc":
		s.serveJSONRPC(w, r, body)
	case p == "/json/2" || strings.HasPrefix(p, "/json/2/"):
		s.serveJSON2(w, r, body)
	case p == "/web/version":
		writeJSON(w, http.StatusOK, nil, map[string]any{"version_info": []any{19, 0, 0, "final", 0, ""}, "version": "19.0"})
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<!doctype html><title>404 Not Found</title><h1>Not Found</h1>")
	}
}

// fault answers like the reverse proxy in front of Odoo does.
func (s *Server) fault(w http.ResponseWriter, r *http.Request, f Fault) {
	s.mu.Lock()
	s.calls = append(s.calls, Call{Protocol: protocolOf(r.URL.Path), Status: f.Status, Header: r.Header.Clone()})
	s.mu.Unlock()
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(f.Status)
	t := fmt.Sprintf("%d %s", f.Status, http.StatusText(f.Status))
	fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", t, t)
}

// requestMethod is the model method (or common method) a request calls.
func requestMethod(path string, body []byte) string {
	if parts := strings.Split(path, "/"); strings.HasPrefix(path, "/json/2/") && len(parts) == 5 {
		return parts[4]
	}
	var req struct {
		Params struct {
			Method string `json:"method"`
			Args   []any  `json:"args"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	if req.Params.Method == "execute_kw" && len(req.Params.Args) > 4 {
		m, _ := req.Params.Args[4].(string)
		return m
	}
	return req.Params.Method
}

func protocolOf(path string) string {
	if path == "/jsonrpc" {
		return "jsonrpc"
	}
	return "json2"
}

func writeJSON(w http.ResponseWriter, status int, h http.Header, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"name":"builtins.TypeError","message":"Object of type is not JSON serializable"}`)
	}
	for k, vs := range h {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// errorObject is serialize_exception's dict, in its order.
type errorObject struct {
	Name      string         `json:"name"`
	Message   string         `json:"message"`
	Arguments []any          `json:"arguments"`
	Context   map[string]any `json:"context"`
	Debug     string         `json:"debug"`
}

func (e *pyErr) object() errorObject {
	return errorObject{Name: e.name, Message: e.message, Arguments: e.args, Context: map[string]any{}, Debug: e.debug()}
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func idsOf(v any) ([]int64, bool) {
	if v == nil {
		return nil, true
	}
	l, ok := v.([]any)
	if !ok {
		if n, isNum := v.(json.Number); isNum { // a single id
			i, err := n.Int64()
			return []int64{i}, err == nil
		}
		return nil, false
	}
	out := make([]int64, 0, len(l))
	for _, x := range l {
		n, ok := x.(json.Number)
		if !ok {
			return nil, false
		}
		i, err := n.Int64()
		if err != nil {
			return nil, false
		}
		out = append(out, i)
	}
	return out, true
}

// exec runs a call in a transaction (committed on success, discarded on
// error). The caller holds s.mu.
func (s *Server) exec(model, method string, ids []int64, kw, octx map[string]any) (any, *pyErr) {
	tx := s.db.clone()
	e := &env{srv: s, s: tx, octx: octx, now: s.now(), whole: s.opt.WholeSeconds}
	res, err := e.call(model, method, ids, kw)
	if err == nil {
		s.db = tx
	}
	return res, err
}

var bearerRE = regexp.MustCompile(`(?i)^bearer\s+(.+)$`)

// serveJSON2 is POST /json/2/<model>/<method> (addons/rpc
// controllers/json2.py of Odoo 19).
func (s *Server) serveJSON2(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Protocol: "json2", Header: r.Header.Clone()}
	fail := func(e *pyErr) {
		call.Status, call.Error = e.status, e.name
		s.calls = append(s.calls, call)
		writeJSON(w, e.status, e.header, e.object())
	}
	parts := strings.Split(r.URL.Path, "/")
	if r.Method != http.MethodPost || len(parts) != 5 || parts[3] == "" || parts[4] == "" {
		fail(werkzeugErr("NotFound", http.StatusNotFound, "Did you mean POST /json/2/<model>/<method>?"))
		return
	}
	call.Model, call.Method = parts[3], parts[4]
	m := bearerRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || s.opt.APIKey == "" || strings.TrimSpace(m[1]) != s.opt.APIKey || s.revoked {
		e := werkzeugErr("Unauthorized", http.StatusUnauthorized, "Invalid apikey")
		e.header = http.Header{"Www-Authenticate": {"bearer"}}
		fail(e)
		return
	}
	if db := r.Header.Get("X-Odoo-Database"); db != "" && db != s.opt.DB {
		fail(werkzeugErr("NotFound", http.StatusNotFound, fmt.Sprintf("database %s not found", pyRepr(db))))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		fail(werkzeugErr("BadRequest", http.StatusBadRequest,
			fmt.Sprintf("Request inferred type is compatible with ['http'] but '%s' is type='/json/2/rpc'.", r.URL.Path)))
		return
	}
	var args map[string]any
	if len(body) > 0 {
		v, err := decodeJSON(body)
		if err != nil {
			fail(werkzeugErr("BadRequest", http.StatusBadRequest, "could not parse the body as json: "+err.Error()))
			return
		}
		if args, _ = v.(map[string]any); args == nil {
			fail(werkzeugErr("BadRequest", http.StatusBadRequest, "could not parse the body, expecting a json object"))
			return
		}
	}
	if _, ok := s.db.models[call.Model]; !ok && call.Model != "res.users" {
		fail(werkzeugErr("NotFound", http.StatusNotFound, fmt.Sprintf("the model %s does not exist", pyRepr(call.Model))))
		return
	}
	spec, ok := methodOf(call.Model, call.Method)
	if !ok {
		fail(werkzeugErr("NotFound", http.StatusNotFound, fmt.Sprintf("The method '%s.%s' does not exist", call.Model, call.Method)))
		return
	}
	ids, ok := idsOf(args["ids"])
	if !ok {
		fail(werkzeugErr("UnprocessableEntity", http.StatusUnprocessableEntity, "ids must be a list of integers"))
		return
	}
	call.IDs = ids
	if spec.apiModel && len(ids) > 0 {
		fail(werkzeugErr("UnprocessableEntity", http.StatusUnprocessableEntity, fmt.Sprintf("cannot call %s.%s with ids", call.Model, call.Method)))
		return
	}
	if c, given := args["context"]; given && c == nil {
		// web_json_2_rpc: Model.with_context(None)
		fail(typeError("argument of type 'NoneType' is not iterable"))
		return
	}
	octx, _ := args["context"].(map[string]any)
	call.Context = octx
	named := map[string]any{}
	for k, v := range args {
		if k != "ids" && k != "context" {
			named[k] = v
		}
	}
	kw, perr := bind(call.Model, call.Method, spec, nil, named)
	if perr != nil {
		fail(werkzeugErr("UnprocessableEntity", http.StatusUnprocessableEntity, perr.message))
		return
	}
	call.Args = kw
	res, perr := s.exec(call.Model, call.Method, ids, kw, octx)
	if perr != nil {
		fail(perr)
		return
	}
	call.Status = http.StatusOK
	s.calls = append(s.calls, call)
	writeJSON(w, http.StatusOK, nil, res)
}

type rpcEnvelope struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   *rpcError       `json:"error,omitempty"`
	Result  any             `json:"result,omitempty"`
}

type rpcError struct {
	Code    int         `json:"code"`
	Message string      `json:"message"`
	Data    errorObject `json:"data"`
}

// serveJSONRPC is POST /jsonrpc (odoo/addons/base/controllers/rpc.py):
// services common (login, authenticate, version) and object (execute_kw).
// Errors are HTTP 200 with an "error" member.
func (s *Server) serveJSONRPC(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Protocol: "jsonrpc", Status: http.StatusOK, Header: r.Header.Clone()}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Params struct {
			Service string          `json:"service"`
			Method  string          `json:"method"`
			Args    json.RawMessage `json:"args"`
		} `json:"params"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		call.Error = "werkzeug.exceptions.BadRequest"
		s.calls = append(s.calls, call)
		e := werkzeugErr("BadRequest", http.StatusBadRequest, "Invalid JSON data: "+err.Error())
		writeJSON(w, http.StatusBadRequest, nil, rpcEnvelope{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: &rpcError{Code: 200, Message: "Odoo Server Error", Data: e.object()}})
		return
	}
	if len(req.ID) == 0 {
		req.ID = json.RawMessage("null")
	}
	call.Service, call.Method = req.Params.Service, req.Params.Method
	reply := func(res any, e *pyErr) {
		env := rpcEnvelope{JSONRPC: "2.0", ID: req.ID}
		if e != nil {
			call.Error = e.name
			msg := "Odoo Server Error"
			switch e.code {
			case 100:
				msg = "Odoo Session Expired"
			case 404:
				msg = "404: Not Found"
			}
			env.Error = &rpcError{Code: e.code, Message: msg, Data: e.object()}
		} else {
			env.Result = res
		}
		s.calls = append(s.calls, call)
		writeJSON(w, http.StatusOK, nil, env)
	}
	av, err := decodeJSON(req.Params.Args)
	args, _ := av.([]any)
	if err != nil || args == nil {
		reply(nil, typeError("%s() missing required positional arguments", req.Params.Method))
		return
	}
	str := func(i int) string {
		if i < len(args) {
			s, _ := args[i].(string)
			return s
		}
		return ""
	}
	dbErr := func(db string) *pyErr {
		return &pyErr{name: "psycopg2.OperationalError", status: 500, code: 200,
			message: fmt.Sprintf("connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  database \"%s\" does not exist\n", db),
			args:    []any{}}
	}
	switch req.Params.Service {
	case "common":
		switch req.Params.Method {
		case "login", "authenticate":
			if len(args) < 3 {
				reply(nil, typeError("exp_%s() missing required positional arguments", req.Params.Method))
				return
			}
			if str(0) != s.opt.DB {
				reply(nil, dbErr(str(0)))
				return
			}
			if str(1) != s.opt.Login || !s.validSecret(str(2)) {
				reply(false, nil)
				return
			}
			s.expired = false
			reply(s.uid, nil)
		case "version":
			reply(map[string]any{"server_version": "18.0", "server_version_info": []any{18, 0, 0, "final", 0, ""},
				"server_serie": "18.0", "protocol_version": 1}, nil)
		default:
			reply(nil, builtin("NameError", fmt.Sprintf("Method not available %s", req.Params.Method)))
		}
	case "object":
		if req.Params.Method != "execute_kw" {
			reply(nil, builtin("NameError", fmt.Sprintf("Method not available %s", req.Params.Method)))
			return
		}
		if len(args) < 6 {
			reply(nil, typeError("execute_kw() missing required positional arguments"))
			return
		}
		call.Model, call.Method = str(3), str(4)
		if str(0) != s.opt.DB {
			reply(nil, dbErr(str(0)))
			return
		}
		uid, _ := idsOf(args[1])
		if s.expired {
			reply(nil, sessionExpired())
			return
		}
		if len(uid) != 1 || uid[0] != s.uid || !s.validSecret(str(2)) {
			reply(nil, accessDenied())
			return
		}
		if _, ok := s.db.models[call.Model]; !ok && call.Model != "res.users" {
			reply(nil, userError(fmt.Sprintf("Object %s doesn't exist", call.Model)))
			return
		}
		spec, ok := methodOf(call.Model, call.Method)
		if !ok {
			reply(nil, builtin("AttributeError", fmt.Sprintf("The method '%s.%s' does not exist", call.Model, call.Method)))
			return
		}
		pos, _ := args[5].([]any)
		var kwargs map[string]any
		if len(args) > 6 {
			kwargs, _ = args[6].(map[string]any)
		}
		var ids []int64
		if !spec.apiModel {
			if len(pos) == 0 {
				reply(nil, typeError("%s() missing 1 required positional argument: 'self'", call.Method))
				return
			}
			if ids, ok = idsOf(pos[0]); !ok {
				reply(nil, typeError("ids must be a list of integers"))
				return
			}
			pos = pos[1:]
		}
		call.IDs = ids
		octx, _ := kwargs["context"].(map[string]any)
		call.Context = octx
		kw, perr := bind(call.Model, call.Method, spec, pos, kwargs)
		if perr != nil {
			reply(nil, perr)
			return
		}
		call.Args = kw
		res, perr := s.exec(call.Model, call.Method, ids, kw, octx)
		reply(res, perr)
	default:
		reply(nil, builtin("KeyError", pyRepr(req.Params.Service)))
	}
}

func (s *Server) validSecret(secret string) bool {
	if s.revoked || secret == "" {
		return false
	}
	return secret == s.opt.Password || secret == s.opt.APIKey
}
