package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/server"
	"github.com/crmhub/hub/store"
	"github.com/crmhub/hub/store/storetest"
)

func TestDeadLetterAPI(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	ids := make([]int64, 3)
	for i, key := range []string{"4", "5", "6"} {
		stage := pipeline.StageSourceMap
		if key == "6" {
			stage = pipeline.StageDecode
		}
		ids[i], err = st.AddDeadLetter(ctx, store.DeadLetter{Connector: "crm-orders", Entity: "order", RecordKey: key,
			Stage: stage, Kind: store.KindPermanent, Error: `total: "12,50": not a decimal`, Attempts: 1,
			Payload: []byte(`{"id":` + key + `,"total":"12,50"}`)})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv := server.New(server.Config{Tokens: []server.Token{
		{Name: "viewer", Role: server.RoleViewer, Secret: "viewer-secret-0123456789"},
		{Name: "ops", Role: server.RoleOperator, Secret: "operator-secret-0123456789"},
	}}, log, prometheus.NewRegistry())
	(&API{Store: st, Replayer: &pipeline.Replayer{Store: st, Log: log}}).Register(srv)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	call := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}

	if code, _ := call("GET", "/api/v1/dlq", "", ""); code != 401 {
		t.Errorf("list without token = %d, want 401", code)
	}
	code, list := call("GET", "/api/v1/dlq", "viewer-secret-0123456789", "")
	if code != 200 || list["total"].(float64) != 3 || len(list["items"].([]any)) != 3 {
		t.Fatalf("list = %d %v", code, list)
	}
	first := list["items"].([]any)[0].(map[string]any)
	if first["error"] != `total: "12,50": not a decimal` || first["payload"] != nil {
		t.Errorf("list item = %v (lists leave payloads out)", first)
	}
	code, one := call("GET", "/api/v1/dlq/2", "viewer-secret-0123456789", "")
	if code != 200 || one["record_key"] != "5" {
		t.Fatalf("show = %d %v", code, one)
	}
	if p, ok := one["payload"].(map[string]any); !ok || p["total"] != "12,50" {
		t.Errorf("show payload = %v", one["payload"])
	}
	for _, tc := range []struct {
		path  string
		code  int
		token string
	}{
		{"/api/v1/dlq/999", 404, "viewer-secret-0123456789"},
		{"/api/v1/dlq/x", 400, "viewer-secret-0123456789"},
		{"/api/v1/dlq?limit=0", 400, "viewer-secret-0123456789"},
	} {
		if code, _ := call("GET", tc.path, tc.token, ""); code != tc.code {
			t.Errorf("GET %s = %d, want %d", tc.path, code, tc.code)
		}
	}
	// A viewer may not discard; an operator may, once.
	if code, _ := call("POST", "/api/v1/dlq/1/discard", "viewer-secret-0123456789", ""); code != 403 {
		t.Errorf("viewer discard = %d, want 403", code)
	}
	if code, body := call("POST", "/api/v1/dlq/1/discard", "operator-secret-0123456789", `{"reason":"test order"}`); code != 200 || body["status"] != "discarded" {
		t.Errorf("discard = %d %v", code, body)
	}
	if code, _ := call("POST", "/api/v1/dlq/1/discard", "operator-secret-0123456789", ""); code != 409 {
		t.Errorf("second discard = %d, want 409", code)
	}
	// A record that is not an envelope cannot be replayed: 409, and it stays open.
	if code, body := call("POST", "/api/v1/dlq/3/replay", "operator-secret-0123456789", ""); code != 409 || !strings.Contains(body["error"].(string), "discard it") {
		t.Errorf("replay of a decode failure = %d %v", code, body)
	}
	if d, _ := st.GetDeadLetter(ctx, ids[2]); d.Status != store.StatusOpen {
		t.Errorf("status after a refused replay = %s, want open", d.Status)
	}
	// Linking is for match reviews only, by an operator, with a hub id or "new".
	for _, tc := range []struct {
		token, body string
		code        int
		err         string
	}{
		{"viewer-secret-0123456789", `{"new":true}`, 403, ""},
		{"operator-secret-0123456789", `{}`, 400, `give either "hub_id" or "new": true`},
		{"operator-secret-0123456789", `{"hub_id":"h1","new":true}`, 400, `give either`},
		{"operator-secret-0123456789", `{"hub_id":`, 400, "body:"},
		{"operator-secret-0123456789", `{"hub_id":"h1"}`, 409, "not a match review (stage map_in)"},
	} {
		code, body := call("POST", "/api/v1/dlq/2/link", tc.token, tc.body)
		msg, _ := body["error"].(string)
		if code != tc.code || !strings.Contains(msg, tc.err) {
			t.Errorf("link %s = %d %v, want %d %q", tc.body, code, body, tc.code, tc.err)
		}
	}
	if _, list = call("GET", "/api/v1/dlq?status=open", "viewer-secret-0123456789", ""); list["total"].(float64) != 2 {
		t.Errorf("open after discard = %v", list["total"])
	}
	audit, _ := st.ListAudit(ctx, 10)
	if len(audit) != 1 || audit[0].Actor != "ops" || audit[0].Action != "dlq.discard" || audit[0].Detail != "test order" {
		t.Errorf("audit = %+v", audit)
	}
}
