package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/node"
)

// openOps loads the config and opens the operations on its runners.
func openOps(cmd *cobra.Command, cfgPath string) (*node.Ops, func() error, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, nil, exitErr(2, err)
	}
	reg, err := kinds()
	if err != nil {
		return nil, nil, err
	}
	return node.OpenOps(cmd.Context(), cfg, reg, newLogger(cmd.ErrOrStderr(), "warn", cfg.Log.Format))
}

// newPauseCmd is "hub pause" (paused true) or "hub resume".
func newPauseCmd(paused bool) *cobra.Command {
	var cfgPath, entity, reason, actor string
	verb, did := "resume", "resumed"
	short := "Resume a paused source or sink, on every node"
	if paused {
		verb, did = "pause", "paused"
		short = "Pause a source or sink on every node (it finishes its batch, then waits)"
	}
	cmd := &cobra.Command{
		Use:   verb + " source|sink NAME",
		Short: short,
		Long: short + `. The pause is kept in the state store, so every hub node
sharing it obeys within half a second, and it survives restarts: a paused
source stops reading (its cursor stays where it is), a paused sink stops
consuming after the batch in progress (records wait in Kafka), a paused
push source answers its senders 503 so that they deliver again later.
Audited. The same is POST /api/v1/sources/{name}/` + verb + ` and
/api/v1/sinks/{name}/` + verb + `.`,
		Example: "  hub " + verb + " source crm-orders -c hub.yaml\n  hub " + verb + " sink erp --entity order -c hub.yaml",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name := args[0], args[1]
			if kind != "source" && kind != "sink" {
				return exitErr(2, fmt.Errorf("the first argument is source or sink, not %q", kind))
			}
			if entity != "" && kind != "sink" {
				return exitErr(2, fmt.Errorf("--entity is for sinks"))
			}
			ops, closeOps, err := openOps(cmd, cfgPath)
			if err != nil {
				return err
			}
			defer closeOps()
			runner := kind + " " + name
			if entity != "" {
				runner += "/" + entity
			}
			done, err := ops.Pause(cmd.Context(), runner, paused, actor, reason)
			if err != nil {
				return exitErr(1, err)
			}
			for _, r := range done {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", r, did)
			}
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&entity, "entity", "", "one entity of a sink (default: all of them)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit log and `hub status`")
	cmd.Flags().StringVar(&actor, "actor", defaultActor(), "who, for the audit log")
	return cmd
}

func newCursorCmd() *cobra.Command {
	var cfgPath, since, actor string
	var beginning bool
	cmd := &cobra.Command{
		Use:   "cursor",
		Short: "Show or set a pull source's position, in words",
	}
	show := &cobra.Command{
		Use:     "show SOURCE",
		Short:   "Show where a source will read next",
		Example: "  hub cursor show crm-orders -c hub.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ops, closeOps, err := openOps(cmd, cfgPath)
			if err != nil {
				return err
			}
			defer closeOps()
			c, err := ops.CursorOf(cmd.Context(), args[0])
			if err != nil {
				return exitErr(1, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "source %s (%s): %s\n", c.Source, c.Entity, c.Words)
			return nil
		},
	}
	set := &cobra.Command{
		Use:   "set SOURCE --since TIME | --beginning",
		Short: "Move a source's position: read again from a time, or from the beginning",
		Long: `Move a source's position, so that it reads again every change at or after
TIME (RFC 3339, or a date), or everything (--beginning). Records read again
are harmless: the hub drops what it already published, and writes are
idempotent. The source must not be reading: pause it first
(hub pause source NAME), set the cursor, resume it. Audited.`,
		Example: "  hub pause source crm-orders -c hub.yaml\n  hub cursor set crm-orders --since 2026-11-01T00:00:00Z -c hub.yaml\n  hub resume source crm-orders -c hub.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (since == "") == !beginning {
				return exitErr(2, fmt.Errorf("give either --since TIME or --beginning"))
			}
			var at *time.Time
			if since != "" {
				t, err := parseSince(since)
				if err != nil {
					return exitErr(2, err)
				}
				at = &t
			}
			ops, closeOps, err := openOps(cmd, cfgPath)
			if err != nil {
				return err
			}
			defer closeOps()
			c, err := ops.SetCursor(cmd.Context(), args[0], at, actor)
			if err != nil {
				return exitErr(1, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "source %s (%s) now: %s\n", c.Source, c.Entity, c.Words)
			return nil
		},
	}
	set.Flags().StringVar(&since, "since", "", "read every change at or after this time (RFC 3339 or YYYY-MM-DD, UTC)")
	set.Flags().BoolVar(&beginning, "beginning", false, "read everything again")
	set.Flags().StringVar(&actor, "actor", defaultActor(), "who, for the audit log")
	cmd.PersistentFlags().StringVarP(&cfgPath, "config", "c", "", "config file (YAML)")
	cmd.AddCommand(show, set)
	return cmd
}

func newStatusCmd() *cobra.Command {
	var cfgPath, token string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running hub's connectors, sources and sinks: state, records, lag",
		Long: `Ask a running hub (at the config's http.addr) for its status: each
connector (up, or why not), each source and sink (running, paused,
circuit_open, standby, starting, and why; records, lag in records and
seconds, last success) and which node holds which source's lease. The
token (a viewer's) comes from --token or HUB_API_TOKEN.`,
		Example: "  HUB_API_TOKEN=demo-operator-token hub status -c configs/demo.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigWith(cfgPath, stateOnly())
			if err != nil {
				return exitErr(2, err)
			}
			if token == "" {
				token = os.Getenv("HUB_API_TOKEN")
			}
			st, err := fetchStatus(cmd, cfg.HTTP.Addr, token)
			if err != nil {
				return exitErr(1, err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&token, "token", "", "API token (default: HUB_API_TOKEN)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func fetchStatus(cmd *cobra.Command, addr, token string) (pipeline.NodeStatus, error) {
	var st pipeline.NodeStatus
	err := callHub(cmd, addr, token, http.MethodGet, "/api/v1/status", &st)
	return st, err
}

// callHub calls a running hub's API and decodes its JSON answer into out.
func callHub(cmd *cobra.Command, addr, token, method, path string, out any) error {
	req, err := http.NewRequestWithContext(cmd.Context(), method, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("ask the hub at %s (is it running?): %w", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("the hub at %s answered %s:\n%s", addr, resp.Status, indent(e.Error))
		}
		return fmt.Errorf("the hub at %s answered %s: %s", addr, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("the hub's answer to %s %s: %w", method, path, err)
	}
	return nil
}

func newReloadCmd() *cobra.Command {
	var cfgPath, token string
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Make a running hub read its config again and apply what can change",
		Long: `Ask a running hub (at the config's http.addr) to read its config file
again, as SIGHUP does. It applies, without stopping anything: the log
level; a source's mapping (its file or the file's content), interval and
batch size; a sink entity's mapping and deletes; a sink's batch size and
retry settings. Everything else (connectors, Kafka, the state store, the
HTTP server, adding or removing sources and sinks, ownership policies) is
refused with the reason, and needs a restart; a source or sink with a
refused change keeps all its old settings. A config with problems is
refused whole. Audited. Exits 1 when anything was refused.

The token (an admin's) comes from --token or HUB_API_TOKEN. The same is
POST /api/v1/reload.`,
		Example: `  HUB_API_TOKEN=demo-admin-token hub reload -c configs/demo.yaml
  kill -HUP $(pgrep -f 'hub run')`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigWith(cfgPath, stateOnly())
			if err != nil {
				return exitErr(2, err)
			}
			if token == "" {
				token = os.Getenv("HUB_API_TOKEN")
			}
			var res pipeline.ReloadResult
			if err := callHub(cmd, cfg.HTTP.Addr, token, http.MethodPost, "/api/v1/reload", &res); err != nil {
				return exitErr(1, err)
			}
			w := cmd.OutOrStdout()
			if len(res.Applied)+len(res.Refused) == 0 {
				fmt.Fprintln(w, "no change: the running hub already has this config")
			}
			for _, a := range res.Applied {
				fmt.Fprintln(w, "applied  "+a)
			}
			for _, r := range res.Refused {
				fmt.Fprintln(w, "refused  "+r)
			}
			if len(res.Refused) > 0 {
				return exitErr(1, fmt.Errorf("%d change(s) refused; they need a restart", len(res.Refused)))
			}
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&token, "token", "", "API token, an admin's (default: HUB_API_TOKEN)")
	return cmd
}

func printStatus(w io.Writer, st pipeline.NodeStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "node %s\n\nCONNECTOR\tUP\tWHY NOT\n", st.Node)
	for _, c := range st.Connectors {
		fmt.Fprintf(tw, "%s\t%v\t%s\n", c.Name, c.Up, c.Reason)
	}
	fmt.Fprintf(tw, "\nRUNNER\tSTATE\tRECORDS\tLAG\tLAST SUCCESS\tWHY\n")
	for _, r := range st.Runners {
		lag := "-"
		if r.LagRecords != nil {
			lag = fmt.Sprintf("%d", *r.LagRecords)
			if r.LagSeconds != nil && *r.LagSeconds > 0 {
				lag += fmt.Sprintf(" (%.0fs)", *r.LagSeconds)
			}
		}
		last := "never"
		if r.LastSuccess != nil {
			last = time.Since(*r.LastSuccess).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.Runner, r.State, r.Records, lag, last, r.Reason)
	}
	if len(st.Leases) > 0 {
		fmt.Fprintf(tw, "\nLEASE\tHOLDER\tEXPIRES\n")
		for _, l := range st.Leases {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Name, l.Holder, l.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	tw.Flush()
}

func newAuditCmd() *cobra.Command {
	var cfgPath string
	var limit int
	cmd := &cobra.Command{
		Use:     "audit",
		Short:   "Show the audit log: who replayed, discarded, paused, moved a cursor, and when",
		Example: "  hub audit -c hub.yaml --limit 20",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigWith(cfgPath, stateOnly())
			if err != nil {
				return exitErr(2, err)
			}
			reg, err := kinds()
			if err != nil {
				return err
			}
			t, err := node.OpenTools(cmd.Context(), cfg, reg, newLogger(cmd.ErrOrStderr(), "warn", cfg.Log.Format), false)
			if err != nil {
				return exitErr(1, err)
			}
			defer t.Close()
			entries, err := t.Store.ListAudit(cmd.Context(), limit)
			if err != nil {
				return exitErr(1, err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tACTOR\tACTION\tSUBJECT\tDETAIL")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Subject, e.Detail)
			}
			return tw.Flush()
		},
	}
	configFlag(cmd, &cfgPath)
	cmd.Flags().IntVar(&limit, "limit", 50, "newest entries to show")
	return cmd
}
