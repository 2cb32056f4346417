package callcenter

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/server"
)

// The tests run the connectors behind the hub's real HTTP server (tokens,
// roles, plain errors) on loopback, with an Ingest that records what the
// pipeline would take; the e2e tests run the whole pipeline.

const (
	ccKey     = "callcenter-key-123456"
	viewerKey = "viewer-token-1234567"
)

// build makes a connector of kind from settings, as the hub does.
func build(t *testing.T, reg *connectors.Registry, kind, name string, settings map[string]any) (connectors.Connector, error) {
	t.Helper()
	return reg.New(kind, connectors.Params{Name: name, Log: slog.New(slog.DiscardHandler), Decode: func(into any) error {
		d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: into, ErrorUnused: true,
			DecodeHook: mapstructure.StringToTimeDurationHookFunc(), WeaklyTypedInput: true})
		if err != nil {
			return err
		}
		return d.Decode(settings)
	}})
}

// recorder is the pipeline's Ingest as a call-center connector sees it:
// it keeps the records, or fails while fail is set.
type recorder struct {
	mu   sync.Mutex
	recs []connectors.Record
	fail error
}

func (r *recorder) Ingest(_ context.Context, entity string, recs []connectors.Record) ([]connectors.IngestResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	if entity != "interaction" {
		return nil, errors.New("not an interaction")
	}
	out := make([]connectors.IngestResult, len(recs))
	for i := range recs {
		r.recs = append(r.recs, recs[i])
		out[i] = connectors.IngestResult{Outcome: connectors.IngestPublished, HubID: "hub-" + recs[i].Key}
	}
	return out, nil
}

func (r *recorder) records() []connectors.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]connectors.Record(nil), r.recs...)
}

// rig is a screenpop and a calls connector behind a server.
type rig struct {
	view  *View
	calls *Calls
	in    *recorder
	url   string
}

func newRig(t *testing.T, viewSettings, callSettings map[string]any) *rig {
	t.Helper()
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	if viewSettings == nil {
		viewSettings = map[string]any{}
	}
	if _, ok := viewSettings["default_region"]; !ok {
		viewSettings["default_region"] = "DE"
	}
	vc, err := build(t, reg, KindScreenpop, "screenpop", viewSettings)
	if err != nil {
		t.Fatal(err)
	}
	if callSettings == nil {
		callSettings = map[string]any{}
	}
	callSettings["view"] = "screenpop"
	cc, err := build(t, reg, KindCalls, "calls", callSettings)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{view: vc.(*View), calls: cc.(*Calls), in: &recorder{}}
	ctx := context.Background()
	if err := r.view.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.calls.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.view.Close() })
	srv := server.New(server.Config{Tokens: []server.Token{
		{Name: "pbx", Role: server.RoleCallCenter, Secret: ccKey},
		{Name: "console", Role: server.RoleViewer, Secret: viewerKey},
	}}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	mount := func(rt connectors.Route, public bool) {
		if public {
			srv.Handle(rt.Pattern, rt.Handler)
			return
		}
		a := server.Access{Plain: rt.PlainErrors}
		for _, role := range rt.Roles {
			if role == server.RoleCallCenter {
				a.Also = append(a.Also, role)
			} else if a.Role == "" {
				a.Role = role
			}
		}
		srv.HandleAccess(rt.Pattern, a, rt.Handler)
	}
	for _, rt := range r.view.Routes() {
		mount(rt, rt.Public)
	}
	for _, rt := range r.calls.Routes(r.in) {
		mount(rt, len(rt.Roles) == 0)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	r.url = ts.URL
	return r
}

// do sends a request with a key ("" for none) and returns status, body
// and content type.
func do(t *testing.T, method, url, key, contentType string, body io.Reader) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Content-Type")
}

// postEvent posts a JSON call event with the call-center key.
func (r *rig) postEvent(t *testing.T, e map[string]any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(e)
	code, body, _ := do(t, "POST", r.url+"/webhooks/calls/calls", ccKey, "application/json", strings.NewReader(string(b)))
	var out map[string]any
	_ = json.Unmarshal([]byte(body), &out)
	return code, out
}

// sse is an agent's event stream read by a real HTTP client.
type sse struct {
	events chan sseEvent
	cancel context.CancelFunc
}

type sseEvent struct {
	id, event string
	data      map[string]any
}

func openSSE(t *testing.T, url, key string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		cancel()
		t.Fatalf("event stream: %d", resp.StatusCode)
	}
	s := &sse{events: make(chan sseEvent, 16), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &ev.data)
			}
		}
	}()
	t.Cleanup(cancel)
	return s
}

func (s *sse) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sseEvent{}
}

// waitAgents waits until n browsers are connected to the view.
func (r *rig) waitAgents(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if r.view.agents.Connected() == n {
			return
		}
	}
	t.Fatalf("%d agents connected, want %d", r.view.agents.Connected(), n)
}

type prometheusMetric = prometheus.Metric

// doSigned posts a form with an X-Twilio-Signature ("" for none).
func doSigned(t *testing.T, target, sig string, body io.Reader) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("POST", target, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Content-Type")
}
