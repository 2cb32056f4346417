package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/pipeline/api"
	"github.com/crmhub/hub/pipeline/node"
	"github.com/crmhub/hub/store"
)

// newDLQCmd is hub dlq: the dead-letter store, one subcommand per operation.
func newDLQCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, show, replay, discard and link dead letters",
		Long: `Operate the dead-letter store: the records a source or sink could not
process, with the reason, the attempts and the payload. Replay re-injects a
record after its cause is fixed (a record the inbound mapping rejected is
mapped again with the mapping as it is now; a record a sink failed goes back
to that sink alone). Replays need Kafka: the running hub's embedded broker or
the configured brokers. The same operations are on the HTTP API under
/api/v1/dlq.`,
	}
	cmd.PersistentFlags().StringVarP(&cfgPath, "config", "c", "", "config file (YAML)")

	open := func(cmd *cobra.Command, withBus bool) (*node.Tools, error) {
		// Without the bus only the state store is used: the connectors'
		// secrets need not be in this shell's environment.
		cfg, err := loadConfigWith(cfgPath, config.LoadOptions{StateOnly: !withBus})
		if err != nil {
			return nil, exitErr(2, err)
		}
		reg, err := kinds()
		if err != nil {
			return nil, err
		}
		log := newLogger(cmd.ErrOrStderr(), "warn", cfg.Log.Format)
		return node.OpenTools(cmd.Context(), cfg, reg, log, withBus)
	}

	cmd.AddCommand(newDLQListCmd(open), newDLQShowCmd(open), newDLQReplayCmd(open), newDLQDiscardCmd(open), newDLQLinkCmd(open))
	return cmd
}

// dlqOpen opens the config's state store (and with withBus the Kafka bus
// too) for one dlq subcommand.
type dlqOpen = func(cmd *cobra.Command, withBus bool) (*node.Tools, error)

// newDLQListCmd is hub dlq list.
func newDLQListCmd(open dlqOpen) *cobra.Command {
	var f store.DeadLetterFilter
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead letters (open ones unless --status says otherwise)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := open(cmd, false)
			if err != nil {
				return err
			}
			defer t.Close()
			if f.Status == "all" {
				f.Status = ""
			}
			items, err := t.Store.ListDeadLetters(cmd.Context(), f)
			if err != nil {
				return err
			}
			total, err := t.Store.CountDeadLetters(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]api.DeadLetterJSON, len(items))
				for i, d := range items {
					out[i] = api.ToJSON(d)
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"total": total, "items": out})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCONNECTOR\tENTITY\tKEY\tSTAGE\tKIND\tATTEMPTS\tLAST SEEN\tERROR")
			for _, d := range items {
				key := d.RecordKey
				if key == "" {
					key = d.HubID
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Connector, d.Entity, key, d.Stage,
					d.Kind, d.Attempts, d.LastSeen.Local().Format(time.DateTime), oneLine(d.Error, 100))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d of %d shown\n", len(items), total)
			return nil
		},
	}
	list.Flags().StringVar(&f.Status, "status", store.StatusOpen, "open, replayed, discarded or all")
	list.Flags().StringVar(&f.Connector, "connector", "", "only this source or sink")
	list.Flags().StringVar(&f.Entity, "entity", "", "only this entity")
	list.Flags().IntVar(&f.Limit, "limit", 100, "at most this many")
	list.Flags().IntVar(&f.Offset, "offset", 0, "skip this many")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	return list
}

// newDLQShowCmd is hub dlq show.
func newDLQShowCmd(open dlqOpen) *cobra.Command {
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead letter with its payload",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			t, err := open(cmd, false)
			if err != nil {
				return err
			}
			defer t.Close()
			d, err := t.Store.GetDeadLetter(cmd.Context(), id)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), api.ToJSON(d))
		},
	}
	return show
}

// newDLQReplayCmd is hub dlq replay.
func newDLQReplayCmd(open dlqOpen) *cobra.Command {
	var actor string
	var bf bulkFlags
	replay := &cobra.Command{
		Use:   "replay ID [ID...] | --all | FILTER",
		Short: "Re-inject dead letters after their cause is fixed",
		Long: `Re-inject dead letters after their cause is fixed: the ones named by id, or
every open one a filter selects (--connector, --entity, --stage, --error,
--older-than; --all for every open one). --dry-run counts what a filter
selects and changes nothing. A record that fails again becomes a new dead
letter with the new reason, and the command exits 1; a dead letter whose
record has since been delivered in a newer version or deleted is closed as
superseded instead of replayed.`,
		Example: `  hub dlq replay 12 13 -c hub.yaml
  hub dlq replay --connector crm-orders --error "is not a decimal" --dry-run -c hub.yaml
  hub dlq replay --connector crm-orders --error "is not a decimal" -c hub.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return bulk(cmd, open, bf, false, actor, "")
			}
			if bf.set() {
				return exitErr(2, fmt.Errorf("give dead-letter ids or a filter, not both"))
			}
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			t, err := open(cmd, true)
			if err != nil {
				return err
			}
			defer t.Close()
			failed := 0
			for _, id := range ids {
				what, err := t.Replayer.Replay(cmd.Context(), id, actor)
				if err != nil {
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "%d: %v\n", id, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d: %s\n", id, what)
			}
			if failed > 0 {
				return exitErr(1, fmt.Errorf("%d of %d replays failed", failed, len(ids)))
			}
			return nil
		},
	}
	replay.Flags().StringVar(&actor, "actor", defaultActor(), "who does this, for the audit log")
	bf.add(replay)
	return replay
}

// newDLQDiscardCmd is hub dlq discard.
func newDLQDiscardCmd(open dlqOpen) *cobra.Command {
	var actor, reason string
	var bf bulkFlags
	discard := &cobra.Command{
		Use:   "discard ID [ID...] | --all | FILTER",
		Short: "Mark dead letters as not to be delivered",
		Long: `Mark dead letters as not to be delivered: the ones named by id, or every
open one a filter selects (as for replay; --dry-run counts first). Audited
with --reason.`,
		Example: `  hub dlq discard 12 --reason "test order" -c hub.yaml
  hub dlq discard --entity order --older-than 720h --dry-run -c hub.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return bulk(cmd, open, bf, true, actor, reason)
			}
			if bf.set() {
				return exitErr(2, fmt.Errorf("give dead-letter ids or a filter, not both"))
			}
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			t, err := open(cmd, false)
			if err != nil {
				return err
			}
			defer t.Close()
			for _, id := range ids {
				if err := t.Replayer.Discard(cmd.Context(), id, actor, reason); err != nil {
					return fmt.Errorf("discard %d: %w", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d: discarded\n", id)
			}
			return nil
		},
	}
	discard.Flags().StringVar(&actor, "actor", defaultActor(), "who does this, for the audit log")
	bf.add(discard)
	discard.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	return discard
}

// newDLQLinkCmd is hub dlq link.
func newDLQLinkCmd(open dlqOpen) *cobra.Command {
	var actor string
	var linkTo string
	var linkNew bool
	link := &cobra.Command{
		Use:   "link ID (--to HUB_ID | --new)",
		Short: "Resolve an ambiguous match: link the parked record to a hub record",
		Long: `A record seen for the first time that matched several hub records is parked
as a review dead letter (stage match). Link it to the hub record it is
(--to, a hub id from the dead letter's reason or hub trace), or to a new hub
record (--new) when it is somebody else; its source then maps and publishes
it like any known record.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return exitErr(2, err)
			}
			if (linkTo == "") == !linkNew {
				return exitErr(2, fmt.Errorf("give either --to HUB_ID or --new"))
			}
			t, err := open(cmd, true)
			if err != nil {
				return err
			}
			defer t.Close()
			what, err := t.Replayer.Link(cmd.Context(), id, linkTo, actor)
			if err != nil {
				return exitErr(1, fmt.Errorf("link %d: %w", id, err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d: %s\n", id, what)
			return nil
		},
	}
	link.Flags().StringVar(&linkTo, "to", "", "the hub id of the record it is")
	link.Flags().BoolVar(&linkNew, "new", false, "it is nobody the hub knows: give it a new hub record")
	link.Flags().StringVar(&actor, "actor", defaultActor(), "who does this, for the audit log")
	return link
}

func defaultActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%q is not a dead-letter id (a positive number from hub dlq list)", s)
	}
	return id, nil
}

func parseIDs(args []string) ([]int64, error) {
	ids := make([]int64, len(args))
	for i, a := range args {
		id, err := parseID(a)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max-1] + "…"
	}
	return s
}
