package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/pipeline/node"
)

func newValidateCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a config file and print every problem (exit 1) or \"ok\" (exit 0)",
		Long: `Load the config exactly as "hub run" would (file, HUB_* environment
overrides, ${VAR} references), validate every key and print each problem with
its file, line and key; then check each connector's settings and compile every
mapping. Nothing is started and nothing is connected to.`,
		Example: `  hub validate -c configs/demo.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return exitErr(1, err)
			}
			reg, err := kinds()
			if err != nil {
				return err
			}
			if _, err := node.Build(cfg, reg); err != nil {
				return exitErr(1, fmt.Errorf("problems in the configured components:\n%s", indent(err.Error())))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	return cmd
}
