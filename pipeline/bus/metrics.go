package bus

import "github.com/prometheus/client_golang/prometheus"

// metrics are the bus's collectors; each Bus has its own, registered by the
// caller (see Bus.Collectors).
type metrics struct {
	written      *prometheus.CounterVec
	read         *prometheus.CounterVec
	writeErrors  *prometheus.CounterVec
	writeLatency *prometheus.HistogramVec
	clientErrors *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_bus_records_written_total",
			Help: "Records acknowledged by Kafka, by topic.",
		}, []string{"topic"}),
		read: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_bus_records_read_total",
			Help: "Records fetched by consumer-group readers, by topic.",
		}, []string{"topic"}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_bus_write_errors_total",
			Help: "Records whose write failed after all attempts, by topic.",
		}, []string{"topic"}),
		writeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hub_bus_write_duration_seconds",
			Help:    "Duration of synchronous Write calls until acknowledged (or failed), by topic.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5ms .. ~4s
		}, []string{"topic"}),
		clientErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_bus_client_errors_total",
			Help: "What the Kafka client reported, by side (kafka read, kafka write) and kind: rebalance and timeout are retried by the client and logged at debug; other is logged as a warning.",
		}, []string{"side", "kind"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.written, m.read, m.writeErrors, m.writeLatency, m.clientErrors}
}
