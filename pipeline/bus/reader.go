package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReaderOptions tune a consumer-group reader; the zero value is fine.
type ReaderOptions struct {
	// StartAtEnd makes a group without committed offsets start at the end
	// of each partition; by default it starts at the first offset.
	StartAtEnd bool
	// MaxWait is the longest a fetch waits for new records; it also bounds
	// how long Close takes. Default 500ms.
	MaxWait time.Duration
	// MaxBytes caps one fetch response; default 10 MiB.
	MaxBytes int
	// QueueCapacity is how many fetched records are buffered ahead of
	// Fetch; default 100.
	QueueCapacity int
	// HeartbeatInterval, SessionTimeout and RebalanceTimeout tune group
	// membership; defaults 1s, 30s and 30s. A member that dies without
	// leaving the group holds its partitions for SessionTimeout. Members
	// learn of a rebalance on their next heartbeat, and a member closed
	// during one waits until the others have rejoined: a node closes its
	// readers one after another at a stop, so with kafka-go's 3s each
	// could wait up to 3s and eight sink workers overran
	// hub.shutdown_timeout.
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
}

// Reader consumes topics as a member of a consumer group. Offsets are
// committed only by Commit (never automatically), so a record is processed
// at least once: fetch, process, commit. Fetch and FetchBatch must be
// called from one goroutine; Commit, Lag and Close from any.
type Reader struct {
	bus   *Bus
	group string
	r     *kafka.Reader

	mu  sync.Mutex
	lag map[topicPartition]int64 // by partition: high watermark - next offset
}

type topicPartition struct {
	topic     string
	partition int
}

// NewReader joins group (on the first Fetch) to consume topics. A group
// with no committed offset starts at the first available offset (see
// ReaderOptions.StartAtEnd). Bus.Close closes it if not closed before.
func (b *Bus) NewReader(group string, topics []string, opts ReaderOptions) *Reader {
	if opts.MaxWait <= 0 {
		opts.MaxWait = 500 * time.Millisecond
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 10 << 20
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	start := kafka.FirstOffset
	if opts.StartAtEnd {
		start = kafka.LastOffset
	}
	r := &Reader{
		bus:   b,
		group: group,
		lag:   make(map[topicPartition]int64),
		r: kafka.NewReader(kafka.ReaderConfig{
			Brokers:           b.cfg.Brokers,
			GroupID:           group,
			GroupTopics:       append([]string(nil), topics...),
			Dialer:            b.dialer,
			QueueCapacity:     opts.QueueCapacity,
			MinBytes:          1,
			MaxBytes:          opts.MaxBytes,
			MaxWait:           opts.MaxWait,
			CommitInterval:    0, // synchronous commits, only through Commit
			StartOffset:       start,
			HeartbeatInterval: opts.HeartbeatInterval,
			SessionTimeout:    opts.SessionTimeout,
			RebalanceTimeout:  opts.RebalanceTimeout,
			ErrorLogger:       b.kafkaLogger("kafka read", "group", group),
		}),
	}
	if !b.track(nil, r) {
		_ = r.r.Close() // bus closed: Fetch returns io.EOF
	}
	return r
}

// Group is the reader's consumer group.
func (r *Reader) Group() string { return r.group }

// Fetch returns the next record, waiting for one until ctx ends. It does
// not commit.
func (r *Reader) Fetch(ctx context.Context) (Message, error) {
	km, err := r.r.FetchMessage(ctx)
	if err != nil {
		return Message{}, fmt.Errorf("bus: fetch for group %s: %w", r.group, err)
	}
	r.bus.metrics.read.WithLabelValues(km.Topic).Inc()
	r.mu.Lock()
	r.lag[topicPartition{km.Topic, km.Partition}] = max(km.HighWaterMark-km.Offset-1, 0)
	r.mu.Unlock()
	m := Message{
		Topic:         km.Topic,
		Partition:     km.Partition,
		Offset:        km.Offset,
		HighWaterMark: km.HighWaterMark,
		Key:           km.Key,
		Value:         km.Value,
		Time:          km.Time,
	}
	if len(km.Headers) > 0 {
		m.Headers = make([]Header, len(km.Headers))
		for i, h := range km.Headers {
			m.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return m, nil
}

// FetchBatch waits (until ctx ends) for at least one record, then collects
// up to max records, waiting at most linger for more. It returns what it
// has with a nil error as soon as it has at least one record; a typical
// loop processes the batch and then Commits it.
func (r *Reader) FetchBatch(ctx context.Context, max int, linger time.Duration) ([]Message, error) {
	if max <= 0 {
		max = 1
	}
	first, err := r.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	batch := make([]Message, 1, max)
	batch[0] = first
	if max == 1 {
		return batch, nil
	}
	lctx, cancel := context.WithTimeout(ctx, linger)
	defer cancel()
	for len(batch) < max {
		m, err := r.Fetch(lctx)
		if err != nil {
			break // linger over, ctx done or reader closed: return what we have
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// Commit commits, for each partition, the offset after the highest message
// given: those records and every earlier one of their partitions count as
// processed for the group. It blocks until the broker acknowledged.
func (r *Reader) Commit(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if r.group == "" {
		return errors.New("bus: commit: a partition reader has no consumer group")
	}
	kmsgs := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		kmsgs[i] = kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	}
	if err := r.r.CommitMessages(ctx, kmsgs...); err != nil {
		if errors.Is(err, io.ErrClosedPipe) {
			err = errors.New("reader closed")
		}
		return fmt.Errorf("bus: commit %d records for group %s: %w", len(msgs), r.group, err)
	}
	return nil
}

// Lag is how many records the reader is behind the end of the partitions it
// fetched from, as of the last record fetched from each.
func (r *Reader) Lag() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, l := range r.lag {
		n += l
	}
	return n
}

// Close leaves the group and closes the reader; uncommitted records are
// fetched again by the group's next member. It is idempotent.
func (r *Reader) Close() error {
	r.bus.untrack(nil, r)
	if err := r.r.Close(); err != nil {
		return fmt.Errorf("bus: close reader for group %s: %w", r.group, err)
	}
	return nil
}

// NewPartitionReader reads one partition of topic from offset (0 for the
// first record), outside any consumer group: for read models every node
// keeps whole. Commit is refused; the caller keeps its own position.
// Bus.Close closes it if not closed before.
func (b *Bus) NewPartitionReader(topic string, partition int, offset int64, opts ReaderOptions) (*Reader, error) {
	if opts.MaxWait <= 0 {
		opts.MaxWait = 500 * time.Millisecond
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 10 << 20
	}
	kr := kafka.NewReader(kafka.ReaderConfig{
		Brokers:       b.cfg.Brokers,
		Topic:         topic,
		Partition:     partition,
		Dialer:        b.dialer,
		QueueCapacity: opts.QueueCapacity,
		MinBytes:      1,
		MaxBytes:      opts.MaxBytes,
		MaxWait:       opts.MaxWait,
		ErrorLogger:   b.kafkaLogger("kafka read", "topic", topic, "partition", partition),
	})
	if offset <= 0 {
		offset = kafka.FirstOffset
	}
	if err := kr.SetOffset(offset); err != nil {
		_ = kr.Close()
		return nil, fmt.Errorf("bus: read %s/%d from offset %d: %w", topic, partition, offset, err)
	}
	r := &Reader{bus: b, r: kr, lag: make(map[topicPartition]int64)}
	if !b.track(nil, r) {
		_ = kr.Close() // bus closed: Fetch returns io.EOF
	}
	return r, nil
}

// GroupLag is how many records of topic the consumer group has not
// committed yet, from the broker's committed offsets and high watermarks
// (a group without a commit on a partition counts from its first offset):
// right for a reader that is paused too, unlike Lag.
func (b *Bus) GroupLag(ctx context.Context, group, topic string) (int64, error) {
	parts, err := b.Partitions(ctx, topic)
	if err != nil {
		return 0, err
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	ends, err := b.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, fmt.Errorf("bus: offsets of %s: %w", topic, err)
	}
	committed, err := b.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return 0, fmt.Errorf("bus: committed offsets of %s on %s: %w", group, topic, err)
	}
	done := map[int]int64{}
	for _, p := range committed.Topics[topic] {
		done[p.Partition] = p.CommittedOffset
	}
	var lag int64
	for _, p := range ends.Topics[topic] {
		from, ok := done[p.Partition]
		if !ok || from < 0 {
			from = p.FirstOffset
		}
		lag += max(p.LastOffset-from, 0)
	}
	return lag, nil
}
