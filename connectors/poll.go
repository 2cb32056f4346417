package connectors

import (
	"context"
	"time"
)

// Poll is the loop behind a Source's Read: it calls read with the cursor
// until a read returns records, waiting interval after each empty one and
// going on from the cursor that one returned. When ctx ends, before or
// during a read, it returns an empty batch with the last cursor and no
// error, as Read must. Other errors are returned as they are, for the
// caller to wrap.
//
// With WithIdle on ctx it also returns an empty batch once it has found
// nothing for that long, without cutting a read that is still under way
// (a backfill's "caught up" must not be a slow page cut short).
func Poll(ctx context.Context, interval time.Duration, cursor string, read func(cursor string) (Batch, error)) (Batch, error) {
	idle, hasIdle := ctx.Value(idleKey{}).(time.Duration)
	start := time.Now()
	for {
		b, err := read(cursor)
		if err != nil {
			if ctx.Err() != nil {
				return Batch{Cursor: cursor}, nil
			}
			return Batch{}, err
		}
		if len(b.Records) > 0 {
			return b, nil
		}
		if b.Cursor != "" {
			cursor = b.Cursor
		}
		wait := interval
		if hasIdle {
			left := idle - time.Since(start)
			if left <= 0 {
				return Batch{Cursor: cursor}, nil
			}
			wait = min(wait, left)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Batch{Cursor: cursor}, nil
		case <-t.C:
		}
	}
}

type idleKey struct{}

// WithIdle tells a Read (through Poll) to return an empty batch once it
// has read and found nothing new for d, rather than wait for ctx to end: a
// reader that needs to know whether a source has caught up gives its read
// no deadline that would cut a slow request, only this.
func WithIdle(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, idleKey{}, d)
}
