package node

import (
	"context"

	"github.com/crmhub/hub/pipeline"
)

// startReconcile schedules the config's reconciliation jobs: one node of
// those sharing the state store runs each (a lease), repairs go out on
// this node's bus.
func (n *Node) startReconcile(ctx context.Context) {
	if len(n.plan.Recon) == 0 {
		return
	}
	metrics := *n.metrics
	metrics.Recon = pipeline.NewReconMetrics(n.reg)
	jobs := map[string]pipeline.ScheduledJob{}
	for name, rj := range n.plan.Recon {
		sj := pipeline.ScheduledJob{ReconJob: rj}
		if sched, err := n.cfg.Reconcile[name].Cron(); err == nil && sched != nil {
			sj.Schedule = sched
		}
		jobs[name] = sj
		for _, c := range pipeline.ReconCounts() {
			metrics.Recon.Runs.WithLabelValues(name, c)
		}
		metrics.Recon.Skipped.WithLabelValues(name, "overlap")
	}
	rec := &pipeline.Reconciler{Store: n.store, Bus: n.bus, Prefix: n.cfg.Kafka.TopicPrefix, Metrics: &metrics,
		Log: n.log.With("component", "reconcile"), Journal: n.journal, TempDir: reconTempDir(n.cfg)}
	n.recon = &pipeline.ReconScheduler{Reconciler: rec, Jobs: jobs, Log: rec.Log,
		Owner: &pipeline.Owner{Store: n.store, Holder: n.holder(), TTL: n.cfg.Hub.LeaseTTL}}
	var rctx context.Context
	rctx, n.reconGroup.cancel = context.WithCancel(context.WithoutCancel(ctx))
	n.reconCtx = rctx
	n.reconGroup.start(rctx, n.recon.Run)
}

// ReconJobInfos lists the node's reconciliation jobs.
func (n *Node) ReconJobInfos() []pipeline.ReconJobInfo {
	if n.recon == nil {
		return nil
	}
	return n.recon.Infos()
}

// RunReconcile starts a run of a job now (POST /api/v1/reconciliations/
// {job}/run) and returns its run id.
func (n *Node) RunReconcile(ctx context.Context, job, actor string) (int64, error) {
	if n.recon == nil {
		return 0, pipeline.ErrNoJob
	}
	return n.recon.RunNow(n.reconCtx, job, actor)
}
