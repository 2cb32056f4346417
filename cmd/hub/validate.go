package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/pipeline/node"
)

func newValidateCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a config file and print every problem (exit 1) or \"ok\" (exit 0)",
		Long: `Load the config exactly as "hub run" would (file, HUB_* environment
overrides, ${VAR} references), validate every key, check each connector's
settings and compile every mapping, then print every problem in one list,
each with its file, line and key. Nothing is started and nothing is
connected to.`,
		Example: `  hub validate -c configs/demo.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			probs, warnings, err := validateConfig(cfgPath)
			if err != nil {
				return exitErr(1, err)
			}
			if len(warnings) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d warning(s):\n%s\n", len(warnings), indent(warnings.Error()))
			}
			if len(probs) > 0 {
				return exitErr(1, fmt.Errorf("%d problem(s) in the configuration:\n%s", len(probs), indent(probs.Error())))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	return cmd
}

// validateConfig finds every problem of a config in one pass: its own keys
// and, even when those have problems, what it names (connector settings,
// mappings, what each connector can do), so that a mistake in one place
// never hides another.
func validateConfig(path string) (probs, warnings config.Problems, err error) {
	if path == "" {
		path = os.Getenv("HUB_CONFIG")
	}
	if path == "" {
		return nil, nil, fmt.Errorf("no config: give -c FILE (or set HUB_CONFIG)")
	}
	cfg, probs, err := config.Inspect(path, config.LoadOptions{})
	if err != nil || cfg == nil {
		return probs, nil, err
	}
	reg, err := kinds()
	if err != nil {
		return nil, nil, err
	}
	plan, err := node.Build(cfg, reg)
	if err != nil {
		more, ok := config.ErrProblems(err)
		if !ok {
			more = config.Problems{{File: cfg.File, Msg: err.Error()}}
		}
		probs = config.Combine(probs, more)
	} else {
		warnings = plan.Warnings
	}
	return probs, warnings, nil
}
