package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/crmhub/hub/mapping"
)

// Schedule says when a job runs next (robfig/cron's Schedule).
type Schedule interface {
	Next(time.Time) time.Time
}

// ScheduledJob is a job with its schedule (nil: on demand only).
type ScheduledJob struct {
	ReconJob
	Schedule Schedule
}

// ErrNoJob is returned for a job the config does not have.
var ErrNoJob = errors.New("no such reconciliation job")

// ReconCounts are the statuses a finished run has.
func ReconCounts() []string { return []string{"ok", "diffs", "failed"} }

// ErrRunning is returned when a job is asked to run while it runs.
var ErrRunning = errors.New("the job's previous run is still running")

// ReconScheduler runs reconciliation jobs on their schedules. Across hub
// nodes one node schedules each job (the holder of the lease "reconcile
// <job>"), and every run, scheduled or asked for, holds the lease
// "reconcile-run <job>" while it runs: a job never runs twice at once. A
// scheduled time that finds the job's previous run still running is
// skipped and counted (hub_reconcile_skipped_total), not queued.
type ReconScheduler struct {
	Reconciler *Reconciler
	// Owner holds the leases; nil runs every job on this node unguarded.
	Owner *Owner
	Jobs  map[string]ScheduledJob
	Log   *slog.Logger

	mu      sync.Mutex
	running map[string]bool
	mapped  map[string][2]*mapping.Plan // job -> its sides' mappings as a reload gave them
	runs    sync.WaitGroup
}

// SetMappings makes the next runs of a job map its sides with these
// mappings (a config reload that changed a mapping file); nil keeps a
// side's mapping.
func (s *ReconScheduler) SetMappings(name string, left, right *mapping.Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mapped == nil {
		s.mapped = map[string][2]*mapping.Plan{}
	}
	s.mapped[name] = [2]*mapping.Plan{left, right}
}

// Run schedules every job with a schedule until ctx ends, then waits for
// the runs in progress (cancelled with ctx) to end.
func (s *ReconScheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for name, job := range s.Jobs {
		if job.Schedule == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Owner.Run(ctx, "reconcile "+name, nil, func(lctx context.Context) { s.loop(lctx, job) })
		}()
	}
	wg.Wait()
	s.runs.Wait()
}

// loop runs a job at each time of its schedule while ctx (the job's lease)
// lasts; it returns after the run it started, if any, has ended.
func (s *ReconScheduler) loop(ctx context.Context, job ScheduledJob) {
	var mine sync.WaitGroup
	defer mine.Wait()
	for {
		next := job.Schedule.Next(time.Now())
		if next.IsZero() || !sleep(ctx, time.Until(next)) {
			return
		}
		if _, err := s.start(ctx, job.ReconJob, "scheduler", &mine, nil); err != nil {
			s.skipped(job.Job.Name, err)
		}
	}
}

func (s *ReconScheduler) skipped(job string, err error) {
	reason := "error"
	if errors.Is(err, ErrRunning) {
		reason = "overlap"
	}
	if m := s.Reconciler.Metrics; m != nil && m.Recon != nil {
		m.Recon.Skipped.WithLabelValues(job, reason).Inc()
	}
	s.Log.Warn("scheduled reconciliation skipped", "job", job, "reason", reason, "err", err)
}

// RunNow starts a run of a job now (unless it runs) and returns the new
// run's id once it is recorded; the run goes on in the background, until
// ctx (the node's life) ends.
func (s *ReconScheduler) RunNow(ctx context.Context, name, actor string) (int64, error) {
	job, ok := s.Jobs[name]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrNoJob, name)
	}
	started := make(chan int64, 1)
	failed, err := s.start(ctx, job.ReconJob, actor, &s.runs, started)
	if err != nil {
		return 0, err
	}
	select {
	case id := <-started:
		return id, nil
	case err := <-failed:
		return 0, err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// start begins a run unless one of the job runs here or on another node.
// The run's error (before it was recorded) arrives on the returned channel.
func (s *ReconScheduler) start(ctx context.Context, rj ReconJob, actor string, wg *sync.WaitGroup, started chan<- int64) (<-chan error, error) {
	name := rj.Job.Name
	s.mu.Lock()
	if s.running == nil {
		s.running = map[string]bool{}
	}
	if s.running[name] {
		s.mu.Unlock()
		return nil, ErrRunning
	}
	s.running[name] = true
	if m, ok := s.mapped[name]; ok {
		if m[0] != nil {
			rj.Left.Plan = m[0]
		}
		if m[1] != nil {
			rj.Right.Plan = m[1]
		}
	}
	s.mu.Unlock()
	lease := "reconcile-run " + name
	if s.Owner != nil {
		ok, err := s.Owner.Store.AcquireLease(ctx, lease, s.Owner.Holder, s.Owner.TTL)
		if err != nil || !ok {
			s.done(name)
			if err != nil {
				return nil, fmt.Errorf("reconcile %s: lease: %w", name, err)
			}
			return nil, fmt.Errorf("%w (on another node)", ErrRunning)
		}
	}
	failed := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer s.done(name)
		run := func(rctx context.Context) {
			opts := ReconOptions{Actor: actor, Started: func(id int64) {
				if started != nil {
					started <- id
				}
			}}
			if _, err := s.Reconciler.Run(rctx, rj, opts); err != nil {
				failed <- err
			}
		}
		if s.Owner == nil {
			run(ctx)
			return
		}
		s.Owner.hold(ctx, lease, max(s.Owner.TTL/3, 10*time.Millisecond), run)
	}()
	return failed, nil
}

func (s *ReconScheduler) done(name string) {
	s.mu.Lock()
	delete(s.running, name)
	s.mu.Unlock()
}

// ReconJobInfo is a job as the API lists it.
type ReconJobInfo struct {
	Name     string     `json:"name"`
	Entity   string     `json:"entity"`
	Left     string     `json:"left"`
	Right    string     `json:"right"`
	Repair   string     `json:"repair"`
	Schedule string     `json:"schedule,omitempty"`
	TimeZone string     `json:"time_zone,omitempty"`
	NextRun  *time.Time `json:"next_run,omitempty"`
	Running  bool       `json:"running"`
}

// Infos lists the jobs by name, with their next scheduled time.
func (s *ReconScheduler) Infos() []ReconJobInfo {
	var out []ReconJobInfo
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, j := range s.Jobs {
		info := ReconJobInfo{Name: name, Entity: j.Job.Entity, Left: j.Job.Left, Right: j.Job.Right,
			Repair: string(j.Job.Repair), Schedule: j.Job.Schedule, TimeZone: j.Job.TimeZone, Running: s.running[name]}
		if j.Schedule != nil {
			next := j.Schedule.Next(time.Now()).UTC()
			info.NextRun = &next
		}
		out = append(out, info)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// RunExclusive runs a job once under its run lease, as the scheduler's
// runs do, so that it never overlaps a run on a hub node (`hub reconcile
// run`); ErrRunning when the job runs elsewhere.
func (r *Reconciler) RunExclusive(ctx context.Context, owner *Owner, rj ReconJob, opts ReconOptions) (ReconResult, error) {
	lease := "reconcile-run " + rj.Job.Name
	ok, err := owner.Store.AcquireLease(ctx, lease, owner.Holder, owner.TTL)
	if err != nil {
		return ReconResult{}, fmt.Errorf("reconcile %s: lease: %w", rj.Job.Name, err)
	}
	if !ok {
		return ReconResult{}, fmt.Errorf("reconcile %s: %w (on a hub node)", rj.Job.Name, ErrRunning)
	}
	var res ReconResult
	err = context.Canceled
	owner.hold(ctx, lease, max(owner.TTL/3, 10*time.Millisecond), func(hctx context.Context) {
		res, err = r.Run(hctx, rj, opts)
	})
	return res, err
}
