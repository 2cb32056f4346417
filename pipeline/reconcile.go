package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/crmhub/hub/canonical"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/reconcile"
	"github.com/crmhub/hub/store"
)

// The reconciliation step: a job's two sides are scanned through their
// inbound mappings, compared by the reconcile engine, the differences
// stored as the run's report (aged against the previous run), and the
// repairs the job's policy asks for published on the entity topic like
// any change, addressed to the sink of the side to repair.

// ReconSide is one side of a reconciliation job as the runtime built it.
type ReconSide struct {
	// Connector is the connector's name (the crosswalk's system).
	Connector string
	Scanner   connectors.Scanner
	// Plan is the side's inbound mapping.
	Plan *mapping.Plan
	// Sink is the sink that writes the job's entity to this side; ""
	// when none does (repairs of this side are then reported, not made).
	Sink string
	// Refs is the side's source's refs setting (referenced entity ->
	// native field), so repairs from it carry hub ids of what it
	// references.
	Refs map[string]string
	// Scope, when set, limits the side's rows (the checksum path).
	Scope reconcile.Scope
	// Open, when set, gives the side's rows instead of a scan through
	// Scanner and Plan (a stream the database narrows itself, such as the
	// key ranges whose checksums differ); Scope still applies.
	Open func(ctx context.Context) (reconcile.Stream, error)
}

// ReconJob is a job with its two sides.
type ReconJob struct {
	Job         reconcile.Job
	Left, Right ReconSide
	// Checksum, when set, compares through the in-database checksum path
	// (reconcile_checksum.go); nil streams both sides.
	Checksum *ReconChecksum
}

// Reconciler runs reconciliation jobs.
type Reconciler struct {
	Store *store.Store
	// Bus publishes repairs; nil makes every run report only.
	Bus     *bus.Bus
	Prefix  string // the topic prefix
	Metrics *Metrics
	Log     *slog.Logger
	Journal *Journal
	// TempDir holds the engine's spill files ("": the system's).
	TempDir string
	// MemRows bounds the rows the engine holds in memory (0: its default).
	MemRows int
	// PageSize is the scan page size (0: 500).
	PageSize int
}

// ReconOptions are the choices of one run.
type ReconOptions struct {
	// Actor is who started it (a token's name, "scheduler", "cli"): the
	// audit log names it.
	Actor string
	// Progress is told how far the comparison is.
	Progress func(reconcile.Progress)
	// Started, when set, is told the run's id once it is recorded.
	Started func(runID int64)
	// Wait, when positive, waits up to this long after the comparison for
	// the sinks to write the repairs (a second run then agrees).
	Wait time.Duration
}

// ReconSummary is what a run found, as stored with the run.
type ReconSummary struct {
	Job     string           `json:"job"`
	Entity  string           `json:"entity"`
	Left    string           `json:"left"`
	Right   string           `json:"right"`
	Totals  reconcile.Totals `json:"totals"`
	Repairs int              `json:"repairs"`
	// Unrepaired counts differences the policy would repair that could
	// not be (no sink writes that side).
	Unrepaired int `json:"unrepaired,omitempty"`
	// Repaired says whether the repairs were seen written (Wait).
	Repaired bool `json:"repaired,omitempty"`
	// BadLeft and BadRight count records whose mapping failed (skipped).
	BadLeft  int64   `json:"bad_left,omitempty"`
	BadRight int64   `json:"bad_right,omitempty"`
	Seconds  float64 `json:"seconds"`
	Error    string  `json:"error,omitempty"`
	// Method is how the run compared: stream or checksum.
	Method string `json:"method,omitempty"`
	// Fallback says why a job with method auto streamed.
	Fallback string `json:"fallback,omitempty"`
	// Checksum is what the checksum path did.
	Checksum *ChecksumStats `json:"checksum,omitempty"`
}

// ReconResult is a finished run.
type ReconResult struct {
	RunID   int64
	Status  string // store.ReconOK, store.ReconDiffs or store.ReconFailed
	Summary ReconSummary
}

// Differences is how many differences the run reported.
func (r ReconResult) Differences() int64 { return r.Summary.Totals.Differences() }

// Run runs a job once: it records the run, compares, stores the report
// and publishes the repairs. A run that fails is recorded as failed.
func (r *Reconciler) Run(ctx context.Context, rj ReconJob, opts ReconOptions) (ReconResult, error) {
	job := rj.Job
	start := time.Now()
	runID, err := r.Store.StartReconRun(ctx, job.Name)
	if err != nil {
		return ReconResult{}, err
	}
	if opts.Started != nil {
		opts.Started(runID)
	}
	res := ReconResult{RunID: runID, Summary: ReconSummary{Job: job.Name, Entity: job.Entity, Left: job.Left, Right: job.Right}}
	log := r.Log.With("job", job.Name, "run", runID)
	log.Info("reconciliation started", "entity", job.Entity, "left", job.Left, "right", job.Right)
	prev, err := r.Store.PreviousReconRun(ctx, job.Name, runID)
	if err == nil {
		err = r.compare(ctx, rj, runID, prev, opts, &res.Summary, log)
	}
	res.Summary.Seconds = time.Since(start).Seconds()
	res.Status = store.ReconOK
	switch {
	case err != nil:
		res.Status, res.Summary.Error = store.ReconFailed, err.Error()
	case res.Summary.Totals.Differences() > 0:
		res.Status = store.ReconDiffs
	}
	r.record(job, res)
	summary, _ := json.Marshal(res.Summary)
	// The run's end is recorded even when ctx was cancelled meanwhile.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ferr := r.Store.FinishReconRun(fctx, runID, res.Status, summary, nil); ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		log.Error("reconciliation failed", "err", err)
		return res, fmt.Errorf("reconcile %s: %w", job.Name, err)
	}
	log.Info("reconciliation finished", "status", res.Status, "matched", res.Summary.Totals.Matched,
		"left", res.Summary.Totals.Left.Count, "right", res.Summary.Totals.Right.Count,
		"differences", res.Summary.Totals.Differences(), "classes", res.Summary.Totals.Classes,
		"repairs", res.Summary.Repairs, "seconds", res.Summary.Seconds)
	if res.Summary.Repairs > 0 {
		detail, _ := json.Marshal(map[string]any{"run": runID, "repairs": res.Summary.Repairs, "policy": job.Repair})
		if aerr := r.Store.AppendAudit(fctx, actorOr(opts.Actor), "recon.repair", "job:"+job.Name, string(detail)); aerr != nil {
			log.Warn("audit of repairs failed", "err", aerr)
		}
	}
	return res, nil
}

func actorOr(a string) string {
	if a == "" {
		return "hub"
	}
	return a
}

// compare scans, compares and stores; repairs go out as differences come.
func (r *Reconciler) compare(ctx context.Context, rj ReconJob, runID, prev int64, opts ReconOptions, sum *ReconSummary, log *slog.Logger) error {
	out := &reconOut{r: r, rj: rj, run: runID, prev: prev, log: log}
	if r.Bus != nil && rj.Job.Repair != reconcile.PolicyReport {
		out.w = r.Bus.NewWriter(r.Prefix + "." + rj.Job.Entity)
		defer out.w.Close()
	}
	var err error
	if plan, ok, perr := r.checksumPlan(rj, sum, log); perr != nil {
		return perr
	} else if ok {
		err = r.compareChecksum(ctx, rj, plan, out, opts, sum, log)
	} else {
		err = r.compareStream(ctx, rj, out, opts, sum, log)
	}
	if err == nil {
		err = out.flush(ctx)
	}
	sum.Repairs, sum.Unrepaired = len(out.published), out.unrepaired
	if err != nil {
		return err
	}
	if opts.Wait > 0 && len(out.published) > 0 {
		sum.Repaired = out.wait(ctx, opts.Wait)
	}
	return nil
}

// checksumPlan says whether a run takes the checksum path and with what;
// a job with method auto that cannot streams (the summary says why), one
// with method checksum fails.
func (r *Reconciler) checksumPlan(rj ReconJob, sum *ReconSummary, log *slog.Logger) (checksumPlan, bool, error) {
	sum.Method = MethodStream
	if rj.Checksum == nil {
		return checksumPlan{}, false, nil
	}
	p, err := rj.Checksum.plan(rj.Job)
	if err == nil {
		sum.Method = MethodChecksum
		return p, true, nil
	}
	if rj.Checksum.Method == MethodChecksum {
		return p, false, fmt.Errorf("the checksum path: %w", err)
	}
	sum.Fallback = err.Error()
	log.Info("streaming: the checksum path cannot be taken", "why", err)
	return p, false, nil
}

// compareStream compares every record of both sides.
func (r *Reconciler) compareStream(ctx context.Context, rj ReconJob, out *reconOut, opts ReconOptions, sum *ReconSummary, log *slog.Logger) error {
	left, right := r.scan(rj, rj.Left, log), r.scan(rj, rj.Right, log)
	ls, rs, err := r.streams(ctx, rj, left, right)
	if err != nil {
		return err
	}
	eng := reconcile.Engine{TempDir: r.TempDir, MemRows: r.MemRows, Progress: opts.Progress}
	tot, err := eng.Compare(ctx, rj.Job, reconcile.Restrict(ls, rj.Left.Scope), reconcile.Restrict(rs, rj.Right.Scope), out)
	sum.Totals = tot
	sum.BadLeft, sum.BadRight = left.Bad, right.Bad
	return err
}

// streams are the two sides' rows: their scans, or what their Open gives.
func (r *Reconciler) streams(ctx context.Context, rj ReconJob, left, right *reconcile.Scan) (reconcile.Stream, reconcile.Stream, error) {
	var out [2]reconcile.Stream
	for i, s := range []struct {
		side ReconSide
		scan *reconcile.Scan
	}{{rj.Left, left}, {rj.Right, right}} {
		out[i] = s.scan
		if s.side.Open != nil {
			st, err := s.side.Open(ctx)
			if err != nil {
				return nil, nil, fmt.Errorf("open the %s side (%s): %w", []string{"left", "right"}[i], s.side.Connector, err)
			}
			out[i] = st
		}
	}
	return out[0], out[1], nil
}

func (r *Reconciler) scan(rj ReconJob, side ReconSide, log *slog.Logger) *reconcile.Scan {
	return &reconcile.Scan{Scanner: side.Scanner, Entity: rj.Job.Entity, System: side.Connector, Plan: side.Plan,
		KeyField: rj.Job.Key, Refs: side.Refs, Crosswalk: reconcile.StoreCrosswalk{Store: r.Store}, PageSize: r.PageSize,
		OnBad: func(rec connectors.Record, err error) {
			log.Warn("record skipped: its mapping failed", "connector", side.Connector, "key", rec.Key, "err", err)
		}}
}

// record updates the metrics of a finished run.
func (r *Reconciler) record(job reconcile.Job, res ReconResult) {
	if r.Metrics == nil || r.Metrics.Recon == nil {
		return
	}
	m := r.Metrics.Recon
	m.Runs.WithLabelValues(job.Name, res.Status).Inc()
	m.Seconds.WithLabelValues(job.Name).Observe(res.Summary.Seconds)
	m.Repairs.WithLabelValues(job.Name).Add(float64(res.Summary.Repairs))
	if res.Status == store.ReconFailed {
		return
	}
	for _, c := range reconcile.Classes {
		m.Differences.WithLabelValues(job.Name, string(c)).Set(float64(res.Summary.Totals.Classes[c]))
	}
	m.Matched.WithLabelValues(job.Name).Set(float64(res.Summary.Totals.Matched))
	m.LastSuccess.WithLabelValues(job.Name).SetToCurrentTime()
}

// reconOut stores the differences of a run in batches and publishes their
// repairs.
type reconOut struct {
	r          *Reconciler
	rj         ReconJob
	run        int64
	prev       int64
	log        *slog.Logger
	w          *bus.Writer
	batch      []store.ReconDiff
	msgs       []bus.Message
	notes      []store.TraceEvent
	pending    []pendingRepair
	published  []pendingRepair
	unrepaired int
}

// pendingRepair is a published repair the run may wait for.
type pendingRepair struct {
	hubID, system, hash string
	delete              bool
	at                  time.Time // when it was decided (a little before it went out)
}

// Add stores a difference (in batches) and plans its repairs.
func (o *reconOut) Add(ctx context.Context, d reconcile.Diff) error {
	rd := store.ReconDiff{Job: o.rj.Job.Name, Class: string(d.Class), Ident: ident(d), Key: d.Key, HubID: d.HubID,
		LeftID: d.LeftID, RightID: d.RightID, Side: string(d.Side)}
	detail := struct {
		Fields []reconcile.FieldDiff `json:"fields,omitempty"`
		IDs    []string              `json:"ids,omitempty"`
	}{d.Fields, d.IDs}
	rd.Detail, _ = json.Marshal(detail)
	for _, rep := range reconcile.Plan(o.rj.Job, d) {
		what, err := o.repair(ctx, rep)
		if err != nil {
			return err
		}
		if rd.Repair != "" {
			rd.Repair += "; "
		}
		rd.Repair += what
	}
	o.batch = append(o.batch, rd)
	if len(o.batch) >= 500 {
		return o.flush(ctx)
	}
	return nil
}

// ident names a difference across runs.
func ident(d reconcile.Diff) string {
	id := d.HubID
	if id == "" || d.Class == reconcile.DuplicateKey {
		id = "key:" + d.Key
	}
	return string(d.Class) + "|" + string(d.Side) + "|" + id
}

// repair publishes one repair, or says why it cannot.
func (o *reconOut) repair(ctx context.Context, rep reconcile.Repair) (string, error) {
	job := o.rj.Job
	from, target := o.rj.Left, o.rj.Right
	if rep.From == reconcile.Right {
		from, target = o.rj.Right, o.rj.Left
	}
	op := OpUpsert
	if rep.Delete {
		op = OpDelete
	}
	if target.Sink == "" || o.w == nil {
		o.unrepaired++
		if target.Sink == "" {
			return fmt.Sprintf("not repaired: no sink writes %s to %s", job.Entity, target.Connector), nil
		}
		return "not repaired: no bus to publish on", nil
	}
	refs := rep.Refs
	if len(refs) == 0 {
		var err error
		if refs, err = o.refs(ctx, from.Connector, rep.Doc); err != nil {
			return "", err
		}
	}
	data := withIDs(rep.Doc, rep.HubID, refs)
	env := &Envelope{Entity: job.Entity, ID: rep.HubID, Op: op, Origin: from.Connector, SourceID: rep.FromID,
		Version: time.Now().UTC(), Refs: refs, Data: data, TraceID: rep.HubID}
	env.Hash = Hash(data)
	if rep.TargetID == "" && !rep.Delete {
		// The scan found no record of it in the target: a link left from
		// before points at a record deleted there, and would make the
		// sink write to it (and dead-letter the repair as not found).
		// Without it the sink creates the record.
		if err := o.r.Store.Unlink(ctx, job.Entity, target.Connector, rep.HubID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("repair %s: forget the link to %s: %w", rep.HubID, target.Connector, err)
		}
	}
	if !rep.Delete {
		ok, err := o.settle(ctx, env)
		if err != nil {
			return "", err
		}
		if !ok {
			o.unrepaired++
			return "not repaired: the hub's record changed during the run; the next run repairs it", nil
		}
	}
	o.msgs = append(o.msgs, bus.Message{Key: []byte(env.ID), Value: env.AppendJSON(nil),
		Headers: []bus.Header{{Key: HeaderReplayFor, Value: []byte(target.Sink)}}})
	o.pending = append(o.pending, pendingRepair{hubID: rep.HubID, system: target.Connector, hash: env.Hash, delete: rep.Delete,
		at: env.Version.Add(-200 * time.Millisecond)}) // the journal's clock is the state store's: allow for a little skew
	what := fmt.Sprintf("%s %s: %s from %s", op, target.Connector, job.Repair, from.Connector)
	if len(rep.Fields) > 0 {
		what += fmt.Sprintf(" (%v)", rep.Fields)
	}
	o.notes = append(o.notes, store.TraceEvent{Entity: job.Entity, HubID: rep.HubID, System: from.Connector,
		Connector: "reconcile " + job.Name, ExternalID: rep.FromID, Event: store.TracePublished,
		Version: env.Version.Format(time.RFC3339Nano), Hash: env.Hash, Detail: "repair by reconciliation run " +
			fmt.Sprint(o.run) + ": " + what})
	return what, nil
}

// settle makes a repair of a two-way entity the hub's record (the sinks
// write only the hub's latest merge): the repaired data is saved as the
// record's new version, and env carries its hash and what the hub has
// seen of each system. Records of one-way entities are not stored: env
// goes out as it is. It returns false when the record changed meanwhile.
func (o *reconOut) settle(ctx context.Context, env *Envelope) (bool, error) {
	stored, err := o.r.Store.LoadRecords(ctx, env.Entity, []string{env.ID})
	if err != nil {
		return false, fmt.Errorf("repair %s: %w", env.ID, err)
	}
	rec, ok := stored[env.ID]
	if !ok {
		return true, nil
	}
	if rec.Seen != "" {
		if err := json.Unmarshal([]byte(rec.Seen), &env.Seen); err != nil {
			return false, fmt.Errorf("repair %s: seen: %w", env.ID, err)
		}
	}
	if rec.Hash == env.Hash {
		return true, nil
	}
	rec.Data, rec.Hash = string(mapping.AppendJSON(nil, env.Data)), env.Hash
	stale, err := o.r.Store.SaveRecords(ctx, env.Entity, []store.StoredRecord{rec})
	if err != nil {
		return false, fmt.Errorf("repair %s: %w", env.ID, err)
	}
	return len(stale) == 0, nil
}

// refs gives the records a canonical record references ("customer":
// {"external_id": ...} or {"id": ...}) their hub ids through from's
// crosswalk, so the sink can resolve them like a source's.
func (o *reconOut) refs(ctx context.Context, system string, doc mapping.Value) (map[string]string, error) {
	refs := map[string]string{}
	for _, m := range doc.Members() {
		if !canonical.IsEntity(m.Key) || m.Value.Kind() != mapping.Object {
			continue
		}
		if id := m.Value.Get("id").Str(); id != "" {
			refs[m.Key] = id
			continue
		}
		ext := m.Value.Get("external_id").Str()
		if ext == "" {
			continue
		}
		hub, ok, err := o.r.Store.LookupHubID(ctx, m.Key, system, ext)
		if err != nil {
			return nil, fmt.Errorf("repair: hub id of %s %s in %s: %w", m.Key, ext, system, err)
		}
		if ok {
			refs[m.Key] = hub
		}
	}
	return refs, nil
}

// flush stores the batched differences and publishes their repairs.
func (o *reconOut) flush(ctx context.Context) error {
	if len(o.msgs) > 0 {
		if err := o.w.Write(ctx, o.msgs...); err != nil {
			return fmt.Errorf("publish %d repairs: %w", len(o.msgs), err)
		}
		if o.r.Metrics != nil {
			o.r.Metrics.RecordsIn.WithLabelValues("reconcile", o.rj.Job.Entity).Add(float64(len(o.msgs)))
		}
		o.published = append(o.published, o.pending...)
		if o.r.Journal != nil {
			o.r.Journal.Append(ctx, o.notes)
		}
		o.msgs, o.pending, o.notes = o.msgs[:0], o.pending[:0], o.notes[:0]
	}
	if err := o.r.Store.AddReconDiffs(ctx, o.run, o.prev, o.batch); err != nil {
		return err
	}
	o.batch = o.batch[:0]
	return nil
}

// wait waits until the target's sink has dealt with every published
// repair (its journal shows the record written, found unchanged, skipped
// or dead-lettered since the repair went out), or until d has passed; it
// reports whether every repair was written. Without a journal (trace
// disabled) it takes the target's crosswalk holding the repair's hash as
// written.
func (o *reconOut) wait(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	left, ok := o.published, true
	for {
		var still []pendingRepair
		for _, p := range left {
			done, written := o.settled(ctx, p)
			if !done {
				still = append(still, p)
			} else if !written {
				ok = false
				o.log.Warn("a repair was not written", "hub_id", p.hubID, "target", p.system)
			}
		}
		if left = still; len(left) == 0 {
			return ok
		}
		if time.Now().After(deadline) {
			o.log.Warn("repairs not written in time", "waiting", len(left), "wait", d)
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// settled says whether the target's sink has dealt with a repair, and
// whether it wrote it.
func (o *reconOut) settled(ctx context.Context, p pendingRepair) (done, written bool) {
	traces, err := o.r.Store.Trace(ctx, p.hubID, o.rj.Job.Entity)
	if err != nil {
		return false, false
	}
	journal := false
	for _, tr := range traces {
		for _, ev := range tr.Events {
			journal = true
			if ev.System != p.system || ev.At.Before(p.at) {
				continue
			}
			switch ev.Event {
			case store.TraceWritten, store.TraceSuppressed:
				return true, true
			case store.TraceSkipped, store.TraceDeadLettered:
				return true, false
			}
		}
	}
	if journal {
		return false, false
	}
	_, hash, ok, err := o.r.Store.LookupExternal(ctx, o.rj.Job.Entity, p.hubID, p.system)
	if err != nil {
		return false, false
	}
	if p.delete {
		return !ok, !ok
	}
	return ok && hash == p.hash, ok && hash == p.hash
}
