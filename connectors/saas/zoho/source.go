package zoho

import (
	"context"
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

// cursor is a source's position: the last change read (its Modified_Time
// and id: ties in a second are ordered by id) and the last delete read
// (its deleted_time and id).
type cursor struct {
	V   int    `json:"v"`
	T   string `json:"t,omitempty"`
	ID  string `json:"id,omitempty"`
	DT  string `json:"dt,omitempty"`
	DID string `json:"did,omitempty"`
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	if err := erp.DecodeCursor(s, &c); err != nil || c.V != 1 {
		return cursor{}, connectors.Permanent(fmt.Errorf("invalid cursor %q", s))
	}
	for _, t := range []string{c.T, c.DT} {
		if _, err := time.Parse(time.RFC3339, t); t != "" && err != nil {
			return cursor{}, connectors.Permanent(fmt.Errorf("invalid cursor %q", s))
		}
	}
	return c, nil
}

func (c cursor) encode() string {
	c.V = 1
	return erp.EncodeCursor(c)
}

// after reports whether (t, id) comes after (at, aid).
func after(t time.Time, id string, at time.Time, aid string) bool {
	if !t.Equal(at) {
		return t.After(at)
	}
	return lessID(aid, id)
}

// Read returns the records of entity changed after cursor, oldest first
// (ties in a second by id), then the deletes after it, at most max (and
// page_size). Changes are found with COQL on (Modified_Time, id), a
// keyset that pages past Zoho's 2,000-record list limit and does not
// shift when records change while it is read (a changed record moves to
// the end, where it is read again). Changes and deletes younger than
// settle by Zoho's clock wait for a later read: Modified_Time has whole
// seconds, and a second is complete only once it has passed. The records
// are read again by id for their line items and lookups; a line item's
// product gets its code (Product_Name.Product_Code). With nothing new it
// polls every poll_interval until ctx is done.
func (c *Conn) Read(ctx context.Context, entity, cur string, max int) (connectors.Batch, error) {
	e, err := c.entity(entity)
	if err != nil {
		return connectors.Batch{}, err
	}
	if max <= 0 || max > c.cfg.PageSize {
		max = c.cfg.PageSize
	}
	b, err := connectors.Poll(ctx, c.cfg.PollInterval, cur, func(cur string) (connectors.Batch, error) {
		return c.readOnce(ctx, e, cur, max)
	})
	if err != nil {
		return connectors.Batch{}, fmt.Errorf("zoho %s: read %s: %w", c.name, entity, err)
	}
	return b, nil
}

func (c *Conn) readOnce(ctx context.Context, e *entity, cur string, max int) (connectors.Batch, error) {
	st, err := decodeCursor(cur)
	if err != nil {
		return connectors.Batch{}, err
	}
	recs, at, st, err := c.readChanges(ctx, e, st, max)
	if err != nil {
		return connectors.Batch{}, err
	}
	if st.DT == "" {
		// From the beginning, deletes count from now on: the records
		// deleted before were never read, so their deletes mean nothing.
		st.DT = zohoTime(at.Add(-c.settle() - time.Second))
	} else if e.deletes() && len(recs) < max {
		var dels []connectors.Record
		dels, st, err = c.readDeletes(ctx, e, st, max-len(recs))
		if err != nil {
			return connectors.Batch{}, err
		}
		recs = append(recs, dels...)
	}
	return connectors.Batch{Records: recs, Cursor: st.encode()}, nil
}

// changesQuery is the COQL of the changes after st.
func changesQuery(module string, st cursor, limit int) string {
	where := "Modified_Time is not null"
	switch {
	case st.T != "" && st.ID != "":
		t := quote(st.T)
		where = fmt.Sprintf("(Modified_Time > %s or (Modified_Time = %s and id > %s))", t, t, st.ID)
	case st.T != "":
		where = "Modified_Time >= " + quote(st.T)
	}
	return fmt.Sprintf("select id, Modified_Time from %s where %s order by Modified_Time asc, id asc limit %d", module, where, limit)
}

// readChanges reads the changes after st; at is Zoho's time of the answer.
func (c *Conn) readChanges(ctx context.Context, e *entity, st cursor, max int) (recs []connectors.Record, at time.Time, _ cursor, _ error) {
	rows, _, at, err := c.coql(ctx, "read changes of "+e.module, changesQuery(e.module, st, max), max)
	if err != nil {
		return nil, at, st, err
	}
	cut := at.Add(-c.settle())
	type key struct {
		id string
		t  time.Time
	}
	var keys []key
	var ids []string
	for _, r := range rows {
		id := erp.Text(r.Get("id"))
		t, err := parseTime(erp.Text(r.Get("Modified_Time")))
		if id == "" || err != nil {
			return nil, at, st, connectors.Retryable(fmt.Errorf("COQL row %s: no id or Modified_Time", id), 0)
		}
		if !t.Before(cut) {
			break // this second may still get changes: the next read takes it
		}
		keys = append(keys, key{id, t})
		ids = append(ids, id)
	}
	full, err := c.fetch(ctx, e, ids)
	if err != nil {
		return nil, at, st, err
	}
	var data []mapping.Value
	var out []connectors.Record
	for _, k := range keys {
		st.T, st.ID = zohoTime(k.t), k.id
		r, ok := full[k.id]
		if !ok {
			continue // deleted since: the deleted records list brings it
		}
		v := k.t
		if t, err := parseTime(erp.Text(r.Get("Modified_Time"))); err == nil {
			v = t
		}
		out = append(out, connectors.Record{Entity: e.name, Key: k.id, Op: connectors.OpUpsert, Version: v})
		data = append(data, r)
	}
	if data, err = c.withCodes(ctx, e.cfg.LineItems, data); err != nil {
		return nil, at, st, err
	}
	for i := range out {
		out[i].Data = data[i]
	}
	return out, at, st, nil
}

// maxDeletedPages bounds one read of the deleted records list.
const maxDeletedPages = 50

// readDeletes reads the deletes after st from the deleted records list
// (If-Modified-Since a second before the cursor, pages of 200, newest
// first), oldest first.
func (c *Conn) readDeletes(ctx context.Context, e *entity, st cursor, max int) ([]connectors.Record, cursor, error) {
	var since time.Time
	h := http.Header{}
	if st.DT != "" {
		since, _ = time.Parse(time.RFC3339, st.DT)
		h.Set("If-Modified-Since", zohoTime(since.Add(-time.Second)))
	}
	type del struct {
		id  string
		t   time.Time
		rec mapping.Value
	}
	var dels []del
	var cut time.Time
	for page := 1; page <= maxDeletedPages; page++ {
		q := url.Values{"type": {"all"}, "per_page": {"200"}, "page": {strconv.Itoa(page)}}
		resp, err := c.call(ctx, erp.Request{Op: "read deleted " + e.module, Method: http.MethodGet,
			Path: "/" + url.PathEscape(e.module) + "/deleted", Query: q, Header: h, Idempotent: true}, 1)
		if err != nil {
			return nil, st, err
		}
		if page == 1 {
			cut = c.serverTime(resp).Add(-c.settle())
		}
		if resp.Status == http.StatusNoContent || len(resp.Body) == 0 {
			break
		}
		rows, more, err := parseRows(resp.Body)
		if err != nil {
			return nil, st, connectors.Retryable(fmt.Errorf("read deleted %s: %w", e.module, err), 0)
		}
		for _, r := range rows {
			id := erp.Text(r.Get("id"))
			t, err := parseTime(erp.Text(r.Get("deleted_time")))
			if id == "" || err != nil || !t.Before(cut) || (st.DT != "" && !after(t, id, since, st.DID)) {
				continue
			}
			dels = append(dels, del{id, t, r})
		}
		if !more {
			break
		}
	}
	sort.Slice(dels, func(i, j int) bool { return after(dels[j].t, dels[j].id, dels[i].t, dels[i].id) })
	if len(dels) > max {
		dels = dels[:max]
	}
	out := make([]connectors.Record, 0, len(dels))
	for _, d := range dels {
		st.DT, st.DID = zohoTime(d.t), d.id
		out = append(out, connectors.Record{Entity: e.name, Key: d.id, Op: connectors.OpDelete, Version: d.t, Data: d.rec})
	}
	return out, st, nil
}

// DescribeCursor says where a cursor stands.
func (c *Conn) DescribeCursor(_ context.Context, entity, cur string) (string, error) {
	if _, err := c.entity(entity); err != nil {
		return "", err
	}
	st, err := decodeCursor(cur)
	if err != nil {
		return "", err
	}
	if st.T == "" && st.DT == "" {
		return "the beginning: every record, and deletes from the first read on", nil
	}
	s := "changes after " + st.T
	if st.ID != "" {
		s += " (id " + st.ID + ")"
	}
	if st.DT != "" {
		s += "; deletes after " + st.DT
	}
	return s, nil
}

// CursorSince is the cursor from which Read returns every change and
// delete at or after since.
func (c *Conn) CursorSince(_ context.Context, entity string, since time.Time) (string, error) {
	if _, err := c.entity(entity); err != nil {
		return "", err
	}
	t := zohoTime(since.Truncate(time.Second))
	return cursor{T: t, DT: zohoTime(since.Truncate(time.Second).Add(-time.Second))}.encode(), nil
}

// settle is the settle setting (its default when unset).
func (c *Conn) settle() time.Duration {
	if c.cfg.Settle == nil {
		return 2 * time.Second
	}
	return *c.cfg.Settle
}
