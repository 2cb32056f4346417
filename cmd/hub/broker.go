package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/pipeline/broker"
)

func newBrokerCmd() *cobra.Command {
	var (
		cfgPath string
		addr    string
		dataDir string
	)
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker alone (for development and fault tests)",
		Long: `Run the in-process Kafka-protocol broker that "hub run" embeds when no
kafka.brokers are configured, as its own process. Topics and records persist in
the data folder and survive a restart. Any Kafka client can connect, e.g.
kcat -b 127.0.0.1:9092 -L. Stop it with Ctrl-C.`,
		Example: `  hub broker
  hub broker --addr 127.0.0.1:19092 --data-dir /tmp/kafka`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The broker needs no config: its flags and the defaults do.
			if cfgPath == "" {
				cfgPath = os.Getenv("HUB_CONFIG")
			}
			cfg, err := config.LoadWith(cfgPath, config.LoadOptions{StateOnly: true})
			if err != nil {
				return exitErr(2, err)
			}
			if addr != "" {
				cfg.Kafka.Embedded.Addr = addr
			}
			if dataDir != "" {
				cfg.Kafka.Embedded.DataDir = dataDir
			}
			log := newLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format)
			ctx, stop := signalContext(log)
			defer stop()
			e := cfg.Kafka.Embedded
			b, err := broker.Start(ctx, broker.Config{
				Addr:           e.Addr,
				DataDir:        e.DataDir,
				Partitions:     cfg.Kafka.Partitions,
				Retention:      e.Retention,
				RetentionBytes: e.RetentionBytes,
				SyncWrites:     e.SyncWrites,
			}, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "broker listening on %v (data in %s)\n", b.Addrs(), e.DataDir)
			<-ctx.Done()
			if err := b.Close(); err != nil {
				return fmt.Errorf("close broker: %w", err)
			}
			return nil
		},
	}
	configFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (default kafka.embedded.addr, 127.0.0.1:9092)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "folder for topic data (default kafka.embedded.data_dir)")
	return cmd
}
