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

// TestTraceAPI: GET /api/v1/trace/{id} needs a viewer token, answers the
// same journey for a record's hub id and its id in each system, narrows by
// ?entity= and is 404 for an id nothing knows.
func TestTraceAPI(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)

	// An order read from the CRM (id 5001), published and written to the
	// ERP (id SO-5001) after one failed attempt; a customer whose CRM id is
	// 5001 too.
	const hub, custHub, ver = "0191f3a2-0000-7000-8000-000000000001", "0191f3a2-0000-7000-8000-0000000000c1", "2026-05-01T10:00:00Z"
	if _, err := st.LinkMany(ctx, "order", "crm", map[string]string{"5001": hub}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LinkMany(ctx, "customer", "crm", map[string]string{"5001": custHub}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordWritten(ctx, "order", "crm", []store.Written{{HubID: hub, ExternalID: "5001", Hash: "h1", Version: ver}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordWritten(ctx, "order", "erp", []store.Written{{HubID: hub, ExternalID: "SO-5001", Hash: "h1", Version: ver}}); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendTrace(ctx, []store.TraceEvent{
		{Entity: "order", HubID: hub, System: "crm", Connector: "crm-orders", ExternalID: "5001", Event: store.TracePublished, Version: ver, Hash: "h1", Detail: "upsert"},
		{Entity: "order", HubID: hub, System: "erp", Connector: "erp", Event: store.TraceFailed, Version: ver, Hash: "h1", Detail: "attempt 1 at write (retryable): connection refused"},
		{Entity: "order", HubID: hub, System: "erp", Connector: "erp", ExternalID: "SO-5001", Event: store.TraceWritten, Version: ver, Hash: "h1", Detail: "upsert"},
		{Entity: "customer", HubID: custHub, System: "crm", Connector: "crm-customers", ExternalID: "5001", Event: store.TracePublished, Version: ver},
	}); err != nil {
		t.Fatal(err)
	}
	// A dead letter the source filed under the CRM id only (an earlier
	// version its mapping refused).
	if _, err := st.AddDeadLetter(ctx, store.DeadLetter{Connector: "crm-orders", Entity: "order", RecordKey: "5001",
		Stage: pipeline.StageSourceMap, Kind: store.KindPermanent, Error: `total: "12,50": not a decimal`, Attempts: 1,
		Payload: []byte(`{"id":5001,"total":"12,50"}`)}); err != nil {
		t.Fatal(err)
	}

	srv := server.New(server.Config{Tokens: []server.Token{
		{Name: "viewer", Role: server.RoleViewer, Secret: "viewer-secret-0123456789"},
		{Name: "ops", Role: server.RoleOperator, Secret: "operator-secret-0123456789"},
		// The config refuses other roles; the server still denies them.
		{Name: "nobody", Role: "guest", Secret: "guest-secret-0123456789"},
	}}, log, prometheus.NewRegistry())
	(&API{Store: st, Replayer: &pipeline.Replayer{Store: st, Log: log}}).Register(srv)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	get := func(path, token string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	const viewer = "viewer-secret-0123456789"
	for _, tc := range []struct {
		name, token string
		code        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a wrong token", "not-a-token-0123456789", http.StatusUnauthorized},
		{"a role below viewer", "guest-secret-0123456789", http.StatusForbidden},
		{"viewer", viewer, http.StatusOK},
		{"operator (includes viewer)", "operator-secret-0123456789", http.StatusOK},
	} {
		if code, body := get("/api/v1/trace/"+hub, tc.token); code != tc.code {
			t.Errorf("%s: %d %s; want %d", tc.name, code, body, tc.code)
		}
	}

	// The same journey by the hub id, the ERP's id and the CRM's id (which
	// needs ?entity=: the CRM's customer 5001 shares it).
	var journeys []TraceJSON
	for _, path := range []string{hub, "SO-5001", "5001?entity=order"} {
		code, body := get("/api/v1/trace/"+path, viewer)
		if code != http.StatusOK {
			t.Fatalf("trace %s: %d %s", path, code, body)
		}
		var tr TraceJSON
		if err := json.Unmarshal(body, &tr); err != nil {
			t.Fatalf("trace %s: %v\n%s", path, err, body)
		}
		if want, _, _ := strings.Cut(path, "?"); tr.ID != want {
			t.Errorf("trace %s: id %q", path, tr.ID)
		}
		tr.ID = ""
		journeys = append(journeys, tr)
	}
	a, _ := json.Marshal(journeys[0])
	for i, path := range []string{"SO-5001", "5001?entity=order"} {
		if b, _ := json.Marshal(journeys[i+1]); string(b) != string(a) {
			t.Errorf("trace by %s differs from trace by the hub id:\n%s\nvs\n%s", path, b, a)
		}
	}
	tr := journeys[0]
	if len(tr.Records) != 1 {
		t.Fatalf("records %+v; want the order", tr.Records)
	}
	r := tr.Records[0]
	if r.Entity != "order" || r.HubID != hub {
		t.Errorf("record %s %s; want order %s", r.Entity, r.HubID, hub)
	}
	links := map[string]LinkJSON{}
	for _, l := range r.Links {
		links[l.System] = l
	}
	if len(links) != 2 || links["crm"].ExternalID != "5001" || links["erp"].ExternalID != "SO-5001" || links["erp"].Version != ver || links["erp"].LastHash != "h1" {
		t.Errorf("links %+v; want crm 5001 and erp SO-5001 at %s", r.Links, ver)
	}
	var steps []string
	for _, e := range r.Events {
		steps = append(steps, e.Event+" "+e.System+" "+e.ExternalID)
	}
	if got, want := strings.Join(steps, ", "), "published crm 5001, failed erp , written erp SO-5001"; got != want {
		t.Errorf("journey %q; want %q", got, want)
	}
	if len(r.Events) == 3 && (r.Events[1].Detail != "attempt 1 at write (retryable): connection refused" || r.Events[0].Version != ver || r.Events[0].At.IsZero()) {
		t.Errorf("events %+v", r.Events)
	}
	if len(r.DeadLetters) != 1 || r.DeadLetters[0].RecordKey != "5001" || r.DeadLetters[0].Stage != pipeline.StageSourceMap ||
		!strings.Contains(string(r.DeadLetters[0].Payload), `"12,50"`) {
		t.Errorf("dead letters %+v; want the source's, filed under the CRM id, with its payload", r.DeadLetters)
	}

	// The CRM's id alone names both records, sorted by entity.
	_, body := get("/api/v1/trace/5001", viewer)
	var both TraceJSON
	if err := json.Unmarshal(body, &both); err != nil || len(both.Records) != 2 ||
		both.Records[0].Entity != "customer" || both.Records[0].HubID != custHub || both.Records[1].HubID != hub {
		t.Errorf("trace 5001 without entity: %v %s; want the customer and the order", err, body)
	}
	// A first contact parked for review has no hub id: its dead letter is
	// its trace.
	if _, err := st.AddDeadLetter(ctx, store.DeadLetter{Connector: "erp-customers", Entity: "customer", RecordKey: "E-3",
		Stage: pipeline.StageMatch, Kind: pipeline.KindReview, Error: "ambiguous match by phone", Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	code, body := get("/api/v1/trace/E-3", viewer)
	var parked TraceJSON
	if err := json.Unmarshal(body, &parked); err != nil || code != http.StatusOK || len(parked.Records) != 1 || parked.Records[0].HubID != "" ||
		len(parked.Records[0].DeadLetters) != 1 || parked.Records[0].DeadLetters[0].Kind != pipeline.KindReview {
		t.Errorf("trace of a parked record: %d %v %s; want its review dead letter", code, err, body)
	}
	if code, body := get("/api/v1/trace/no-such-record", viewer); code != http.StatusNotFound || !strings.Contains(string(body), "nothing known about no-such-record") {
		t.Errorf("unknown id: %d %s; want 404", code, body)
	}
	if code, _ := get("/api/v1/trace/SO-5001?entity=customer", viewer); code != http.StatusNotFound {
		t.Errorf("the ERP's order id as a customer: %d; want 404", code)
	}
}
