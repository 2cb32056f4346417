package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/internal/bench"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the hub end to end (see docs/benchmarks.md)",
	}
	var o bench.Options
	var logLevel, cpuProfile, execTrace string
	syncCmd := &cobra.Command{
		Use:   "sync",
		Short: "Sync orders with lines from a PostgreSQL CRM to PostgreSQL ERP tables and measure",
		Long: `Create a CRM and an ERP schema in PostgreSQL, insert orders with lines, run a
hub in this process (embedded broker, SQLite state unless --state) that syncs
them, and report orders per second, the latency from the CRM commit to the
ERP row (p50, p99, max) and the process's peak RSS. Without --rate all orders
are inserted before the hub starts (throughput on a backlog); with --rate they
are inserted at that steady rate (latency under load), and the latency is
also given for the orders after --warmup: at the start the first orders
wait for their customers (all inserted before the hub starts) to reach the
ERP. The schemas are dropped afterwards unless --keep.`,
		Example: `  hub bench sync --orders 200000
  hub bench sync --orders 30000 --rate 1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := kinds()
			if err != nil {
				return err
			}
			o.Kinds = reg
			o.Log = newLogger(os.Stderr, logLevel, "text")
			stopProfiles, err := bench.Profiles(cpuProfile, execTrace)
			if err != nil {
				return err
			}
			defer stopProfiles()
			o.Bar = isTerminal(cmd)
			res, err := bench.RunSync(cmd.Context(), o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			return nil
		},
	}
	dsn := os.Getenv("HUB_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	f := syncCmd.Flags()
	f.StringVar(&o.PostgresDSN, "pg", dsn, "PostgreSQL for both the CRM and the ERP schemas (default $HUB_TEST_POSTGRES_DSN)")
	f.IntVar(&o.Orders, "orders", 200000, "orders to sync")
	f.IntVar(&o.Lines, "lines", 3, "lines per order")
	f.IntVar(&o.Customers, "customers", 0, "distinct customers (default orders/20)")
	f.IntVar(&o.Rate, "rate", 0, "insert orders at this rate per second while the hub runs (0: all before it starts)")
	f.DurationVar(&o.Warmup, "warmup", 2*time.Second, "with --rate: the start left out of the steady latency (0: report only all orders)")
	f.StringVar(&o.Capture, "capture", "cursor", "the CRM's change capture: cursor or outbox")
	f.StringVar(&o.StateDSN, "state", "", "the hub's state store DSN (default SQLite in a temp folder)")
	f.BoolVar(&o.Keep, "keep", false, "keep the schemas afterwards")
	f.IntVar(&o.SourceBatch, "source-batch", 2000, "the sources' batch_size (the hub's default is 500)")
	f.IntVar(&o.SinkBatch, "sink-batch", 1000, "the sink's batch_size (the hub's default is 500)")
	f.StringVar(&logLevel, "log-level", "warn", "the hub's log level")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	f.StringVar(&execTrace, "exectrace", "", "write a Go execution trace of the whole run to this file (where stages wait: go tool trace -pprof=sync FILE)")
	f.StringVar(&o.HeapProfile, "memprofile", "", "write a heap profile to this file once half the orders arrived (what the busy hub holds)")
	cmd.AddCommand(syncCmd, newBenchScreenpopCmd(dsn), newBenchReconcileCmd(dsn), newBenchKafkaCmd())
	return cmd
}

// newBenchScreenpopCmd is `hub bench screenpop`.
func newBenchScreenpopCmd(dsn string) *cobra.Command {
	var o bench.ScreenpopOptions
	var conns []int
	cmd := &cobra.Command{
		Use:   "screenpop",
		Short: "Measure screen-pop lookups on a large index, against an indexed PostgreSQL query",
		Long: `Build a screen-pop index of --customers customers with --orders orders each
(and an open invoice for every fourth customer) from envelopes as the view
reads them, report its build time and memory, write and read its snapshot,
load the same data into PostgreSQL with the indexes a user would create, and
serve both behind the hub's HTTP server (tokens, roles): the index's
/api/v1/screenpop and /api/v1/callerid, and /api/v1/bench/pg-screenpop, the
same lookup answered by one PostgreSQL query. wrk (apt-get install wrk)
measures each on loopback at every --connections level, after a warm-up.
The schema hub_bench_screenpop is dropped afterwards unless --keep.`,
		Example: `  hub bench screenpop                                   # 1,000,000 customers, 3,000,000 orders
  hub bench screenpop --customers 100000 --duration 5s --connections 8
  hub bench screenpop --connections 1 --exectrace sp.trace  # then: go tool trace -pprof=sched sp.trace > sched.pprof`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := kinds()
			if err != nil {
				return err
			}
			o.Kinds, o.Connections = reg, conns
			res, err := bench.RunScreenpop(cmd.Context(), o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.PostgresDSN, "pg", dsn, "PostgreSQL for the baseline (default $HUB_TEST_POSTGRES_DSN)")
	f.IntVar(&o.Customers, "customers", 1000000, "customers in the index (and in PostgreSQL)")
	f.IntVar(&o.OrdersPer, "orders", 3, "orders per customer")
	f.IntSliceVar(&conns, "connections", []int{4, 16, 64}, "wrk connection counts to measure")
	f.IntVar(&o.Threads, "threads", 1, "wrk threads (wrk shares the machine with the hub and PostgreSQL)")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "each measured wrk run")
	f.StringVar(&o.Wrk, "wrk", "wrk", "the wrk binary")
	f.StringVar(&o.WrkCPUs, "wrk-cpus", "", "run wrk under taskset on these CPUs (e.g. 0; run the hub with taskset on the others)")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the first index run to this file")
	f.StringVar(&o.ExecTrace, "exectrace", "", "write a Go execution trace of the first index run to this file (where requests wait: go tool trace FILE)")
	f.BoolVar(&o.Keep, "keep", false, "keep the PostgreSQL schema afterwards")
	return cmd
}

// newBenchReconcileCmd is `hub bench reconcile`.
func newBenchReconcileCmd(dsn string) *cobra.Command {
	var o bench.ReconcileOptions
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Compare two PostgreSQL databases of orders three ways and measure each",
		Long: `Create two PostgreSQL databases with --orders orders each (generate_series)
and --diff percent seeded differences spread over the keys (a quarter
missing on each side, half a changed total or status), then measure, one
after the other in this process, each with its wall time and the process's
peak RSS (reset between phases through /proc/self/clear_refs):

  floor      PostgreSQL alone streaming both tables (COPY orders TO STDOUT
             into io.Discard, both at once);
  stream     the streaming merge through the reconciliation engine over
             two SQL scans;
  checksum   the in-database checksum path (reconcile/sqlsum): sums of row
             hashes per key range computed in each database, descending
             only into ranges that differ.

Each comparing phase must find exactly the seeded differences ("wrong"
counts the others). The goals: the streaming merge within 2x of the floor
in under 300 MB RSS; the checksum path faster than the floor. The
databases are dropped afterwards unless --keep.`,
		Example: `  hub bench reconcile                     # 1,000,000 orders per side, 1% differences
  hub bench reconcile --orders 20000 --diff 5
  hub bench reconcile --cpuprofile stream.pprof   # then: go tool pprof -top bin/hub stream.pprof`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Bar = isTerminal(cmd)
			// Ctrl-C stops the run and still drops the databases.
			ctx, stop := signalContext(newLogger(cmd.ErrOrStderr(), "info", "text"))
			defer stop()
			res, err := bench.RunReconcile(ctx, o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.PostgresDSN, "pg", dsn, "the PostgreSQL server the two databases are created on (default $HUB_TEST_POSTGRES_DSN)")
	f.IntVar(&o.Orders, "orders", 1000000, "orders on each side")
	f.Float64Var(&o.DiffPercent, "diff", 1, "seeded differences, percent of the orders")
	f.BoolVar(&o.Keep, "keep", false, "keep the databases afterwards")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the streaming merge phase to this file")
	return cmd
}
