package shop

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Metrics counts a shop connector's webhook answers. Connectors of every
// shop kind describe the same metrics, told apart by their connector
// label (the hub collects connectors' metrics unchecked).
type Metrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

// NewMetrics makes the webhook metrics of one connector.
func NewMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_webhook_requests_total",
			Help: "Webhook deliveries answered, by connector and outcome (accepted, duplicate, ping, bad_signature, malformed, too_large, content_type, unknown_topic, unavailable).",
		}, []string{"connector", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hub_webhook_seconds",
			Help:    "Time to answer a webhook delivery (accepted ones include the wait until Kafka acknowledged them).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"connector", "outcome"}),
	}
}

func (m *Metrics) observe(connector, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(connector, outcome).Inc()
	m.seconds.WithLabelValues(connector, outcome).Observe(d.Seconds())
}

// Count is how many deliveries of connector were answered with outcome.
func (m *Metrics) Count(connector, outcome string) float64 {
	c, err := m.requests.GetMetricWithLabelValues(connector, outcome)
	if err != nil {
		return 0
	}
	var out float64
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	close(ch)
	for mt := range ch {
		out += metricValue(mt)
	}
	return out
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.seconds.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.seconds.Collect(ch)
}

func metricValue(m prometheus.Metric) float64 {
	var pb dto.Metric
	if err := m.Write(&pb); err != nil || pb.Counter == nil {
		return 0
	}
	return pb.Counter.GetValue()
}
