package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/crmhub/hub/config"
)

// configFlag adds the -c/--config flag every config-reading command takes.
func configFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", "", "config file (YAML; default: $HUB_CONFIG); HUB_* environment variables override its keys")
}

// loadConfig loads and validates the config, printing every problem.
func loadConfig(path string) (*config.Config, error) {
	return loadConfigWith(path, config.LoadOptions{})
}

// loadConfigWith is loadConfig with options (config.LoadOptions).
func loadConfigWith(path string, opts config.LoadOptions) (*config.Config, error) {
	if path == "" {
		path = os.Getenv("HUB_CONFIG")
	}
	if path == "" {
		return nil, fmt.Errorf("no config: give -c FILE (or set HUB_CONFIG); for the demo: -c configs/demo.yaml")
	}
	cfg, err := config.LoadWith(path, opts)
	if err != nil {
		if probs, ok := err.(config.Problems); ok {
			return nil, fmt.Errorf("%d problem(s) in the configuration:\n%s", len(probs), indent(probs.Error()))
		}
		return nil, err
	}
	return cfg, nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// newLogger builds the process logger: text on a terminal, JSON otherwise.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	log, _ := newLevelLogger(w, level, format)
	return log
}

// newLevelLogger is newLogger with the level it filters by, which a config
// reload may change.
func newLevelLogger(w io.Writer, level, format string) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	lv.Set(l)
	return slog.New(newHandler(w, lv, format)), lv
}

func newHandler(w io.Writer, lv *slog.LevelVar, format string) slog.Handler {
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: durationWords}
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.NewTextHandler(w, opts)
	}
	return slog.NewJSONHandler(w, opts)
}

// durationWords writes durations as Go says them ("1.5s", "2m0s") in
// every format: JSON would otherwise give nanoseconds, a number no reader
// takes for a duration.
func durationWords(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// signalContext is cancelled on SIGINT or SIGTERM. A second signal, a
// second or more after the first, exits at once, for an operator who does
// not want to wait for a graceful stop. (Signals closer together come from
// tools that signal the process and its group at once, like timeout(1).)
func signalContext(log *slog.Logger) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-ch
		first := time.Now()
		log.Info("signal received, stopping gracefully (send it again to exit at once)", "signal", sig.String())
		cancel()
		for sig = range ch {
			if time.Since(first) > time.Second {
				break
			}
		}
		log.Warn("second signal, exiting without a graceful stop", "signal", sig.String())
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// version is the module version, or "dev" with the VCS revision.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return versionOf(info)
}

// versionOf is the module version, with the commit when the version does
// not name it already.
func versionOf(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	b := vcsOf(info)
	// A version Go stamped from the repository already names the commit
	// (v0.0.0-20261203172841-46af897b444a+dirty).
	if b.revision != "" && !strings.Contains(v, b.revision[:min(12, len(b.revision))]) {
		v += "+" + b.revision[:min(12, len(b.revision))]
		if b.modified {
			v += "-dirty"
		}
	}
	return v
}

// vcs is what the build info says of the commit built.
type vcs struct {
	revision, time string
	modified       bool
}

func vcsOf(info *debug.BuildInfo) vcs {
	var b vcs
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// stateOnly loads a config for a command that uses only the state store
// or the HTTP API: the connectors' secrets need not be set.
func stateOnly() config.LoadOptions { return config.LoadOptions{StateOnly: true} }
