package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/node"
	"github.com/crmhub/hub/reconcile"
	"github.com/crmhub/hub/store"
)

func newReconcileCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Compare two systems record by record, report and repair what differs",
		Long: `Reconciliation jobs (the reconcile: block of the config) compare an
entity's records in two systems, field by field with a rule each, and
report what is missing on either side, what differs, which keys are
duplicated and which records match nothing. A running hub runs them on
their schedules; these commands run one now, list the jobs and show a
run's differences. See docs/reconcile.md.`,
		Example: `  hub reconcile run crm-erp-orders -c configs/demo.yaml
  hub reconcile list -c configs/demo.yaml
  hub reconcile show 12 --class field_mismatch -c configs/demo.yaml`,
	}
	cmd.AddCommand(newReconcileRunCmd(), newReconcileListCmd(), newReconcileShowCmd())
	return cmd
}

func newReconcileRunCmd() *cobra.Command {
	var (
		cfgPath          string
		quiet, reportOut bool
		wait             time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run JOB",
		Short: "Run a reconciliation job now and print its summary",
		Long: `Scan both sides of JOB through their mappings, compare them and store the
run's report in the state store (hub reconcile show RUN, the API), like a
scheduled run. Repairs the job's policy asks for are published to Kafka
(the configured brokers, or the running hub's embedded broker) for the
sinks to write; the command waits up to --wait for them to be written, so
that a second run agrees. --report-only compares without repairing.

Exit status: 0 when the systems agree, 1 when differences were found (even
if they were repaired: run again to see them gone), 2 on an error. A
nightly cron job outside the hub can rely on it.`,
		Example: `  hub reconcile run crm-erp-orders -c configs/demo.yaml
  hub reconcile run crm-erp-orders --report-only -q -c hub.yaml || mail -s "CRM and ERP differ" finance@example.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return exitErr(2, err)
			}
			rc, ok := cfg.Reconcile[args[0]]
			if !ok {
				return exitErr(2, fmt.Errorf("no reconciliation job %q in the config (jobs: %s)", args[0], strings.Join(jobNames(cfg), ", ")))
			}
			reg, err := kinds()
			if err != nil {
				return exitErr(2, err)
			}
			log := newLogger(cmd.ErrOrStderr(), "warn", cfg.Log.Format)
			ctx, stop := signalContext(log)
			defer stop()
			repairs := rc.Repair != string(reconcile.PolicyReport) && !reportOut
			tools, err := node.OpenReconcile(ctx, cfg, reg, log, repairs)
			if err != nil {
				return exitErr(2, err)
			}
			defer tools.Close()
			rj, err := tools.Job(ctx, args[0])
			if err != nil {
				return exitErr(2, err)
			}
			if reportOut {
				rj.Job.Repair = reconcile.PolicyReport
			}
			opts := pipeline.ReconOptions{Actor: "cli", Wait: wait}
			var bar *progressbar.ProgressBar
			if !quiet {
				bar = reconBar(cmd.ErrOrStderr(), args[0])
				opts.Progress = func(p reconcile.Progress) {
					bar.Describe(fmt.Sprintf("reconcile %s: left %d, right %d rows, %d differences", args[0], p.Left, p.Right, p.Diffs))
					_ = bar.Set64(p.Left + p.Right)
				}
			}
			owner := &pipeline.Owner{Store: tools.Store, Holder: cliHolder(), TTL: cfg.Hub.LeaseTTL}
			res, err := tools.RunExclusive(ctx, owner, rj, opts)
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			if err != nil {
				return exitErr(2, err)
			}
			printSummary(cmd.OutOrStdout(), res.RunID, res.Status, res.Summary)
			if n := res.Differences(); n > 0 {
				return exitErr(1, fmt.Errorf("%s: %d differences (hub reconcile show %d)", args[0], n, res.RunID))
			}
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	cmd.Flags().BoolVar(&reportOut, "report-only", false, "compare and report, repair nothing (whatever the job's policy)")
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for the sinks to write the repairs (0: do not wait)")
	return cmd
}

// cliHolder names this command in leases.
func cliHolder() string {
	host, _ := os.Hostname()
	return "cli " + host + "/" + strconv.Itoa(os.Getpid())
}

func jobNames(cfg *config.Config) []string {
	var out []string
	for n := range cfg.Reconcile {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func reconBar(w io.Writer, job string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(-1, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("reconcile "+job),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
		progressbar.OptionThrottle(200*time.Millisecond),
		// No spinner ticker: its goroutine reads the bar's state unlocked
		// (progressbar v3.19.1), racing with Describe.
		progressbar.OptionSetSpinnerChangeInterval(0))
}

// printSummary prints a run's summary: what a finance user signs off.
func printSummary(w io.Writer, run int64, status string, s pipeline.ReconSummary) {
	t := s.Totals
	fmt.Fprintf(w, "run %d of %s (%s: %s vs %s): %s in %.1fs\n", run, s.Job, s.Entity, s.Left, s.Right, status, s.Seconds)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  side\trecords\tamounts\n")
	fmt.Fprintf(tw, "  %s (left)\t%d\t%s\n", s.Left, t.Left.Count, amountText(t.Left.Amounts))
	fmt.Fprintf(tw, "  %s (right)\t%d\t%s\n", s.Right, t.Right.Count, amountText(t.Right.Amounts))
	_ = tw.Flush()
	fmt.Fprintf(w, "  matched: %d\n", t.Matched)
	switch {
	case s.Checksum != nil:
		fmt.Fprintf(w, "  method: checksum (%d candidate records read and compared; the rest agreed in the databases)\n", s.Checksum.Candidates)
	case s.Fallback != "":
		fmt.Fprintf(w, "  method: stream (checksum not possible: %s)\n", s.Fallback)
	}
	for _, c := range reconcile.Classes {
		fmt.Fprintf(w, "  %-15s %d\n", string(c)+":", t.Classes[c])
	}
	if s.Repairs > 0 || s.Unrepaired > 0 {
		state := "published"
		if s.Repaired {
			state = "written"
		}
		fmt.Fprintf(w, "  repairs: %d %s", s.Repairs, state)
		if s.Unrepaired > 0 {
			fmt.Fprintf(w, ", %d not possible", s.Unrepaired)
		}
		fmt.Fprintln(w)
	}
	if s.BadLeft+s.BadRight > 0 {
		fmt.Fprintf(w, "  skipped (mapping failed): left %d, right %d\n", s.BadLeft, s.BadRight)
	}
	if s.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", s.Error)
	}
}

func amountText(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	var cs []string
	for c := range m {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = strings.TrimSpace(m[c] + " " + c)
	}
	return strings.Join(parts, ", ")
}

func newReconcileListCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the reconciliation jobs with their next run and last result",
		Example: "  hub reconcile list -c configs/demo.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return exitErr(2, err)
			}
			ctx := cmd.Context()
			st, err := store.Open(ctx, cfg.State.DSN.Reveal())
			if err != nil {
				return exitErr(2, fmt.Errorf("open state store (state.dsn): %w", err))
			}
			defer st.Close()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tENTITY\tSIDES\tSCHEDULE\tNEXT RUN\tLAST RUN\tRESULT")
			for _, name := range jobNames(cfg) {
				rc := cfg.Reconcile[name]
				next := "on demand"
				if sched, err := rc.Cron(); err == nil && sched != nil {
					next = sched.Next(time.Now()).Format(time.RFC3339)
				}
				last, result := "never", "-"
				if r, err := st.LastReconRun(ctx, name); err == nil {
					last, result = fmt.Sprintf("%d at %s", r.ID, r.StartedAt.Format(time.RFC3339)), runResult(r)
				} else if !errors.Is(err, store.ErrNotFound) {
					return exitErr(2, err)
				}
				sched := rc.Schedule
				if sched == "" {
					sched = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s vs %s\t%s\t%s\t%s\t%s\n", name, rc.Entity, rc.Left, rc.Right, sched, next, last, result)
			}
			return tw.Flush()
		},
	}
	configFlag(cmd, &cfgPath)
	return cmd
}

// runResult is a run's status with its difference count.
func runResult(r store.ReconRun) string {
	var s pipeline.ReconSummary
	if err := json.Unmarshal(r.Summary, &s); err != nil || r.Status == store.ReconRunning {
		return r.Status
	}
	if n := s.Totals.Differences(); n > 0 {
		return fmt.Sprintf("%s (%d)", r.Status, n)
	}
	return r.Status
}

func newReconcileShowCmd() *cobra.Command {
	var (
		cfgPath, class string
		limit, offset  int
	)
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a reconciliation run's summary and differences",
		Long: `Print a run's control totals and its differences: class, key, hub id,
the native ids on each side, the age (how many consecutive runs have
reported it), the fields that differ with both values, and the repair made.`,
		Example: `  hub reconcile show 12 -c configs/demo.yaml
  hub reconcile show 12 --class missing_right --limit 500 -c hub.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return exitErr(2, fmt.Errorf("RUN %q: want a run id (hub reconcile list shows the last of each job)", args[0]))
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return exitErr(2, err)
			}
			ctx := cmd.Context()
			st, err := store.Open(ctx, cfg.State.DSN.Reveal())
			if err != nil {
				return exitErr(2, fmt.Errorf("open state store (state.dsn): %w", err))
			}
			defer st.Close()
			run, err := st.GetReconRun(ctx, id)
			if err != nil {
				return exitErr(2, err)
			}
			var sum pipeline.ReconSummary
			_ = json.Unmarshal(run.Summary, &sum)
			printSummary(cmd.OutOrStdout(), run.ID, run.Status, sum)
			diffs, total, err := st.ListReconDiffs(ctx, id, store.ReconDiffFilter{Class: class, Limit: limit, Offset: offset})
			if err != nil {
				return exitErr(2, err)
			}
			printDiffs(cmd.OutOrStdout(), diffs)
			if shown := offset + len(diffs); shown < total {
				fmt.Fprintf(cmd.OutOrStdout(), "(%d of %d shown: --offset %d for more)\n", len(diffs), total, shown)
			}
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&class, "class", "", "only this class: "+classList())
	cmd.Flags().IntVar(&limit, "limit", 100, "the most differences shown")
	cmd.Flags().IntVar(&offset, "offset", 0, "differences skipped first")
	return cmd
}

func classList() string {
	cs := make([]string, len(reconcile.Classes))
	for i, c := range reconcile.Classes {
		cs[i] = string(c)
	}
	return strings.Join(cs, ", ")
}

func printDiffs(w io.Writer, diffs []store.ReconDiff) {
	if len(diffs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tKEY\tHUB ID\tLEFT ID\tRIGHT ID\tAGE\tDETAIL\tREPAIR")
	for _, d := range diffs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.Class, d.Key, dash(d.HubID), dash(d.LeftID), dash(d.RightID),
			d.Age, diffDetail(d), dash(d.Repair))
	}
	_ = tw.Flush()
}

// diffDetail is a difference's fields (left -> right) or duplicate ids.
func diffDetail(d store.ReconDiff) string {
	var det struct {
		Fields []struct {
			Field       string
			Left, Right json.RawMessage
		}
		IDs []string
	}
	_ = json.Unmarshal(d.Detail, &det)
	var parts []string
	for _, f := range det.Fields {
		parts = append(parts, fmt.Sprintf("%s: %s vs %s", f.Field, f.Left, f.Right))
	}
	if len(det.IDs) > 0 {
		parts = append(parts, d.Side+" ids "+strings.Join(det.IDs, ","))
	}
	if len(parts) == 0 && d.Side != "" {
		parts = append(parts, "only "+d.Side)
	}
	return dash(strings.Join(parts, "; "))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
