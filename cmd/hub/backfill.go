package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/crmhub/hub/pipeline/node"
)

func newBackfillCmd() *cobra.Command {
	var (
		cfgPath, since string
		restart, quiet bool
		idle           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "backfill SOURCE [--since DATE]",
		Short: "Pull a source's history through its intake, resumably",
		Long: `Read every record of a source's entity changed since DATE (all of them
without --since) from its connector and take it through the source's intake
(mapping, hub ids, matching), as the source's own schedule does with
changes. A shop connector exports its history in bulk (Shopify's bulk
operations); others page through their API.

The position is stored after every durable batch: run the same command
again after a crash or Ctrl-C and it goes on where it stopped (from the
same export). Records read twice, and records the hub already holds, are
not published again. --restart forgets an unfinished backfill of the
source. The backfill publishes to the configured brokers, or to the
running hub's embedded broker.

DATE is YYYY-MM-DD (UTC midnight) or an RFC 3339 time.`,
		Example: "  hub backfill shopify-orders-poll --since 2024-01-01 -c hub.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := parseSince(since)
			if err != nil {
				return exitErr(2, err)
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return exitErr(2, err)
			}
			reg, err := kinds()
			if err != nil {
				return err
			}
			log := newLogger(cmd.ErrOrStderr(), "warn", cfg.Log.Format)
			ctx, stop := signalContext(log)
			defer stop()
			job, err := node.OpenBackfill(ctx, cfg, reg, log, args[0])
			if err != nil {
				return exitErr(1, err)
			}
			defer job.Close()
			job.Idle = idle
			if job.BatchSize <= 0 {
				job.BatchSize = 500
			}
			var bar *progressbar.ProgressBar
			if !quiet {
				job.Progress = func(done, total int64) { bar = progress(cmd.ErrOrStderr(), bar, args[0], done, total) }
			}
			st, err := job.Run(ctx, from, restart)
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			if err != nil {
				return exitErr(1, fmt.Errorf("backfill %s: %w", args[0], err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backfill %s: %d records taken, caught up\n", args[0], st.Done)
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&since, "since", "", "the date (YYYY-MM-DD, UTC) or time (RFC 3339) from which changes are read; none: everything")
	cmd.Flags().BoolVar(&restart, "restart", false, "forget an unfinished backfill of the source and start anew")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	cmd.Flags().DurationVar(&idle, "idle", 3*time.Second, "how long a read may wait for records before the source counts as caught up")
	return cmd
}

func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want YYYY-MM-DD or an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// progress draws the bar (a spinner with counts when the total is not
// known), making it on first use.
func progress(w io.Writer, bar *progressbar.ProgressBar, name string, done, total int64) *progressbar.ProgressBar {
	if bar == nil {
		max := total
		if max <= 0 {
			max = -1
		}
		bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("backfill "+name),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("records"),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionSetPredictTime(true))
	}
	if total > 0 && done > total {
		bar.ChangeMax64(done)
	}
	_ = bar.Set64(done)
	return bar
}
