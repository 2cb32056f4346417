package e2e

// The call center end to end: a hub with a CRM, a screenpop view and a
// calls connector, fed and read through its real HTTP surface; the CRM in
// PostgreSQL, the broker embedded. callerid_test.go adds a real SIP server
// (Kamailio) asking the hub for callers' names.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/crmhub/hub/connectors/callcenter/twilio"
)

const (
	callKey     = "e2e-callcenter-key"
	twilioToken = "e2e-twilio-auth-token"
)

var callTmpl = template.Must(template.New("hub.yaml").Parse(`# written by the e2e call-center tests
hub:
  data_dir: {{.Dir}}/data
  shutdown_timeout: 20s
log:
  level: info
  format: text
http:
  addr: {{.HTTPAddr}}
api:
  tokens:
    - {name: e2e-operator, role: operator, token: e2e-operator-token}
    - {name: e2e-pbx, role: callcenter, token: '${E2E_CALLCENTER_KEY}'}
kafka:
  topic_prefix: e2e
  partitions: 3
  embedded:
    addr: {{.KafkaAddr}}
state:
  dsn: sqlite:{{.Dir}}/data/hub.db
connectors:
  crm:
    kind: sqlstore
    driver: {{.CRM.Driver}}
    dsn: '{{.CRM.DSN}}'
    poll_interval: 100ms
    entities:
      customer: {table: customers, look_back: 2s}
      order:
        table: orders
        look_back: 2s
        lines: {table: order_lines, parent_key: order_id, key: line_no}
      interaction: {table: interactions, external_id: ext_ref}
  screenpop:
    kind: screenpop
    default_region: DE
    snapshot: {{.Dir}}/data/screenpop.snap
  calls:
    kind: calls
    view: screenpop
    twilio:
      auth_token: ${E2E_TWILIO_TOKEN}
sources:
  crm-customers:
    connector: crm
    entity: customer
    mapping: mappings/crm-customer-in.yaml
    interval: 100ms
  crm-orders:
    connector: crm
    entity: order
    mapping: mappings/crm-order-in.yaml
    interval: 100ms
    refs: {customer: customer_id}
  calls:
    connector: calls
    entity: interaction
    mode: push
    mapping: mappings/calls-interaction-in.yaml
sinks:
  crm-calls:
    connector: crm
    workers: 1
    entities:
      interaction: {mapping: mappings/crm-interaction-out.yaml}
`))

// The CRM's call log, beside the customers and orders of crmSchema.
var interactionsSchema = map[string]string{
	postgres: `
CREATE TABLE interactions (
    id               BIGSERIAL PRIMARY KEY,
    ext_ref          TEXT NOT NULL UNIQUE,
    customer_id      BIGINT REFERENCES customers (id),
    channel          TEXT,
    direction        TEXT,
    from_number      TEXT,
    to_number        TEXT,
    agent            TEXT,
    started_at       TIMESTAMPTZ,
    ended_at         TIMESTAMPTZ,
    duration_seconds INTEGER,
    outcome          TEXT,
    recording_url    TEXT,
    updated_at       TIMESTAMPTZ NOT NULL
)`,
	sqlite: `
CREATE TABLE interactions (
    id               INTEGER PRIMARY KEY,
    ext_ref          TEXT NOT NULL UNIQUE,
    customer_id      INTEGER REFERENCES customers (id),
    channel          TEXT,
    direction        TEXT,
    from_number      TEXT,
    to_number        TEXT,
    agent            TEXT,
    started_at       TEXT,
    ended_at         TEXT,
    duration_seconds INTEGER,
    outcome          TEXT,
    recording_url    TEXT,
    updated_at       TEXT NOT NULL
)`,
}

// callRig is a hub with a call center in front of a CRM.
type callRig struct {
	t        *testing.T
	crm      *database
	dir, cfg string
	httpAddr string
	hub      *proc
}

func newCallRig(t *testing.T, crm *database) *callRig {
	t.Helper()
	crm.execScript(t, crmSchema[crm.dialect])
	crm.execScript(t, interactionsSchema[crm.dialect])
	r := &callRig{t: t, crm: crm, dir: t.TempDir(), httpAddr: freeAddr(t)}
	copyDir(t, "testdata/mappings", filepath.Join(r.dir, "mappings"))
	for _, m := range []string{"calls-interaction-in.yaml", "crm-interaction-out.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "configs", "mappings", m))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.dir, "mappings", m), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := callTmpl.Execute(&b, map[string]any{"Dir": r.dir, "HTTPAddr": r.httpAddr, "KafkaAddr": freeAddr(t),
		"CRM": dbRef{crm.driver, crm.dsn}}); err != nil {
		t.Fatal(err)
	}
	r.cfg = filepath.Join(r.dir, "hub.yaml")
	if err := os.WriteFile(r.cfg, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *callRig) start() {
	r.t.Helper()
	r.hub = startProc(r.t, "hub", r.dir, []string{"E2E_CALLCENTER_KEY=" + callKey, "E2E_TWILIO_TOKEN=" + twilioToken}, "run", "-c", r.cfg)
	waitHTTP(r.t, r.hub, "http://"+r.httpAddr+"/readyz", 200, 60*time.Second)
}

// get sends a GET with the call-center key.
func (r *callRig) get(path string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+r.httpAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+callKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// popNames are the names of the customers a screen-pop of phone lists.
func (r *callRig) popNames(phone string) (string, error) {
	code, body := r.get("/api/v1/screenpop?phone=" + url.QueryEscape(phone))
	var a struct {
		Customers []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil || code != 200 {
		return "", &httpError{code, body}
	}
	var names []string
	for _, c := range a.Customers {
		names = append(names, c.Name)
	}
	return strings.Join(names, ","), nil
}

type httpError struct {
	code int
	body string
}

func (e *httpError) Error() string { return itoa(e.code) + " " + e.body }

// waitPop waits until the screen-pop of phone lists want.
func (r *callRig) waitPop(phone, want string, d time.Duration) time.Duration {
	r.t.Helper()
	start := time.Now()
	waitFor(r.t, "the screen-pop of "+phone+" to list "+want, d, 20*time.Millisecond, []*proc{r.hub}, func() (bool, string) {
		got, err := r.popNames(phone)
		if err != nil {
			return false, err.Error()
		}
		return got == want, "lists " + got
	})
	return time.Since(start)
}

// post sends a call event (JSON) with the call-center key.
func (r *callRig) post(event map[string]any) (int, string) {
	r.t.Helper()
	b, _ := json.Marshal(event)
	req, _ := http.NewRequest("POST", "http://"+r.httpAddr+"/webhooks/calls/calls", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+callKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// postTwilio sends Twilio's form parameters, signed with token.
func (r *callRig) postTwilio(token string, params url.Values) (int, string) {
	r.t.Helper()
	target := "http://" + r.httpAddr + "/webhooks/calls/calls/twilio"
	req, _ := http.NewRequest("POST", target, strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Signature(token, target, params))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// agentStream is an agent's browser: it reads the event stream over HTTP.
type agentStream struct {
	events chan map[string]any // the data of each event, with "_event" and "_id"
}

func (r *callRig) openAgent(agent string) *agentStream {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+r.httpAddr+"/api/v1/agents/"+agent+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+callKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		r.t.Fatalf("agent stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &agentStream{events: make(chan map[string]any, 16)}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		ev := map[string]any{}
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev["_event"] != nil {
					s.events <- ev
				}
				ev = map[string]any{}
			case strings.HasPrefix(line, "event: "):
				ev["_event"] = line[7:]
			case strings.HasPrefix(line, "id: "):
				ev["_id"] = line[4:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &ev)
			}
		}
	}()
	// The stream is open once the hub counts the browser.
	waitFor(r.t, "agent "+agent+"'s browser to be connected", 10*time.Second, 20*time.Millisecond, []*proc{r.hub}, func() (bool, string) {
		n, err := scrapeSum(r.httpAddr, "hub_screenpop_agents_connected")
		return err == nil && n >= 1, "connected"
	})
	return s
}

func (s *agentStream) next(t *testing.T, what string) map[string]any {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("the agent's browser got no %s within 10s", what)
	}
	return nil
}

func (s *agentStream) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-s.events:
		t.Errorf("the agent's browser got %v, want nothing", ev)
	case <-time.After(d):
	}
}

// callRow is an interactions row of the CRM, or "" while it is not there.
func (r *callRig) callRow(extRefLike, callFrom string) string {
	rows := r.crm.db.QueryRow(r.crm.rebind(`SELECT `+text(r.crm.dialect, "i.customer_id")+`, i.direction, i.from_number, i.agent, `+
		text(r.crm.dialect, "i.duration_seconds")+`, i.outcome, COALESCE(i.recording_url, ''), c.name
		FROM interactions i LEFT JOIN customers c ON c.id = i.customer_id WHERE i.from_number = ? AND i.agent = ?`), callFrom, extRefLike)
	var cust, dir, from, agent, dur, outcome, rec, name *string
	if err := rows.Scan(&cust, &dir, &from, &agent, &dur, &outcome, &rec, &name); err != nil {
		return ""
	}
	s := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return *p
	}
	return strings.Join([]string{s(cust), s(name), s(dir), s(from), s(agent), s(dur), s(outcome), s(rec)}, "|")
}

// TestCallCenter runs the call center against a CRM in PostgreSQL through
// the real pipeline (sqlstore source, embedded Kafka, the screenpop view,
// the calls pusher, the sqlstore sink):
//   - several customers on one number are all listed, ranked; an unknown
//     caller gets an empty list;
//   - a customer's number changed in the CRM database is in screen-pop
//     within a second, and the old number no longer finds it;
//   - a full call: ringing reaches the agent's browser (SSE) with the
//     customer's card, answered and ended follow, and the call is a row of
//     the CRM's interactions table linked to the customer;
//   - a Twilio webhook with a wrong signature gets 403 and changes nothing,
//     while the same calls signed right are logged.
func TestCallCenter(t *testing.T) {
	t.Parallel()
	crm := newPostgres(t)
	r := newCallRig(t, crm)
	crm.execScript(t, `
INSERT INTO customers (id, name, email, phone, country) VALUES
    (1, 'Acme Maschinenbau GmbH', 'einkauf@acme.example', '030 1234567', 'DE'),
    (2, 'Acme Service GmbH', 'service@acme.example', '+49 30 1234567', 'DE'),
    (3, 'Ada Lovelace', 'ada@example.com', '+44 20 7946 0000', 'GB')
--
INSERT INTO orders (id, customer_id, order_no, order_date, currency, total, status) VALUES
    (1, 1, 'SO-1001', '2026-11-20', 'EUR', 1250.00, 'open')
`)
	r.start()

	// Two companies share a switchboard: both come (equally active: by
	// name). The customers reach the index through three partitions, in
	// any order: each is waited for.
	r.waitPop("030 1234567", "Acme Maschinenbau GmbH,Acme Service GmbH", 30*time.Second)
	r.waitPop("+44 20 7946 0000", "Ada Lovelace", 30*time.Second) // a UK number from Germany
	code, body := r.get("/api/v1/screenpop?phone=030%209999999")
	if code != 200 || !strings.Contains(body, `"customers":[]`) {
		t.Errorf("unknown caller: %d %s", code, body)
	}
	if code, body := r.get("/api/v1/callerid?number=0044%2020%207946%200000"); code != 200 || body != "Ada Lovelace" {
		t.Errorf("caller id: %d %q", code, body)
	}

	// A number changed in the CRM.
	if _, err := crm.db.Exec("UPDATE customers SET phone = '0171 5550123' WHERE id = 3"); err != nil {
		t.Fatal(err)
	}
	took := r.waitPop("+49 171 5550123", "Ada Lovelace", 5*time.Second)
	t.Logf("MEASURE a number changed in the CRM was in screen-pop after %s", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the changed number took %s to reach screen-pop, want within a second", took)
	}
	if got, _ := r.popNames("+44 20 7946 0000"); got != "" {
		t.Errorf("the old number still lists %q", got)
	}

	// A full call, told as JSON events.
	agent := r.openAgent("1001")
	start := time.Now()
	if code, body := r.post(map[string]any{"event": "ringing", "call_id": "call-1", "from": "+49 171 5550123", "to": "+4930555000", "agent": "1001"}); code != 200 {
		t.Fatalf("ringing: %d %s", code, body)
	}
	ev := agent.next(t, "ringing")
	t.Logf("MEASURE ringing reached the agent's browser %s after the event was posted", time.Since(start).Round(time.Millisecond))
	pop, _ := ev["screenpop"].(map[string]any)
	custs, _ := pop["customers"].([]any)
	if ev["_event"] != "ringing" || ev["_id"] == nil || len(custs) != 1 || custs[0].(map[string]any)["name"] != "Ada Lovelace" {
		t.Fatalf("ringing event = %v", ev)
	}
	r.post(map[string]any{"event": "answered", "call_id": "call-1", "agent": "1001"})
	if ev := agent.next(t, "answered"); ev["_event"] != "answered" {
		t.Errorf("answered event = %v", ev)
	}
	time.Sleep(1100 * time.Millisecond) // a call of at least a second
	if code, body := r.post(map[string]any{"event": "ended", "call_id": "call-1", "recording_url": "https://pbx.example.com/rec/call-1.wav"}); code != 200 || !strings.Contains(body, `"published"`) {
		t.Fatalf("ended: %d %s", code, body)
	}
	if ev := agent.next(t, "ended"); ev["_event"] != "ended" {
		t.Errorf("ended event = %v", ev)
	}
	var row string
	waitFor(t, "the call in the CRM's interactions table", 15*time.Second, 100*time.Millisecond, []*proc{r.hub}, func() (bool, string) {
		row = r.callRow("1001", "+491715550123")
		return row != "", "not there"
	})
	parts := strings.Split(row, "|")
	if parts[0] != "3" || parts[1] != "Ada Lovelace" || parts[2] != "INBOUND" || parts[4] != "1001" || parts[5] == "0" || parts[6] != "ANSWERED" ||
		parts[7] != "https://pbx.example.com/rec/call-1.wav" {
		t.Errorf("interactions row = %s, want customer 3 (Ada Lovelace), INBOUND, agent 1001, a duration, ANSWERED, the recording", row)
	}
	t.Logf("MEASURE the ended call was a CRM row %s after the ringing event", time.Since(start).Round(time.Millisecond))

	// Twilio: a forged webhook changes nothing; signed ones are logged.
	twAgent := r.openAgent("alice")
	parent := func(sid, status string) url.Values {
		return url.Values{"CallSid": {sid}, "AccountSid": {"ACe2e"}, "From": {"+4930 1234567"}, "To": {"+4930555000"},
			"CallStatus": {status}, "Direction": {"inbound"}, "ApiVersion": {"2010-04-01"}}
	}
	leg := func(parentSid, status string) url.Values {
		return url.Values{"CallSid": {"CA-leg-" + parentSid}, "ParentCallSid": {parentSid}, "AccountSid": {"ACe2e"},
			"From": {"+49301234567"}, "To": {"client:alice"}, "CallStatus": {status}, "Direction": {"outbound-dial"}}
	}
	for _, p := range []url.Values{parent("CA-forged", "ringing"), leg("CA-forged", "ringing"), parent("CA-forged", "completed")} {
		if code, body := r.postTwilio("not-the-auth-token", p); code != 403 {
			t.Errorf("a forged Twilio webhook: %d %s, want 403", code, body)
		}
	}
	twAgent.none(t, 300*time.Millisecond)
	for _, p := range []url.Values{parent("CA-good", "ringing"), leg("CA-good", "ringing"), leg("CA-good", "in-progress"), parent("CA-good", "completed")} {
		if code, body := r.postTwilio(twilioToken, p); code != 200 || !strings.Contains(body, "<Response") {
			t.Fatalf("a signed Twilio webhook: %d %s", code, body)
		}
	}
	if ev := twAgent.next(t, "ringing"); ev["_event"] != "ringing" || ev["call_id"] != "CA-good" {
		t.Errorf("Twilio ringing event = %v", ev)
	}
	waitFor(t, "the Twilio call in the CRM", 15*time.Second, 100*time.Millisecond, []*proc{r.hub}, func() (bool, string) {
		return r.callRow("alice", "+49301234567") != "", "not there"
	})
	var n int
	if err := crm.db.QueryRow("SELECT COUNT(*) FROM interactions").Scan(&n); err != nil || n != 2 {
		t.Errorf("interactions rows = %d (%v), want 2: the forged call must not be there", n, err)
	}
	if v := metricSum(t, r.httpAddr, "hub_call_events_refused_total", `reason="signature"`); v != 3 {
		t.Errorf("refused signatures = %v, want 3", v)
	}
	if v := metricSum(t, r.httpAddr, "hub_screenpop_lookups_total"); v < 3 {
		t.Errorf("lookups counted = %v", v)
	}
	r.hub.stop(t)
}
