package node

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector turns the node's status into gauges at each scrape: the
// state of each runner, how fresh each source is, when each runner last
// succeeded, and the dead letters still open. They are read when asked,
// so they are never stale and cost nothing between scrapes.
type collector struct {
	n *Node

	state, freshness, lastOK, open *prometheus.Desc
}

func newCollector(n *Node) *collector {
	return &collector{n: n,
		state: prometheus.NewDesc("hub_runner_state",
			"1 for the state a source, push source or sink entity is in (running, paused, starting, circuit_open, standby).",
			[]string{"kind", "runner", "connector", "entity", "state"}, nil),
		freshness: prometheus.NewDesc("hub_source_freshness_seconds",
			"Age of the newest record version a source has published.",
			[]string{"connector", "runner", "entity"}, nil),
		lastOK: prometheus.NewDesc("hub_last_success_timestamp_seconds",
			"When a runner last published or wrote a batch, in Unix seconds.",
			[]string{"kind", "runner", "connector", "entity"}, nil),
		open: prometheus.NewDesc("hub_dead_letters_open",
			"Dead letters waiting for a fix and a replay (or a discard).",
			[]string{"connector", "runner", "entity"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.freshness
	ch <- c.lastOK
	ch <- c.open
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.n.runnerStatuses() {
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, 1, r.Kind, r.Name, r.Connector, r.Entity, r.State)
		if r.FreshnessSeconds != nil {
			ch <- prometheus.MustNewConstMetric(c.freshness, prometheus.GaugeValue, *r.FreshnessSeconds, r.Connector, r.Name, r.Entity)
		}
		if r.LastSuccess != nil {
			ch <- prometheus.MustNewConstMetric(c.lastOK, prometheus.GaugeValue,
				float64(r.LastSuccess.UnixNano())/1e9, r.Kind, r.Name, r.Connector, r.Entity)
		}
	}
	c.collectOpen(ch)
}

// collectOpen reports the open dead letters of every source and sink of
// the config, at zero where there are none. A state store that does not
// answer in time leaves the gauge out of this scrape rather than showing
// a false zero.
func (c *collector) collectOpen(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	counts, err := c.n.store.CountOpenDeadLetters(ctx)
	if err != nil {
		c.n.log.Warn("metrics: count open dead letters", "error", err)
		return
	}
	type key struct{ runner, entity string }
	open := map[key]int{}
	for _, oc := range counts {
		open[key{oc.Connector, oc.Entity}] = oc.Open
	}
	seen := map[key]bool{}
	emit := func(connector, runner, entity string) {
		k := key{runner, entity}
		if seen[k] { // a source and a sink of the same name share their dead letters
			return
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(open[k]), connector, runner, entity)
		delete(open, k)
	}
	for _, name := range sorted(c.n.plan.Sources) {
		sc := c.n.plan.Sources[name].Config
		emit(sc.Connector, name, sc.Entity)
	}
	for _, name := range sorted(c.n.plan.Sinks) {
		for _, entity := range sorted(c.n.plan.Sinks[name]) {
			emit(c.n.cfg.Sinks[name].Connector, name, entity)
		}
	}
	// Dead letters of sources or sinks no longer in the config are still
	// open; they show with an empty connector.
	for k, v := range open {
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(v), "", k.runner, k.entity)
	}
}
