package node

import (
	"testing"

	"github.com/crmhub/hub/pipeline/bus"
)

// A sink worker's consumer fetches at most kafka.consumer.fetch_bytes of
// a partition (bus.TestReaderFetchBytes shows the broker is asked for
// that), 1 MiB when the config does not say.
func TestSinkReaderFetchBytes(t *testing.T) {
	for _, tc := range []struct {
		name, kafka string
		want        int
	}{
		{"default", "", bus.DefaultFetchBytes},
		{"set", "kafka: {consumer: {fetch_bytes: 4194304}}\n", 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConfig(t, tc.kafka+`connectors:
  crm: {kind: sqlstore}
sources:
  crm-orders: {connector: crm, entity: order, mapping: in.yaml}
`)
			if got := sinkReaderOptions(cfg).MaxBytes; got != tc.want {
				t.Fatalf("a sink's fetch of a partition: %d bytes, want %d", got, tc.want)
			}
		})
	}
}
