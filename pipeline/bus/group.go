package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// ErrRevoked says the records a commit names were fetched in a generation
// of the consumer group that is over: their partitions may belong to
// another member now, which reads them again from the last commit. The
// caller lets the batch go (it is not committed) instead of retrying.
var ErrRevoked = errors.New("the consumer group moved the partitions on")

// group is the consumer-group side of a Reader. It runs kafka-go's
// ConsumerGroup one generation at a time and fetches each assigned
// partition itself, so that a generation does not end while the consumer
// holds records of it: when the group rebalances, the member waits (up to
// the rebalance timeout) until the consumer has committed or let go of
// what it fetched before it rejoins, and only then can the partitions go
// to another member. Without that wait, a member still writing a batch
// and the partition's next owner, reading the same uncommitted records,
// both write them: a target that creates on write (an ERP's sale) gets
// the record twice.
type group struct {
	bus    *Bus
	id     string
	topics []string
	opts   ReaderOptions
	start  int64 // kafka.FirstOffset or kafka.LastOffset
	log    *slog.Logger

	startOnce sync.Once
	cg        *kafka.ConsumerGroup
	joinErr   error // set once by join
	msgs      chan fetched
	ctx       context.Context // ends at close
	cancel    context.CancelFunc
	closeOnce sync.Once
	closed    chan struct{}
	runDone   chan struct{}

	pending *fetched // a record put back by fetch (consumer goroutine only)

	mu      sync.Mutex
	holding *hold
}

// generation is one generation of the group as this member sees it.
type generation struct {
	kg  *kafka.Generation
	ctx context.Context // done when the group rebalances
	// over is set (under group.mu) once the member winds the generation
	// down: records of it are no longer handed out.
	over bool
}

// hold is the consumer holding records of one generation: done is closed
// when it commits them or lets them go.
type hold struct {
	gen  *generation
	done chan struct{}
}

type fetched struct {
	m   kafka.Message
	gen *generation
}

// DefaultRebalanceTimeout is how long a rebalance waits for a member to
// finish the batch it holds and rejoin: as long as the Java consumer's
// max.poll.interval.ms, because a sink's batch to a slow ERP (a call per
// ten sales, each a second or more) can take minutes, and a member that
// rejoins without it lets another write the same records meanwhile. A
// member that dies is dropped after the session timeout all the same.
const DefaultRebalanceTimeout = 5 * time.Minute

// closeBudget bounds how long Close waits for the member to leave the
// group. A member closed while its JoinGroup is pending waits for the
// broker's answer, which may come only at the rebalance timeout; past the
// budget it leaves in the background and Close returns.
const closeBudget = 3 * time.Second

func newGroup(b *Bus, id string, topics []string, opts ReaderOptions) *group {
	start := kafka.FirstOffset
	if opts.StartAtEnd {
		start = kafka.LastOffset
	}
	if opts.RebalanceTimeout <= 0 {
		opts.RebalanceTimeout = DefaultRebalanceTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &group{bus: b, id: id, topics: append([]string(nil), topics...), opts: opts, start: start,
		log: b.log.With("group", id), msgs: make(chan fetched, opts.QueueCapacity),
		ctx: ctx, cancel: cancel, closed: make(chan struct{}), runDone: make(chan struct{})}
}

// join creates the consumer group member and starts its generations; it
// runs once, on the first fetch.
func (g *group) join() error {
	g.startOnce.Do(func() {
		var err error
		g.cg, err = kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
			ID:                g.id,
			Brokers:           g.bus.cfg.Brokers,
			Dialer:            g.bus.dialer,
			Topics:            g.topics,
			HeartbeatInterval: g.opts.HeartbeatInterval,
			SessionTimeout:    g.opts.SessionTimeout,
			RebalanceTimeout:  g.opts.RebalanceTimeout,
			JoinGroupBackoff:  time.Second,
			StartOffset:       g.start,
			ErrorLogger:       g.bus.kafkaLogger("kafka read", "group", g.id),
		})
		if err != nil {
			g.joinErr = fmt.Errorf("bus: join group %s: %w", g.id, err)
			close(g.runDone)
			return
		}
		go g.run()
	})
	return g.joinErr
}

// run serves one generation after another until the group is closed.
func (g *group) run() {
	defer close(g.runDone)
	for {
		kg, err := g.cg.Next(g.ctx)
		switch {
		case g.ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed):
			return
		case err != nil:
			// kafka-go backs off and joins again by itself.
			g.bus.kafkaLogger("kafka read", "group", g.id)("join group: %v", err)
			continue
		}
		g.serve(kg)
	}
}

// serve starts a generation's partition fetchers and the routine that
// holds the generation open, at its end, until the consumer lets go of
// its records.
func (g *group) serve(kg *kafka.Generation) {
	gen := &generation{kg: kg}
	started := make(chan struct{})
	kg.Start(func(ctx context.Context) {
		gen.ctx = ctx
		close(started)
		<-ctx.Done()
		g.windDown(gen)
	})
	<-started
	n := 0
	for topic, parts := range kg.Assignments {
		for _, p := range parts {
			n++
			kg.Start(func(ctx context.Context) { g.fetchPartition(ctx, gen, topic, p) })
		}
	}
	g.log.Debug("consumer group generation", "generation", kg.ID, "member", kg.MemberID, "partitions", n)
}

// windDown ends a generation: no more of its records are handed out, and
// it waits until the consumer has committed or let go of those it holds,
// the group is closed, or most of the rebalance timeout passed (the
// broker drops the member then). Meanwhile it keeps the member's session
// alive with heartbeats: kafka-go's own stop with the generation, and a
// member silent for the session timeout is dropped too.
func (g *group) windDown(gen *generation) {
	g.mu.Lock()
	gen.over = true
	h := g.holding
	g.mu.Unlock()
	if h == nil || h.gen != gen {
		return
	}
	budget := g.opts.RebalanceTimeout * 9 / 10
	deadline := time.NewTimer(budget)
	defer deadline.Stop()
	beat := time.NewTicker(g.opts.HeartbeatInterval)
	defer beat.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-g.closed:
			return
		case <-deadline.C:
			g.log.Warn("the group rebalances while a batch is still in progress; rejoining without it (its records may be written again by the partition's next owner)",
				"waited", budget)
			return
		case <-beat.C:
			g.heartbeat(gen)
		}
	}
}

// heartbeat tells the coordinator the member is alive while it finishes a
// batch during a rebalance (the answer is "rebalance in progress").
func (g *group) heartbeat(gen *generation) {
	ctx, cancel := context.WithTimeout(g.ctx, g.opts.HeartbeatInterval)
	defer cancel()
	_, err := g.bus.client.Heartbeat(ctx, &kafka.HeartbeatRequest{GroupID: g.id, GenerationID: gen.kg.ID, MemberID: gen.kg.MemberID})
	if err != nil {
		g.log.Debug("heartbeat while finishing a batch", "err", err)
	}
}

// fetchPartition reads one assigned partition from the generation's
// starting offset into the group's queue until the generation ends.
func (g *group) fetchPartition(ctx context.Context, gen *generation, topic string, p kafka.PartitionAssignment) {
	pr := kafka.NewReader(kafka.ReaderConfig{
		Brokers:       g.bus.cfg.Brokers,
		Topic:         topic,
		Partition:     p.ID,
		Dialer:        g.bus.dialer,
		QueueCapacity: g.opts.QueueCapacity,
		MinBytes:      1,
		MaxBytes:      g.opts.MaxBytes,
		MaxWait:       g.opts.MaxWait,
		ErrorLogger:   g.bus.kafkaLogger("kafka read", "group", g.id, "topic", topic, "partition", p.ID),
	})
	defer pr.Close()
	if err := pr.SetOffset(p.Offset); err != nil {
		g.log.Warn("cannot start reading a partition", "topic", topic, "partition", p.ID, "offset", p.Offset, "err", err)
		return // ends the generation: the member rejoins
	}
	for {
		m, err := pr.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("partition read failed", "topic", topic, "partition", p.ID, "err", err)
			}
			return // a failed read ends the generation too
		}
		select {
		case g.msgs <- fetched{m: m, gen: gen}:
		case <-ctx.Done():
			return
		}
	}
}

// errOtherGeneration: the next record is of another generation than the
// one asked for; it stays first in line.
var errOtherGeneration = errors.New("the group rebalanced")

// fetch hands out the next record (of generation only, when not nil);
// the consumer holds it (and the generation) until it commits or lets go.
// Records of a generation that is over are dropped: their partition is
// read again from the last commit by whoever owns it next. fetch is
// called from the consumer's goroutine only.
func (g *group) fetch(ctx context.Context, only *generation) (kafka.Message, *generation, error) {
	if err := g.join(); err != nil {
		return kafka.Message{}, nil, err
	}
	for {
		var f fetched
		if g.pending != nil {
			f, g.pending = *g.pending, nil
		} else {
			select {
			case f = <-g.msgs:
			case <-ctx.Done():
				return kafka.Message{}, nil, ctx.Err()
			case <-g.closed:
				return kafka.Message{}, nil, io.EOF
			}
		}
		g.mu.Lock()
		if f.gen.over {
			g.mu.Unlock()
			continue
		}
		if only != nil && f.gen != only {
			g.mu.Unlock()
			g.pending = &f
			return kafka.Message{}, nil, errOtherGeneration
		}
		if g.holding == nil || g.holding.gen != f.gen {
			g.letGoLocked()
			g.holding = &hold{gen: f.gen, done: make(chan struct{})}
		}
		g.mu.Unlock()
		return f.m, f.gen, nil
	}
}

// letGo says the consumer holds no record any more.
func (g *group) letGo() {
	g.mu.Lock()
	g.letGoLocked()
	g.mu.Unlock()
}

func (g *group) letGoLocked() {
	if g.holding != nil {
		close(g.holding.done)
		g.holding = nil
	}
}

// commit commits the offsets after msgs in the generation they were
// fetched in, then lets go of the held records.
func (g *group) commit(msgs []Message) error {
	gen := msgs[0].gen
	offsets := map[string]map[int]int64{}
	for _, m := range msgs {
		if m.gen != gen {
			return errors.New("the records were fetched in different generations of the group")
		}
		if offsets[m.Topic] == nil {
			offsets[m.Topic] = map[int]int64{}
		}
		if next := m.Offset + 1; next > offsets[m.Topic][m.Partition] {
			offsets[m.Topic][m.Partition] = next
		}
	}
	if err := gen.kg.CommitOffsets(offsets); err != nil {
		if gen.ctx.Err() != nil || isFenced(err) {
			return fmt.Errorf("%w (generation %d): %v", ErrRevoked, gen.kg.ID, err)
		}
		return err
	}
	g.letGo()
	return nil
}

// isFenced reports the broker's answers to a commit from a member or
// generation the group has moved past.
func isFenced(err error) bool {
	return errors.Is(err, kafka.IllegalGeneration) || errors.Is(err, kafka.UnknownMemberId) ||
		errors.Is(err, kafka.RebalanceInProgress) || errors.Is(err, kafka.FencedInstanceID)
}

// close leaves the group. It waits for the member to leave at most
// closeBudget; a member whose JoinGroup is still pending leaves in the
// background when the broker answers.
func (g *group) close() {
	g.closeOnce.Do(func() {
		close(g.closed)
		g.cancel()
	})
	g.startOnce.Do(func() { close(g.runDone) }) // never joined: never will
	if g.cg == nil {
		return
	}
	left := make(chan struct{})
	go func() {
		_ = g.cg.Close()
		<-g.runDone
		close(left)
	}()
	t := time.NewTimer(closeBudget)
	defer t.Stop()
	select {
	case <-left:
	case <-t.C:
		g.log.Debug("leaving the consumer group in the background: its join is still pending", "waited", closeBudget)
	}
}
