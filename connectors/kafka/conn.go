package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/crmhub/hub/connectors"
)

// Kind is the kind's name in a config.
const Kind = "kafka"

// Register registers kind "kafka" with its settings spec.
func Register(r *connectors.Registry) error {
	k, err := connectors.Declare(Kind, "any Kafka cluster: consume a topic of JSON records as a source, produce mapped records to a topic as a sink",
		func(p connectors.Params, cfg Config) (*Conn, error) { return New(p.Name, cfg, p.Log) })
	if err != nil {
		return err
	}
	return r.Register(k)
}

// Conn is one kafka connector: a client for metadata, commits and
// producing, and a consuming client per source entity.
type Conn struct {
	name string
	cfg  Config
	log  *slog.Logger

	mu      sync.Mutex
	admin   *kgo.Client
	readers map[string]*reader
	raw     map[string]bool // entities whose values Read leaves raw (LeaveRaw)

	headers map[string]headerNames // by entity, read only after New
}

// New checks cfg and returns a connector that connects at Start.
func New(name string, cfg Config, log *slog.Logger) (*Conn, error) {
	var errs connectors.FieldErrors
	cfg.check(name, &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	headers := make(map[string]headerNames, len(cfg.Entities))
	for entity, e := range cfg.Entities {
		headers[entity] = e.headerNames()
	}
	return &Conn{name: name, cfg: cfg, log: log, readers: map[string]*reader{}, raw: map[string]bool{}, headers: headers}, nil
}

// Name is the connector's configured name.
func (c *Conn) Name() string { return c.name }

// opts are the client options every client of c shares. Metadata may be
// asked for again a second after the last time (the client's default is
// five): a produce after the cluster came back waits for that refresh,
// and with the default it took the whole delivery timeout.
func (c *Conn) opts() []kgo.Opt {
	o := []kgo.Opt{kgo.SeedBrokers(c.cfg.Brokers...), kgo.ClientID(c.cfg.ClientID),
		kgo.RequestTimeoutOverhead(c.cfg.Timeout), kgo.RetryTimeout(c.cfg.Timeout),
		kgo.MetadataMinAge(metadataMinAge)}
	if c.cfg.TLS {
		o = append(o, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if s := c.cfg.SASL; s != nil && s.Mechanism != "none" {
		o = append(o, kgo.SASL(mechanism(s)))
	}
	return o
}

// metadataMinAge is the shortest time between two metadata refreshes.
const metadataMinAge = time.Second

func mechanism(s *SASLConfig) sasl.Mechanism {
	switch s.Mechanism {
	case "scram-sha-256":
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism()
	case "scram-sha-512":
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism()
	}
	return plain.Auth{User: s.User, Pass: s.Password}.AsMechanism()
}

// Start opens the shared client and checks that the brokers answer and
// every configured topic exists.
func (c *Conn) Start(ctx context.Context) error {
	cl, err := c.newClient()
	if err != nil {
		return connectors.Unavailable(fmt.Errorf("kafka %s: client: %w", c.name, err))
	}
	c.mu.Lock()
	old := c.admin
	c.admin = cl
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return c.Check(ctx)
}

// Check asks the cluster for the topics' partitions.
func (c *Conn) Check(ctx context.Context) error {
	for _, entity := range c.entities() {
		if _, err := c.partitions(ctx, c.cfg.Entities[entity]); err != nil {
			return err
		}
	}
	return nil
}

// Close closes every client.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.readers {
		r.mu.Lock() // a Read in progress ends with its context first
		r.close()
		r.mu.Unlock()
	}
	c.readers = map[string]*reader{}
	if c.admin != nil {
		c.admin.Close()
		c.admin = nil
	}
	return nil
}

// newClient is a client for metadata, commits and producing: the
// idempotent producer (acks from all in-sync replicas), sending at once,
// its batches compressed with the configured codec.
func (c *Conn) newClient() (*kgo.Client, error) {
	return kgo.NewClient(append(c.opts(), kgo.ProducerLinger(0), kgo.RecordDeliveryTimeout(c.cfg.Timeout),
		kgo.ProducerBatchCompression(codec(c.cfg.Compression)))...)
}

// codec is the compression named in the config (checked against its
// enum when the config was read; "" is the default, snappy).
func codec(name string) kgo.CompressionCodec {
	switch name {
	case "none":
		return kgo.NoCompression()
	case "gzip":
		return kgo.GzipCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.SnappyCompression()
}

// replace puts a new client in the place of cl, if cl is still the one in
// use, and closes cl.
func (c *Conn) replace(cl *kgo.Client) {
	c.mu.Lock()
	if c.admin == cl {
		if fresh, err := c.newClient(); err == nil {
			c.admin = fresh
		} else {
			c.admin = nil
		}
	}
	c.mu.Unlock()
	cl.Close()
}

func (c *Conn) client() (*kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		return nil, connectors.Unavailable(fmt.Errorf("kafka %s: not started", c.name))
	}
	return c.admin, nil
}

func (c *Conn) entities() []string {
	out := make([]string, 0, len(c.cfg.Entities))
	for e := range c.cfg.Entities {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

func (c *Conn) entity(entity string) (EntityConfig, error) {
	e, ok := c.cfg.Entities[entity]
	if !ok {
		return EntityConfig{}, connectors.Permanent(fmt.Errorf("kafka %s: entity %q is not configured", c.name, entity))
	}
	return e, nil
}

// partitions lists a topic's partitions. A cluster that does not answer,
// refuses the credentials or lacks the topic is unavailable: it hits
// every record alike.
func (c *Conn) partitions(ctx context.Context, e EntityConfig) ([]int32, error) {
	topic := e.Topic
	rt, err := c.metadata(ctx, topic, e.Create)
	if err != nil {
		return nil, err
	}
	out := make([]int32, 0, len(rt.Partitions))
	for _, p := range rt.Partitions {
		out = append(out, p.Partition)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	if len(out) == 0 {
		return nil, connectors.Unavailable(fmt.Errorf("kafka %s: topic %s has no partitions", c.name, topic))
	}
	return out, nil
}

// topicID is a topic's id, which newer requests name a topic by.
func (c *Conn) topicID(ctx context.Context, topic string) ([16]byte, error) {
	rt, err := c.metadata(ctx, topic, false)
	return rt.TopicID, err
}

// metadata is the cluster's metadata of one topic.
func (c *Conn) metadata(ctx context.Context, topic string, create bool) (kmsg.MetadataResponseTopic, error) {
	var none kmsg.MetadataResponseTopic
	cl, err := c.client()
	if err != nil {
		return none, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = create
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return none, connectors.Unavailable(fmt.Errorf("kafka %s: metadata of %s: %w", c.name, topic, err))
	}
	if len(resp.Topics) != 1 {
		return none, connectors.Unavailable(fmt.Errorf("kafka %s: metadata of %s: no answer for the topic", c.name, topic))
	}
	rt := resp.Topics[0]
	if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return none, connectors.Unavailable(fmt.Errorf("kafka %s: topic %s does not exist", c.name, topic))
		}
		return none, connectors.Unavailable(fmt.Errorf("kafka %s: metadata of %s: %w", c.name, topic, err))
	}
	return rt, nil
}

// The special timestamps of a ListOffsets request.
const (
	latest   = -1 // the offset the next message will get
	earliest = -2 // the oldest message kept
)

// listOffsets asks, for each partition of topic, the first offset whose
// message is at or after ts (milliseconds), or latest or earliest; a
// partition with no message after ts answers its end.
func listOffsets(ctx context.Context, cl *kgo.Client, topic string, parts []int32, ts int64) (offsets, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, ts, -1
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := offsets{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("list offsets of partition %d of %s: %w", rp.Partition, topic, err)
			}
			out[rp.Partition] = rp.Offset
		}
	}
	if ts >= 0 { // no message at or after ts: the partition's end
		var ends offsets
		for p, off := range out {
			if off >= 0 {
				continue
			}
			if ends == nil {
				if ends, err = listOffsets(ctx, cl, topic, parts, latest); err != nil {
					return nil, err
				}
			}
			out[p] = ends[p]
		}
	}
	return out, nil
}
