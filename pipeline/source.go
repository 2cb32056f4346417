package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmhub/hub/connectors"
)

// Source runs one configured pull source: it reads native records from its
// connector's cursor, takes them through the intake (map in, hub ids,
// merge), publishes the envelopes to the entity topic and only then
// advances its cursor.
type Source struct {
	Intake
	Conn      connectors.Reader
	Interval  time.Duration
	BatchSize int
	// Health gates the source on its connector being started and keeps
	// its circuit; nil runs at once and reports nothing.
	Health *Health
	// Attempts is how often a batch is prepared whole before its records
	// are prepared one by one to find the ones that fail; default 5.
	Attempts int
	// Controls, when set, pause the source on an operator's word.
	Controls *Controls
	// Owner, when set, makes this node the only one reading the source:
	// it holds the lease "source/<name>" while it reads. nil reads
	// unguarded (one node).
	Owner *Owner

	mu      sync.Mutex
	standby bool
	stats   stats
	live    atomic.Pointer[SourceSettings] // set by a config reload (Reconfigure)
}

// Standby reports whether another node reads the source now.
func (s *Source) Standby() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.standby
}

func (s *Source) setStandby(v bool) {
	s.mu.Lock()
	changed := s.standby != v
	s.standby = v
	s.mu.Unlock()
	if changed && v {
		s.Log.Info("another node reads this source; standing by to take it over")
	}
}

// runner is the source's name in health reports.
func (s *Source) runner() string { return "source " + s.Name }

// Run polls until ctx ends. Every batch is published completely before its
// cursor is stored, so a crash re-reads (and harmlessly republishes) what
// was read but not yet stored.
//
// Reading, preparing (mapping, hub ids) and publishing run as three
// stages, each in order, so the next batch is read and mapped while the
// previous one goes to Kafka.
func (s *Source) Run(ctx context.Context) error {
	if !s.Health.wait(ctx, s.System) {
		return nil // stopping before the connector came up
	}
	for ctx.Err() == nil {
		if !s.Controls.waitUnpaused(ctx, s.runner(), s.Log) {
			return nil
		}
		// A pause ends the reading (and gives up the lease); a resume
		// starts it again from the stored cursor.
		pctx, cancel := s.Controls.untilPaused(ctx, s.runner())
		s.Owner.Run(pctx, "source/"+s.Name, s.setStandby, s.run)
		cancel()
	}
	return nil
}

// run reads while this node owns the source.
func (s *Source) run(ctx context.Context) {
	var cursor string
	if err := retryForever(ctx, s.Log, "read source cursor", func() error {
		var err error
		cursor, _, err = s.Store.GetCursor(ctx, s.Name, s.Entity)
		return err
	}); err != nil {
		return // stopping
	}
	s.Log.Info("source started", "cursor", s.cursorWords(ctx, cursor))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	read := make(chan readBatch, 1)
	prepared := make(chan preparedBatch, 1)
	toStore := make(chan string, 1)
	stored := make(chan string, 1)
	go s.readStage(ctx, cursor, read)
	go s.prepareStage(ctx, read, prepared)
	go s.cursorStage(ctx, cursor, toStore, stored)
	for pb := range prepared {
		if err := s.publish(ctx, pb.parts); err != nil {
			break // only when stopping: the cursor stays where it was
		}
		s.stats.add(published(pb.parts))
		if pb.cursor != "" {
			offerLatest(toStore, pb.cursor)
		}
		s.Metrics.BatchSeconds.WithLabelValues(s.System, s.Entity, "source").Observe(time.Since(pb.readAt).Seconds())
	}
	close(toStore)
	cursor = <-stored
	s.Log.Info("source stopped", "cursor", s.cursorWords(context.WithoutCancel(ctx), cursor))
}

// cursorStage stores the cursor of each published batch, in order, and
// tells the connector it is durable; it sends the last cursor stored on
// done when in is closed.
//
// It runs beside the publishing, which it kept waiting before: the store's
// writes (on SQLite) take turns with the sinks' and the trace journal's,
// and the cursor's turn came after every one of them. When batches are
// published faster than their cursors are stored, only the newest is
// stored (offerLatest): a cursor covers every batch before it. A crash
// re-reads from the stored cursor, as it always could.
func (s *Source) cursorStage(ctx context.Context, cursor string, in <-chan string, done chan<- string) {
	defer func() { done <- cursor }()
	for c := range in {
		if c == cursor || ctx.Err() != nil {
			continue
		}
		if err := retryForever(ctx, s.Log, "store source cursor", func() error {
			return s.Store.SetCursor(ctx, s.Name, s.Entity, c)
		}); err != nil {
			continue // stopping: drain in until the publisher closes it
		}
		cursor = c
		if err := s.Conn.Durable(ctx, s.Entity, cursor); err != nil && ctx.Err() == nil {
			s.Log.Warn("tell the connector the batch is durable", "err", err)
		}
	}
}

// offerLatest puts v on ch (a channel of one, with one sender), replacing
// a value still waiting there.
func offerLatest(ch chan string, v string) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// cursorWords says where a cursor stands, for the logs: in the connector's
// words where it has them (connectors.CursorCodec), else as stored.
func (s *Source) cursorWords(ctx context.Context, cursor string) string {
	if cursor == "" {
		return "the beginning"
	}
	codec, ok := s.Conn.(connectors.CursorCodec)
	if !ok {
		return cursor
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	words, err := codec.DescribeCursor(ctx, s.Entity, cursor)
	if err != nil {
		return cursor
	}
	return words
}

type readBatch struct {
	connectors.Batch
	readAt time.Time
}

type preparedBatch struct {
	parts  []part
	cursor string
	readAt time.Time
}

// readFailuresToOpen is how many reads in a row may fail with a passing
// error before the source's circuit opens (an Unavailable error opens it
// at once).
const readFailuresToOpen = 5

// readStage reads batches ahead of the stored cursor.
func (s *Source) readStage(ctx context.Context, cursor string, out chan<- readBatch) {
	defer close(out)
	b := newBackoff(200*time.Millisecond, 30*time.Second)
	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		st := s.settings()
		batch, err := s.Conn.Read(ctx, s.Entity, cursor, st.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			kind, after := connectors.Classify(err)
			s.Metrics.Failures.WithLabelValues(s.System, s.Entity, "read").Inc()
			if kind == connectors.KindUnavailable || failures >= readFailuresToOpen {
				s.Health.open(s.System, s.runner(), err)
			}
			wait := max(b.NextBackOff(), after)
			s.Log.Warn("source read failed; retrying", "err", err, "kind", kind, "wait", wait)
			sleep(ctx, wait)
			continue
		}
		failures = 0
		b.Reset()
		s.Health.close(s.System, s.runner())
		if len(batch.Records) > 0 || (batch.Cursor != "" && batch.Cursor != cursor) {
			s.Log.Debug("batch read", "records", len(batch.Records), "took", time.Since(start))
			select {
			case out <- readBatch{Batch: batch, readAt: start}:
			case <-ctx.Done():
				return
			}
			if batch.Cursor != "" {
				cursor = batch.Cursor
			}
		}
		if len(batch.Records) < st.BatchSize {
			sleep(ctx, st.Interval)
		}
	}
}

// prepareStage maps each batch and gives its records hub ids.
func (s *Source) prepareStage(ctx context.Context, in <-chan readBatch, out chan<- preparedBatch) {
	defer close(out)
	for rb := range in {
		pb := preparedBatch{cursor: rb.Cursor, readAt: rb.readAt}
		if len(rb.Records) > 0 {
			start := time.Now()
			var err error
			if pb.parts, err = s.prepareAll(ctx, rb.Records, s.Attempts); err != nil {
				return // stopping
			}
			s.Log.Debug("batch prepared", "records", len(rb.Records), "took", time.Since(start))
		}
		select {
		case out <- pb:
		case <-ctx.Done():
			return
		}
	}
}
