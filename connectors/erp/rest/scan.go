package rest

import (
	"context"
	"fmt"
	"slices"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// Scans lists the configured entities: every list can be paged through.
func (c *Conn) Scans() []string { return append([]string(nil), c.names...) }

// scanPos is a scan position: the page holding the last record handed
// out, that record's index in it and the ids of the last few records
// handed out (the anchors, newest last). A list paged by number or offset
// is addressed by index (N, the last record's place in the list, counted
// in pages of the configured size for page numbers); one paged by cursor
// or link by the server's token for the page (At) and the index after the
// last record in it (I).
type scanPos struct {
	V   int      `json:"v"`
	N   int      `json:"n,omitempty"`
	At  pageAt   `json:"a"`
	I   int      `json:"i,omitempty"`
	IDs []string `json:"l"`
}

// anchors is how many of the last ids a position keeps: when the last
// record handed out left the list, the one before it still marks the
// place.
const anchors = 3

// Scan returns the records of entity's list after position, in the list's
// order, at most max (capped by batch_size), reading each again with Get
// under read_each. A record listed twice on one page is handed out once.
//
// How exactly a scan resumes depends on the list, so the list should have
// a total order (ERPNext: order_by: name asc, or modified asc, name asc):
//
//   - page, offset and none: the position holds the last record's place
//     and the ids of the last three records handed out. The next call
//     reads the page holding that place again and checks the last record
//     is still there; when records before it were added or removed (or
//     moved away by an ordering on change time), it finds the newest of
//     the three on that page or the one before and goes on after it. So
//     the scan neither skips nor repeats records that did not change,
//     unless more than a page of records before the position went, or
//     all three records left the list: then it goes on from that place,
//     which may skip or repeat as many records as moved.
//   - cursor and link: the position holds the server's token for the page
//     of the last record and its index there. A page is read again only
//     when the call before stopped inside it; its records are checked the
//     same way. Across pages the server's own cursor decides, which is
//     exact for the keyset cursors most APIs hand out.
//
// Next is "" once the list ends.
func (c *Conn) Scan(ctx context.Context, entity, position string, max int) (connectors.Page, error) {
	cl, e, err := c.started(entity)
	if err != nil {
		return connectors.Page{}, err
	}
	if max <= 0 || max > e.cfg.BatchSize {
		max = e.cfg.BatchSize
	}
	var pos scanPos
	if position != "" {
		if err := erp.DecodeCursor(position, &pos); err != nil || pos.V != 1 || len(pos.IDs) == 0 {
			return connectors.Page{}, connectors.Permanent(fmt.Errorf("rest %s: scan %s: invalid position %q", c.name, entity, position))
		}
	}
	s := &scan{cl: cl, e: e, q: e.query(nil, "", ""), op: "scan " + e.name}
	p, err := s.run(ctx, pos, position == "", max)
	if err != nil {
		return connectors.Page{}, fmt.Errorf("rest %s: scan %s: %w", c.name, entity, err)
	}
	return p, nil
}

// scan is one Scan call.
type scan struct {
	cl *erp.Client
	e  *entity
	q  map[string][]string
	op string
}

// window is a fetched page and where it sits: for page and offset lists
// the list index of its first record (base), for cursor and link lists
// the token it was fetched with.
type window struct {
	listPage
	at   pageAt
	base int
}

// indexed reports whether pages are addressed by place in the list.
func (s *scan) indexed() bool { return s.e.page.kind != PageCursor && s.e.page.kind != PageLink }

// fetch fetches the page at at.
func (s *scan) fetch(ctx context.Context, at pageAt) (window, error) {
	base := 0
	switch s.e.page.kind {
	case PageNumber:
		base = at.Page * s.e.page.size
	case PageOffset:
		base = at.Offset
	}
	pg, err := fetchPage(ctx, s.cl, s.e, s.q, at, s.e.page.size, base, s.op)
	return window{listPage: pg, at: at, base: base}, err
}

// fetchAt fetches the page holding list index n (page, offset, none): a
// page starting there for an offset list.
func (s *scan) fetchAt(ctx context.Context, n int) (window, error) {
	switch s.e.page.kind {
	case PageNumber:
		return s.fetch(ctx, pageAt{Page: n / s.e.page.size})
	case PageOffset:
		return s.fetch(ctx, pageAt{Offset: n})
	}
	return s.fetch(ctx, pageAt{})
}

// find returns the index on w's page of the newest anchor it holds and
// how new that anchor is (0 the last record handed out, 1 the one before,
// ...), or -1.
func (s *scan) find(w window, ids []string) (int, int) {
	at := map[string]int{}
	for i, r := range w.recs {
		if id, err := s.e.idOf(r); err == nil {
			at[id] = i
		}
	}
	for age := 0; age < len(ids); age++ {
		if i, ok := at[ids[len(ids)-1-age]]; ok {
			return i, age
		}
	}
	return -1, -1
}

// resume returns the page to go on from and the index of the first record
// on it not handed out yet.
func (s *scan) resume(ctx context.Context, pos scanPos, start bool) (window, int, error) {
	if start {
		w, err := s.fetchAt(ctx, 0)
		return w, 0, err
	}
	if !s.indexed() {
		w, err := s.fetch(ctx, pos.At)
		if err != nil {
			return window{}, 0, err
		}
		if j, _ := s.find(w, pos.IDs); j >= 0 {
			return w, j + 1, nil
		}
		return w, min(pos.I, len(w.recs)), nil
	}
	w, err := s.fetchAt(ctx, pos.N)
	if err != nil {
		return window{}, 0, err
	}
	j, age := s.find(w, pos.IDs)
	if age == 0 {
		return w, j + 1, nil // in place, or moved within the page
	}
	if w.base > 0 && s.e.page.kind != PageNone {
		// Records before it went: look on the page before too.
		prev, err := s.fetchAt(ctx, max(0, w.base-s.e.page.size))
		if err != nil {
			return window{}, 0, err
		}
		if pj, page := s.find(prev, pos.IDs); pj >= 0 && (j < 0 || page < age) {
			return prev, pj + 1, nil
		}
	}
	if j >= 0 {
		return w, j + 1, nil
	}
	// The anchors left the list: what now holds the place comes next.
	return w, min(pos.N-w.base, len(w.recs)), nil
}

// run collects up to max records from pos.
func (s *scan) run(ctx context.Context, pos scanPos, start bool, max int) (connectors.Page, error) {
	w, i, err := s.resume(ctx, pos, start)
	if err != nil {
		return connectors.Page{}, err
	}
	var out []connectors.Record
	seen := map[string]bool{}
	for pages := 1; ; pages++ {
		for ; i < len(w.recs) && len(out) < max; i++ {
			rec, id, ok, err := s.record(ctx, w.recs[i])
			if err != nil {
				return connectors.Page{}, err
			}
			ids := append(slices.Clone(pos.IDs), id)
			if len(ids) > anchors {
				ids = ids[len(ids)-anchors:]
			}
			pos = scanPos{V: 1, N: w.base + i, At: w.at, I: i + 1, IDs: ids}
			if ok && !seen[id] {
				seen[id] = true
				out = append(out, rec)
			}
		}
		if i < len(w.recs) || len(out) == max && !w.last {
			break // stopped inside the list
		}
		if w.last {
			return connectors.Page{Records: out}, nil
		}
		if pages >= s.e.page.maxPages {
			return connectors.Page{}, connectors.Permanent(fmt.Errorf("%s: stopped after max_pages (%d) pages: the list does not end", s.op, s.e.page.maxPages))
		}
		if w.nextErr != nil {
			return connectors.Page{}, w.nextErr
		}
		if w, err = s.fetch(ctx, w.next); err != nil {
			return connectors.Page{}, err
		}
		i = 0
	}
	if !s.indexed() && pos.I == len(w.recs) && w.nextErr == nil {
		// The page is done: resume from the next one, without reading it again.
		pos.At, pos.I = w.next, 0
	}
	return connectors.Page{Records: out, Next: erp.EncodeCursor(pos)}, nil
}

// record turns a listed record into a scanned one (read again under
// read_each); ok is false for one deleted since it was listed.
func (s *scan) record(ctx context.Context, r mapping.Value) (connectors.Record, string, bool, error) {
	id, err := s.e.idOf(r)
	if err != nil {
		return connectors.Record{}, "", false, connectors.Permanent(err)
	}
	rt, _ := s.e.updatedOf(r)
	if s.e.cfg.ReadEach {
		full, found, err := getRecord(ctx, s.cl, s.e, id)
		if err != nil || !found {
			return connectors.Record{}, id, false, err
		}
		r = full
	}
	return connectors.Record{Entity: s.e.name, Key: id, Op: connectors.OpUpsert, Version: rt, Data: r}, id, true, nil
}
