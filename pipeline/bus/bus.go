// Package bus owns the hub's Kafka client: connection settings (TLS, SASL),
// topic creation, a batching synchronous writer and a consumer-group reader
// with explicit commits that keeps its partitions through a rebalance until
// it is done with the batch it holds (group.go), plus their Prometheus
// metrics. It is built on
// github.com/segmentio/kafka-go and works the same against a real cluster
// and the embedded broker (pipeline/broker).
//
// The bus moves opaque records (key, value, headers); it knows nothing of
// envelopes, entities or systems. It must not import mapping, connectors,
// config or any other pipeline package, and it must not use franz-go.
package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultClientID      = "crmhub"
	DefaultBatchSize     = 500
	DefaultBatchBytes    = 1_000_000
	DefaultBatchTimeout  = time.Millisecond
	DefaultDialTimeout   = 5 * time.Second
	DefaultWriteAttempts = 5

	// DefaultFetchBytes is a reader's ReaderOptions.MaxBytes when zero.
	DefaultFetchBytes = 1 << 20

	// MaxBatchBytes is the largest produce batch New accepts: Kafka's (and
	// the embedded broker's) default message.max.bytes is 1,048,588 and a
	// batch above it is rejected whole; this leaves room for the batch
	// header.
	MaxBatchBytes = 1_040_000
)

// SASL mechanism names accepted in SASLConfig.Mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// Config configures the bus.
type Config struct {
	// Brokers are the bootstrap addresses, "host:port".
	Brokers []string
	// ClientID names the hub in broker logs and quotas; default "crmhub".
	ClientID string
	TLS      TLSConfig
	SASL     SASLConfig
	// BatchSize is the most records in one produce batch; default 500.
	BatchSize int
	// BatchBytes is the largest produce batch in bytes; default 1,000,000,
	// at most MaxBatchBytes.
	BatchBytes int64
	// BatchTimeout is how long a writer waits to fill a batch before
	// sending it. A synchronous Write pays it once per call, so keep it
	// small; default 1ms.
	BatchTimeout time.Duration
	// DialTimeout bounds connecting (TCP, TLS and SASL) to a broker;
	// default 5s.
	DialTimeout time.Duration
	// WriteAttempts is how many times a produce batch is tried when the
	// broker answers with a retriable error (leader change, timeout,
	// broken connection) before Write returns the error; default 5.
	WriteAttempts int
	// AllowAutoTopicCreation lets writers create a missing topic with the
	// broker's defaults; off by default: use EnsureTopics.
	AllowAutoTopicCreation bool
}

// TLSConfig enables TLS towards the brokers.
type TLSConfig struct {
	Enabled bool
	// CAFile is a PEM bundle of CAs to trust instead of the system pool.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key (mutual
	// TLS); both or neither.
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked in the broker's certificate.
	ServerName         string
	InsecureSkipVerify bool
}

// SASLConfig enables SASL authentication. Mechanism is "" (none), "PLAIN",
// "SCRAM-SHA-256" or "SCRAM-SHA-512".
type SASLConfig struct {
	Mechanism string
	Username  string
	Password  string
}

// TopicSpec describes a topic for EnsureTopics.
type TopicSpec struct {
	Name string
	// Partitions <= 0 uses the broker's default (num.partitions).
	Partitions int
	// ReplicationFactor <= 0 uses the broker's default
	// (default.replication.factor).
	ReplicationFactor int
	// Configs are topic configs, e.g. "retention.ms", "cleanup.policy".
	Configs map[string]string
}

// Bus is a configured Kafka client. It is safe for concurrent use. Writers
// and readers it made and did not close yet are closed by Close.
type Bus struct {
	cfg       Config
	log       *slog.Logger
	addr      net.Addr
	dialer    *kafka.Dialer
	transport *kafka.Transport
	client    *kafka.Client
	metrics   *metrics

	mu      sync.Mutex
	closed  bool
	writers map[*Writer]struct{}
	readers map[*Reader]struct{}
}

// New validates cfg and prepares the connections' settings; it does not
// connect (see Ping).
func New(cfg Config, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.TLS.build()
	if err != nil {
		return nil, fmt.Errorf("bus: tls: %w", err)
	}
	mech, err := cfg.SASL.build()
	if err != nil {
		return nil, fmt.Errorf("bus: sasl: %w", err)
	}
	if mech != nil && tlsCfg == nil && cfg.SASL.Mechanism == MechanismPlain {
		log.Warn("SASL PLAIN without TLS sends the password in clear text")
	}
	transport := &kafka.Transport{
		ClientID:    cfg.ClientID,
		DialTimeout: cfg.DialTimeout,
		TLS:         tlsCfg,
		SASL:        mech,
	}
	b := &Bus{
		cfg:  cfg,
		log:  log,
		addr: kafka.TCP(cfg.Brokers...),
		dialer: &kafka.Dialer{
			ClientID:      cfg.ClientID,
			Timeout:       cfg.DialTimeout,
			DualStack:     true,
			TLS:           tlsCfg,
			SASLMechanism: mech,
		},
		transport: transport,
		metrics:   newMetrics(),
		writers:   make(map[*Writer]struct{}),
		readers:   make(map[*Reader]struct{}),
	}
	b.client = &kafka.Client{Addr: b.addr, Transport: transport}
	return b, nil
}

func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Brokers) == 0 {
		return cfg, errors.New("bus: no brokers configured")
	}
	cfg.Brokers = append([]string(nil), cfg.Brokers...)
	for _, addr := range cfg.Brokers {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return cfg, fmt.Errorf("bus: broker address %q: want host:port: %w", addr, err)
		}
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	switch {
	case cfg.BatchBytes <= 0:
		cfg.BatchBytes = DefaultBatchBytes
	case cfg.BatchBytes > MaxBatchBytes:
		return cfg, fmt.Errorf("bus: batch bytes %d above %d: brokers reject produce batches above message.max.bytes (1,048,588 by default)", cfg.BatchBytes, MaxBatchBytes)
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = DefaultBatchTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.WriteAttempts <= 0 {
		cfg.WriteAttempts = DefaultWriteAttempts
	}
	return cfg, nil
}

func (c TLSConfig) build() (*tls.Config, error) {
	if !c.Enabled {
		if c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" {
			return nil, errors.New("certificate files are set but TLS is not enabled")
		}
		return nil, nil
	}
	t := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // operator's explicit choice
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found", c.CAFile)
		}
		t.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("cert file and key file must be set together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s: %w", c.CertFile, err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

func (c SASLConfig) build() (sasl.Mechanism, error) {
	mechanism := strings.ToUpper(strings.TrimSpace(c.Mechanism))
	if mechanism == "" {
		return nil, nil
	}
	if c.Username == "" {
		return nil, fmt.Errorf("mechanism %s needs a username", mechanism)
	}
	switch mechanism {
	case MechanismPlain:
		return plain.Mechanism{Username: c.Username, Password: c.Password}, nil
	case MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		algo := scram.SHA256
		if mechanism == MechanismSCRAMSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, c.Username, c.Password)
		if err != nil {
			return nil, fmt.Errorf("mechanism %s: %w", mechanism, err)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("unknown mechanism %q: want %s, %s or %s",
			c.Mechanism, MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512)
	}
}

// Ping does a metadata round trip with one of the brokers (connecting,
// with TLS and SASL, afresh) and reports whether the cluster answers. It
// never answers from a cache, so it fails as soon as the brokers are gone;
// without a deadline in ctx it is bounded by twice DialTimeout.
func (b *Bus) Ping(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*b.cfg.DialTimeout)
		defer cancel()
	}
	var errs []error
	for _, addr := range b.cfg.Brokers {
		err := b.pingOne(ctx, addr)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("bus: ping kafka %v: %w", b.cfg.Brokers, errors.Join(errs...))
}

func (b *Bus) pingOne(ctx context.Context, addr string) error {
	conn, err := b.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return fmt.Errorf("set deadline on %s: %w", addr, err)
		}
	}
	if _, err := conn.Brokers(); err != nil {
		return fmt.Errorf("metadata from %s: %w", addr, err)
	}
	return nil
}

// EnsureTopics creates the topics that do not exist yet; a topic that
// exists already is left as it is (a smaller partition count than asked for
// is logged as a warning, never changed). A compacted topic
// (cleanup.policy=compact) without its own retention.ms gets
// retention.ms=-1, as the embedded broker would otherwise delete its
// records by time.
func (b *Bus) EnsureTopics(ctx context.Context, topics ...TopicSpec) error {
	if len(topics) == 0 {
		return nil
	}
	req := &kafka.CreateTopicsRequest{Topics: make([]kafka.TopicConfig, 0, len(topics))}
	names := make([]string, 0, len(topics))
	want := make(map[string]int, len(topics))
	for _, t := range topics {
		if t.Name == "" {
			return errors.New("bus: create topics: empty topic name")
		}
		tc := kafka.TopicConfig{
			Topic:             t.Name,
			NumPartitions:     t.Partitions,
			ReplicationFactor: t.ReplicationFactor,
		}
		if tc.NumPartitions <= 0 {
			tc.NumPartitions = -1
		}
		if tc.ReplicationFactor <= 0 {
			tc.ReplicationFactor = -1
		}
		configs := make(map[string]string, len(t.Configs)+1)
		for k, v := range t.Configs {
			configs[k] = v
		}
		if configs["cleanup.policy"] == "compact" {
			if _, ok := configs["retention.ms"]; !ok {
				configs["retention.ms"] = "-1"
			}
		}
		for k, v := range configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
		names = append(names, t.Name)
		want[t.Name] = t.Partitions
	}
	res, err := b.client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("bus: create topics %v: %w", names, err)
	}
	var errs []error
	var existed []string
	for _, name := range names {
		switch err := res.Errors[name]; {
		case err == nil:
			b.log.Info("topic created", "topic", name, "partitions", want[name])
		case errors.Is(err, kafka.TopicAlreadyExists):
			existed = append(existed, name)
		default:
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("bus: create topics %v: %w", names, errors.Join(errs...))
	}
	if len(existed) > 0 {
		b.checkPartitions(ctx, existed, want)
	}
	return nil
}

// checkPartitions warns about existing topics with fewer partitions than
// asked for. It asks a broker directly: the transport's metadata cache may
// not know a topic created a moment ago.
func (b *Bus) checkPartitions(ctx context.Context, names []string, want map[string]int) {
	conn, err := b.dialer.DialContext(ctx, "tcp", b.cfg.Brokers[0])
	if err != nil {
		b.log.Warn("cannot check partitions of existing topics", "topics", names, "err", err)
		return
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	parts, err := conn.ReadPartitions(names...)
	if err != nil {
		b.log.Warn("cannot check partitions of existing topics", "topics", names, "err", err)
		return
	}
	have := make(map[string]int, len(names))
	for _, p := range parts {
		have[p.Topic]++
	}
	for _, name := range names {
		if w := want[name]; w > 0 && have[name] < w {
			b.log.Warn("topic exists with fewer partitions than configured; not changed",
				"topic", name, "partitions", have[name], "configured", w)
		}
	}
}

// Partitions lists the partitions of topic.
func (b *Bus) Partitions(ctx context.Context, topic string) ([]int, error) {
	conn, err := b.dialer.DialContext(ctx, "tcp", b.cfg.Brokers[0])
	if err != nil {
		return nil, fmt.Errorf("bus: partitions of %s: %w", topic, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return nil, fmt.Errorf("bus: partitions of %s: %w", topic, err)
	}
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		if p.Topic == topic {
			out = append(out, p.ID)
		}
	}
	sort.Ints(out)
	return out, nil
}

// Collectors returns the bus's Prometheus collectors for the caller to
// register (the bus registers nothing itself):
// hub_bus_records_written_total, hub_bus_records_read_total,
// hub_bus_write_errors_total (records whose write failed) and
// hub_bus_write_duration_seconds (one observation per Write call), all by
// topic.
func (b *Bus) Collectors() []prometheus.Collector {
	return b.metrics.collectors()
}

// Close closes the writers (flushing them) and readers made by the bus and
// not closed yet, then the idle connections. It is idempotent.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	writers := make([]*Writer, 0, len(b.writers))
	for w := range b.writers {
		writers = append(writers, w)
	}
	readers := make([]*Reader, 0, len(b.readers))
	for r := range b.readers {
		readers = append(readers, r)
	}
	b.mu.Unlock()

	var errs []error
	for _, w := range writers {
		if err := w.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	// Readers leave their groups all at once: each close is bounded (a
	// member whose join is pending leaves in the background), so a node
	// with many sink workers stops in about one close's time.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Go(func() {
			if err := r.Close(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.transport.CloseIdleConnections()
	return errors.Join(errs...)
}

// track registers a writer or reader for Close; it reports false once the
// bus is closed.
func (b *Bus) track(w *Writer, r *Reader) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	if w != nil {
		b.writers[w] = struct{}{}
	}
	if r != nil {
		b.readers[r] = struct{}{}
	}
	return true
}

func (b *Bus) untrack(w *Writer, r *Reader) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.writers, w)
	delete(b.readers, r)
}

// kafkaLogger sends kafka-go's error log lines to slog, counted by kind:
// what the client retries by itself at debug level, the rest as warnings.
func (b *Bus) kafkaLogger(msg string, attrs ...any) kafka.LoggerFunc {
	return func(format string, args ...any) {
		detail := fmt.Sprintf(format, args...)
		kind := clientErrorKind(detail)
		b.metrics.clientErrors.WithLabelValues(msg, kind).Inc()
		level := slog.LevelWarn
		if kind != "other" {
			level = slog.LevelDebug // expected and retried by the client: counted, not shouted
		}
		b.log.Log(context.Background(), level, msg, append(attrs, "detail", detail, "kind", kind)...)
	}
}

// clientErrorKind sorts what the Kafka client reports: a group
// rebalancing (every start and every member joining), a read that timed
// out and is retried, a reader stopping because it is being closed (its
// partition readers' dials and lag reads are cancelled at every shutdown
// and rebalance), or anything else.
func clientErrorKind(detail string) string {
	switch {
	case strings.Contains(detail, "Rebalance In Progress"):
		return "rebalance"
	case strings.Contains(detail, "i/o timeout"), strings.Contains(detail, "context deadline exceeded"):
		return "timeout"
	case strings.Contains(detail, "context canceled"), strings.Contains(detail, "operation was canceled"):
		return "closed"
	}
	return "other"
}
