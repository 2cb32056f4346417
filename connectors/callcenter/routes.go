package callcenter

import (
	"embed"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter/screenpop"
)

// The API roles the call center's routes admit (see package server).
const (
	roleViewer     = "viewer"
	roleOperator   = "operator"
	roleCallCenter = "callcenter"
)

//go:embed page
var pages embed.FS

// Routes are the view's query routes: behind the hub's API tokens, open to
// call-center keys and viewers, except the agent page, which holds no data
// (it asks for a key and reads the event stream with it).
func (v *View) Routes() []connectors.Route {
	roles := []string{roleViewer, roleCallCenter}
	return []connectors.Route{
		{Pattern: "GET /api/v1/screenpop", Handler: http.HandlerFunc(v.screenPop), Roles: roles},
		{Pattern: "GET /api/v1/callerid", Handler: http.HandlerFunc(v.callerID), Roles: roles, PlainErrors: true},
		{Pattern: "GET /api/v1/agents/{id}/events", Handler: http.HandlerFunc(v.agentEvents), Roles: roles},
		{Pattern: "GET /api/v1/agents/{id}/screen", Handler: http.HandlerFunc(v.agentPage), Public: true},
	}
}

// screenPop answers GET /api/v1/screenpop?phone=NUMBER[&region=CC] (who is
// calling) or ?customer=ID[&system=NAME] (a customer by its id).
func (v *View) screenPop(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	raw, hasPhone := rawParam(r.URL.RawQuery, "phone")
	bp := v.bufs.Get().(*[]byte)
	defer v.bufs.Put(bp)
	var res, route string
	switch {
	case hasPhone:
		region := ""
		if strings.Contains(r.URL.RawQuery, "region=") {
			region = r.URL.Query().Get("region")
		}
		route = "screenpop"
		*bp, res = v.index.AppendLookup((*bp)[:0], raw, region)
	case r.URL.Query().Get("customer") != "":
		q := r.URL.Query()
		route = "customer"
		a := v.index.ByID(q.Get("customer"), q.Get("system"))
		b, err := json.Marshal(a)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "encode the screen-pop: " + err.Error()})
			return
		}
		*bp, res = append((*bp)[:0], b...), result(a)
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "give phone=<number> (any notation) or customer=<id>[&system=<connector>]"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(*bp)
	v.m.lookup(route, res, began)
	if cap(*bp) > 1<<20 {
		*bp = nil // an unusually large answer is not kept
	}
}

// callerID answers GET /api/v1/callerid?number=NUMBER with the caller's
// display name as text/plain and nothing else: empty for an unknown
// number. PBX lookup modules put the whole body into the caller's name.
func (v *View) callerID(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	raw, ok := rawParam(r.URL.RawQuery, "number")
	if !ok {
		raw, _ = rawParam(r.URL.RawQuery, "phone")
	}
	region := ""
	if strings.Contains(r.URL.RawQuery, "region=") {
		region = r.URL.Query().Get("region")
	}
	name, isNumber := v.index.CallerName(raw, region)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(name))
	res := "hit"
	switch {
	case !isNumber:
		res = "invalid"
	case name == "":
		res = "miss"
	}
	v.m.lookup("callerid", res, began)
}

// result names a lookup's outcome for the metrics.
func result(a screenpop.Answer) string {
	switch {
	case len(a.Customers) > 0:
		return "hit"
	case a.Phone == "":
		return "invalid"
	}
	return "miss"
}

// rawParam finds a query parameter keeping a leading '+' (a form-encoded
// query would read "+49..." as " 49..."); a '+' further on is a space.
func rawParam(rawQuery, name string) (string, bool) {
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, val, _ := strings.Cut(kv, "=")
		if k != name {
			continue
		}
		plus := strings.HasPrefix(val, "+")
		val = strings.ReplaceAll(val, "+", " ")
		s, err := url.PathUnescape(val)
		if err != nil {
			return "", true
		}
		if plus {
			s = "+" + strings.TrimPrefix(s, " ")
		}
		return s, true
	}
	return "", false
}

// agentEvents streams an agent's call events (GET
// /api/v1/agents/{id}/events, Server-Sent Events, Last-Event-ID resumes).
func (v *View) agentEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validAgent(id) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "an agent id is 1 to 64 letters, digits and . _ - @ +"})
		return
	}
	v.agents.Serve(w, r, id)
}

// agentPage serves the agent's page (GET /api/v1/agents/{id}/screen).
func (v *View) agentPage(w http.ResponseWriter, r *http.Request) {
	if !validAgent(r.PathValue("id")) {
		http.Error(w, "an agent id is 1 to 64 letters, digits and . _ - @ +", http.StatusBadRequest)
		return
	}
	b, err := pages.ReadFile("page/agent.html")
	if err != nil {
		http.Error(w, "the agent page is missing from this build", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(b)
}

// validAgent reports whether id may name an agent.
func validAgent(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-@+", c) >= 0) {
			return false
		}
	}
	return true
}

// Push is what an agent's browser gets for a stage of a call.
type Push struct {
	Event     string `json:"event"` // ringing, answered, ended
	CallID    string `json:"call_id"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Direction string `json:"direction,omitempty"`
	Agent     string `json:"agent"`
	At        string `json:"at"`
	// ScreenPop is who is calling (on ringing).
	ScreenPop *screenpop.Answer `json:"screenpop,omitempty"`
}

// push sends p to the agent's browsers; it returns how many it reached.
func (v *View) push(p Push) int {
	b, err := json.Marshal(p)
	if err != nil {
		v.log.Error("encode an agent push", "err", err)
		return 0
	}
	_, n := v.agents.Publish(p.Agent, p.Event, b)
	reached := "yes"
	if n == 0 {
		reached = "no"
	}
	v.m.pushes.WithLabelValues(p.Event, reached).Inc()
	return n
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
