package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// retryForever calls fn until it succeeds or ctx ends, backing off up to
// 5 s. It is for the hub's own state, whose failure must stall, not skip.
func retryForever(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		}
		wait := b.NextBackOff()
		log.Warn("retrying", "what", what, "attempt", attempt, "wait", wait, "err", err)
		if !sleep(ctx, wait) {
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		}
	}
}

// sleep waits d or until ctx ends; false means ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// newBackoff is exponential backoff with ±50% jitter, never giving up (the
// callers count attempts themselves).
func newBackoff(initial, max time.Duration) *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = max
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	b.Reset()
	return b
}
