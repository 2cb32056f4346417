package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/crmhub/hub/store"
)

// Controls follows what operators asked of the runners (pause, resume),
// kept in the state store so that every node sharing it obeys: a paused
// source stops reading (and releases its lease), a paused sink stops
// consuming after its batch, a paused push source answers 503 so the
// sender tries again later. It refreshes from the store every Every; a
// node that changes a control refreshes at once.
//
// A nil *Controls pauses nothing.
type Controls struct {
	Store *store.Store
	Every time.Duration // default 500ms: a pause from the CLI (written to the store) holds within it
	Log   *slog.Logger

	mu      sync.Mutex
	state   map[string]store.Control
	changed chan struct{} // closed and replaced on every change
}

// Run refreshes the controls until ctx ends.
func (c *Controls) Run(ctx context.Context) {
	every := c.Every
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.Log.Warn("read the operators' controls", "err", err)
		}
		if !sleep(ctx, every) {
			return
		}
	}
}

// Refresh reads the controls now.
func (c *Controls) Refresh(ctx context.Context) error {
	if c == nil {
		return nil
	}
	st, err := c.Store.Controls(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	differs := len(st) != len(c.state)
	for k, v := range st {
		if c.state[k].Paused != v.Paused {
			differs = true
		}
	}
	c.state = st
	if differs && c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
	return nil
}

// Paused returns runner's control and whether it is paused.
func (c *Controls) Paused(runner string) (store.Control, bool) {
	if c == nil {
		return store.Control{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ctl := c.state[runner]
	return ctl, ctl.Paused
}

// wake returns a channel closed at the next change.
func (c *Controls) wake() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// waitUnpaused blocks while runner is paused; false when ctx ended first.
func (c *Controls) waitUnpaused(ctx context.Context, runner string, log *slog.Logger) bool {
	told := false
	for {
		ctl, paused := c.Paused(runner)
		if !paused {
			if told {
				log.Info("resumed", "by", ctl.Actor)
			}
			return true
		}
		if !told {
			log.Info("paused by an operator; waiting to be resumed", "by", ctl.Actor, "reason", ctl.Reason)
			told = true
		}
		select {
		case <-ctx.Done():
			return false
		case <-c.wake():
		}
	}
}

// untilPaused returns a context that ends when runner is paused (or ctx
// ends).
func (c *Controls) untilPaused(ctx context.Context, runner string) (context.Context, context.CancelFunc) {
	pctx, cancel := context.WithCancel(ctx)
	if c == nil {
		return pctx, cancel
	}
	go func() {
		for {
			if _, paused := c.Paused(runner); paused {
				cancel()
				return
			}
			select {
			case <-pctx.Done():
				return
			case <-c.wake():
			}
		}
	}()
	return pctx, cancel
}
