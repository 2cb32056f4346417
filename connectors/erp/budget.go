package erp

import (
	"context"
	"sync"
	"time"
)

// budget is a daily call budget (UTC days), kept in memory: a restart
// starts the day's count again from zero.
type budget struct {
	limit   int
	reserve float64

	mu        sync.Mutex
	day       int64 // days since the epoch of the count
	used      int
	next      time.Time // while pacing: the earliest start of the next call
	throttled bool
}

// take reserves a call: at once while the budget is comfortable, spread
// evenly over the rest of the day once less than the reserve is left, and
// after midnight UTC once it is spent.
func (b *budget) take(ctx context.Context, now func() time.Time, sleep func(context.Context, time.Duration) error) error {
	for {
		b.mu.Lock()
		t := now().UTC()
		if day := t.Unix() / 86400; day != b.day {
			b.day, b.used, b.next, b.throttled = day, 0, time.Time{}, false
		}
		midnight := time.Unix((b.day+1)*86400, 0).UTC()
		left := b.limit - b.used
		if left <= 0 {
			b.throttled = true
			b.mu.Unlock()
			if err := sleep(ctx, midnight.Sub(t)); err != nil {
				return err
			}
			continue
		}
		var wait time.Duration
		if float64(left) <= b.reserve*float64(b.limit) {
			b.throttled = true
			at := t
			if b.next.After(at) {
				at = b.next
			}
			b.next = at.Add(midnight.Sub(at) / time.Duration(left))
			wait = at.Sub(t)
		}
		b.used++
		b.mu.Unlock()
		return sleep(ctx, wait)
	}
}

// state returns the budget, the calls made today and whether calls are
// being slowed down.
func (b *budget) state(now time.Time) (limit, used int, throttled bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.UTC().Unix()/86400 != b.day {
		return b.limit, 0, false
	}
	return b.limit, b.used, b.throttled
}
