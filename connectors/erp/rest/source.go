package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// cursor is the source's position: the last (change time, id) read, and
// the records read inside the look-back window behind it (id -> change
// time in µs), so a re-read of the window yields only records that
// changed again or committed late.
type cursor struct {
	V    int              `json:"v"`
	T    string           `json:"t,omitempty"`
	ID   string           `json:"id,omitempty"`
	Seen map[string]int64 `json:"s,omitempty"`
}

func decodeCursor(s string) (cursor, time.Time, error) {
	var c cursor
	if s == "" {
		return c, time.Time{}, nil
	}
	err := erp.DecodeCursor(s, &c)
	var t time.Time
	if err == nil && c.T != "" {
		t, err = time.Parse(time.RFC3339Nano, c.T)
	}
	if err != nil || c.V != 1 {
		return cursor{}, time.Time{}, connectors.Permanent(fmt.Errorf("invalid cursor %q", s))
	}
	return c, t, nil
}

func (c cursor) encode() string {
	c.V = 1
	return erp.EncodeCursor(c)
}

// lessID orders ids: numerically when both are integers, else as text,
// integers first.
func lessID(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return x < y
	case errA == nil:
		return true
	case errB == nil:
		return false
	}
	return a < b
}

// before reports whether (t1, id1) comes before (t2, id2).
func before(t1 time.Time, id1 string, t2 time.Time, id2 string) bool {
	if !t1.Equal(t2) {
		return t1.Before(t2)
	}
	return lessID(id1, id2)
}

type candidate struct {
	rec mapping.Value
	id  string
	t   time.Time
	fwd bool // after the cursor (not a re-read of the window)
}

// Read returns the records of entity changed after cursor, oldest first,
// at most max (capped by batch_size). The list is asked for records
// changed since the cursor's time less the look-back window; records at
// or before the cursor are dropped unless they are new or changed inside
// the window, and equal change times are ordered by id, so a batch that
// ends inside a run of equal times resumes exactly after its last record.
// With nothing new it polls every poll_interval until ctx is done and then
// returns an empty batch with the same cursor. Deletes are not seen (the
// list no longer has the record).
func (c *Conn) Read(ctx context.Context, entity, cur string, max int) (connectors.Batch, error) {
	cl, e, err := c.started(entity)
	if err != nil {
		return connectors.Batch{}, err
	}
	if max <= 0 || max > e.cfg.BatchSize {
		max = e.cfg.BatchSize
	}
	b, err := connectors.Poll(ctx, c.cfg.PollInterval, cur, func(cur string) (connectors.Batch, error) {
		return c.readOnce(ctx, cl, e, cur, max)
	})
	if err != nil {
		return connectors.Batch{}, fmt.Errorf("rest %s: read %s: %w", c.name, entity, err)
	}
	return b, nil
}

// maxShiftRetries is how often a read starts over when the list shifted
// under it before it found anything.
const maxShiftRetries = 3

func (c *Conn) readOnce(ctx context.Context, cl *erp.Client, e *entity, cur string, max int) (connectors.Batch, error) {
	st, t, err := decodeCursor(cur)
	if err != nil {
		return connectors.Batch{}, err
	}
	lb := *e.cfg.LookBack
	q := e.query(nil, "", "")
	if !t.IsZero() && len(e.since) > 0 {
		since := t.Add(-lb)
		if e.exclusive {
			since = since.Add(-time.Second)
		}
		q = e.query(e.since, "since", e.sinceFmt.format(since))
	}
	var cands []candidate
	for attempt := 0; ; attempt++ {
		var sorted bool
		cands, sorted, err = c.candidates(ctx, cl, e, q, st, t, max)
		if !errors.Is(err, errShifted) {
			break
		}
		// What came before the shift is sound while the list is sorted:
		// the records not read yet change at or after the last one read.
		if len(cands) > 0 && sorted {
			err = nil
			break
		}
		if attempt >= maxShiftRetries {
			return connectors.Batch{}, connectors.Retryable(fmt.Errorf("the list kept shifting between pages while it was read "+
				"(give it a total order, e.g. order_by: modified asc, name asc): %w", err), time.Second)
		}
	}
	if err != nil {
		return connectors.Batch{}, err
	}
	sort.SliceStable(cands, func(i, j int) bool { return before(cands[i].t, cands[i].id, cands[j].t, cands[j].id) })
	if len(cands) > max {
		cands = cands[:max]
	}
	for _, cd := range cands {
		if cd.fwd {
			t, st.ID = cd.t, cd.id
		}
	}
	if !t.IsZero() {
		st.T = t.Format(time.RFC3339Nano)
		horizon := t.Add(-lb).UnixMicro()
		seen := map[string]int64{}
		for k, v := range st.Seen {
			if v >= horizon {
				seen[k] = v
			}
		}
		for _, cd := range cands {
			if v := cd.t.UnixMicro(); v >= horizon {
				seen[cd.id] = v
			}
		}
		st.Seen = seen
	}
	b := connectors.Batch{Records: make([]connectors.Record, 0, len(cands)), Cursor: st.encode()}
	for _, cd := range cands {
		data := cd.rec
		if e.cfg.ReadEach {
			full, found, err := getRecord(ctx, cl, e, cd.id)
			if err != nil {
				return connectors.Batch{}, fmt.Errorf("read %s %s: %w", e.name, cd.id, err)
			}
			if !found {
				continue // deleted since it was listed
			}
			data = full
		}
		b.Records = append(b.Records, connectors.Record{Entity: e.name, Key: cd.id, Op: connectors.OpUpsert, Version: cd.t, Data: data})
	}
	return b, nil
}

// candidates lists the records that come after the cursor (t, st.ID) or
// are new or changed in the look-back window. While the list comes
// oldest change first it stops once it holds max candidates and every
// record with the same change time as the last of them; otherwise it
// reads to the end. A record listed twice (it changed during the listing)
// counts once, with its latest change time. sorted reports whether the
// list came oldest change first.
func (c *Conn) candidates(ctx context.Context, cl *erp.Client, e *entity, q url.Values, st cursor, t time.Time, max int) ([]candidate, bool, error) {
	lb := *e.cfg.LookBack
	var (
		cands   []candidate
		byID    = map[string]int{}
		sorted  = true
		prev    time.Time
		haveCut bool
		cut     time.Time
	)
	err := list(ctx, cl, e, q, listOpts{op: "list " + e.name, overlap: true}, func(recs []mapping.Value) (bool, error) {
		for _, r := range recs {
			id, err := e.idOf(r)
			if err != nil {
				return false, connectors.Permanent(err)
			}
			rt, err := e.updatedOf(r)
			if err != nil {
				return false, connectors.Permanent(fmt.Errorf("record %s: %w", id, err))
			}
			if rt.Before(prev) {
				sorted = false
			}
			prev = rt
			if haveCut && sorted && rt.After(cut) {
				return false, nil
			}
			fwd := t.IsZero() || before(t, st.ID, rt, id)
			if !fwd {
				seen, ok := st.Seen[id]
				if rt.Before(t.Add(-lb)) || ok && seen == rt.UnixMicro() {
					continue
				}
			}
			cd := candidate{rec: r, id: id, t: rt, fwd: fwd}
			if i, dup := byID[id]; dup {
				if cands[i].t.Before(rt) {
					cands[i] = cd
				}
				continue
			}
			byID[id] = len(cands)
			cands = append(cands, cd)
			if !haveCut && len(cands) >= max {
				haveCut, cut = true, rt
			}
		}
		return true, nil
	})
	return cands, sorted, err
}

// getRecord GETs one record; found is false on 404 or 410.
func getRecord(ctx context.Context, cl *erp.Client, e *entity, id string) (mapping.Value, bool, error) {
	resp, err := do(ctx, cl, erp.Request{Op: "get " + e.name + " " + id, Method: http.MethodGet, Path: pathOf(e.cfg.Get, id),
		Idempotent: true, Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		if s := statusOf(err); s == http.StatusNotFound || s == http.StatusGone {
			return mapping.Value{}, false, nil
		}
		return mapping.Value{}, false, err
	}
	body, err := parseBody(resp.Body)
	if err != nil {
		return mapping.Value{}, false, connectors.Retryable(fmt.Errorf("get %s %s: the reply is not JSON: %w", e.name, id, err), 0)
	}
	rec := e.recordPath.get(body)
	if rec.Kind() != mapping.Object {
		return mapping.Value{}, false, connectors.Permanent(fmt.Errorf("get %s %s: the reply has no record object at %s (record:)", e.name, id, e.recordPath))
	}
	return rec, true, nil
}

// SinceCursor is a source cursor from which Read returns the records
// changed at or after t (with an exclusive updated_since, from the second
// before): for a backfill from a date.
func SinceCursor(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return cursor{T: t.Add(-time.Microsecond).UTC().Format(time.RFC3339Nano)}.encode()
}
