package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/crmhub/hub/config"
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
Kafka-protocol broker on kafka.embedded.addr.

SIGHUP reloads the config (as 'hub reload' does): it applies what can
change while the hub runs (the log level; a source's mapping, interval,
batch size; a sink's mappings, deletes, batch size, retry) and logs what it
refused and why.`,
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
			log, level := newLevelLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format)
			ctx, stop := signalContext(log)
			defer stop()
			log.Info("starting hub", "version", version(), "config", cfg.File, "node", cfg.Hub.NodeID)
			n := node.New(cfg, log, version(), reg)
			n.SetReload(func() (*config.Config, error) { return loadConfig(cfg.File) }, level)
			defer reloadOnHangup(ctx, n, log)()
			return n.Run(ctx)
		},
	}
	configFlag(cmd, &cfgPath)
	return cmd
}

// reloadOnHangup reloads the node's config on each SIGHUP until ctx ends;
// the returned func stops it.
func reloadOnHangup(ctx context.Context, n *node.Node, log *slog.Logger) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			select {
			case <-n.Ready():
			default:
				log.Warn("SIGHUP before the hub is ready: not reloaded")
				continue
			}
			if _, err := n.Reload(ctx, "SIGHUP"); err != nil {
				log.Error("config reload refused", "error", err)
			}
		}
	}()
	return func() { signal.Stop(hup) }
}
