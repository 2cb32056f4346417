package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmhub/hub/store"
)

// Journal appends what sources and sinks did to each record to the state
// store's trace journal, so that any id can be traced ("where is this
// record?"). A nil *Journal traces nothing.
//
// Append only queues: one goroutine writes the queued events of many
// batches with one transaction of multi-row inserts, off the pipeline's
// path. The journal is for people, not for correctness: when the queue is
// full (MaxQueued events wait) or the store fails, events are dropped,
// counted (hub_trace_dropped_events_total) and logged, and the pipeline
// goes on: it never waits for the journal and the queue never grows
// beyond its bound. Close writes what is queued.
type Journal struct {
	Store   *store.Store
	Log     *slog.Logger
	Metrics *Metrics // may be nil
	// MaxQueued bounds the events waiting to be written; default
	// DefaultJournalQueue.
	MaxQueued int

	once    sync.Once
	ch      chan []store.TraceEvent
	done    chan struct{}
	queued  atomic.Int64
	dropped atomic.Int64
}

// DefaultJournalQueue is the journal's default bound in events: about
// 10 MiB, several seconds of a busy hub's events.
const DefaultJournalQueue = 50000

// journalFlush is how many events one write takes at most.
const journalFlush = 5000

// Dropped is how many events the journal dropped since it started.
func (j *Journal) Dropped() int64 { return j.dropped.Load() }

func (j *Journal) start() {
	j.once.Do(func() {
		if j.MaxQueued <= 0 {
			j.MaxQueued = DefaultJournalQueue
		}
		// The channel holds batches; the bound that matters is in events.
		j.ch = make(chan []store.TraceEvent, 1024)
		j.done = make(chan struct{})
		go j.run()
	})
}

// Append queues events; it never blocks and never fails the caller.
func (j *Journal) Append(_ context.Context, events []store.TraceEvent) {
	if j == nil || len(events) == 0 {
		return
	}
	j.start()
	n := int64(len(events))
	if j.queued.Add(n) <= int64(j.MaxQueued) {
		select {
		case j.ch <- append([]store.TraceEvent(nil), events...):
			j.gauge()
			return
		default:
		}
	}
	j.queued.Add(-n)
	if j.Metrics != nil {
		j.Metrics.TraceDropped.Add(float64(n))
	}
	if j.dropped.Add(n) == n && j.Log != nil {
		j.Log.Warn("trace journal: queue full; dropping events (counted in hub_trace_dropped_events_total)", "bound", j.MaxQueued)
	}
}

func (j *Journal) gauge() {
	if j.Metrics != nil {
		j.Metrics.TraceQueued.Set(float64(j.queued.Load()))
	}
}

func (j *Journal) run() {
	defer close(j.done)
	var buf []store.TraceEvent
	flush := func() {
		if len(buf) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := j.Store.AppendTrace(ctx, buf); err != nil && j.Log != nil {
			j.Log.Warn("trace journal: append failed; these events are lost", "events", len(buf), "err", err)
		}
		j.queued.Add(-int64(len(buf)))
		j.gauge()
		buf = buf[:0]
	}
	for evs := range j.ch {
		buf = append(buf, evs...)
		// Take what else is queued, then write it all at once.
	more:
		for len(buf) < journalFlush {
			select {
			case evs, ok := <-j.ch:
				if !ok {
					break more
				}
				buf = append(buf, evs...)
			default:
				break more
			}
		}
		flush()
	}
	flush()
}

// Close writes the queued events and stops; Append must not be called
// after it.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.start()
	close(j.ch)
	<-j.done
	return nil
}

// Prune deletes events older than retention every interval until ctx ends.
func (j *Journal) Prune(ctx context.Context, retention, every time.Duration) {
	if j == nil || retention <= 0 {
		return
	}
	if every <= 0 {
		every = time.Hour
	}
	for {
		n, err := j.Store.PruneTrace(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			j.Log.Warn("trace journal: prune failed", "err", err)
		case n > 0:
			j.Log.Info("trace journal pruned", "events", n, "retention", retention)
		}
		if !sleep(ctx, every) {
			return
		}
	}
}

func versionText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// FormatTrace writes the journeys of traced records as text for people:
// each record's ids in every system, then its events in order, then its
// dead letters. The output depends only on the records, so tracing any of
// a record's ids prints the same text.
func FormatTrace(w io.Writer, id string, recs []store.RecordTrace) error {
	b := &strings.Builder{}
	if len(recs) == 0 {
		fmt.Fprintf(b, "nothing known about %q (no hub id, external id or journal entry)\n", id)
	}
	for i, r := range recs {
		if i > 0 {
			b.WriteString("\n")
		}
		if r.HubID == "" {
			fmt.Fprintf(b, "%s (no hub id yet)\n", r.Entity) // parked before it got one: only its dead letters
		} else {
			fmt.Fprintf(b, "%s %s\n", r.Entity, r.HubID)
		}
		for _, l := range r.Links {
			fmt.Fprintf(b, "  id in %-12s %s", l.System, l.ExternalID)
			if l.Version != "" {
				fmt.Fprintf(b, " (version %s)", l.Version)
			}
			b.WriteString("\n")
		}
		if len(r.Events) > 0 {
			b.WriteString("  journey:\n")
		}
		for _, e := range r.Events {
			fmt.Fprintf(b, "    %s  %-13s %-10s", e.At.UTC().Format("2006-01-02 15:04:05.000"), e.Event, e.System)
			if e.ExternalID != "" {
				fmt.Fprintf(b, " id %s", e.ExternalID)
			}
			if e.Version != "" {
				fmt.Fprintf(b, " version %s", e.Version)
			}
			if e.Detail != "" {
				fmt.Fprintf(b, " — %s", e.Detail)
			}
			b.WriteString("\n")
		}
		for _, d := range r.DeadLetters {
			fmt.Fprintf(b, "  dead letter %d (%s, %s) at %s by %s: %s [%s]\n", d.ID, d.Kind, d.Status, d.Stage, d.Connector, d.Error,
				d.LastSeen.UTC().Format("2006-01-02 15:04:05"))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
