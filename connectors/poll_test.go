package connectors

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	ctx := context.Background()
	// Empty reads move the cursor on; the first read with records returns.
	var seen []string
	b, err := Poll(ctx, time.Millisecond, "c0", func(cur string) (Batch, error) {
		seen = append(seen, cur)
		if len(seen) < 3 {
			return Batch{Cursor: cur + "+"}, nil
		}
		return Batch{Records: []Record{{Key: "1"}}, Cursor: "c1"}, nil
	})
	if err != nil || len(b.Records) != 1 || b.Cursor != "c1" || len(seen) != 3 || seen[2] != "c0++" {
		t.Fatalf("Poll = %+v, %v; reads from %v", b, err, seen)
	}
	// A failure is returned as it is.
	boom := errors.New("boom")
	if _, err := Poll(ctx, time.Millisecond, "c", func(string) (Batch, error) { return Batch{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("error = %v", err)
	}
	// When ctx ends: an empty batch with the last cursor, no error, also
	// when the read fails because of it.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	b, err = Poll(cctx, 5*time.Millisecond, "c", func(cur string) (Batch, error) {
		if cctx.Err() != nil {
			return Batch{}, cctx.Err()
		}
		return Batch{Cursor: "later"}, nil
	})
	if err != nil || len(b.Records) != 0 || b.Cursor != "later" {
		t.Fatalf("after ctx: %+v, %v", b, err)
	}
	// With WithIdle: a read slower than the idle time is not cut and
	// returns its records; reads that find nothing end after the idle
	// time, without ctx ending.
	ictx := WithIdle(ctx, 50*time.Millisecond)
	b, err = Poll(ictx, 5*time.Millisecond, "c", func(cur string) (Batch, error) {
		time.Sleep(120 * time.Millisecond)
		return Batch{Records: []Record{{Key: "slow"}}, Cursor: "c2"}, nil
	})
	if err != nil || len(b.Records) != 1 || b.Cursor != "c2" {
		t.Fatalf("a slow read with idle: %+v, %v", b, err)
	}
	reads := 0
	b, err = Poll(ictx, 5*time.Millisecond, "c", func(cur string) (Batch, error) {
		reads++
		return Batch{Cursor: "c3"}, nil
	})
	if err != nil || len(b.Records) != 0 || b.Cursor != "c3" || reads < 2 {
		t.Fatalf("idle: %+v, %v after %d reads", b, err, reads)
	}
}
