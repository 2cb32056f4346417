package shopify

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// cursor is a source's position. Polling: the last (updated_at, id) read
// and the ids read inside the look-back window behind it (id -> updated_at
// in µs), so that asking again from a little earlier yields only what
// changed again or showed up late in the search index. Backfill (Bulk
// set): the bulk operation and the byte offset of the next record in its
// result; when it is read to the end the cursor turns into a polling one
// from the export's start.
type cursor struct {
	V    int              `json:"v"`
	T    string           `json:"t,omitempty"`
	ID   string           `json:"id,omitempty"`
	Seen map[string]int64 `json:"s,omitempty"`

	Bulk  bool   `json:"bulk,omitempty"`
	Since string `json:"since,omitempty"` // the backfill's start
	Op    string `json:"op,omitempty"`    // the bulk operation's id, once started
	Start string `json:"start,omitempty"` // when it was started
	Off   int64  `json:"off,omitempty"`   // byte offset in its JSONL result
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return cursor{V: 1}, nil
	}
	if err := erp.DecodeCursor(s, &c); err != nil || c.V != 1 {
		return cursor{}, connectors.Permanent(fmt.Errorf("invalid cursor %q", s))
	}
	return c, nil
}

func (c cursor) encode() string {
	c.V = 1
	return erp.EncodeCursor(c)
}

func (c cursor) time() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, c.T)
	return t
}

// lessID orders numeric ids numerically.
func lessID(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

func before(t1 time.Time, id1 string, t2 time.Time, id2 string) bool {
	if !t1.Equal(t2) {
		return t1.Before(t2)
	}
	return lessID(id1, id2)
}

// Read returns the records of entity changed after cursor, oldest first,
// at most max: from a backfill's bulk export, or polled from the GraphQL
// Admin API. With nothing new it asks again every poll_interval until ctx
// ends, then returns an empty batch and the same cursor.
func (c *Conn) Read(ctx context.Context, entity, cur string, max int) (connectors.Batch, error) {
	g, err := c.api()
	if err != nil {
		return connectors.Batch{}, err
	}
	if !c.cfg.has(entity) {
		return connectors.Batch{}, connectors.Permanent(fmt.Errorf("shopify %s: entity %q is not configured", c.name, entity))
	}
	if max <= 0 || max > 10000 {
		max = 1000
	}
	st, err := decodeCursor(cur)
	if err != nil {
		return connectors.Batch{}, err
	}
	var b connectors.Batch
	if st.Bulk {
		b, err = c.readBulkWait(ctx, g, entity, st, max)
	} else {
		b, err = connectors.Poll(ctx, c.cfg.API.PollInterval, cur, func(cur string) (connectors.Batch, error) {
			st, err := decodeCursor(cur)
			if err != nil {
				return connectors.Batch{}, err
			}
			return c.poll(ctx, g, entity, st, max)
		})
	}
	if err != nil {
		return connectors.Batch{}, fmt.Errorf("shopify %s: read %s: %w", c.name, entity, err)
	}
	return b, nil
}

// readBulkWait reads a backfill's batch, waiting (bulk_interval between
// asks) while the export runs; a new cursor (the export started, or read
// to its end) comes back at once, with or without records.
func (c *Conn) readBulkWait(ctx context.Context, g *gql, entity string, st cursor, max int) (connectors.Batch, error) {
	cur := st.encode()
	for {
		b, err := c.readBulk(ctx, g, entity, st, max)
		if err != nil {
			if ctx.Err() != nil {
				return connectors.Batch{Cursor: cur}, nil
			}
			return connectors.Batch{}, err
		}
		if len(b.Records) > 0 || b.Cursor != cur {
			return b, nil
		}
		if c.opts.Sleep(ctx, c.cfg.API.BulkInterval) != nil {
			return connectors.Batch{Cursor: cur}, nil
		}
	}
}

type candidate struct {
	rec connectors.Record
	t   time.Time
	fwd bool // after the cursor, not a re-read of the window
}

// poll reads one batch through GraphQL queries: the records updated since
// the cursor's time less the look-back, in pages, oldest first.
func (c *Conn) poll(ctx context.Context, g *gql, entity string, st cursor, max int) (connectors.Batch, error) {
	t, lb := st.time(), *c.cfg.API.LookBack
	query := ""
	if !t.IsZero() {
		query = "updated_at:>='" + t.Add(-lb).UTC().Format(time.RFC3339) + "'"
	}
	var cands []candidate
	haveCut, cut := false, time.Time{}
	err := c.pages(ctx, g, entity, query, func(recs []connectors.Record) bool {
		for _, r := range recs {
			if haveCut && r.Version.After(cut) {
				return false
			}
			fwd := t.IsZero() || before(t, st.ID, r.Version, r.Key)
			if !fwd {
				seen, ok := st.Seen[r.Key]
				if r.Version.Before(t.Add(-lb)) || ok && seen == r.Version.UnixMicro() {
					continue
				}
			}
			cands = append(cands, candidate{rec: r, t: r.Version, fwd: fwd})
			if !haveCut && len(cands) >= max {
				haveCut, cut = true, r.Version
			}
		}
		return true
	})
	if err != nil {
		return connectors.Batch{}, err
	}
	return batchOf(st, cands, lb, max), nil
}

// batchOf orders the candidates, keeps max of them and moves the cursor.
func batchOf(st cursor, cands []candidate, lb time.Duration, max int) connectors.Batch {
	sort.SliceStable(cands, func(i, j int) bool { return before(cands[i].t, cands[i].rec.Key, cands[j].t, cands[j].rec.Key) })
	if len(cands) > max {
		cands = cands[:max]
	}
	t := st.time()
	for _, cd := range cands {
		if cd.fwd {
			t, st.ID = cd.t, cd.rec.Key
		}
	}
	b := connectors.Batch{Records: make([]connectors.Record, len(cands))}
	for i, cd := range cands {
		b.Records[i] = cd.rec
	}
	if !t.IsZero() {
		st.T = t.UTC().Format(time.RFC3339Nano)
		horizon := t.Add(-lb).UnixMicro()
		seen := map[string]int64{}
		for k, v := range st.Seen {
			if v >= horizon {
				seen[k] = v
			}
		}
		for _, cd := range cands {
			if v := cd.t.UnixMicro(); v >= horizon {
				seen[cd.rec.Key] = v
			}
		}
		st.Seen = seen
	}
	b.Cursor = st.encode()
	return b
}

// connection is one page of a GraphQL connection.
type connection struct {
	PageInfo struct {
		HasNextPage bool   `json:"hasNextPage"`
		EndCursor   string `json:"endCursor"`
	} `json:"pageInfo"`
	Nodes []mapping.Value `json:"nodes"`
}

// pages queries entity page by page (sorted by UPDATED_AT) and hands each
// page's records to fn until the connection ends or fn returns false.
func (c *Conn) pages(ctx context.Context, g *gql, entity, query string, fn func([]connectors.Record) bool) error {
	a := c.cfg.API
	root, fields, cost := "customers", customerFields, 2+a.PageSize*3
	if entity == "order" {
		root = "orders"
		fields = orderFields + " lineItems(first: " + strconv.Itoa(a.LineItems) + ") { pageInfo { hasNextPage endCursor } nodes { " + lineItemFields + " } }"
		cost = pageCost(a.PageSize, a.LineItems)
	}
	q := "query Page($first: Int!, $after: String, $query: String) { " + root +
		"(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } nodes { " + fields + " } } }"
	after := ""
	for {
		vars := map[string]any{"first": a.PageSize, "query": nil, "after": nil}
		if query != "" {
			vars["query"] = query
		}
		if after != "" {
			vars["after"] = after
		}
		var out map[string]connection
		if err := g.do(ctx, "list "+root, q, vars, cost, false, &out); err != nil {
			return err
		}
		page := out[root]
		recs := make([]connectors.Record, 0, len(page.Nodes))
		for _, n := range page.Nodes {
			rec, err := c.native(ctx, g, entity, n)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
		}
		if !fn(recs) || !page.PageInfo.HasNextPage {
			return nil
		}
		after = page.PageInfo.EndCursor
	}
}

// native turns a GraphQL node into a record in the webhook's shape,
// reading the rest of an order's line items when the page had not all.
func (c *Conn) native(ctx context.Context, g *gql, entity string, n mapping.Value) (connectors.Record, error) {
	v := customerREST(n)
	if entity == "order" {
		lines := n.Get("lineItems").Get("nodes").Elems()
		pi := n.Get("lineItems").Get("pageInfo")
		if pi.Get("hasNextPage").Bool() {
			more, err := c.moreLines(ctx, g, n.Get("id").Str(), pi.Get("endCursor").Str())
			if err != nil {
				return connectors.Record{}, err
			}
			lines = append(lines, more...)
		}
		v = orderREST(n, lines)
	}
	rec, err := record(entity, v)
	if err != nil {
		return connectors.Record{}, connectors.Permanent(err)
	}
	return rec, nil
}

// moreLines reads an order's line items after the cursor.
func (c *Conn) moreLines(ctx context.Context, g *gql, orderGID, after string) ([]mapping.Value, error) {
	q := "query Lines($id: ID!, $after: String) { node(id: $id) { ... on Order { lineItems(first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { " +
		lineItemFields + " } } } } }"
	var lines []mapping.Value
	for {
		var out struct {
			Node struct {
				LineItems connection `json:"lineItems"`
			} `json:"node"`
		}
		if err := g.do(ctx, "list line items of "+orderGID, q, map[string]any{"id": orderGID, "after": after}, 2+50*5, false, &out); err != nil {
			return nil, err
		}
		lines = append(lines, out.Node.LineItems.Nodes...)
		if !out.Node.LineItems.PageInfo.HasNextPage {
			return lines, nil
		}
		after = out.Node.LineItems.PageInfo.EndCursor
	}
}
