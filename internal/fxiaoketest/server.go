package fxiaoketest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// The errorCode values the stand-in answers.
const (
	CodeOK             = 0
	CodeBusy           = -1    // system busy: try again
	CodeBadCredentials = 20001 // appId, appSecret or permanentCode wrong
	CodeTokenInvalid   = 20016 // corpAccessToken expired or unknown
	CodePermission     = 20017 // the user or app lacks the right
	CodeRateLimit      = 20025 // over 100 calls per 20 s of the endpoint
	CodeQuota          = 20026 // the daily quota is spent
	CodeValidation     = 30001 // a parameter or field value is refused
	CodeNotFound       = 30002 // no such record
)

// Options configure a Server.
type Options struct {
	AppID, AppSecret, PermanentCode string
	// OpenUserID is the user calls act as (currentOpenUserId).
	OpenUserID string
	// TokenTTL is a token's life (default 7,200 s); the same token is
	// handed out for TokenTTL minus 600 s.
	TokenTTL time.Duration
	// PerEndpoint calls per Window per endpoint; default 100 per 20 s.
	PerEndpoint int
	Window      time.Duration
	// DailyQuota is the calls per day (0: unlimited).
	DailyQuota int
	// Now is the server's clock; default time.Now.
	Now func() time.Time
}

// Call is one request the server answered.
type Call struct {
	Path      string
	Object    string
	TraceID   string
	ErrorCode int
	Offset    int
	At        time.Time
}

// Fault is an errorCode answered instead of serving a request.
type Fault struct {
	Code int
	// Match takes the fault only for a path containing it; "" the next
	// request.
	Match string
}

// Server is a stand-in Fxiaoke OpenAPI on a loopback port. It is safe for
// concurrent use.
type Server struct {
	URL    string
	CorpID string

	opts Options
	hs   *httptest.Server

	mu      sync.Mutex
	revoked bool
	tokens  map[string]time.Time
	current string
	issued  time.Time
	calls   []Call
	perPath map[string][]time.Time
	daily   []time.Time
	faults  []Fault
	hooks   []func(Call)
	objects map[string]map[string]map[string]any // object -> _id -> record
	seq     int64
	traces  map[string]bool
}

// New starts a stand-in.
func New(opts Options) *Server {
	if opts.TokenTTL == 0 {
		opts.TokenTTL = 7200 * time.Second
	}
	if opts.PerEndpoint == 0 {
		opts.PerEndpoint = 100
	}
	if opts.Window == 0 {
		opts.Window = 20 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, CorpID: "FSCID_0123456789ABCDEF", tokens: map[string]time.Time{}, perPath: map[string][]time.Time{},
		objects: map[string]map[string]map[string]any{}, traces: map[string]bool{}}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.hs.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.hs.Close() }

func (s *Server) now() time.Time { return s.opts.Now() }

func reply(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK) // every answer is HTTP 200
	_ = json.NewEncoder(w).Encode(v)
}

func failure(code int, msg string) map[string]any {
	return map[string]any{"errorCode": code, "errorMessage": msg}
}

func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// request is the envelope of every data call.
type request struct {
	CorpAccessToken   string         `json:"corpAccessToken"`
	CorpID            string         `json:"corpId"`
	CurrentOpenUserID string         `json:"currentOpenUserId"`
	ThirdTraceID      string         `json:"thirdTraceId"`
	Data              map[string]any `json:"data"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil || r.Method != http.MethodPost {
		reply(w, failure(CodeValidation, "POST a JSON body"))
		return
	}
	if r.URL.Path == "/cgi/corpAccessToken/get/V2" {
		s.token(w, body)
		return
	}
	var req request
	if err := decode(body, &req); err != nil {
		reply(w, failure(CodeValidation, "the body is not JSON"))
		return
	}
	call := Call{Path: r.URL.Path, TraceID: req.ThirdTraceID, At: s.now()}
	if o, ok := req.Data["dataObjectApiName"].(string); ok {
		call.Object = o
	}
	if od, ok := req.Data["object_data"].(map[string]any); ok {
		call.Object, _ = od["dataObjectApiName"].(string)
	}
	out := s.admit(r.URL.Path, req, &call)
	if out == nil {
		out = s.route(r.URL.Path, req, &call)
	}
	code, _ := out["errorCode"].(int)
	call.ErrorCode = code
	s.mu.Lock()
	s.calls = append(s.calls, call)
	hooks := append([]func(Call){}, s.hooks...)
	s.mu.Unlock()
	reply(w, out)
	for _, h := range hooks {
		h(call)
	}
}

// token answers /cgi/corpAccessToken/get/V2.
func (s *Server) token(w http.ResponseWriter, body []byte) {
	var req struct {
		AppID         string `json:"appId"`
		AppSecret     string `json:"appSecret"`
		PermanentCode string `json:"permanentCode"`
	}
	_ = decode(body, &req)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked || req.AppID != s.opts.AppID || req.AppSecret != s.opts.AppSecret || req.PermanentCode != s.opts.PermanentCode {
		reply(w, failure(CodeBadCredentials, "appId、appSecret 或 permanentCode 错误"))
		return
	}
	now := s.now()
	if s.current == "" || now.Sub(s.issued) >= s.opts.TokenTTL-600*time.Second {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		s.current, s.issued = hex.EncodeToString(b), now
		s.tokens[s.current] = now.Add(s.opts.TokenTTL)
	}
	left := s.tokens[s.current].Sub(now)
	reply(w, map[string]any{"errorCode": 0, "errorMessage": "success", "corpAccessToken": s.current, "corpId": s.CorpID,
		"expiresIn": int(left / time.Second)})
}

// Tokens is how many distinct tokens were handed out.
func (s *Server) Tokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

// ExpireTokens makes every token expire now.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		s.tokens[t] = time.Time{}
	}
	s.current = ""
}

// Revoke makes the credentials and tokens invalid (the app's
// authorization withdrawn); Reinstate undoes it.
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
	for t := range s.tokens {
		s.tokens[t] = time.Time{}
	}
	s.current = ""
}

// Reinstate makes the credentials valid again.
func (s *Server) Reinstate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = false
}

// FailNext answers the next matching requests with the faults' codes.
func (s *Server) FailNext(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// OnCall runs fn after every data call is answered.
func (s *Server) OnCall(fn func(Call)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, fn)
}

// Calls lists the data calls answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// admit checks the token and the limits; nil lets the call through.
func (s *Server) admit(path string, req request, c *Call) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for i, f := range s.faults {
		if f.Match == "" || strings.Contains(path, f.Match) {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return failure(f.Code, "injected fault")
		}
	}
	if exp, ok := s.tokens[req.CorpAccessToken]; !ok || !now.Before(exp) || req.CorpID != s.CorpID {
		return failure(CodeTokenInvalid, "corpAccessToken 无效或已过期")
	}
	if req.CurrentOpenUserID != s.opts.OpenUserID {
		return failure(CodePermission, "currentOpenUserId 无权限")
	}
	if req.ThirdTraceID == "" || s.traces[req.ThirdTraceID] {
		return failure(CodeValidation, "thirdTraceId 缺失或重复")
	}
	kept := s.perPath[path][:0]
	for _, t := range s.perPath[path] {
		if now.Sub(t) < s.opts.Window {
			kept = append(kept, t)
		}
	}
	s.perPath[path] = kept
	if len(kept) >= s.opts.PerEndpoint {
		return failure(CodeRateLimit, "接口调用频率超过限制")
	}
	if s.opts.DailyQuota > 0 {
		day := s.daily[:0]
		for _, t := range s.daily {
			if now.Sub(t) < 24*time.Hour {
				day = append(day, t)
			}
		}
		s.daily = day
		if len(day) >= s.opts.DailyQuota {
			return failure(CodeQuota, "今日接口调用次数已用完")
		}
		s.daily = append(s.daily, now)
	}
	s.perPath[path] = append(s.perPath[path], now)
	s.traces[req.ThirdTraceID] = true
	return nil
}

// DailyUsed is the calls counted against the daily quota now.
func (s *Server) DailyUsed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.daily)
}

// route serves an admitted call.
func (s *Server) route(path string, req request, c *Call) map[string]any {
	custom := strings.HasPrefix(path, "/cgi/crm/custom/v2/data/")
	op, ok := strings.CutPrefix(path, "/cgi/crm/v2/data/")
	if custom {
		op = strings.TrimPrefix(path, "/cgi/crm/custom/v2/data/")
	} else if !ok {
		return failure(CodeValidation, "未知接口 "+path)
	}
	if strings.HasSuffix(c.Object, "__c") != custom {
		return failure(CodeValidation, "自定义对象请使用 /cgi/crm/custom/v2/data/ 接口，预设对象请使用 /cgi/crm/v2/data/ 接口")
	}
	switch op {
	case "query":
		return s.query(req, c)
	case "create":
		return s.create(req)
	case "update":
		return s.update(req)
	case "get":
		return s.get(req)
	case "invalid":
		return s.invalid(req)
	}
	return failure(CodeValidation, "未知接口 "+path)
}

// details maps a detail object to its master field.
var details = map[string]string{"SalesOrderProductObj": "order_id"}

// required fields by object.
func required(object string) []string {
	switch object {
	case "AccountObj", "ContactObj", "ProductObj":
		return []string{"name"}
	case "SalesOrderObj", "InvoiceApplicationObj", "PaymentObj":
		return []string{"account_id"}
	case "SalesOrderProductObj":
		return []string{"product_id", "quantity", "sales_price"}
	}
	return nil
}

// lookups are the fields that name another object's record.
var lookups = map[string]string{"account_id": "AccountObj", "order_id": "SalesOrderObj", "product_id": "ProductObj"}

func (s *Server) newID() string {
	s.seq++
	return fmt.Sprintf("65f0%020x", s.seq)
}

func (s *Server) table(object string) map[string]map[string]any {
	t, ok := s.objects[object]
	if !ok {
		t = map[string]map[string]any{}
		s.objects[object] = t
	}
	return t
}

// validate checks a record's fields for object; creating checks the
// required ones too.
func (s *Server) validate(object string, rec map[string]any, creating bool) string {
	for _, f := range required(object) {
		v, present := rec[f]
		if (creating || present) && (v == nil || strings.TrimSpace(fmt.Sprint(v)) == "") {
			return fmt.Sprintf("字段 %s 必填", f)
		}
	}
	for f, target := range lookups {
		if v, ok := rec[f]; ok && v != nil && f != details[object] {
			r, found := s.table(target)[fmt.Sprint(v)]
			if !found || r["is_deleted"] == true {
				return fmt.Sprintf("字段 %s 的值 %v 不存在", f, v)
			}
		}
	}
	for _, f := range []string{"quantity", "sales_price", "order_amount", "invoice_applied_amount", "payment_amount"} {
		if v, ok := rec[f]; ok && v != nil {
			if _, err := decimal.NewFromString(fmt.Sprint(v)); err != nil {
				return fmt.Sprintf("字段 %s 的值 %v 不是数字", f, v)
			}
		}
	}
	return ""
}

// stamp sets the system fields of a written record.
func (s *Server) stamp(rec map[string]any, creating bool) {
	now := s.now().UnixMilli()
	if creating {
		rec["create_time"] = json.Number(fmt.Sprint(now))
		rec["version"] = json.Number("1")
		rec["is_deleted"] = false
		rec["life_status"] = "normal"
		rec["owner"] = []any{s.opts.OpenUserID}
	} else {
		v, _ := rec["version"].(json.Number)
		n, _ := v.Int64()
		rec["version"] = json.Number(fmt.Sprint(n + 1))
	}
	rec["last_modified_time"] = json.Number(fmt.Sprint(now))
}

// total recomputes a sales order's amount from its lines.
func (s *Server) total(orderID string) {
	sum := decimal.Zero
	for _, l := range s.table("SalesOrderProductObj") {
		if fmt.Sprint(l["order_id"]) == orderID && l["is_deleted"] != true {
			d, _ := decimal.NewFromString(fmt.Sprint(l["subtotal"]))
			sum = sum.Add(d)
		}
	}
	if o, ok := s.table("SalesOrderObj")[orderID]; ok {
		o["order_amount"] = sum.StringFixed(2)
	}
}

// putLines writes a master's detail lines, replacing the ones it had.
func (s *Server) putLines(object, masterID string, lines []any) string {
	parent := details[object]
	t := s.table(object)
	for _, l := range lines {
		m, ok := l.(map[string]any)
		if !ok {
			return "明细格式错误"
		}
		if msg := s.validate(object, m, true); msg != "" {
			return msg
		}
	}
	for id, l := range t {
		if fmt.Sprint(l[parent]) == masterID {
			delete(t, id)
		}
	}
	for _, l := range lines {
		m := clone(l).(map[string]any)
		delete(m, "dataObjectApiName")
		id := s.newID()
		m["_id"], m[parent] = id, masterID
		q, _ := decimal.NewFromString(fmt.Sprint(m["quantity"]))
		p, _ := decimal.NewFromString(fmt.Sprint(m["sales_price"]))
		m["quantity"], m["sales_price"] = q.String(), p.StringFixed(2)
		m["subtotal"] = q.Mul(p).Round(2).StringFixed(2)
		s.stamp(m, true)
		t[id] = m
	}
	s.total(masterID)
	return ""
}

func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

func normalize(fields map[string]any) map[string]any {
	b, _ := json.Marshal(fields)
	var out map[string]any
	_ = decode(b, &out)
	return out
}

// Put creates a record directly (lines of a sales order under
// "details"), as a user would, and returns its _id. It panics on a record
// the service would refuse (a test's mistake).
func (s *Server) Put(object string, fields map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := normalize(fields)
	lines, _ := rec["details"].([]any)
	delete(rec, "details")
	id, msg := s.createLocked(object, rec, lines)
	if msg != "" {
		panic("fxiaoketest: put " + object + ": " + msg)
	}
	return id
}

func (s *Server) createLocked(object string, rec map[string]any, lines []any) (string, string) {
	if msg := s.validate(object, rec, true); msg != "" {
		return "", msg
	}
	stored := clone(rec).(map[string]any)
	delete(stored, "dataObjectApiName")
	id := s.newID()
	stored["_id"] = id
	if _, ok := stored["name"]; !ok {
		stored["name"] = fmt.Sprintf("%s-%06d", strings.TrimSuffix(object, "Obj"), s.seq)
	}
	s.stamp(stored, true)
	s.table(object)[id] = stored
	if object == "SalesOrderObj" {
		if msg := s.putLines("SalesOrderProductObj", id, lines); msg != "" {
			delete(s.table(object), id)
			return "", msg
		}
	}
	return id, ""
}

// Update changes fields of a record directly; false when there is none.
func (s *Server) Update(object, id string, fields map[string]any) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.table(object)[id]
	if !ok {
		return false
	}
	for k, v := range normalize(fields) {
		rec[k] = v
	}
	s.stamp(rec, false)
	return true
}

// Invalid voids a record (to the recycle bin), as a user would.
func (s *Server) Invalid(object, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invalidLocked(object, id)
}

func (s *Server) invalidLocked(object, id string) bool {
	rec, ok := s.table(object)[id]
	if !ok || rec["is_deleted"] == true {
		return false
	}
	rec["is_deleted"], rec["life_status"] = true, "invalid"
	s.stamp(rec, false)
	return true
}

// Remove deletes a record for good, as a user emptying the recycle bin
// would (lines too).
func (s *Server) Remove(object, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.table(object)[id]; !ok {
		return false
	}
	delete(s.table(object), id)
	for lo, parent := range details {
		for lid, l := range s.table(lo) {
			if fmt.Sprint(l[parent]) == id {
				delete(s.table(lo), lid)
			}
		}
	}
	return true
}

// Get returns a copy of a record (a sales order with its lines under
// "details", oldest first).
func (s *Server) Get(object, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.table(object)[id]
	if !ok {
		return nil, false
	}
	out := clone(rec).(map[string]any)
	if object == "SalesOrderObj" {
		out["details"] = s.linesLocked(id)
	}
	return out, true
}

func (s *Server) linesLocked(orderID string) []any {
	var ls []map[string]any
	for _, l := range s.table("SalesOrderProductObj") {
		if fmt.Sprint(l["order_id"]) == orderID {
			ls = append(ls, l)
		}
	}
	sort.Slice(ls, func(i, j int) bool { return fmt.Sprint(ls[i]["_id"]) < fmt.Sprint(ls[j]["_id"]) })
	out := make([]any, len(ls))
	for i, l := range ls {
		out[i] = clone(l)
	}
	return out
}

// Records lists the _ids of an object's records not deleted, oldest
// first.
func (s *Server) Records(object string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, r := range s.table(object) {
		if r["is_deleted"] != true {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Count is the number of an object's records, deleted ones included.
func (s *Server) Count(object string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.table(object))
}
