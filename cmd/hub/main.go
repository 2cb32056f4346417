// Command hub is the integration hub's one binary: it runs the pipeline,
// validates configs, tests mappings, runs the embedded Kafka broker and
// operates the dead-letter store.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		// cobra has already printed usage errors; print ours plainly.
		fmt.Fprintln(os.Stderr, "hub:", err)
		os.Exit(exitCode(err))
	}
}

// newRootCmd builds the command tree. Each subcommand lives in its own file
// and is added here, so `hub --help` lists them in one place.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "hub",
		Short: "Integration hub for CRM systems",
		Long: `hub keeps customers, orders, invoices and call interactions in step between a
CRM database, ERPs, e-commerce shops and call-center systems. Every change
travels through Kafka; field mappings translate each system to one canonical
model; dead letters keep what failed until an operator replays it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newRunCmd(),
		newValidateCmd(),
		newBrokerCmd(),
		newVersionCmd(),
		newMapCmd(),
		newDLQCmd(),
		newSQLCmd(),
		newBenchCmd(),
		newTraceCmd(),
		newConnectorsCmd(),
		newStatusCmd(),
		newReloadCmd(),
		newPauseCmd(true),
		newPauseCmd(false),
		newCursorCmd(),
		newAuditCmd(),
		newBackfillCmd(),
		newReconcileCmd(),
		newUsersCmd(),
	)
	return root
}
