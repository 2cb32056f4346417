package bus

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestClientErrorsQuiet: a rebalance at start, a retried read timeout and
// a reader cancelled because it is closing are debug lines with a counter;
// anything else stays a warning.
func TestClientErrorsQuiet(t *testing.T) {
	var buf bytes.Buffer
	b := &Bus{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), metrics: newMetrics()}
	read := b.kafkaLogger("kafka read", "group", "g")
	read("Failed to sync group %s: [27] Rebalance In Progress: the coordinator has begun rebalancing the group", "g")
	read("the kafka reader got an unknown error reading partition 1 of t at offset 50: read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout")
	// What every shutdown printed as warnings (hub bench sync, 2026-12-04).
	read("error initializing the kafka reader for partition 5 of bench.customer: failed to dial: failed to open connection to 127.0.0.1:41405: dial tcp 127.0.0.1:41405: operation was canceled")
	read("kafka reader failed to read lag of partition 5 of bench.customer: context canceled")
	if buf.Len() != 0 {
		t.Errorf("expected client errors were logged at info or above:\n%s", buf.String())
	}
	b.kafkaLogger("kafka write", "topic", "t")("[3] Unknown Topic Or Partition: the request is for a topic or partition that does not exist")
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "kind=other") {
		t.Errorf("an unexpected client error is not a warning: %q", buf.String())
	}
	for _, c := range []struct {
		side, kind string
		want       float64
	}{{"kafka read", "rebalance", 1}, {"kafka read", "timeout", 1}, {"kafka read", "closed", 2}, {"kafka write", "other", 1}, {"kafka read", "other", 0}} {
		if got := testutil.ToFloat64(b.metrics.clientErrors.WithLabelValues(c.side, c.kind)); got != c.want {
			t.Errorf("hub_bus_client_errors_total{side=%q,kind=%q} = %v, want %v", c.side, c.kind, got, c.want)
		}
	}
}
