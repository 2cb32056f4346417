package console

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/api"
	"github.com/crmhub/hub/reconcile"
	"github.com/crmhub/hub/server"
	"github.com/crmhub/hub/store"
)

// ReconPath is the reconciliation page's path.
const ReconPath = "/console/reconciliation"

// diffsPerPage is how many differences a run's page shows at once.
const diffsPerPage = 50

func (c *Console) registerRecon(page func(pattern, role string, h http.HandlerFunc)) {
	page("GET "+ReconPath, server.RoleViewer, c.reconJobs)
	page("GET "+ReconPath+"/runs/{id}", server.RoleViewer, c.reconRun)
	page("POST "+ReconPath+"/run", server.RoleOperator, c.reconRunNow)
}

// runRow is a run with its summary read.
type runRow struct {
	api.ReconRunJSON
	Sum     pipeline.ReconSummary
	Classes []classCount // every class, in report order
}

type classCount struct {
	Class string
	N     int64
}

func runRowOf(r api.ReconRunJSON) runRow {
	row := runRow{ReconRunJSON: r}
	_ = json.Unmarshal(r.Summary, &row.Sum) // a run still running has none
	for _, cl := range reconcile.Classes {
		row.Classes = append(row.Classes, classCount{Class: string(cl), N: row.Sum.Totals.Classes[cl]})
	}
	return row
}

// Differences is how many differences the run reported.
func (r runRow) Differences() int64 { return r.Sum.Totals.Differences() }

type jobRow struct {
	api.ReconJobStatus
	Last *runRow
}

type reconJobsPage struct {
	Jobs []jobRow
	Job  string // the job whose history is shown ("": every job's)
	Runs []runRow
}

// reconJobs shows the jobs (schedule, next run, last result) and the run
// history, of every job or of ?job=.
func (c *Console) reconJobs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := reconJobsPage{Job: r.URL.Query().Get("job")}
	jobs, err := api.ReconJobs(ctx, c.Store, c.Recon)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "reconcile", "Reconciliation", data, "", err.Error())
		return
	}
	for _, j := range jobs {
		row := jobRow{ReconJobStatus: j}
		if j.LastRun != nil {
			last := runRowOf(*j.LastRun)
			row.Last = &last
		}
		data.Jobs = append(data.Jobs, row)
	}
	limit := 20
	if data.Job != "" {
		limit = 100
	}
	runs, err := c.Store.ListReconRuns(ctx, data.Job, limit)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "reconcile", "Reconciliation", data, "", err.Error())
		return
	}
	for _, run := range runs {
		data.Runs = append(data.Runs, runRowOf(api.RunJSON(run)))
	}
	c.Render(w, r, "reconcile", "Reconciliation", data)
}

// RefreshSeconds has the browser reload the page while a job runs.
func (p reconJobsPage) RefreshSeconds() int {
	for _, j := range p.Jobs {
		if j.Running {
			return runningRefresh
		}
	}
	return 0
}

// runningRefresh is how often a page showing a running run reloads.
const runningRefresh = 3

// amountRow is one currency's control total on both sides.
type amountRow struct{ Currency, Left, Right string }

// ageRow counts one class's differences by age (runs in a row that
// reported them).
type ageRow struct {
	Class string
	N     int
	ByAge []int // index i: the differences of ages ageBuckets[i]
}

// diffRow is a difference with its detail read.
type diffRow struct {
	store.ReconDiff
	Fields []fieldRow
	IDs    []string
}

type fieldRow struct{ Field, Left, Right string }

type reconRunPage struct {
	Run         runRow
	Amounts     []amountRow
	AgeCols     []string
	Ages        []ageRow
	Class       string
	Diffs       []diffRow
	Total       int
	From, To    int
	Prev, Next  template.URL // query of the previous and next page ("": none)
	CSV         string
	ClassFilter []string
}

// RefreshSeconds has the browser reload the page until the run ends.
func (p reconRunPage) RefreshSeconds() int {
	if p.Run.Status == store.ReconRunning {
		return runningRefresh
	}
	return 0
}

// ageBuckets are the age columns: new in this run, 2 runs, 3-5, 6 and more.
var ageBuckets = []struct {
	label    string
	min, max int
}{{"new", 1, 1}, {"2 runs", 2, 2}, {"3–5 runs", 3, 5}, {"6+ runs", 6, 1 << 30}}

// reconRun shows a run: control totals, matched count, differences by
// class and age, and a page of its differences (?class=, ?offset=).
func (c *Console) reconRun(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		c.render(w, r, http.StatusBadRequest, "reconrun", "Reconciliation run", nil, "", "run id must be a positive number")
		return
	}
	run, err := c.Store.GetReconRun(ctx, id)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, store.ErrNotFound) {
			code = http.StatusNotFound
		}
		c.render(w, r, code, "reconrun", "Reconciliation run", nil, "", err.Error())
		return
	}
	title := "Run " + strconv.FormatInt(id, 10) + " of " + run.Job
	q := r.URL.Query()
	data := reconRunPage{Run: runRowOf(api.RunJSON(run)), Class: q.Get("class")}
	data.Amounts = amounts(data.Run.Sum.Totals)
	for _, cl := range reconcile.Classes {
		data.ClassFilter = append(data.ClassFilter, string(cl))
	}
	for _, b := range ageBuckets {
		data.AgeCols = append(data.AgeCols, b.label)
	}
	data.CSV = "/api/v1/reconciliations/runs/" + strconv.FormatInt(id, 10) + "/differences?" + queryOf("format", "csv", "class", data.Class)
	offset, err := strconv.Atoi(q.Get("offset"))
	if q.Get("offset") != "" && (err != nil || offset < 0) {
		c.render(w, r, http.StatusBadRequest, "reconrun", title, data, "", "offset must be 0 or more")
		return
	}
	counts, err := c.Store.CountReconDiffs(ctx, id)
	if err == nil {
		data.Ages = ageRows(counts)
		err = c.diffPage(r, id, offset, &data)
	}
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "reconrun", title, data, "", err.Error())
		return
	}
	c.Render(w, r, "reconrun", title, data)
}

// diffPage fills data with the page of differences from offset.
func (c *Console) diffPage(r *http.Request, id int64, offset int, data *reconRunPage) error {
	diffs, total, err := c.Store.ListReconDiffs(r.Context(), id, store.ReconDiffFilter{Class: data.Class, Limit: diffsPerPage, Offset: offset})
	if err != nil {
		return err
	}
	data.Total = total
	for _, d := range diffs {
		data.Diffs = append(data.Diffs, diffRowOf(d))
	}
	if len(diffs) > 0 {
		data.From, data.To = offset+1, offset+len(diffs)
	}
	if offset > 0 {
		data.Prev = template.URL(queryOf("class", data.Class, "offset", strconv.Itoa(max(0, offset-diffsPerPage))))
	}
	if offset+len(diffs) < total {
		data.Next = template.URL(queryOf("class", data.Class, "offset", strconv.Itoa(offset+len(diffs))))
	}
	return nil
}

func amounts(t reconcile.Totals) []amountRow {
	seen := map[string]bool{}
	for cur := range t.Left.Amounts {
		seen[cur] = true
	}
	for cur := range t.Right.Amounts {
		seen[cur] = true
	}
	var out []amountRow
	for cur := range seen {
		out = append(out, amountRow{Currency: cur, Left: t.Left.Amounts[cur], Right: t.Right.Amounts[cur]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}

// ageRows counts each class's stored differences by age bucket: a row for
// every class, in report order (then any other class stored).
func ageRows(counts []store.ReconDiffCount) []ageRow {
	var out []ageRow
	index := map[string]int{}
	row := func(class string) *ageRow {
		i, ok := index[class]
		if !ok {
			i = len(out)
			index[class] = i
			out = append(out, ageRow{Class: class, ByAge: make([]int, len(ageBuckets))})
		}
		return &out[i]
	}
	for _, cl := range reconcile.Classes {
		row(string(cl))
	}
	for _, cnt := range counts {
		r := row(cnt.Class)
		r.N += cnt.Count
		for i, b := range ageBuckets {
			if cnt.Age >= b.min && cnt.Age <= b.max {
				r.ByAge[i] += cnt.Count
			}
		}
	}
	return out
}

// diffRowOf reads a difference's detail: the differing fields with both
// values, the ids sharing a key.
func diffRowOf(d store.ReconDiff) diffRow {
	var det struct {
		Fields []struct {
			Field       string
			Left, Right json.RawMessage
		}
		IDs []string
	}
	_ = json.Unmarshal(d.Detail, &det) // stored by the run; a bad one shows no fields
	row := diffRow{ReconDiff: d, IDs: det.IDs}
	for _, f := range det.Fields {
		row.Fields = append(row.Fields, fieldRow{Field: f.Field, Left: valueText(f.Left), Right: valueText(f.Right)})
	}
	return row
}

// valueText shows a canonical value: text without quotes, a missing value
// as such, anything else as its JSON.
func valueText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "(missing)"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// reconRunNow starts a run of the form's job now, through the API's
// run-now (which audits it), and shows the new run.
func (c *Console) reconRunNow(w http.ResponseWriter, r *http.Request) {
	job := r.PostFormValue("job")
	id, err := api.RunReconNow(r.Context(), c.Store, c.Recon, job, server.Actor(r.Context()))
	if err != nil && id == 0 {
		msg := "run of " + strconv.Quote(job) + " not started: " + err.Error()
		http.Redirect(w, r, ReconPath+"?"+queryOf("job", job, "done", msg), http.StatusSeeOther)
		return
	}
	msg := "run " + strconv.FormatInt(id, 10) + " of " + job + " started"
	if err != nil {
		msg += " (" + err.Error() + ")"
	}
	http.Redirect(w, r, ReconPath+"/runs/"+strconv.FormatInt(id, 10)+"?"+queryOf("done", msg), http.StatusSeeOther)
}

// queryOf encodes the pairs of kv whose value is not empty.
func queryOf(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v.Encode()
}
