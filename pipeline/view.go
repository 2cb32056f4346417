package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/bus"
)

// ViewRunner feeds a read model (connectors.View) from the entity topics
// it follows. Every node keeps its own: it reads every partition of each
// topic, outside any consumer group, from the position the view resumes
// at, and applies the changes in order within each partition (partitions
// concurrently). Rebuild resets the view and reads everything again.
type ViewRunner struct {
	Name   string // the connector's name
	View   connectors.View
	Bus    *bus.Bus
	Prefix string // topic prefix
	Log    *slog.Logger
	// Health gates the view on its connector being started; nil runs at once.
	Health *Health
	// BatchSize caps the changes of one Apply; default 500.
	BatchSize int
	// Skipped counts topic records that are not envelopes; may be nil.
	Skipped func(topic string)

	mu      sync.Mutex
	rebuild chan chan error
}

// Run follows the topics until ctx ends.
func (v *ViewRunner) Run(ctx context.Context) error {
	if !v.Health.wait(ctx, v.Name) {
		return nil
	}
	v.mu.Lock()
	if v.rebuild == nil {
		v.rebuild = make(chan chan error)
	}
	rebuild := v.rebuild
	v.mu.Unlock()
	for {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); v.follow(rctx) }()
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return nil
		case reply := <-rebuild:
			cancel()
			<-done
			err := v.View.Reset(ctx)
			if err != nil {
				err = fmt.Errorf("view %s: reset: %w", v.Name, err)
			}
			reply <- err
			v.Log.Info("view rebuilding from the start of its topics", "err", err)
		}
	}
}

// Rebuild makes a running view forget everything and read its topics
// again from the start; it returns once the view is reset.
func (v *ViewRunner) Rebuild(ctx context.Context) error {
	v.mu.Lock()
	rebuild := v.rebuild
	v.mu.Unlock()
	if rebuild == nil {
		return fmt.Errorf("view %s is not running", v.Name)
	}
	reply := make(chan error, 1)
	select {
	case rebuild <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// follow reads every partition of the followed topics from the view's
// positions until ctx ends.
func (v *ViewRunner) follow(ctx context.Context) {
	var pos connectors.Positions
	if err := retryForever(ctx, v.Log, "read the view's positions", func() error {
		var err error
		pos, err = v.View.Resume(ctx)
		return err
	}); err != nil {
		return
	}
	var wg sync.WaitGroup
	for _, entity := range v.View.Follows() {
		topic := v.Prefix + "." + entity
		var parts []int
		if err := retryForever(ctx, v.Log, "list the partitions of "+topic, func() error {
			var err error
			parts, err = v.Bus.Partitions(ctx, topic)
			return err
		}); err != nil {
			return
		}
		for _, p := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v.followPartition(ctx, topic, p, pos[topic][p])
			}()
		}
	}
	wg.Wait()
}

// followPartition applies one partition's records from offset on.
func (v *ViewRunner) followPartition(ctx context.Context, topic string, partition int, offset int64) {
	var r *bus.Reader
	if err := retryForever(ctx, v.Log, fmt.Sprintf("open %s/%d", topic, partition), func() error {
		var err error
		r, err = v.Bus.NewPartitionReader(topic, partition, offset, bus.ReaderOptions{MaxWait: 200 * time.Millisecond})
		return err
	}); err != nil {
		return
	}
	defer r.Close()
	size := v.BatchSize
	if size <= 0 {
		size = 500
	}
	var dec mapping.Decoder
	for ctx.Err() == nil {
		msgs, err := r.FetchBatch(ctx, size, 5*time.Millisecond)
		if err != nil {
			if ctx.Err() == nil {
				v.Log.Warn("view fetch failed; retrying", "topic", topic, "partition", partition, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		changes := make([]connectors.Change, 0, len(msgs))
		for _, m := range msgs {
			env, err := DecodeEnvelopeWith(&dec, m.Value)
			if err != nil {
				if v.Skipped != nil {
					v.Skipped(topic)
				}
				v.Log.Debug("view skips a record that is not an envelope", "topic", topic, "partition", partition, "offset", m.Offset, "err", err)
				continue
			}
			changes = append(changes, env.Change())
		}
		at := connectors.Positions{topic: {partition: msgs[len(msgs)-1].Offset + 1}}
		if err := retryForever(ctx, v.Log, "apply changes to view "+v.Name, func() error {
			return v.View.Apply(ctx, changes, at)
		}); err != nil {
			return
		}
	}
}

// Change is the envelope as a view sees it.
func (e *Envelope) Change() connectors.Change {
	return connectors.Change{Entity: e.Entity, HubID: e.ID, Op: connectors.Op(e.Op), Origin: e.Origin,
		SourceID: e.SourceID, Version: e.Version, Refs: e.Refs, Data: e.Data}
}
