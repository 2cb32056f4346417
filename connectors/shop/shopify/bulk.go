package shopify

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

// Backfill returns the cursor of a backfill from since: a bulk operation
// (started by the first Read, so that its id is stored before anything is
// read from it), or with bulk: false a polling cursor from since. total is
// the count of records changed since then (ordersCount, customersCount),
// or -1 when the shop does not tell.
func (c *Conn) Backfill(ctx context.Context, entity string, since time.Time) (string, int64, error) {
	g, err := c.api()
	if err != nil {
		return "", 0, err
	}
	st := cursor{V: 1}
	if *c.cfg.API.Bulk {
		st.Bulk = true
		if !since.IsZero() {
			st.Since = since.UTC().Format(time.RFC3339)
		}
	} else if !since.IsZero() {
		st.T = since.Add(-time.Microsecond).UTC().Format(time.RFC3339Nano)
	}
	return st.encode(), c.count(ctx, g, entity, since), nil
}

// count asks how many records of entity changed since (-1 when unknown).
func (c *Conn) count(ctx context.Context, g *gql, entity string, since time.Time) int64 {
	root := map[string]string{"order": "ordersCount", "customer": "customersCount"}[entity]
	var out map[string]struct {
		Count int64 `json:"count"`
	}
	err := g.do(ctx, "count "+entity, "query Count($query: String) { "+root+"(query: $query, limit: null) { count precision } }",
		map[string]any{"query": sinceQuery(since)}, 1, false, &out)
	if err != nil {
		c.log.Info("the shop does not count the backfill's records", "err", err)
		return -1
	}
	return out[root].Count
}

func sinceQuery(since time.Time) any {
	if since.IsZero() {
		return nil
	}
	return "updated_at:>='" + since.UTC().Format(time.RFC3339) + "'"
}

// CaughtUp reports whether cursor is past the bulk export.
func (c *Conn) CaughtUp(_, cur string) bool {
	st, err := decodeCursor(cur)
	return err == nil && !st.Bulk
}

type bulkOp struct {
	ID          string  `json:"id"`
	Status      string  `json:"status"`
	ErrorCode   *string `json:"errorCode"`
	ObjectCount string  `json:"objectCount"`
	URL         *string `json:"url"`
	CreatedAt   string  `json:"createdAt"`
}

// readBulk reads a batch of a backfill: it starts the export, waits for
// it, then streams its result from the cursor's offset.
func (c *Conn) readBulk(ctx context.Context, g *gql, entity string, st cursor, max int) (connectors.Batch, error) {
	if st.Op == "" {
		op, err := c.startBulk(ctx, g, entity, st.Since)
		if err != nil {
			return connectors.Batch{}, err
		}
		st.Op, st.Start = op.ID, op.CreatedAt
		if st.Start == "" {
			st.Start = c.opts.Now().UTC().Format(time.RFC3339)
		}
		c.log.Info("bulk operation started", "entity", entity, "operation", op.ID)
		return connectors.Batch{Cursor: st.encode()}, nil
	}
	url, err := c.bulkURL(ctx, g, &st)
	if err != nil || url == "" {
		return connectors.Batch{Cursor: st.encode()}, err
	}
	return c.stream(ctx, entity, url, st, max)
}

func (c *Conn) startBulk(ctx context.Context, g *gql, entity, since string) (bulkOp, error) {
	var inner string
	filter := ""
	if since != "" {
		filter = `(query: "updated_at:>='` + since + `'")`
	}
	if entity == "order" {
		inner = "{ orders" + filter + " { edges { node { " + orderFields + " lineItems { edges { node { " + lineItemFields + " } } } } } } }"
	} else {
		inner = "{ customers" + filter + " { edges { node { " + customerFields + " } } } }"
	}
	var out struct {
		Run struct {
			BulkOperation *bulkOp `json:"bulkOperation"`
			UserErrors    []struct {
				Message string `json:"message"`
			} `json:"userErrors"`
		} `json:"bulkOperationRunQuery"`
	}
	q := `mutation Run($query: String!) { bulkOperationRunQuery(query: $query) { bulkOperation { id status createdAt } userErrors { field message } } }`
	if err := g.do(ctx, "start a bulk export of "+entity, q, map[string]any{"query": inner}, 10, true, &out); err != nil {
		return bulkOp{}, err
	}
	if len(out.Run.UserErrors) > 0 || out.Run.BulkOperation == nil {
		msg := "no operation"
		if len(out.Run.UserErrors) > 0 {
			msg = out.Run.UserErrors[0].Message
		}
		// An export runs for this app and shop. It may be this very one:
		// started by an earlier try whose answer never came (a timeout).
		// Then it is adopted; another is waited out.
		if op, ok := c.currentBulk(ctx, g, inner); ok {
			c.log.Info("bulk operation already running for this query; reading it", "entity", entity, "operation", op.ID)
			return op, nil
		}
		return bulkOp{}, connectors.Retryable(fmt.Errorf("start a bulk export of %s: %s", entity, msg), 10*time.Second)
	}
	return *out.Run.BulkOperation, nil
}

// currentBulk returns the app's current bulk operation when it runs (or
// has completed) the query given and has not failed.
func (c *Conn) currentBulk(ctx context.Context, g *gql, query string) (bulkOp, bool) {
	var out struct {
		Op *struct {
			bulkOp
			Query string `json:"query"`
		} `json:"currentBulkOperation"`
	}
	q := `query Current { currentBulkOperation(type: QUERY) { id status errorCode objectCount url createdAt query } }`
	if err := g.do(ctx, "ask for the current bulk operation", q, nil, 1, false, &out); err != nil || out.Op == nil {
		return bulkOp{}, false
	}
	switch out.Op.Status {
	case "CREATED", "RUNNING", "COMPLETED":
		return out.Op.bulkOp, out.Op.Query == query
	}
	return bulkOp{}, false
}

// bulkURL returns the result URL of the cursor's operation once it has
// completed ("" while it runs). An operation that has expired or was
// cancelled is started again (the cursor forgets it); a failed one is an
// error. A completed one without a result (nothing matched) turns the
// cursor into a polling one.
func (c *Conn) bulkURL(ctx context.Context, g *gql, st *cursor) (string, error) {
	c.mu.RLock()
	url, ok := c.bulk[st.Op]
	c.mu.RUnlock()
	if ok {
		return url, nil
	}
	var out struct {
		Node *bulkOp `json:"node"`
	}
	q := `query Op($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount url createdAt } } }`
	if err := g.do(ctx, "ask for bulk operation "+st.Op, q, map[string]any{"id": st.Op}, 1, false, &out); err != nil {
		return "", err
	}
	op := out.Node
	switch {
	case op == nil || op.Status == "EXPIRED" || op.Status == "CANCELED":
		c.log.Warn("bulk operation gone; starting another", "operation", st.Op)
		st.Op, st.Off = "", 0
		return "", nil
	case op.Status == "FAILED":
		code := ""
		if op.ErrorCode != nil {
			code = *op.ErrorCode
		}
		return "", connectors.Retryable(fmt.Errorf("bulk operation %s failed: %s", st.Op, code), time.Minute)
	case op.Status != "COMPLETED":
		return "", nil
	case op.URL == nil || *op.URL == "":
		*st = caughtUp(*st)
		return "", nil
	}
	c.mu.Lock()
	c.bulk[st.Op] = *op.URL
	c.mu.Unlock()
	return *op.URL, nil
}

// caughtUp is the polling cursor that follows an export: from its start.
func caughtUp(st cursor) cursor {
	return cursor{V: 1, T: st.Start}
}

// stream reads up to max records of the export from the cursor's byte
// offset (an HTTP range: nothing before it is sent again) and stops the
// download there. A record's line items follow it (__parentId), so a
// batch ends only where the next record begins.
func (c *Conn) stream(ctx context.Context, entity, url string, st cursor, max int) (connectors.Batch, error) {
	body, err := c.openRange(ctx, url, st.Off)
	if err != nil {
		return connectors.Batch{}, err
	}
	defer body.Close()
	r := bufio.NewReaderSize(body, 64<<10)
	var (
		recs  []connectors.Record
		cur   mapping.Value // the record being read
		lines []mapping.Value
		off   = st.Off // where cur began
		pos   = st.Off
	)
	flush := func() error {
		if cur.IsNull() {
			return nil
		}
		v := customerREST(cur)
		if entity == "order" {
			v = orderREST(cur, lines)
		}
		rec, err := record(entity, v)
		if err != nil {
			return connectors.Permanent(fmt.Errorf("bulk result at byte %d: %w", off, err))
		}
		recs = append(recs, rec)
		cur, lines = mapping.Value{}, nil
		return nil
	}
	for {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return connectors.Batch{}, connectors.Retryable(fmt.Errorf("read the bulk result at byte %d: %w", pos, rerr), 0)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			v, err := mapping.ParseJSON(line)
			if err != nil {
				return connectors.Batch{}, connectors.Retryable(fmt.Errorf("bulk result at byte %d: %w", pos, err), 0)
			}
			if v.Get("__parentId").IsNull() {
				if len(recs) == max-1 && !cur.IsNull() {
					// cur completes the batch; this line begins the next.
					if err := flush(); err != nil {
						return connectors.Batch{}, err
					}
					st.Off = pos
					return connectors.Batch{Records: recs, Cursor: st.encode()}, nil
				}
				if err := flush(); err != nil {
					return connectors.Batch{}, err
				}
				cur, off = v, pos
			} else {
				lines = append(lines, v)
			}
		}
		pos += int64(len(line))
		if rerr != nil {
			break
		}
	}
	if err := flush(); err != nil {
		return connectors.Batch{}, err
	}
	c.log.Info("bulk export read to the end", "entity", entity, "operation", st.Op, "bytes", pos)
	return connectors.Batch{Records: recs, Cursor: caughtUp(st).encode()}, nil
}

// openRange GETs url from byte off on (a signed storage URL: no
// credentials of the shop's go with it).
func (c *Conn) openRange(ctx context.Context, url string, off int64) (io.ReadCloser, error) {
	c.mu.RLock()
	hc := c.http
	c.mu.RUnlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, connectors.Permanent(fmt.Errorf("bulk result URL: %w", err))
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, connectors.Retryable(fmt.Errorf("download the bulk result: %w", err), 0)
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		return resp.Body, nil
	case resp.StatusCode == http.StatusOK:
		// No range support: skip what was read already.
		if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			resp.Body.Close()
			return nil, connectors.Retryable(fmt.Errorf("download the bulk result: skip %d bytes: %w", off, err), 0)
		}
		return resp.Body, nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		resp.Body.Close()
		return io.NopCloser(bytes.NewReader(nil)), nil // at the end already
	}
	resp.Body.Close()
	after := time.Duration(0)
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		after = time.Duration(s) * time.Second
	}
	err = fmt.Errorf("download the bulk result: HTTP %d", resp.StatusCode)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return nil, connectors.Retryable(err, after)
	}
	return nil, connectors.Permanent(err)
}
