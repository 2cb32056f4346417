package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/connectors"
)

//go:generate go run . connectors doc --write ../../docs/connectors

// newConnectorsCmd is `hub connectors`: what connector kinds this binary
// ships and the settings each takes.
func newConnectorsCmd() *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List the connector kinds with their capabilities and what they connect",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return listKinds(cmd.OutOrStdout()) },
	}
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "List the connector kinds and print their settings reference",
		Long: `A connector kind (sqlstore, tryton, odoo, rest) declares the settings a
connector of that kind takes: keys, types, defaults, allowed values and what
each does. "hub validate" checks a config against these declarations; the
same declarations make the settings reference printed here and kept in
docs/connectors/<kind>.md.

Without a subcommand, lists the kinds (as "hub connectors list").`,
		Example: `  hub connectors
  hub connectors doc sqlstore
  hub connectors doc --write docs/connectors   # what go generate ./cmd/hub runs`,
		Args: cobra.NoArgs,
		RunE: list.RunE,
	}
	cmd.AddCommand(list, newConnectorsDocCmd())
	return cmd
}

func newConnectorsDocCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "doc KIND",
		Short: "Print a kind's settings reference (markdown), or rewrite it in the connector pages",
		Long: `Print the settings reference of connector kind KIND as a markdown table:
every key (nested ones dotted, as entities.<entity>.table), its type, default,
whether it is required, its allowed values and what it does.

With --write DIR, rewrite instead the generated section of DIR/<kind>.md for
every kind (or for KIND): the text between the settings:begin and
settings:end comments. The prose around it is left alone; a missing page is
created with the markers.`,
		Example: `  hub connectors doc rest
  hub connectors doc --write docs/connectors
  go generate ./cmd/hub                        # the same, from the repository's root`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := kinds()
			if err != nil {
				return err
			}
			if dir != "" {
				return writePages(cmd.OutOrStdout(), reg, dir, args)
			}
			if len(args) == 0 {
				return exitErr(2, errors.New("give a kind (hub connectors doc sqlstore) or --write DIR"))
			}
			k, err := lookupKind(reg, args[0])
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), settingsReference(k))
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "write", "", "instead of printing, rewrite the generated settings section of `DIR`/<kind>.md")
	return cmd
}

// listKinds prints one line per kind: name, capabilities, summary.
func listKinds(w io.Writer) error {
	reg, err := kinds()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tCAPABILITIES\tCONNECTS")
	for _, name := range reg.Kinds() {
		k, _ := reg.Kind(name)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, strings.Join(k.Capabilities, ", "), k.Summary)
	}
	return tw.Flush()
}

func lookupKind(reg *connectors.Registry, name string) (connectors.Kind, error) {
	k, ok := reg.Kind(name)
	if !ok {
		return k, exitErr(2, fmt.Errorf("unknown connector kind %q (known: %s)", name, strings.Join(reg.Kinds(), ", ")))
	}
	return k, nil
}

// writePages rewrites the settings section of DIR/<kind>.md for the named
// kinds (every kind when none is named), writing only pages that change.
func writePages(w io.Writer, reg *connectors.Registry, dir string, names []string) error {
	if len(names) == 0 {
		names = reg.Kinds()
	}
	for _, name := range names {
		k, err := lookupKind(reg, name)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, name+".md")
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read connector page: %w", err)
		}
		page, err := pageFor(k, old, err == nil)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if page == string(old) {
			continue
		}
		if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
			return fmt.Errorf("write connector page: %w", err)
		}
		fmt.Fprintln(w, "wrote", path)
	}
	return nil
}

// pageFor is the connector page of k with an up-to-date settings section:
// current rewritten, or a new page when there is none.
func pageFor(k connectors.Kind, current []byte, exists bool) (string, error) {
	page := string(current)
	if !exists {
		page = newPage(k)
	}
	return rewriteSettings(page, settingsReference(k))
}
