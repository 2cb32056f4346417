// Package broker owns the embedded Kafka-protocol broker that the hub starts
// in-process when no kafka.brokers are configured, and that tests start on a
// free loopback port. It wraps github.com/twmb/franz-go/pkg/kfake: one node,
// automatic topic creation, optional on-disk persistence (DataDir), and a
// retention policy that applies to every topic so that a hub left running
// for weeks keeps bounded memory and disk.
//
// The broker is server side only. It must not import the hub's Kafka client
// (pipeline/bus), mapping, connectors or config: the caller maps its config
// onto [Config]. Clients talk to it over TCP like to any Kafka cluster.
//
// # Retention
//
// kfake resolves a topic's retention.ms and retention.bytes from the topic's
// own configs, falling back to the broker-level log.retention.ms and
// log.retention.bytes, so the broker sets those broker defaults and every
// topic (seeded, auto-created, or created by a client without configs)
// inherits them. kfake only deletes data when retention is applied, though,
// and its own periodic cleaner (every log.cleaner.backoff.ms, default one
// hour) runs only while some topic has an explicit retention or compaction
// config. The broker therefore runs its own cleaner goroutine that applies
// retention to every topic each [Config].CleanupInterval.
//
// Retention drops whole record batches (the log start offset moves past them
// at once) but frees memory and disk by whole segments, so the slack on top of
// the retained data is up to one segment per partition; [Config].SegmentBytes
// bounds it.
//
// kfake applies retention.ms to compacted topics too (real Kafka does not
// delete by time under cleanup.policy=compact): give such topics an explicit
// retention.ms=-1 (pipeline/bus's EnsureTopics does so).
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Defaults applied by Start to zero-valued Config fields.
const (
	DefaultAddr            = "127.0.0.1:9092"
	DefaultPartitions      = 3
	DefaultRetention       = 7 * 24 * time.Hour
	DefaultCleanupInterval = 5 * time.Minute
	DefaultSegmentBytes    = 16 << 20
)

// Config configures the embedded broker. The zero value is usable: it listens
// on DefaultAddr, keeps data in memory only and retains records for 7 days.
type Config struct {
	// Addr is the listen address, default "127.0.0.1:9092"; "127.0.0.1:0"
	// picks a free port (see Broker.Addrs). The address is also what the
	// broker advertises in metadata, so clients must be able to dial it.
	Addr string
	// DataDir enables persistence: topics, records and committed group
	// offsets are written there and reloaded on Start, surviving a restart
	// (also a kill -9). Empty keeps everything in memory.
	DataDir string
	// Partitions is the partition count for auto-created topics and for
	// CreateTopics requests that ask for the broker default; default 3.
	Partitions int
	// Retention is the default retention.ms of every topic; default 7 days.
	// A negative value keeps records forever (unbounded: not for long runs).
	Retention time.Duration
	// RetentionBytes is the default retention.bytes per partition; 0 or a
	// negative value means no size limit.
	RetentionBytes int64
	// SyncWrites fsyncs every produced batch (with DataDir); slower, but no
	// acknowledged record is lost on a power failure.
	SyncWrites bool
	// CleanupInterval is how often retention is applied; default 5 minutes.
	CleanupInterval time.Duration
	// SegmentBytes is the log segment size (log.segment.bytes); retention
	// frees storage by whole segments. Default 16 MiB.
	SegmentBytes int64
	// SASL, when its Mechanism is set, makes every client authenticate
	// (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) as the one user it names.
	SASL SASL
}

// SASL is the one user of an embedded broker that requires authentication.
type SASL struct {
	Mechanism string
	User      string
	Password  string
}

// Broker is a running embedded broker. Its methods are safe for concurrent
// use.
type Broker struct {
	cluster *kfake.Cluster
	log     *slog.Logger
	addrs   []string
	cfg     Config

	stop      chan struct{}
	cleanerWG sync.WaitGroup
	closeOnce sync.Once
}

func (cfg Config) withDefaults() Config {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.RetentionBytes <= 0 {
		cfg.RetentionBytes = -1
	}
	if cfg.CleanupInterval <= 0 {
		cfg.CleanupInterval = DefaultCleanupInterval
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = DefaultSegmentBytes
	}
	return cfg
}

// brokerConfigs are the kfake broker-level configs every topic inherits.
func (cfg Config) brokerConfigs() map[string]string {
	retentionMs := int64(-1)
	if cfg.Retention > 0 {
		retentionMs = cfg.Retention.Milliseconds()
		if retentionMs == 0 { // sub-millisecond retention: expire at once
			retentionMs = 1
		}
	}
	return map[string]string{
		"log.retention.ms":       strconv.FormatInt(retentionMs, 10),
		"log.retention.bytes":    strconv.FormatInt(cfg.RetentionBytes, 10),
		"log.segment.bytes":      strconv.FormatInt(cfg.SegmentBytes, 10),
		"log.cleaner.backoff.ms": strconv.FormatInt(max(cfg.CleanupInterval.Milliseconds(), 1), 10),
	}
}

// Start listens on cfg.Addr, loads any data persisted in cfg.DataDir and
// serves the Kafka protocol until Close. ctx bounds the start only; the
// broker keeps running after ctx is done.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("broker: start: %w", err)
	}
	cfg = cfg.withDefaults()

	// Listen ourselves: kfake only listens on 127.0.0.1, and this way an
	// address already in use gets an error that names it.
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("broker: listen on %s: address already in use (another broker or hub running?): %w", cfg.Addr, err)
		}
		return nil, fmt.Errorf("broker: listen on %s: %w", cfg.Addr, err)
	}
	handed := false
	listen := func(string, string) (net.Listener, error) {
		if handed {
			return nil, errors.New("broker: only one listener")
		}
		handed = true
		return ln, nil
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(listen),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.BrokerConfigs(cfg.brokerConfigs()),
		kfake.WithLogger(kfakeLogger{log}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	if cfg.SASL.Mechanism != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(cfg.SASL.Mechanism, cfg.SASL.User, cfg.SASL.Password))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		_ = ln.Close() // kfake closes it only once it has taken it
		return nil, fmt.Errorf("broker: start on %s (data dir %q): %w", cfg.Addr, cfg.DataDir, err)
	}

	b := &Broker{
		cluster: c,
		log:     log,
		addrs:   c.ListenAddrs(),
		cfg:     cfg,
		stop:    make(chan struct{}),
	}
	// Data loaded from DataDir may already be past retention.
	c.ApplyRetention()
	b.cleanerWG.Add(1)
	go b.cleaner()

	log.Info("embedded kafka broker started",
		"addrs", b.addrs,
		"data_dir", cfg.DataDir,
		"partitions", cfg.Partitions,
		"retention", retentionString(cfg.Retention),
		"retention_bytes", cfg.RetentionBytes,
		"cleanup_interval", cfg.CleanupInterval,
		"sync_writes", cfg.SyncWrites)
	return b, nil
}

func retentionString(d time.Duration) string {
	if d < 0 {
		return "forever"
	}
	return d.String()
}

// cleaner applies retention every CleanupInterval until Close.
func (b *Broker) cleaner() {
	defer b.cleanerWG.Done()
	t := time.NewTicker(b.cfg.CleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.cluster.ApplyRetention()
		}
	}
}

// Addrs returns the addresses clients bootstrap from ("host:port"); with a
// ":0" port they carry the port actually chosen.
func (b *Broker) Addrs() []string {
	return append([]string(nil), b.addrs...)
}

// ApplyRetention deletes, now, the records of every topic that are older than
// the retention or beyond the retention bytes, instead of waiting for the
// next cleanup tick.
func (b *Broker) ApplyRetention() {
	b.cluster.ApplyRetention()
}

// Cluster exposes the underlying kfake cluster for tests and fault
// injection (ControlKey, Fault, PartitionInfo). Do not Close it directly.
func (b *Broker) Cluster() *kfake.Cluster {
	return b.cluster
}

// Close stops the cleaner, closes the listener and client connections and,
// with a DataDir, writes the final state to disk. It is idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		b.cleanerWG.Wait()
		start := time.Now()
		b.cluster.Close()
		b.log.Info("embedded kafka broker stopped", "addrs", b.addrs,
			"data_dir", b.cfg.DataDir, "took", time.Since(start).Round(time.Millisecond))
	})
	return nil
}

// kfakeLogger forwards kfake's warnings and errors to slog; its info and
// debug lines (one per request) are dropped.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	default:
		return
	}
	l.log.Log(context.Background(), lvl, "kfake: "+fmt.Sprintf(format, args...))
}
