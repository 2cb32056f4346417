package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/server"
	"github.com/crmhub/hub/store"
)

// Reconciliations is the running node's reconciliation jobs.
type Reconciliations interface {
	ReconJobInfos() []pipeline.ReconJobInfo
	RunReconcile(ctx context.Context, job, actor string) (int64, error)
}

func (a *API) registerRecon(srv *server.Server) {
	srv.HandleAuth("GET /api/v1/reconciliations", server.RoleViewer, http.HandlerFunc(a.listRecon))
	srv.HandleAuth("GET /api/v1/reconciliations/runs/{id}", server.RoleViewer, http.HandlerFunc(a.showRun))
	srv.HandleAuth("GET /api/v1/reconciliations/runs/{id}/differences", server.RoleViewer, http.HandlerFunc(a.runDiffs))
	srv.HandleAuth("POST /api/v1/reconciliations/{job}/run", server.RoleOperator, http.HandlerFunc(a.runRecon))
}

// ReconRunJSON is a run as the API shows it.
type ReconRunJSON struct {
	ID         int64           `json:"id"`
	Job        string          `json:"job"`
	Status     string          `json:"status"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Summary    json.RawMessage `json:"summary"`
}

// RunJSON is a run as the API shows it.
func RunJSON(r store.ReconRun) ReconRunJSON {
	out := ReconRunJSON{ID: r.ID, Job: r.Job, Status: r.Status, StartedAt: r.StartedAt, Summary: r.Summary}
	if !r.FinishedAt.IsZero() {
		out.FinishedAt = &r.FinishedAt
	}
	return out
}

// ReconJobStatus is a job with its next run and its newest run, as the
// API and the console show it.
type ReconJobStatus struct {
	pipeline.ReconJobInfo
	LastRun *ReconRunJSON `json:"last_run,omitempty"`
}

// ReconJobs lists rec's jobs (none when rec is nil), each with its newest
// run in st.
func ReconJobs(ctx context.Context, st *store.Store, rec Reconciliations) ([]ReconJobStatus, error) {
	jobs := []ReconJobStatus{}
	if rec == nil {
		return jobs, nil
	}
	for _, info := range rec.ReconJobInfos() {
		j := ReconJobStatus{ReconJobInfo: info}
		if last, err := st.LastReconRun(ctx, info.Name); err == nil {
			lr := RunJSON(last)
			j.LastRun = &lr
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// RunReconNow starts a run of job now on behalf of actor and records it in
// the audit log: the API's run-now and the console's button. A job that
// does not exist (or no jobs at all: rec nil) is pipeline.ErrNoJob, one
// already running pipeline.ErrRunning.
func RunReconNow(ctx context.Context, st *store.Store, rec Reconciliations, job, actor string) (int64, error) {
	if rec == nil {
		return 0, fmt.Errorf("%w %q", pipeline.ErrNoJob, job)
	}
	id, err := rec.RunReconcile(ctx, job, actor)
	if err != nil {
		return 0, err
	}
	if err := st.AppendAudit(ctx, actor, "recon.run", "job:"+job, "run "+strconv.FormatInt(id, 10)); err != nil {
		return id, fmt.Errorf("run %d of %s started; audit log: %w", id, job, err)
	}
	return id, nil
}

// listRecon answers the jobs (with next and last run) and the newest runs
// (of ?job= only, at most ?limit=).
func (a *API) listRecon(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := intParam(q.Get("limit"), 50)
	if err != nil || limit < 1 || limit > 1000 {
		server.WriteJSON(w, http.StatusBadRequest, errBody("limit must be 1-1000"))
		return
	}
	jobs, err := ReconJobs(r.Context(), a.Store, a.Recon)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	runs, err := a.Store.ListReconRuns(r.Context(), q.Get("job"), limit)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	out := make([]ReconRunJSON, len(runs))
	for i, run := range runs {
		out[i] = RunJSON(run)
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"jobs": jobs, "runs": out})
}

func runID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		server.WriteJSON(w, http.StatusBadRequest, errBody("run id must be a positive number"))
		return 0, false
	}
	return id, true
}

func (a *API) showRun(w http.ResponseWriter, r *http.Request) {
	id, ok := runID(w, r)
	if !ok {
		return
	}
	run, err := a.Store.GetReconRun(r.Context(), id)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, RunJSON(run))
}

var csvHeader = []string{"run", "job", "class", "key", "hub_id", "left_id", "right_id", "side", "age", "detail", "repair"}

// runDiffs answers a page of a run's differences (?class=, ?limit=,
// ?offset=), or with ?format=csv all of them (of ?class=) as CSV.
func (a *API) runDiffs(w http.ResponseWriter, r *http.Request) {
	id, ok := runID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if _, err := a.Store.GetReconRun(r.Context(), id); err != nil {
		writeStoreErr(w, err)
		return
	}
	f := store.ReconDiffFilter{Class: q.Get("class")}
	if q.Get("format") == "csv" {
		a.diffsCSV(w, r, id, f)
		return
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), 100); err != nil || f.Limit < 1 || f.Limit > 1000 {
		server.WriteJSON(w, http.StatusBadRequest, errBody("limit must be 1-1000"))
		return
	}
	if f.Offset, err = intParam(q.Get("offset"), 0); err != nil || f.Offset < 0 {
		server.WriteJSON(w, http.StatusBadRequest, errBody("offset must be 0 or more"))
		return
	}
	diffs, total, err := a.Store.ListReconDiffs(r.Context(), id, f)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	if diffs == nil {
		diffs = []store.ReconDiff{}
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"run": id, "total": total, "limit": f.Limit, "offset": f.Offset, "differences": diffs})
}

func (a *API) diffsCSV(w http.ResponseWriter, r *http.Request, id int64, f store.ReconDiffFilter) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", "attachment; filename=\"reconciliation-run-"+strconv.FormatInt(id, 10)+".csv\"")
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	f.Limit = 1000
	for {
		diffs, _, err := a.Store.ListReconDiffs(r.Context(), id, f)
		if err != nil {
			return // the header is out: the export ends short
		}
		for _, d := range diffs {
			_ = cw.Write([]string{strconv.FormatInt(d.RunID, 10), d.Job, d.Class, csvSafe(d.Key), d.HubID, csvSafe(d.LeftID),
				csvSafe(d.RightID), d.Side, strconv.Itoa(d.Age), csvSafe(string(d.Detail)), csvSafe(d.Repair)})
		}
		if len(diffs) < f.Limit {
			break
		}
		f.Offset += len(diffs)
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from taking a value for a formula.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

func (a *API) runRecon(w http.ResponseWriter, r *http.Request) {
	job := r.PathValue("job")
	id, err := RunReconNow(r.Context(), a.Store, a.Recon, job, server.Actor(r.Context()))
	switch {
	case errors.Is(err, pipeline.ErrNoJob):
		server.WriteJSON(w, http.StatusNotFound, errBody(err.Error()))
		return
	case errors.Is(err, pipeline.ErrRunning):
		server.WriteJSON(w, http.StatusConflict, errBody(err.Error()))
		return
	case err != nil && id == 0:
		server.WriteJSON(w, http.StatusInternalServerError, errBody(err.Error()))
		return
	}
	server.WriteJSON(w, http.StatusAccepted, map[string]any{"job": job, "run": id, "status": store.ReconRunning})
}
