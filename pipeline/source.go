package pipeline

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/store"
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

// leaseName is the lease a node holds while it reads the source.
func (s *Source) leaseName() string { return "source/" + s.Name }

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
	if r, ok := s.Conn.(connectors.RawReader); ok {
		r.LeaveRaw(s.Entity) // decoded in mapIn, only what the mapping reads
	}
	for ctx.Err() == nil {
		if !s.Controls.waitUnpaused(ctx, s.runner(), s.Log) {
			return nil
		}
		// A pause ends the reading (and gives up the lease); a resume
		// starts it again from the stored cursor.
		pctx, cancel := s.Controls.untilPaused(ctx, s.runner())
		s.Owner.Run(pctx, s.leaseName(), s.setStandby, s.run)
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
	// Stamps a last run wrote with new links and did not settle: their
	// batches may never have reached Kafka, and the re-read from the
	// stored cursor must publish them, not take them for unchanged.
	if err := retryForever(ctx, s.Log, "take back unsettled stamps", func() error {
		n, err := s.Store.ClearPending(ctx, s.Entity, s.System)
		if n > 0 {
			s.Log.Info("took back the stamps of records a last run may not have published; they are read and published again", "records", n)
		}
		return err
	}); err != nil {
		return // stopping
	}
	s.Log.Info("source started", "cursor", s.cursorWords(ctx, cursor))
	// What this run published and has not recorded yet; a run starts
	// from the stored cursor, so it re-reads whatever a last run held.
	u := &unsettled{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	read := make(chan readBatch, 1)
	mappedIn := make(chan readBatch) // unbuffered: one batch mapped ahead at most
	prepared := make(chan preparedBatch, 1)
	toSettle := make(chan settleItem, settleQueue)
	stored := make(chan string, 1)
	go s.readStage(ctx, cursor, read)
	go s.mapStage(ctx, read, mappedIn)
	go s.prepareStage(ctx, u, mappedIn, prepared)
	go s.settleStage(ctx, u, cursor, toSettle, stored)
	s.publishStage(ctx, u, prepared, toSettle)
	close(toSettle)
	cursor = <-stored
	// The prepare stage may still be writing a batch's links and stamps:
	// the next run, which takes back what is pending, starts after it.
	cancel()
	for range prepared {
	}
	s.Log.Info("source stopped", "cursor", s.cursorWords(context.WithoutCancel(ctx), cursor))
}

// publishStage publishes each prepared batch, in order, and hands what is
// left to record of it to the settle stage; it returns when prepared is
// closed or ctx ends (then the batch being published is not settled: its
// cursor stays where it was).
func (s *Source) publishStage(ctx context.Context, u *unsettled, prepared <-chan preparedBatch, toSettle chan<- settleItem) {
	for pb := range prepared {
		pubs, err := s.publishAhead(ctx, pb.parts)
		if err != nil {
			return // only when stopping
		}
		s.stats.add(published(pb.parts))
		u.add(pubs)
		select {
		case toSettle <- settleItem{pubs: pubs, cursor: pb.cursor}:
		case <-ctx.Done():
			return
		}
		s.Metrics.BatchSeconds.WithLabelValues(s.System, s.Entity, "source").Observe(time.Since(pb.readAt).Seconds())
	}
}

// settleItem is a published batch still to record: its stamps and merged
// records, and its cursor ("" keeps the cursor where it is).
type settleItem struct {
	pubs   []publishedPart
	cursor string
}

// settleQueue is how many published batches may wait for the settle
// stage before the publishing waits for it.
const settleQueue = 4

// settleStage records what each published batch published (recordPublished)
// and then stores its cursor, in order, and tells the connector the cursor
// is durable; it sends the last cursor stored on done when in is closed.
//
// It runs beside the publishing, which it kept waiting before: the store's
// writes (on SQLite) take turns with the sinks' and the trace journal's,
// and the source's turn came after every one of them. Batches that wait
// here together are settled together: their stamps in one call and only
// the newest cursor, which covers every batch before it. Their stamps are
// recorded before that cursor, so a crash re-reads (and republishes) every
// batch whose stamps might be missing, as it always could; a batch whose
// stamps cannot be recorded (the source stopping) leaves the cursor where
// it was.
func (s *Source) settleStage(ctx context.Context, u *unsettled, cursor string, in <-chan settleItem, done chan<- string) {
	defer func() { done <- cursor }()
	for first := range in {
		if ctx.Err() != nil {
			continue // stopping: drain in until the publisher closes it
		}
		for _, group := range settleGroups(append([]settleItem{first}, waiting(in)...)) {
			c, ok := s.settle(ctx, u, group)
			if !ok {
				break
			}
			if c != "" && c != cursor {
				cursor = c
				if err := s.Conn.Durable(ctx, s.Entity, cursor); err != nil && ctx.Err() == nil {
					s.Log.Warn("tell the connector the batch is durable", "err", err)
				}
			}
		}
	}
}

// settle records a group's stamps and stores its newest cursor; it returns
// that cursor ("" for none) and false when ctx ended first.
func (s *Source) settle(ctx context.Context, u *unsettled, group []settleItem) (string, bool) {
	var pubs []publishedPart
	cursor := ""
	for _, it := range group {
		pubs = append(pubs, it.pubs...)
		if it.cursor != "" {
			cursor = it.cursor
		}
	}
	if err := s.recordPublished(ctx, pubs...); err != nil {
		return "", false
	}
	u.settled(pubs)
	if cursor == "" {
		return "", true
	}
	if err := retryForever(ctx, s.Log, "store source cursor", func() error {
		return s.Store.SetCursor(ctx, s.Name, s.Entity, cursor)
	}); err != nil {
		return "", false
	}
	return cursor, true
}

// waiting takes what else is queued on in now, without waiting for more.
func waiting(in <-chan settleItem) []settleItem {
	var out []settleItem
	for {
		select {
		case it, ok := <-in:
			if !ok {
				return out
			}
			out = append(out, it)
		default:
			return out
		}
	}
}

// settleGroups splits items, in order, into runs whose stamps name each hub
// id once, so that each run's stamps go in one multi-row statement (the
// state store takes a batch that names a hub id twice record by record,
// with the same outcome, only slower).
func settleGroups(items []settleItem) [][]settleItem {
	var groups [][]settleItem
	seen := map[string]bool{}
	start := 0
	for i, it := range items {
		var hubs []string
		for _, pub := range it.pubs {
			for _, w := range pub.stamps {
				hubs = append(hubs, w.HubID)
			}
		}
		clash := false
		for _, h := range hubs {
			if seen[h] {
				clash = true
				break
			}
		}
		if clash && i > start {
			groups = append(groups, items[start:i])
			start = i
			clear(seen)
		}
		for _, h := range hubs {
			seen[h] = true
		}
	}
	return append(groups, items[start:])
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
	mapped *mapped // the records mapped in (mapStage)
}

// mapStage maps each batch in (the build step's first half) while the
// prepare stage gives the batch before it hub ids and links it: the
// mapping is the source's CPU work, preparing mostly waits on the state
// store, and the two overlap. The mapping needs nothing of the state
// store, so a batch mapped ahead is mapped as it would be later (a
// mapping reloaded meanwhile applies from the batch after).
func (s *Source) mapStage(ctx context.Context, in <-chan readBatch, out chan<- readBatch) {
	defer close(out)
	for rb := range in {
		if len(rb.Records) > 0 {
			rb.mapped = s.Intake.mapIn(ctx, rb.Records)
		}
		select {
		case out <- rb:
		case <-ctx.Done():
			return
		}
	}
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

// prepareStage maps each batch and gives its records hub ids, judging
// them against what this run has published and not yet recorded (u).
func (s *Source) prepareStage(ctx context.Context, u *unsettled, in <-chan readBatch, out chan<- preparedBatch) {
	defer close(out)
	// The run's own copy of the intake: the source's is shared (a replay
	// copies it while the source runs) and never changes once built.
	intake := s.Intake
	intake.unsettled = u
	intake.linkStamps = true
	if s.Owner != nil {
		intake.fence = store.Fence{Lease: s.leaseName(), Holder: s.Owner.Holder}
	}
	for rb := range in {
		pb := preparedBatch{cursor: rb.Cursor, readAt: rb.readAt}
		if len(rb.Records) > 0 {
			start := time.Now()
			var err error
			if pb.parts, err = intake.prepareAll(ctx, rb.Records, rb.mapped, s.Attempts); err != nil {
				if errors.Is(err, store.ErrLeaseLost) {
					s.Log.Warn("this node no longer holds the source (another node took it over): stopping its reading", "err", err)
				}
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
