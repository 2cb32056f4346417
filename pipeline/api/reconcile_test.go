package api

import (
	"bytes"
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

// fakeRecon stands for the node's jobs (the API's only dependency beyond
// the store): one job, "orders", already running once started.
type fakeRecon struct{ started []string }

func (f *fakeRecon) ReconJobInfos() []pipeline.ReconJobInfo {
	return []pipeline.ReconJobInfo{{Name: "orders", Entity: "order", Left: "crm", Right: "erp", Repair: "report"}}
}

func (f *fakeRecon) RunReconcile(_ context.Context, job, actor string) (int64, error) {
	switch {
	case job != "orders":
		return 0, pipeline.ErrNoJob
	case len(f.started) > 0:
		return 0, pipeline.ErrRunning
	}
	f.started = append(f.started, actor)
	return 42, nil
}

// TestReconcileAPI: viewers read runs and their differences (pages,
// classes, CSV); only operators start a run, audited; a run of a job that
// runs is refused (409), of an unknown job 404.
func TestReconcileAPI(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run, err := st.StartReconRun(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	diffs := []store.ReconDiff{
		{Job: "orders", Class: "field_mismatch", Ident: "a", Key: "SO-1", Detail: json.RawMessage(`{"fields":[{"field":"total","left":"1.00","right":"2.00"}]}`)},
		{Job: "orders", Class: "missing_left", Ident: "b", Key: "=SO-2", Side: "right"},
		{Job: "orders", Class: "missing_left", Ident: "c", Key: "SO-3", Side: "right"},
	}
	if err := st.AddReconDiffs(ctx, run, 0, diffs); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishReconRun(ctx, run, store.ReconDiffs, json.RawMessage(`{"totals":{"matched":1}}`), nil); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	srv := server.New(server.Config{Tokens: []server.Token{
		{Name: "viewer", Role: server.RoleViewer, Secret: "viewer-secret-0123456789"},
		{Name: "ops", Role: server.RoleOperator, Secret: "operator-secret-0123456789"},
	}}, log, prometheus.NewRegistry())
	rec := &fakeRecon{}
	(&API{Store: st, Recon: rec}).Register(srv)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	call := func(method, path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var c bytes.Buffer
		if json.Compact(&c, b) == nil {
			return resp.StatusCode, c.String()
		}
		return resp.StatusCode, string(b)
	}
	const viewer, ops = "viewer-secret-0123456789", "operator-secret-0123456789"

	code, body := call("GET", "/api/v1/reconciliations", viewer)
	var list struct {
		Jobs []struct {
			Name    string
			LastRun *struct{ ID int64 } `json:"last_run"`
		}
		Runs []struct{ ID int64 }
	}
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Jobs) != 1 || list.Jobs[0].LastRun == nil ||
		list.Jobs[0].LastRun.ID != run || len(list.Runs) != 1 {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body := call("GET", "/api/v1/reconciliations/runs/1", viewer); code != 200 || !strings.Contains(body, `"matched":1`) {
		t.Errorf("run: %d %s", code, body)
	}
	if code, _ := call("GET", "/api/v1/reconciliations/runs/99", viewer); code != 404 {
		t.Errorf("unknown run: %d, want 404", code)
	}
	code, body = call("GET", "/api/v1/reconciliations/runs/1/differences?class=missing_left&limit=1&offset=1", viewer)
	var page struct {
		Total       int
		Differences []store.ReconDiff
	}
	if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil || page.Total != 2 || len(page.Differences) != 1 ||
		page.Differences[0].Key != "SO-3" || page.Differences[0].Age != 1 {
		t.Errorf("page: %d %s", code, body)
	}
	if code, _ := call("GET", "/api/v1/reconciliations/runs/1/differences?limit=0", viewer); code != 400 {
		t.Errorf("limit 0: %d, want 400", code)
	}
	code, body = call("GET", "/api/v1/reconciliations/runs/1/differences?format=csv", viewer)
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if code != 200 || len(lines) != 4 || !strings.HasPrefix(lines[0], "run,job,class,key") ||
		!strings.Contains(lines[2], ",'=SO-2,") || !strings.Contains(lines[1], `""field"":""total""`) {
		t.Errorf("CSV (a key starting with = is quoted for spreadsheets): %d\n%s", code, body)
	}

	if code, _ := call("POST", "/api/v1/reconciliations/orders/run", viewer); code != 403 {
		t.Errorf("viewer starts a run: %d, want 403", code)
	}
	if code, body := call("POST", "/api/v1/reconciliations/orders/run", ops); code != 202 || !strings.Contains(body, `"run":42`) {
		t.Errorf("operator starts a run: %d %s", code, body)
	}
	if code, _ := call("POST", "/api/v1/reconciliations/orders/run", ops); code != 409 {
		t.Errorf("a run while it runs: %d, want 409", code)
	}
	if code, _ := call("POST", "/api/v1/reconciliations/nope/run", ops); code != 404 {
		t.Errorf("unknown job: %d, want 404", code)
	}
	entries, err := st.ListAudit(ctx, 10)
	if err != nil || len(entries) != 1 || entries[0].Action != "recon.run" || entries[0].Actor != "ops" || entries[0].Subject != "job:orders" {
		t.Errorf("audit: %+v %v", entries, err)
	}
	if len(rec.started) != 1 || rec.started[0] != "ops" {
		t.Errorf("started by %v", rec.started)
	}
}
