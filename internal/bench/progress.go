package bench

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// arrivals reports how many of a run's records have arrived: a progress
// bar on a terminal, otherwise a line every two seconds and one at the end
// (what scripts/bench-ab.sh keeps).
type arrivals struct {
	w      io.Writer
	bar    *progressbar.ProgressBar
	total  int64
	what   string // "orders in the ERP", "records on bench.erp.orders"
	last   int64
	lastAt time.Time
}

func newArrivals(w io.Writer, total int64, what string, bar bool) *arrivals {
	a := &arrivals{w: w, total: total, what: what, lastAt: time.Now()}
	if bar {
		a.bar = newBar(int(total), what, true, w, progressbar.OptionShowIts(), progressbar.OptionSetItsString("records"))
	}
	return a
}

// seen takes the number arrived so far.
func (a *arrivals) seen(n int64) {
	if a.bar != nil {
		_ = a.bar.Set64(n) // (a bar's errors are those of writing to the terminal)
		if n >= a.total {
			_ = a.bar.Finish()
		}
		return
	}
	if time.Since(a.lastAt) >= 2*time.Second || n >= a.total {
		rate := float64(n-a.last) / time.Since(a.lastAt).Seconds()
		fmt.Fprintf(a.w, "%8d / %d %s (%.0f/s)\n", n, a.total, a.what, rate)
		a.last, a.lastAt = n, time.Now()
	}
}
