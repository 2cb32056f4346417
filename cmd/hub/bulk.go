package main

import (
	"fmt"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/crmhub/hub/pipeline/node"
	"github.com/crmhub/hub/store"
)

// bulkFlags select dead letters for a bulk replay or discard.
type bulkFlags struct {
	connector, entity, stage, errText string
	olderThan                         time.Duration
	all, dryRun                       bool
}

func (b *bulkFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&b.connector, "connector", "", "the source or sink the dead letters are filed under")
	cmd.Flags().StringVar(&b.entity, "entity", "", "customer, order, invoice or interaction")
	cmd.Flags().StringVar(&b.stage, "stage", "", "map_in, match, prepare, publish, decode, xref, map_out or write")
	cmd.Flags().StringVar(&b.errText, "error", "", "dead letters whose error holds this text (any case)")
	cmd.Flags().DurationVar(&b.olderThan, "older-than", 0, "dead letters first seen longer ago than this (e.g. 24h)")
	cmd.Flags().BoolVar(&b.all, "all", false, "every open dead letter")
	cmd.Flags().BoolVar(&b.dryRun, "dry-run", false, "count what the filter selects and change nothing")
}

// set reports whether any filter flag was given.
func (b bulkFlags) set() bool {
	return b.connector != "" || b.entity != "" || b.stage != "" || b.errText != "" || b.olderThan > 0 || b.all || b.dryRun
}

func (b bulkFlags) filter() store.DeadLetterFilter {
	f := store.DeadLetterFilter{Connector: b.connector, Entity: b.entity, Stage: b.stage, ErrorContains: b.errText}
	if b.olderThan > 0 {
		f.Before = time.Now().Add(-b.olderThan)
	}
	return f
}

// bulk replays or discards what the flags select, with a progress bar.
func bulk(cmd *cobra.Command, open func(*cobra.Command, bool) (*node.Tools, error), b bulkFlags, discard bool, actor, reason string) error {
	selects := b.all || b.connector != "" || b.entity != "" || b.stage != "" || b.errText != "" || b.olderThan > 0
	if !selects {
		return exitErr(2, fmt.Errorf("give dead-letter ids, a filter (--connector, --entity, --stage, --error, --older-than) or --all"))
	}
	verb := "replay"
	if discard {
		verb = "discard"
	}
	t, err := open(cmd, !discard && !b.dryRun)
	if err != nil {
		return err
	}
	defer t.Close()
	var bar *progressbar.ProgressBar
	progress := func(done, total int) {
		if bar == nil {
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
				progressbar.OptionSetDescription(verb), progressbar.OptionShowCount(),
				progressbar.OptionSetVisibility(isTerminal(cmd)), progressbar.OptionClearOnFinish())
		}
		_ = bar.Set(done)
	}
	res, err := t.Replayer.Bulk(cmd.Context(), b.filter(), discard, b.dryRun, actor, reason, progress)
	if err != nil {
		return exitErr(1, err)
	}
	out := cmd.OutOrStdout()
	if res.DryRun {
		fmt.Fprintf(out, "%d open dead letter(s) match; nothing changed (--dry-run)\n", res.Matched)
		return nil
	}
	did := "replayed"
	if discard {
		did = "discarded"
	}
	fmt.Fprintf(out, "%d matched: %d %s, %d superseded (closed: their records are newer now), %d failed\n",
		res.Matched, res.Done, did, res.Superseded, res.Failed)
	for _, e := range res.Errors {
		fmt.Fprintln(cmd.ErrOrStderr(), e)
	}
	if res.Failed > 0 {
		return exitErr(1, fmt.Errorf("%d of %d %ss failed", res.Failed, res.Matched, verb))
	}
	return nil
}

func isTerminal(cmd *cobra.Command) bool {
	f, ok := cmd.ErrOrStderr().(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
