package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/internal/bench"
)

// newBenchKafkaCmd is `hub bench kafka`.
func newBenchKafkaCmd() *cobra.Command {
	o := bench.KafkaOptions{Seed: 38}
	var logLevel string
	cmd := &cobra.Command{
		Use:   "kafka",
		Short: "Kafka -> map -> Kafka on the mapping yardstick: records/s, CPU and memory",
		Long: `Start the embedded broker, produce the mapping yardstick's orders (Shopify
orders/create webhooks, generated as bench/gen -seed 38 writes them, or read
from --input) to an input topic of --partitions partitions, then run a hub
in this process: a kafka source through the yardstick's mapping
(configs/mappings/bench/shop-order-yardstick.yaml) into the canonical order
topic, and a kafka sink writing each order out to an output topic. Measured
from the hub's start until every order is on the output topic: records per
second, the process's CPU during that time (hub and broker), its peak RSS
(which includes the broker's copy of every topic: the embedded broker keeps
them in memory) and the most Go heap in use.

Afterwards the output topic is read back and checked record for record:
each order exactly once, each byte for byte the record the yardstick's
mapping makes of it, and the first three equal the yardstick's golden
records (--golden, when the file is there). Run it from the repository's
root (the mapping is read from configs/), see docs/benchmarks.md.`,
		Example: `  hub bench kafka                           # 1,000,000 orders, 4 partitions
  hub bench kafka --orders 100000 --cpuprofile kafka.pprof
  hub bench kafka --orders 200000 --no-stamps  # the sink as for a log nothing reads back (stamps: false)
  hub bench kafka --orders 100000 --exectrace kafka.trace   # then: go tool trace -pprof=sync kafka.trace > sync.pprof
  hub bench kafka --input orders-1m.ndjson  # bench/gen's output instead of the built-in generator`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := kinds()
			if err != nil {
				return err
			}
			o.Kinds = reg
			o.Log = newLogger(os.Stderr, logLevel, "text")
			o.Bar = isTerminal(cmd)
			res, err := bench.RunKafka(cmd.Context(), o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			return nil
		},
	}
	golden := filepath.Join("..", "shared", "bench", "golden", "expected-3.ndjson")
	if d := os.Getenv("HUB_BENCH_DIR"); d != "" {
		golden = filepath.Join(d, "golden", "expected-3.ndjson")
	}
	f := cmd.Flags()
	f.IntVar(&o.Orders, "orders", 1000000, "orders to produce and map (with --input: at most this many of its lines)")
	f.IntVar(&o.Partitions, "partitions", 4, "partitions of the input, canonical and output topics")
	f.Uint64Var(&o.Seed, "seed", 38, "the generator's seed (the yardstick's is 38)")
	f.StringVar(&o.Input, "input", "", "read the orders from this NDJSON file (bench/gen's output) instead of generating them")
	f.StringVar(&o.Mapping, "mapping", filepath.Join("configs", "mappings", "bench", "shop-order-yardstick.yaml"), "the yardstick's inbound mapping")
	f.StringVar(&o.Golden, "golden", golden, "the yardstick's expected records of the first three orders (default from $HUB_BENCH_DIR, else ../shared/bench); checked when present")
	f.IntVar(&o.SourceBatch, "source-batch", 0, "the source's batch_size (default the hub's)")
	f.IntVar(&o.SinkBatch, "sink-batch", 0, "the sink's batch_size (default the hub's)")
	f.BoolVar(&o.NoTrace, "no-trace", false, "turn the hub's trace journal off (trace.enabled: false; hub run keeps it on)")
	f.BoolVar(&o.NoStamps, "no-stamps", false, "run the sink with stamps: false (and deletes: ignore): no crosswalk row per order, as for a log nothing reads back (docs/config.md)")
	f.BoolVar(&o.Persist, "persist", false, "give the broker a data folder, as hub run gives its embedded broker (default: topics in memory only)")
	f.StringVar(&o.StateDSN, "state", "", "the hub's state store DSN (default SQLite in the run's folder)")
	f.BoolVar(&o.Keep, "keep-state", false, "keep the run's folder (config, mappings, state store) afterwards")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the hub phase to this file")
	f.StringVar(&o.ExecTrace, "exectrace", "", "write a Go execution trace of the hub phase to this file (where stages wait: go tool trace -pprof=sync FILE)")
	f.StringVar(&logLevel, "log-level", "warn", "the hub's log level")
	return cmd
}
