package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/canonical"
	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/api"
	"github.com/crmhub/hub/pipeline/node"
)

func newTraceCmd() *cobra.Command {
	var cfgPath, entity string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "trace ID",
		Short: "Show where a record went: its ids, versions, writes, suppressions and failures",
		Long: `Trace a record by any of its ids: the hub id, or its id in any system (CRM,
ERP, shop...). It prints the record's id in every system, then its journey
from the journal: each version a source read and published, each write to a
target with the target's id, what was suppressed and why, conflicts, failures
and dead letters. The journal keeps trace.retention (default 7 days). The same
answer is on the HTTP API at GET /api/v1/trace/{id}. It exits 1 when nothing
is known about the id.`,
		Example: `  hub trace 4711 -c hub.yaml
  hub trace 0191f3a2-... -c hub.yaml --json
  hub trace SO-1001 -c hub.yaml --entity order`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfigWith(cfgPath, config.LoadOptions{StateOnly: true})
			if err != nil {
				return exitErr(2, err)
			}
			reg, err := kinds()
			if err != nil {
				return err
			}
			t, err := node.OpenTools(cmd.Context(), cfg, reg, newLogger(cmd.ErrOrStderr(), "warn", cfg.Log.Format), false)
			if err != nil {
				return err
			}
			defer t.Close()
			recs, err := t.Store.Trace(cmd.Context(), args[0], entity)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(api.TraceToJSON(args[0], recs)); err != nil {
					return err
				}
			} else if err := pipeline.FormatTrace(cmd.OutOrStdout(), args[0], recs); err != nil {
				return err
			}
			if len(recs) == 0 {
				return exitErr(1, errNothingKnown)
			}
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&entity, "entity", "", "only records of this entity ("+canonical.List()+")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, as the API answers")
	return cmd
}

type traceErr string

func (e traceErr) Error() string { return string(e) }

const errNothingKnown = traceErr("trace: nothing known about that id")
