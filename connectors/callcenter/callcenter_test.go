package callcenter

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter/ami"
	"github.com/crmhub/hub/connectors/callcenter/ami/amitest"
	"github.com/crmhub/hub/connectors/callcenter/twilio"
	"github.com/crmhub/hub/mapping"
)

const acme = "0190a5f0-0000-7000-8000-000000000001"

// seed puts the demo's Acme (with a recent order) into the view.
func seed(r *rig) {
	r.view.index.Apply([]connectors.Change{
		{Entity: "customer", HubID: acme, Op: connectors.OpUpsert, Origin: "crm", SourceID: "1",
			Data: mapping.ObjectValue(
				mapping.Member{Key: "name", Value: mapping.StringValue(`Acme "Maschinenbau" GmbH`)},
				mapping.Member{Key: "phone", Value: mapping.StringValue("+49301234567")})},
		{Entity: "order", HubID: "0190a5f0-0000-7000-8000-000000000101", Op: connectors.OpUpsert, Origin: "crm", SourceID: "1",
			Refs: map[string]string{"customer": acme},
			Data: mapping.ObjectValue(
				mapping.Member{Key: "order_no", Value: mapping.StringValue("SO-1001")},
				mapping.Member{Key: "order_date", Value: mapping.StringValue("2026-11-20")},
				mapping.Member{Key: "total", Value: mapping.StringValue("1250.00")},
				mapping.Member{Key: "currency", Value: mapping.StringValue("EUR")})},
	}, nil)
}

// TestScreenpopRoute: the screen-pop answers a number in any notation
// (a raw '+' included), a customer by its id, an unknown caller with an
// empty list; call-center keys and viewers may ask, nobody else.
func TestScreenpopRoute(t *testing.T) {
	r := newRig(t, nil, nil)
	seed(r)
	for _, q := range []string{"phone=030%201234567", "phone=+49%2030%201234567", "phone=%2B49301234567", "phone=0049+30+1234567", "customer=1&system=crm", "customer=" + acme} {
		code, body, ct := do(t, "GET", r.url+"/api/v1/screenpop?"+q, ccKey, "", nil)
		var a struct {
			Phone     string
			Customers []struct {
				ID           string
				Name         string
				RecentOrders []struct{ OrderNo string } `json:"recent_orders"`
			}
		}
		if err := json.Unmarshal([]byte(body), &a); err != nil || code != 200 || ct != "application/json" {
			t.Fatalf("%s: %d %s %s", q, code, ct, body)
		}
		if len(a.Customers) != 1 || a.Customers[0].ID != acme || len(a.Customers[0].RecentOrders) != 1 {
			t.Errorf("%s: %s", q, body)
		}
		if strings.HasPrefix(q, "phone") && a.Phone != "+49301234567" {
			t.Errorf("%s: phone %q", q, a.Phone)
		}
	}
	code, body, _ := do(t, "GET", r.url+"/api/v1/screenpop?phone=030%209999999", viewerKey, "", nil)
	if code != 200 || !strings.Contains(body, `"customers":[]`) || !strings.Contains(body, `"phone":"+49309999999"`) {
		t.Errorf("unknown caller: %d %s", code, body)
	}
	if code, _, _ := do(t, "GET", r.url+"/api/v1/screenpop", ccKey, "", nil); code != 400 {
		t.Errorf("no question: %d", code)
	}
	if code, _, _ := do(t, "GET", r.url+"/api/v1/screenpop?phone=030", "", "", nil); code != 401 {
		t.Errorf("no key: %d", code)
	}
}

// TestCallerIDRoute: the caller's name as text/plain and nothing else, at
// most 60 characters and without quotes; an unknown number and every
// refusal get an empty body.
func TestCallerIDRoute(t *testing.T) {
	r := newRig(t, nil, nil)
	seed(r)
	tests := []struct {
		q, key string
		code   int
		body   string
	}{
		{"number=030%201234567", ccKey, 200, "Acme Maschinenbau GmbH"},
		{"number=+49301234567", ccKey, 200, "Acme Maschinenbau GmbH"},
		{"number=030%207654321", ccKey, 200, ""},
		{"number=anonymous", ccKey, 200, ""},
		{"number=030%201234567", "", 401, ""},
		{"number=030%201234567", "wrong-key-123456789", 401, ""},
	}
	for _, tt := range tests {
		code, body, ct := do(t, "GET", r.url+"/api/v1/callerid?"+tt.q, tt.key, "", nil)
		if code != tt.code || body != tt.body || !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s (key %q) = %d %q %s, want %d %q text/plain", tt.q, tt.key, code, body, ct, tt.code, tt.body)
		}
	}
	var metrics strings.Builder
	ch := make(chan prometheusMetric, 100)
	go func() { r.view.Collect(ch); close(ch) }()
	for m := range ch {
		metrics.WriteString(m.Desc().String())
	}
	if !strings.Contains(metrics.String(), "hub_screenpop_lookups_total") || !strings.Contains(metrics.String(), "hub_screenpop_lookup_seconds") {
		t.Errorf("lookups are not counted and timed")
	}
}

// TestJSONCallFlow: a call told as JSON events: ringing pushes the
// screen-pop to the agent's browser, answered and ended follow, and the
// ended call is handed to the pipeline once as an interaction linked to
// the caller's customer; a repeated ended event hands in the very same
// record; bad events are refused with 400, a pipeline that cannot take
// the record gets the sender to try again (503).
func TestJSONCallFlow(t *testing.T) {
	r := newRig(t, nil, nil)
	seed(r)
	agent := openSSE(t, r.url+"/api/v1/agents/1001/events", ccKey)
	r.waitAgents(t, 1)
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	ev := func(kind string, at time.Time, extra ...any) map[string]any {
		m := map[string]any{"event": kind, "call_id": "c-1", "from": "030 1234567", "to": "+4930555000", "agent": "1001", "at": at.Format(time.RFC3339)}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	if code, out := r.postEvent(t, ev("ringing", t0)); code != 200 || out["pushed"] != float64(1) {
		t.Fatalf("ringing: %d %v", code, out)
	}
	got := agent.next(t)
	pop, _ := got.data["screenpop"].(map[string]any)
	custs, _ := pop["customers"].([]any)
	if got.event != "ringing" || got.id == "" || len(custs) != 1 || custs[0].(map[string]any)["id"] != acme || got.data["from"] != "+49301234567" {
		t.Fatalf("ringing push = %+v", got)
	}
	r.postEvent(t, ev("answered", t0.Add(4*time.Second)))
	if got := agent.next(t); got.event != "answered" {
		t.Errorf("answered push = %+v", got)
	}
	code, out := r.postEvent(t, ev("ended", t0.Add(94*time.Second), "recording_url", "https://pbx.example.com/rec/c-1.wav"))
	if code != 200 || out["interaction"].(map[string]any)["outcome"] != "published" {
		t.Fatalf("ended: %d %v", code, out)
	}
	if got := agent.next(t); got.event != "ended" {
		t.Errorf("ended push = %+v", got)
	}
	recs := r.in.records()
	if len(recs) != 1 {
		t.Fatalf("records = %d", len(recs))
	}
	rec := recs[0]
	d := rec.Data
	if rec.Key != "c-1" || rec.Refs["customer"] != acme || d.Get("duration_seconds").Str() != "90" || d.Get("outcome").Str() != "ANSWERED" ||
		d.Get("agent").Str() != "1001" || d.Get("started_at").Str() != "2026-12-03T09:00:00Z" || d.Get("from").Str() != "+49301234567" ||
		d.Get("recording_url").Str() != "https://pbx.example.com/rec/c-1.wav" || !rec.Version.Equal(t0.Add(94*time.Second)) {
		t.Errorf("call log record = %s refs %v version %s", mapping.AppendJSON(nil, d), rec.Refs, rec.Version)
	}
	// The sender retries the ended event: the same record again.
	r.postEvent(t, ev("ended", t0.Add(99*time.Second)))
	if recs := r.in.records(); len(recs) != 2 || string(mapping.AppendJSON(nil, recs[1].Data)) != string(mapping.AppendJSON(nil, rec.Data)) {
		t.Errorf("a repeated ended event logged %+v", recs)
	}
	// Bad events, and a pipeline that is down.
	for _, bad := range []map[string]any{{"event": "ringing"}, {"event": "dialing", "call_id": "x"}, {"event": "ended", "call_id": "x", "at": "yesterday"}} {
		if code, _ := r.postEvent(t, bad); code != 400 {
			t.Errorf("%v: %d, want 400", bad, code)
		}
	}
	r.in.fail = errors.New("kafka down")
	if code, _ := r.postEvent(t, map[string]any{"event": "ended", "call_id": "c-2", "from": "+49301234567"}); code != 503 {
		t.Errorf("pipeline down: %d, want 503", code)
	}
	r.in.fail = nil
	if code, _, _ := do(t, "POST", r.url+"/webhooks/calls/calls", viewerKey, "application/json", strings.NewReader(`{}`)); code != 403 {
		t.Errorf("a viewer posting events: %d, want 403", code)
	}
}

// TestUnknownCallerCall: a call from a number nobody has pushes an empty
// screen-pop and logs an interaction without a customer.
func TestUnknownCallerCall(t *testing.T) {
	r := newRig(t, nil, nil)
	agent := openSSE(t, r.url+"/api/v1/agents/1002/events", ccKey)
	r.waitAgents(t, 1)
	r.postEvent(t, map[string]any{"event": "ringing", "call_id": "u-1", "from": "+14155550100", "agent": "1002"})
	got := agent.next(t)
	if pop := got.data["screenpop"].(map[string]any); len(pop["customers"].([]any)) != 0 {
		t.Errorf("screen-pop of an unknown caller = %v", pop)
	}
	r.postEvent(t, map[string]any{"event": "ended", "call_id": "u-1"})
	recs := r.in.records()
	if len(recs) != 1 || recs[0].Refs != nil || recs[0].Data.Get("outcome").Str() != "MISSED" {
		t.Errorf("records = %+v", recs)
	}
}

// twilioPost posts Twilio's form parameters to the twilio route, signed
// with token for the URL signedURL ("" signs the URL requested).
func twilioPost(t *testing.T, r *rig, token, signedURL string, params url.Values) (int, string, string) {
	t.Helper()
	target := r.url + "/webhooks/calls/calls/twilio"
	if signedURL == "" {
		signedURL = target
	}
	req := strings.NewReader(params.Encode())
	return doSigned(t, target, twilio.Signature(token, signedURL, params), req)
}

// TestTwilioWebhooks: Twilio's voice request of an incoming call is
// answered with the configured TwiML; the leg its <Dial> rings pushes the
// screen-pop to the agent (client:alice); the parent's completed callback
// logs the call. A wrong signature gets 403 and changes nothing; the URL
// may be signed with or without its port.
func TestTwilioWebhooks(t *testing.T) {
	const token = "twilio-auth-token-123"
	r := newRig(t, nil, map[string]any{"twilio": map[string]any{"auth_token": token,
		"answer": `<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Client>alice</Client></Dial></Response>`}})
	seed(r)
	alice := openSSE(t, r.url+"/api/v1/agents/alice/events", viewerKey)
	r.waitAgents(t, 1)
	parent := func(status string) url.Values {
		return url.Values{"CallSid": {"CA100"}, "AccountSid": {"AC1"}, "From": {"+49301234567"}, "To": {"+4930555000"},
			"CallStatus": {status}, "Direction": {"inbound"}, "ApiVersion": {"2010-04-01"}, "Caller": {"+49301234567"}, "Called": {"+4930555000"}}
	}
	child := func(status string) url.Values {
		return url.Values{"CallSid": {"CA200"}, "ParentCallSid": {"CA100"}, "AccountSid": {"AC1"}, "From": {"+49301234567"},
			"To": {"client:alice"}, "CallStatus": {status}, "Direction": {"outbound-dial"}, "CallbackSource": {"call-progress-events"}}
	}

	// A forged request: 403, no push, nothing logged.
	forged := parent("completed")
	if code, _, _ := twilioPost(t, r, "not-the-token", "", forged); code != 403 {
		t.Errorf("wrong signature: %d, want 403", code)
	}
	if code, _, _ := doSigned(t, r.url+"/webhooks/calls/calls/twilio", "", strings.NewReader(forged.Encode())); code != 403 {
		t.Errorf("no signature: %d, want 403", code)
	}

	code, body, ct := twilioPost(t, r, token, "", parent("ringing"))
	if code != 200 || !strings.Contains(body, "<Client>alice</Client>") || !strings.HasPrefix(ct, "text/xml") {
		t.Errorf("voice request: %d %s %s", code, ct, body)
	}
	// Signed without the port of the URL requested, as Twilio may.
	u, _ := url.Parse(r.url)
	noPort := "http://" + u.Hostname() + "/webhooks/calls/calls/twilio"
	if code, body, _ := twilioPost(t, r, token, noPort, child("ringing")); code != 200 || body != twilio.EmptyTwiML {
		t.Errorf("dial leg ringing: %d %s", code, body)
	}
	got := alice.next(t)
	if got.event != "ringing" || got.data["call_id"] != "CA100" || got.data["from"] != "+49301234567" {
		t.Errorf("alice's push = %+v", got)
	}
	twilioPost(t, r, token, "", child("in-progress"))
	if got := alice.next(t); got.event != "answered" {
		t.Errorf("answered push = %+v", got)
	}
	twilioPost(t, r, token, "", child("completed"))
	if len(r.in.records()) != 0 {
		t.Errorf("a dial leg's end logged the call")
	}
	twilioPost(t, r, token, "", parent("completed"))
	recs := r.in.records()
	if len(recs) != 1 || recs[0].Key != "CA100" || recs[0].Data.Get("agent").Str() != "alice" || recs[0].Refs["customer"] != acme ||
		recs[0].Data.Get("source").Str() != "twilio" || recs[0].Data.Get("outcome").Str() != "ANSWERED" {
		t.Errorf("call log = %+v", recs)
	}
	if got := alice.next(t); got.event != "ended" {
		t.Errorf("ended push = %+v", got)
	}
}

// TestAMIStream: the connector logs in to the stand-in manager, follows an
// inbound call to agent 1001 (push on DialBegin, log on the last Hangup),
// ends with its context, and reports refused credentials as the system's
// fault.
func TestAMIStream(t *testing.T) {
	srv, err := amitest.Start("hub", "ami-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := newRig(t, nil, map[string]any{"ami": map[string]any{"addr": srv.Addr, "username": "hub", "secret": "ami-secret", "ping_interval": "1s"}})
	seed(r)
	agent := openSSE(t, r.url+"/api/v1/agents/1001/events", ccKey)
	r.waitAgents(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.calls.Stream(ctx, r.in) }()
	for deadline := time.Now().Add(5 * time.Second); srv.Connected() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connector did not log in")
		}
	}
	srv.Emit(amitest.InboundCall("1700000000.7", "030 1234567", "4930555000", "1001", true)...)
	got := agent.next(t)
	if got.event != "ringing" || got.data["call_id"] != "1700000000.7" {
		t.Errorf("push = %+v", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.in.records()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	recs := r.in.records()
	if len(recs) != 1 || recs[0].Data.Get("agent").Str() != "1001" || recs[0].Refs["customer"] != acme || recs[0].Data.Get("source").Str() != "ami" {
		t.Errorf("call log = %+v", recs)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stream ended with %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end with its context")
	}

	bad := newRig(t, nil, map[string]any{"ami": map[string]any{"addr": srv.Addr, "username": "hub", "secret": "wrong"}})
	err = bad.calls.Stream(context.Background(), bad.in)
	if kind, _ := connectors.Classify(err); !errors.Is(err, ami.ErrAuth) || kind != connectors.KindUnavailable {
		t.Errorf("refused login: %v (%v)", err, kind)
	}
}

// TestSnapshotAcrossRestart: the view writes its snapshot at Close; a new
// view loads it on Start and resumes at the same positions with the same
// answers.
func TestSnapshotAcrossRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sp.snap")
	r := newRig(t, map[string]any{"snapshot": file}, nil)
	seed(r)
	at := connectors.Positions{"crm.customer": {0: 12}}
	if err := r.view.Apply(context.Background(), nil, at); err != nil {
		t.Fatal(err)
	}
	if err := r.view.Close(); err != nil {
		t.Fatal(err)
	}
	again := newRig(t, map[string]any{"snapshot": file}, nil)
	pos, err := again.view.Resume(context.Background())
	if err != nil || pos["crm.customer"][0] != 12 {
		t.Errorf("resume = %v %v", pos, err)
	}
	if _, body, _ := do(t, "GET", again.url+"/api/v1/callerid?number=030%201234567", ccKey, "", nil); body != "Acme Maschinenbau GmbH" {
		t.Errorf("after a restart: %q", body)
	}
	if err := again.view.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pos, _ := again.view.Resume(context.Background()); len(pos) != 0 {
		t.Errorf("after a reset: %v", pos)
	}
}

// TestAgentPage: the page is served without a key and holds no data.
func TestAgentPage(t *testing.T) {
	r := newRig(t, nil, nil)
	code, body, ct := do(t, "GET", r.url+"/api/v1/agents/1001/screen", "", "", nil)
	if code != 200 || !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "/events") {
		t.Errorf("page: %d %s", code, ct)
	}
	if code, _, _ := do(t, "GET", r.url+"/api/v1/agents/bad%20id/screen", "", "", nil); code != 400 {
		t.Errorf("bad agent id: %d", code)
	}
}

// TestSettings: bad settings are reported by key.
func TestSettings(t *testing.T) {
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	_, err := build(t, reg, KindScreenpop, "sp", map[string]any{"default_region": "XX", "recent_orders": -1, "snapshot_interval": "10ms"})
	for _, want := range []string{"default_region", "recent_orders", "snapshot_interval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("screenpop settings error %v lacks %s", err, want)
		}
	}
	_, err = build(t, reg, KindCalls, "c", map[string]any{"twilio": map[string]any{"public_url": "ftp://x/y"}, "ami": map[string]any{"addr": "pbx:5038"}})
	for _, want := range []string{"view: is required", "twilio.auth_token: is required", "twilio.public_url", "ami.username: is required", "ami.secret: is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("calls settings error %v lacks %s", err, want)
		}
	}
	c, err := build(t, reg, KindCalls, "c", map[string]any{"view": "nowhere"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "not a screenpop connector") {
		t.Errorf("a view that does not exist: %v", err)
	}
}
