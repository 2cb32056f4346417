package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/store"
)

// Sampler keeps, per connector, the records in (read by its sources) and
// out (written by its sinks) and the dead letters filed, minute by minute
// for the last Window minutes: the overview's charts and error rates.
// Counters come from the node's status, sampled every Every.
type Sampler struct {
	Status func(ctx context.Context) (pipeline.NodeStatus, error)
	Store  *store.Store
	Every  time.Duration // default 10 s
	Window int           // minutes kept; default 30

	mu      sync.Mutex
	sampled bool             // a sample was taken before
	last    map[string]int64 // counter -> last total seen
	minutes []minute         // oldest first
}

// minute is one minute's deltas, by connector.
type minute struct {
	at                time.Time
	in, out, failures map[string]int64
}

// Run samples until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	s.sample(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample(ctx)
		}
	}
}

func (s *Sampler) sample(ctx context.Context) {
	st, err := s.Status(ctx)
	if err != nil {
		return
	}
	counts, err := s.Store.CountDeadLettersByConnector(ctx)
	if err != nil {
		return
	}
	now := time.Now().Truncate(time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]int64{}
	}
	if n := len(s.minutes); n == 0 || !s.minutes[n-1].at.Equal(now) {
		s.minutes = append(s.minutes, minute{at: now, in: map[string]int64{}, out: map[string]int64{}, failures: map[string]int64{}})
		window := s.Window
		if window <= 0 {
			window = 30
		}
		if len(s.minutes) > window {
			s.minutes = s.minutes[len(s.minutes)-window:]
		}
	}
	cur := &s.minutes[len(s.minutes)-1]
	for _, r := range st.Runners {
		if r.Kind == "sink" {
			s.delta("out "+r.Runner, r.Connector, r.Records, cur.out, false)
		} else {
			s.delta("in "+r.Runner, r.Connector, r.Records, cur.in, false)
		}
	}
	connOf := map[string]string{} // source or sink name -> connector
	for _, r := range st.Runners {
		connOf[r.Name] = r.Connector
	}
	for runner, n := range counts {
		conn := connOf[runner]
		if conn == "" {
			conn = runner
		}
		// Every runner with dead letters is counted each time: one first
		// seen after the first sample had none before.
		s.delta("dl "+runner, conn, n, cur.failures, s.sampled)
	}
	s.sampled = true
}

// delta adds to into[connector] how far counter moved since it was last
// seen; the first sight of a counter only sets its base, unless
// zeroBase says it was 0 before.
func (s *Sampler) delta(counter, connector string, total int64, into map[string]int64, zeroBase bool) {
	prev, seen := s.last[counter]
	s.last[counter] = total
	if (seen || zeroBase) && total > prev {
		into[connector] += total - prev
	}
}

// series returns, per connector, the in, out and failure counts of each
// minute kept.
func (s *Sampler) series() (mins []time.Time, in, out, fails map[string][]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, out, fails = map[string][]int64{}, map[string][]int64{}, map[string][]int64{}
	conns := map[string]bool{}
	for _, m := range s.minutes {
		for _, mm := range []map[string]int64{m.in, m.out, m.failures} {
			for c := range mm {
				conns[c] = true
			}
		}
	}
	for _, m := range s.minutes {
		mins = append(mins, m.at)
		for c := range conns {
			in[c] = append(in[c], m.in[c])
			out[c] = append(out[c], m.out[c])
			fails[c] = append(fails[c], m.failures[c])
		}
	}
	return mins, in, out, fails
}

// connectorRow is one connector on the overview.
type connectorRow struct {
	Name       string
	Up         bool
	Reason     string
	Runners    []pipeline.RunnerStatus
	In, Out    int64 // records in the charted window
	Failures   int64
	ErrorRate  string
	Chart      template.HTML
	LagRecords int64
	Freshness  string
	OpenDLQ    int
}

type overviewPage struct {
	Node       string
	Connectors []connectorRow
	Minutes    int
	Leases     []pipeline.LeaseStatus
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	data := overviewPage{}
	if c.Ops == nil {
		c.Render(w, r, "overview", "Overview", data)
		return
	}
	st, err := c.Ops.Status(r.Context())
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "overview", "Overview", data, "", err.Error())
		return
	}
	data.Node, data.Leases = st.Node, st.Leases
	connOf := map[string]string{} // source or sink name -> connector
	for _, rs := range st.Runners {
		connOf[rs.Name] = rs.Connector
	}
	open := map[string]int{}
	if counts, err := c.Store.CountOpenDeadLetters(r.Context()); err == nil {
		for _, oc := range counts {
			open[connOf[oc.Connector]] += oc.Open
		}
	}
	var in, out, fails map[string][]int64
	if c.Sampler != nil {
		var mins []time.Time
		mins, in, out, fails = c.Sampler.series()
		data.Minutes = len(mins)
	}
	rows := map[string]*connectorRow{}
	for _, cs := range st.Connectors {
		rows[cs.Name] = &connectorRow{Name: cs.Name, Up: cs.Up, Reason: cs.Reason}
	}
	for _, rs := range st.Runners {
		row, ok := rows[rs.Connector]
		if !ok {
			row = &connectorRow{Name: rs.Connector, Up: true}
			rows[rs.Connector] = row
		}
		row.Runners = append(row.Runners, rs)
		if rs.LagRecords != nil {
			row.LagRecords += *rs.LagRecords
		}
		if rs.FreshnessSeconds != nil {
			row.Freshness = (time.Duration(*rs.FreshnessSeconds) * time.Second).String()
		}
	}
	for name, row := range rows {
		row.OpenDLQ = open[name]
		row.In, row.Out, row.Failures = sum(in[name]), sum(out[name]), sum(fails[name])
		row.ErrorRate = "–"
		if total := row.In + row.Out + row.Failures; total > 0 {
			row.ErrorRate = strconv.FormatFloat(100*float64(row.Failures)/float64(total), 'f', 1, 64) + " %"
		}
		row.Chart = chart(in[name], out[name], fails[name])
		data.Connectors = append(data.Connectors, *row)
	}
	sort.Slice(data.Connectors, func(i, j int) bool { return data.Connectors[i].Name < data.Connectors[j].Name })
	c.Render(w, r, "overview", "Overview", data)
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

// chart draws records in (blue), out (green) and dead letters (red) per
// minute as a small inline SVG with a title for each line.
func chart(in, out, fails []int64) template.HTML {
	const w, h = 240, 48
	n := max(len(in), len(out), len(fails))
	if n == 0 {
		return template.HTML(`<span class="muted">no records in the window</span>`)
	}
	if n < 2 {
		return template.HTML(`<span class="muted">collecting… (one point a minute)</span>`)
	}
	top := int64(1)
	for _, s := range [][]int64{in, out, fails} {
		for _, v := range s {
			top = max(top, v)
		}
	}
	line := func(s []int64, class, title string) string {
		var pts []string
		for i, v := range s {
			x := float64(i) * w / float64(n-1)
			y := h - 2 - float64(v)*(h-4)/float64(top)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		return fmt.Sprintf(`<polyline class="%s" points="%s"><title>%s</title></polyline>`, class, strings.Join(pts, " "), title)
	}
	return template.HTML(fmt.Sprintf(`<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="records per minute">%s%s%s</svg><span class="muted"> peak %d/min</span>`,
		w, h, w, h, line(in, "in", "records in per minute"), line(out, "out", "records out per minute"), line(fails, "fail", "dead letters per minute"), top))
}

func itoa(n int) string { return strconv.Itoa(n) }
