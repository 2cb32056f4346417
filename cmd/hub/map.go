package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/mapping/bench"
)

// newMapCmd is `hub map`: test, explain and benchmark mapping specs.
func newMapCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "map",
		Short: "Test, explain and benchmark field mappings",
		Long: `Mappings translate between a system's records and the canonical model. They
are YAML specs (see docs/mapping.md); these commands load one, check it and
show what it does, without running the pipeline.`,
	}
	cmd.AddCommand(newMapTestCmd(), newMapExplainCmd(), newMapBenchCmd())
	return cmd
}

// loadMapping compiles a spec, listing every problem on failure.
func loadMapping(path string) (*mapping.Plan, error) {
	if path == "" {
		return nil, exitErr(2, errors.New("give the mapping spec with -m FILE"))
	}
	p, err := mapping.Load(path)
	if err != nil {
		var probs mapping.Problems
		if errors.As(err, &probs) {
			return nil, exitErr(2, fmt.Errorf("%d problem(s) in the mapping:\n%s", len(probs), indent(probs.Error())))
		}
		return nil, exitErr(2, err)
	}
	return p, nil
}

// readLookups reads a JSON file {"xref.customer": {"KEY": "VALUE"}} into a
// fixed lookup that stands in for the pipeline's.
func readLookups(path string) (mapping.Lookup, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read lookups: %w", err)
	}
	var m mapping.MapLookup
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read lookups %s: %w", path, err)
	}
	return m, nil
}

func newMapTestCmd() *cobra.Command {
	var specPath, inPath, lookupPath string
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Map one JSON record and print the result (or every field that failed)",
		Example: `  hub map test -m configs/mappings/shop-order-in.yaml -i configs/mappings/testdata/shop-order-in.input.json
  curl -s https://shop.example/webhook-sample | hub map test -m shop-order-in.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loadMapping(specPath)
			if err != nil {
				return err
			}
			lk, err := readLookups(lookupPath)
			if err != nil {
				return exitErr(2, err)
			}
			var in io.Reader = cmd.InOrStdin()
			if inPath != "" && inPath != "-" {
				f, err := os.Open(inPath)
				if err != nil {
					return exitErr(2, fmt.Errorf("open input: %w", err))
				}
				defer f.Close()
				in = f
			}
			data, err := io.ReadAll(in)
			if err != nil {
				return exitErr(2, fmt.Errorf("read input: %w", err))
			}
			rec, err := mapping.ParseJSON(bytes.TrimSpace(data))
			if err != nil {
				return exitErr(1, fmt.Errorf("input is not JSON: %w", err))
			}
			out, err := p.Apply(cmd.Context(), rec, lk)
			if err != nil {
				var re *mapping.RecordError
				if errors.As(err, &re) {
					w := cmd.ErrOrStderr()
					for _, fe := range re.Errors {
						fmt.Fprintln(w, fe.Error())
					}
					return exitErr(1, fmt.Errorf("%d field(s) failed", len(re.Errors)))
				}
				return exitErr(1, err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, mapping.AppendJSON(nil, out), "", "  "); err != nil {
				return fmt.Errorf("format output: %w", err)
			}
			pretty.WriteByte('\n')
			_, err = cmd.OutOrStdout().Write(pretty.Bytes())
			return err
		},
	}
	cmd.Flags().StringVarP(&specPath, "mapping", "m", "", "mapping spec (YAML)")
	cmd.Flags().StringVarP(&inPath, "input", "i", "-", "input record (JSON); - reads standard input")
	cmd.Flags().StringVar(&lookupPath, "lookups", "", `JSON file standing in for the pipeline's lookups: {"xref.customer": {"KEY": "VALUE"}}`)
	return cmd
}

func newMapExplainCmd() *cobra.Command {
	var specPath string
	cmd := &cobra.Command{
		Use:     "explain",
		Short:   "Check a mapping and print its compiled plan in words",
		Example: `  hub map explain -m configs/mappings/erp-sale-out.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loadMapping(specPath)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), p.Explain())
			return err
		},
	}
	cmd.Flags().StringVarP(&specPath, "mapping", "m", "", "mapping spec (YAML)")
	return cmd
}

func newMapBenchCmd() *cobra.Command {
	var specPath, inPath, outPath string
	var n, workers int
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Map an NDJSON file record by record and report records/s, MB/s and allocations",
		Long: `Streams the NDJSON input (one line in memory at a time): decode, map, encode.
Run it with GOMAXPROCS=1 (or taskset -c 0) for single-core figures.

With --workers N, N goroutines map at once: one reads the input in chunks
of whole lines (256 KiB), N map them, one writes them back in input order,
so the output is the same as with one worker, byte for byte. At most
2N+2 chunks are in memory. --workers 0 is one worker per GOMAXPROCS.`,
		Example: `  GOMAXPROCS=1 taskset -c 0 hub map bench -m configs/mappings/bench/shop-order-yardstick.yaml -i /tmp/orders-100k.ndjson
  GOMAXPROCS=2 hub map bench --workers 2 -m configs/mappings/bench/shop-order-yardstick.yaml -i /tmp/orders-100k.ndjson`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loadMapping(specPath)
			if err != nil {
				return err
			}
			if inPath == "" {
				return exitErr(2, errors.New("give the NDJSON input with -i FILE"))
			}
			in, err := os.Open(inPath)
			if err != nil {
				return exitErr(2, fmt.Errorf("open input: %w", err))
			}
			defer in.Close()
			var out io.Writer = io.Discard
			if outPath != "" {
				f, err := os.Create(outPath)
				if err != nil {
					return exitErr(2, fmt.Errorf("create output: %w", err))
				}
				defer f.Close()
				out = f
			}
			if workers < 0 {
				return exitErr(2, errors.New("--workers must be 0 (GOMAXPROCS) or more"))
			}
			if workers == 0 {
				workers = runtime.GOMAXPROCS(0)
			}
			res, err := bench.RunParallel(cmd.Context(), p, in, out, n, nil, workers)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "records     %d (%d failed)\n", res.Records+res.Failed, res.Failed)
			fmt.Fprintf(w, "elapsed     %v\n", res.Elapsed)
			fmt.Fprintf(w, "records/s   %.0f\n", res.RecordsPerSec())
			fmt.Fprintf(w, "MB/s in     %.1f (%d bytes in, %d bytes out)\n", res.MBPerSec(), res.BytesIn, res.BytesOut)
			fmt.Fprintf(w, "allocs      %.1f per record, %.0f bytes per record\n", res.AllocsPerRecord(), float64(res.AllocBytes)/float64(max(1, res.Records+res.Failed)))
			fmt.Fprintf(w, "heap in use %.1f MiB, GOMAXPROCS %d, workers %d\n", float64(res.HeapInuse)/(1<<20), res.GOMAXPROCS, res.Workers)
			if res.Failed > 0 {
				fmt.Fprintf(w, "first error %s\n", res.FirstError)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&specPath, "mapping", "m", "", "mapping spec (YAML)")
	cmd.Flags().StringVarP(&inPath, "input", "i", "", "input records, one JSON object per line")
	cmd.Flags().StringVarP(&outPath, "output", "o", "", "write the mapped records here (default: discard)")
	cmd.Flags().IntVarP(&n, "n", "n", 0, "map at most N records (0: all)")
	cmd.Flags().IntVar(&workers, "workers", 1, "map with N goroutines (0: GOMAXPROCS); the output is the same")
	return cmd
}
