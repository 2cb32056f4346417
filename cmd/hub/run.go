package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/pipeline/node"
)

func newRunCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the hub: state store, Kafka (embedded when no brokers are set), HTTP API and pipelines",
		Long: `Run the hub until SIGINT or SIGTERM, then stop gracefully: stop intake,
flush writers, commit offsets and close the state store within
hub.shutdown_timeout. With no kafka.brokers it starts the embedded
Kafka-protocol broker on kafka.embedded.addr.`,
		Example: `  hub run -c configs/demo.yaml
  HUB_HTTP_ADDR=127.0.0.1:9000 hub run -c prod.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return exitErr(2, err)
			}
			reg, err := kinds()
			if err != nil {
				return err
			}
			log := newLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format)
			ctx, stop := signalContext(log)
			defer stop()
			log.Info("starting hub", "version", version(), "config", cfgPath, "node", cfg.Hub.NodeID)
			return node.New(cfg, log, version(), reg).Run(ctx)
		},
	}
	configFlag(cmd, &cfgPath)
	return cmd
}
