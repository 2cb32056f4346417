package callcenter

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics of the call center, each labelled with its connector. They
// are collected unchecked (Describe sends nothing), with the other
// connectors' metrics, on /metrics.

// viewMetrics are a screenpop connector's own counters.
type viewMetrics struct {
	lookups *prometheus.CounterVec
	latency *prometheus.HistogramVec
	pushes  *prometheus.CounterVec

	mu        sync.Mutex
	snapDur   time.Duration
	snapSize  int64
	snapAt    time.Time
	snapFails int
}

func newViewMetrics(name string) *viewMetrics {
	labels := prometheus.Labels{"connector": name}
	return &viewMetrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_screenpop_lookups_total", ConstLabels: labels,
			Help: "Screen-pop lookups by route (screenpop, callerid, customer) and result (hit, miss, invalid).",
		}, []string{"route", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hub_screenpop_lookup_seconds", ConstLabels: labels,
			Help:    "Time to answer a screen-pop lookup in the hub (lookup and encoding), by route.",
			Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 10e-3, 50e-3},
		}, []string{"route"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_screenpop_agent_pushes_total", ConstLabels: labels,
			Help: "Call events pushed to agents, by event, and the browsers they reached.",
		}, []string{"event", "reached"}),
	}
}

// lookup counts and times one lookup.
func (m *viewMetrics) lookup(route, result string, began time.Time) {
	m.lookups.WithLabelValues(route, result).Inc()
	m.latency.WithLabelValues(route).Observe(time.Since(began).Seconds())
}

// snapshot records a snapshot write.
func (m *viewMetrics) snapshot(d time.Duration, size int64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.snapFails++
		return
	}
	m.snapDur, m.snapSize, m.snapAt = d, size, time.Now()
}

var (
	descCustomers    = viewDesc("hub_screenpop_customers", "Customers in the screen-pop index.")
	descPlaceholders = viewDesc("hub_screenpop_placeholders", "Customers named by orders, invoices or interactions whose own record has not come.")
	descNumbers      = viewDesc("hub_screenpop_numbers", "Distinct telephone numbers indexed.")
	descShared       = viewDesc("hub_screenpop_shared_numbers", "Numbers of more than one customer.")
	descOrders       = viewDesc("hub_screenpop_orders", "Recent orders held.")
	descInvoices     = viewDesc("hub_screenpop_invoices", "Open invoices held.")
	descInteractions = viewDesc("hub_screenpop_interactions", "Last interactions held.")
	descBytes        = viewDesc("hub_screenpop_index_bytes", "Estimated memory of the index (records, text, maps).")
	descDropped      = viewDesc("hub_screenpop_dropped_total", "Customers not indexed because the index holds max_customers.")
	descAgents       = viewDesc("hub_screenpop_agents_connected", "Agents' browsers connected to their event stream.")
	descSnapSeconds  = viewDesc("hub_screenpop_snapshot_seconds", "How long the last snapshot took to write.")
	descSnapBytes    = viewDesc("hub_screenpop_snapshot_bytes", "Size of the last snapshot.")
	descSnapTime     = viewDesc("hub_screenpop_snapshot_timestamp_seconds", "When the last snapshot was written (Unix time).")
	descSnapFails    = viewDesc("hub_screenpop_snapshot_failures_total", "Snapshots that could not be written.")
)

func viewDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"connector"}, nil)
}

// Describe sends nothing: the metrics are collected unchecked.
func (v *View) Describe(chan<- *prometheus.Desc) {}

// Collect sends the view's metrics.
func (v *View) Collect(ch chan<- prometheus.Metric) {
	v.m.lookups.Collect(ch)
	v.m.latency.Collect(ch)
	v.m.pushes.Collect(ch)
	st := v.index.Stats()
	gauge := func(d *prometheus.Desc, x float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, x, v.name)
	}
	gauge(descCustomers, float64(st.Customers))
	gauge(descPlaceholders, float64(st.Placeholders))
	gauge(descNumbers, float64(st.Numbers))
	gauge(descShared, float64(st.Shared))
	gauge(descOrders, float64(st.Orders))
	gauge(descInvoices, float64(st.Invoices))
	gauge(descInteractions, float64(st.Interactions))
	gauge(descBytes, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Dropped), v.name)
	gauge(descAgents, float64(v.agents.Connected()))
	v.m.mu.Lock()
	defer v.m.mu.Unlock()
	if !v.m.snapAt.IsZero() {
		gauge(descSnapSeconds, v.m.snapDur.Seconds())
		gauge(descSnapBytes, float64(v.m.snapSize))
		gauge(descSnapTime, float64(v.m.snapAt.Unix()))
	}
	ch <- prometheus.MustNewConstMetric(descSnapFails, prometheus.CounterValue, float64(v.m.snapFails), v.name)
}

// callsMetrics are a calls connector's counters.
type callsMetrics struct {
	events  *prometheus.CounterVec
	refused *prometheus.CounterVec
	logged  *prometheus.CounterVec
}

func newCallsMetrics(name string) *callsMetrics {
	labels := prometheus.Labels{"connector": name}
	return &callsMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_call_events_total", ConstLabels: labels,
			Help: "Call events taken, by source (json, twilio, ami) and stage (ringing, answered, ended).",
		}, []string{"source", "stage"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_call_events_refused_total", ConstLabels: labels,
			Help: "Call events refused, by source and reason (signature, malformed, unavailable).",
		}, []string{"source", "reason"}),
		logged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_call_logs_total", ConstLabels: labels,
			Help: "Ended calls handed to the pipeline as interactions, by what became of them (published, unchanged, rejected, failed).",
		}, []string{"outcome"}),
	}
}

// Describe sends nothing: the metrics are collected unchecked.
func (c *Calls) Describe(chan<- *prometheus.Desc) {}

// Collect sends the connector's metrics.
func (c *Calls) Collect(ch chan<- prometheus.Metric) {
	c.m.events.Collect(ch)
	c.m.refused.Collect(ch)
	c.m.logged.Collect(ch)
}
