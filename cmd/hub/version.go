package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the hub's version",
		Args:  cobra.NoArgs,
		Long: `Print the hub's module version, the commit it was built from (when the
build recorded it: 'make build' does, 'go run' does not) and the Go
version and platform.`,
		Run: func(cmd *cobra.Command, _ []string) {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "hub %s (%s, %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if info, ok := debug.ReadBuildInfo(); ok {
				if b := vcsOf(info); b.revision != "" {
					state := ""
					if b.modified {
						state = ", with uncommitted changes"
					}
					fmt.Fprintf(w, "commit %s of %s%s\n", b.revision, b.time, state)
				}
			}
		},
	}
}
