package pipeline

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the per-connector pipeline counters. One set serves every
// runner of a node; labels say which connector and entity.
type Metrics struct {
	RecordsIn    *prometheus.CounterVec   // published by sources
	RecordsOut   *prometheus.CounterVec   // written by sinks
	Suppressed   *prometheus.CounterVec   // echoes and no-ops a sink skipped, by reason
	Failures     *prometheus.CounterVec   // by kind: retryable, permanent
	Retries      *prometheus.CounterVec   // retry attempts
	DeadLetters  *prometheus.CounterVec   // records dead-lettered, by stage
	Lag          *prometheus.GaugeVec     // consumer lag of sinks
	BatchSeconds *prometheus.HistogramVec // one batch, read to commit
	TraceQueued  prometheus.Gauge         // trace events waiting to be written
	TraceDropped prometheus.Counter       // trace events dropped: the journal's queue was full
	// Recon holds the reconciliation series; nil where no job runs.
	Recon *ReconMetrics
}

// NewMetrics builds the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	ce := []string{"connector", "entity"}
	m := &Metrics{
		RecordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_records_in_total", Help: "Records a source published to Kafka."}, ce),
		RecordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_records_out_total", Help: "Records a sink wrote to its system."}, ce),
		Suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_records_suppressed_total", Help: "Records skipped as echoes, no-ops or older versions."},
			[]string{"connector", "entity", "reason"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_failures_total", Help: "Failed record or batch attempts by kind."},
			[]string{"connector", "entity", "kind"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_retries_total", Help: "Retry attempts after transient failures."}, ce),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_dead_letters_total", Help: "Records sent to the dead-letter store, by connector, the source or sink (runner) and stage."},
			[]string{"connector", "runner", "entity", "stage"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hub_consumer_lag", Help: "Records a sink has yet to consume."}, ce),
		BatchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hub_batch_duration_seconds", Help: "Time to process one batch, read to commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 12)}, []string{"connector", "entity", "role"}),
		TraceQueued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hub_trace_queued_events", Help: "Trace events waiting to be written to the state store."}),
		TraceDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hub_trace_dropped_events_total", Help: "Trace events dropped because the journal's queue was full (the records themselves went on)."}),
	}
	reg.MustRegister(m.RecordsIn, m.RecordsOut, m.Suppressed, m.Failures, m.Retries, m.DeadLetters, m.Lag, m.BatchSeconds,
		m.TraceQueued, m.TraceDropped)
	return m
}

// InitSource creates a source's series at zero, so a dashboard and an
// alert see them from the start and not from the first event: a rate over
// a counter that appears at its first increment misses that increment.
func (m *Metrics) InitSource(system, runner, entity string) {
	m.RecordsIn.WithLabelValues(system, entity)
	m.Failures.WithLabelValues(system, entity, "read")
	for _, st := range append(sourceStages(), StageMerge) {
		m.DeadLetters.WithLabelValues(system, runner, entity, st)
	}
}

// InitSink creates a sink entity's series at zero (see InitSource).
func (m *Metrics) InitSink(system, runner, entity string) {
	m.RecordsOut.WithLabelValues(system, entity)
	m.Retries.WithLabelValues(system, entity)
	m.Lag.WithLabelValues(system, entity)
	for _, kind := range []string{"retryable", "permanent", "unavailable", "batch", "retries_exhausted", "missing_ref"} {
		m.Failures.WithLabelValues(system, entity, kind)
	}
	for _, st := range append(sinkStages(), StageDecode, StagePrepare) {
		m.DeadLetters.WithLabelValues(system, runner, entity, st)
	}
}

// ReconMetrics are the reconciliation jobs' series, by job.
type ReconMetrics struct {
	Runs        *prometheus.CounterVec   // finished runs by status (ok, diffs, failed)
	Skipped     *prometheus.CounterVec   // scheduled runs skipped, by reason (overlap)
	Differences *prometheus.GaugeVec     // of the last run, by class
	Matched     *prometheus.GaugeVec     // records matched in the last run
	Repairs     *prometheus.CounterVec   // repairs published
	Seconds     *prometheus.HistogramVec // run duration
	LastSuccess *prometheus.GaugeVec     // unix time of the last run that finished
}

// NewReconMetrics builds the reconciliation metrics and registers them.
func NewReconMetrics(reg prometheus.Registerer) *ReconMetrics {
	j := []string{"job"}
	m := &ReconMetrics{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_reconcile_runs_total", Help: "Reconciliation runs finished, by status (ok, diffs, failed)."}, []string{"job", "status"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_reconcile_skipped_total", Help: "Scheduled reconciliation runs skipped because the previous run still ran."}, []string{"job", "reason"}),
		Differences: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hub_reconcile_differences", Help: "Differences the last run of a job reported, by class."}, []string{"job", "class"}),
		Matched: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hub_reconcile_matched", Help: "Records the last run of a job matched on both sides."}, j),
		Repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_reconcile_repairs_total", Help: "Repairs reconciliation runs published."}, j),
		Seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hub_reconcile_duration_seconds", Help: "Time of one reconciliation run.",
			Buckets: prometheus.ExponentialBuckets(0.05, 3, 10)}, j),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hub_reconcile_last_finished_timestamp_seconds", Help: "When the last run of a job finished (not failed)."}, j),
	}
	reg.MustRegister(m.Runs, m.Skipped, m.Differences, m.Matched, m.Repairs, m.Seconds, m.LastSuccess)
	return m
}
