package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/sqlstore"
)

// newSQLCmd is "hub sql": operations on sqlstore connectors.
func newSQLCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sql",
		Short: "Operate the SQL store connectors (change-capture triggers)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSQLInstallCaptureCmd())
	return cmd
}

func newSQLInstallCaptureCmd() *cobra.Command {
	var cfgPath, name string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "install-capture",
		Short: "Create the outbox table and the capture triggers of a sqlstore connector",
		Long: `Connect to the database of a sqlstore connector from the config and create,
idempotently, the outbox table (outbox_table, default hub_outbox) and, on the
table of every entity with "capture: outbox" and on its lines table, the
triggers that record each insert, update and delete there (a line change
records its parent). PostgreSQL gets plpgsql trigger functions, MariaDB/MySQL
and SQLite row triggers. Running it again replaces the triggers.

The database user needs the right to create tables and triggers; on MySQL
with binary logging it may also need log_bin_trust_function_creators.`,
		Example: `  hub sql install-capture -c hub.yaml --connector crm`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return exitErr(1, err)
			}
			var names []string
			for n, cc := range cfg.Connectors {
				if cc.Kind == sqlstore.Kind {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			if name == "" {
				if len(names) != 1 {
					return exitErr(2, fmt.Errorf("--connector is required: the config has %d sqlstore connectors (%s)", len(names), strings.Join(names, ", ")))
				}
				name = names[0]
			}
			cc, ok := cfg.Connectors[name]
			if !ok || cc.Kind != sqlstore.Kind {
				return exitErr(2, fmt.Errorf("no sqlstore connector named %q in %s (sqlstore connectors: %s)", name, cfgPath, strings.Join(names, ", ")))
			}
			reg, err := kinds()
			if err != nil {
				return err
			}
			// Built as hub run builds it: settings resolved against the
			// config file's folder (init_sql), defaults applied.
			conn, err := reg.New(sqlstore.Kind, connectors.Params{Name: name, Dir: cfg.Dir(),
				Decode: func(into any) error { return cfg.DecodeConnector(name, into) }})
			if err != nil {
				return exitErr(1, err)
			}
			c, ok := conn.(*sqlstore.Conn)
			if !ok {
				return fmt.Errorf("connector %s: not a sqlstore connection (%T)", name, conn)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := c.InstallCapture(ctx); err != nil {
				return err
			}
			var ents []string
			for _, e := range c.Entities() {
				if c.Config().Entities[e].Capture == sqlstore.CaptureOutbox {
					ents = append(ents, e)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "capture installed for connector %s: outbox %s, entities %s\n", name, c.Config().OutboxTable, strings.Join(ents, ", "))
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&name, "connector", "", "the sqlstore connector (default: the only one in the config)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long (DDL waits for locks on busy tables)")
	return cmd
}
