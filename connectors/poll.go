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
func Poll(ctx context.Context, interval time.Duration, cursor string, read func(cursor string) (Batch, error)) (Batch, error) {
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
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return Batch{Cursor: cursor}, nil
		case <-t.C:
		}
	}
}
