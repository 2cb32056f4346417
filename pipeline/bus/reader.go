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
	// MaxBytes caps one fetch response of one partition; default
	// DefaultFetchBytes, 1 MiB (Kafka's own consumers default to that per
	// partition). The broker builds each response whole, and a backlog
	// fills every fetch: at 10 MiB the embedded broker's responses for a
	// sink's partitions made a 500,000-order backlog peak 100 MiB higher
	// than at 1 MiB.
	MaxBytes int
	// QueueCapacity is how many fetched records are buffered ahead of
	// Fetch; default 100.
	QueueCapacity int
	// HeartbeatInterval, SessionTimeout and RebalanceTimeout tune group
	// membership; defaults 1s, 30s and DefaultRebalanceTimeout (5 min).
	// A member that dies without leaving the group holds its partitions
	// for SessionTimeout; a live member holds them through a rebalance
	// until it is done with its batch, for at most RebalanceTimeout.
	// Members learn of a rebalance on their next heartbeat (kafka-go's
	// default of 3s made a stop with eight sink workers overrun
	// hub.shutdown_timeout).
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
}

// Reader consumes topics as a member of a consumer group (NewReader) or
// one partition outside any group (NewPartitionReader). Offsets are
// committed only by Commit (never automatically), so a record is processed
// at least once: fetch, process, commit. A group member holds the records
// it fetched, and with them its partitions, until it commits them, lets
// them go (Release, or the next Fetch or FetchBatch) or closes: a
// rebalance waits for that (up to the rebalance timeout), so two members
// never process one uncommitted record at once. Fetch and FetchBatch must
// be called from one goroutine; Commit, Revoked, Lag and Close from any.
type Reader struct {
	bus   *Bus
	group string
	g     *group        // a group member
	r     *kafka.Reader // a partition reader

	mu       sync.Mutex
	lag      map[topicPartition]int64 // by partition: high watermark - next offset
	lagOfGen *generation              // a group member's lag is of the partitions it has in this generation
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
		opts.MaxBytes = DefaultFetchBytes
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.QueueCapacity <= 0 {
		opts.QueueCapacity = 100
	}
	r := &Reader{bus: b, group: group, g: newGroup(b, group, topics, opts), lag: make(map[topicPartition]int64)}
	if !b.track(nil, r) {
		r.g.close() // bus closed: Fetch returns io.EOF
	}
	return r
}

// Group is the reader's consumer group.
func (r *Reader) Group() string { return r.group }

// Fetch returns the next record, waiting for one until ctx ends. It does
// not commit. A group member lets go of the records it fetched before.
func (r *Reader) Fetch(ctx context.Context) (Message, error) {
	r.Release()
	return r.fetch(ctx, nil)
}

// fetch fetches the next record; a group member's of generation only,
// when not nil.
func (r *Reader) fetch(ctx context.Context, only *generation) (Message, error) {
	var (
		km  kafka.Message
		gen *generation
		err error
	)
	if r.g != nil {
		km, gen, err = r.g.fetch(ctx, only)
	} else {
		km, err = r.r.FetchMessage(ctx)
	}
	if err != nil {
		return Message{}, fmt.Errorf("bus: fetch for group %s: %w", r.group, err)
	}
	r.bus.metrics.read.WithLabelValues(km.Topic).Inc()
	r.mu.Lock()
	if gen != r.lagOfGen {
		clear(r.lag) // a rebalance: other partitions now
		r.lagOfGen = gen
	}
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
		gen:           gen,
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
// loop processes the batch and then Commits it. A group member lets go of
// the records it fetched before.
func (r *Reader) FetchBatch(ctx context.Context, max int, linger time.Duration) ([]Message, error) {
	r.Release()
	if max <= 0 {
		max = 1
	}
	first, err := r.fetch(ctx, nil)
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
		m, err := r.fetch(lctx, first.gen)
		if err != nil {
			// Linger over, ctx done, reader closed or the group moved
			// on (the next record starts the next batch): return what
			// we have.
			break
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// Release lets go of the records fetched so far without committing them:
// a group member may then give their partitions up in a rebalance, and
// whoever owns them next reads them again from the last commit.
func (r *Reader) Release() {
	if r.g != nil {
		r.g.letGo()
	}
}

// Revoked is closed when the consumer group rebalances after msgs were
// fetched: the member holds their partitions only until it commits or
// lets them go. A batch that would take long to finish (records waiting
// for others) should be let go then. nil (never closed) for a partition
// reader.
func (r *Reader) Revoked(msgs []Message) <-chan struct{} {
	if len(msgs) == 0 || msgs[0].gen == nil {
		return nil
	}
	return msgs[0].gen.ctx.Done()
}

// Commit commits, for each partition, the offset after the highest message
// given: those records and every earlier one of their partitions count as
// processed for the group. It blocks until the broker acknowledged, then
// lets go of the fetched records. It fails with ErrRevoked when the group
// has moved on since the records were fetched: they are not committed,
// and whoever owns their partitions now reads them again.
func (r *Reader) Commit(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if r.g == nil {
		return errors.New("bus: commit: a partition reader has no consumer group")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bus: commit %d records for group %s: %w", len(msgs), r.group, err)
	}
	if err := r.g.commit(msgs); err != nil {
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
	if r.g != nil {
		r.g.close()
		return nil
	}
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
		opts.MaxBytes = DefaultFetchBytes
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
