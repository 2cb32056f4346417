package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// errShifted reports that an offset list moved between two pages: the
// first record of a page was not the last of the one before (the pager
// asks for one record of overlap), so a record changed or committed during
// the listing may have shifted across the boundary unseen.
var errShifted = errors.New("the list shifted between two pages")

// listOpts tune one listing.
type listOpts struct {
	op string
	// overlap asks offset pages to overlap by one record and checks it
	// (errShifted), for the source.
	overlap bool
	// size overrides the page size (the start-up probe asks for 1).
	size int
	// onePage stops after the first page.
	onePage bool
}

// list GETs e's list with query q, page after page, and calls fn with the
// records of each page in order until the list ends or fn returns false.
func list(ctx context.Context, cl *erp.Client, e *entity, q url.Values, o listOpts, fn func([]mapping.Value) (bool, error)) error {
	ps := e.page
	size := ps.size
	if o.size > 0 {
		size = o.size
	}
	overlap := o.overlap && ps.kind == PageOffset
	base, err := url.Parse(cl.Config().URL)
	if err != nil {
		return connectors.Permanent(fmt.Errorf("url: %w", err))
	}
	reqPath, reqQuery := e.cfg.List, cloneValues(q)
	if ps.kind != PageNone && ps.sizeParam != "" {
		reqQuery.Set(ps.sizeParam, strconv.Itoa(size))
	}
	page, offset, fetched := ps.firstPage, 0, 0
	var lastID, cursor string
	for n := 0; ; n++ {
		if n >= ps.maxPages {
			return connectors.Permanent(fmt.Errorf("%s: stopped after max_pages (%d) pages: the list does not end", o.op, ps.maxPages))
		}
		switch ps.kind {
		case PageNumber:
			reqQuery.Set(ps.pageParam, strconv.Itoa(page))
		case PageOffset:
			reqQuery.Set(ps.offsetParam, strconv.Itoa(offset))
		case PageCursor:
			if cursor != "" {
				reqQuery.Set(ps.cursorParam, cursor)
			}
		}
		req := erp.Request{Op: o.op, Method: http.MethodGet, Path: reqPath, Query: reqQuery, Idempotent: true,
			Header: http.Header{"Accept": {"application/json"}}}
		var curURL *url.URL
		if reqQuery == nil { // a next link, with its own query
			curURL, _ = url.Parse(reqPath)
		} else if curURL, err = url.Parse(strings.TrimRight(cl.Config().URL, "/") + reqPath); err == nil {
			curURL.RawQuery = reqQuery.Encode()
		}
		if curURL == nil {
			return connectors.Permanent(fmt.Errorf("%s: %q is not a URL", o.op, reqPath))
		}
		resp, err := do(ctx, cl, req)
		if err != nil {
			return err
		}
		body, err := parseBody(resp.Body)
		if err != nil {
			return connectors.Retryable(fmt.Errorf("%s: the reply is not JSON: %w", o.op, err), 0)
		}
		recsV := e.recordsPath.get(body)
		// A missing or null member is an empty page (some APIs leave it out).
		if recsV.Kind() != mapping.Array && !recsV.IsNull() {
			return connectors.Permanent(fmt.Errorf("%s: the reply has no array of records at %s (records:), but a %s", o.op, e.recordsPath, recsV.Kind()))
		}
		recs := recsV.Elems()
		got := len(recs)
		if overlap && offset > 0 && lastID != "" {
			if got == 0 {
				return errShifted
			}
			id, err := e.idOf(recs[0])
			if err != nil || id != lastID {
				return errShifted
			}
			recs = recs[1:]
		}
		if len(recs) > 0 {
			if id, err := e.idOf(recs[len(recs)-1]); err == nil {
				lastID = id
			}
			more, err := fn(recs)
			if err != nil || !more {
				return err
			}
		}
		fetched += len(recs)
		if o.onePage {
			return nil
		}
		// Where next?
		switch ps.kind {
		case PageNone:
			return nil
		case PageNumber, PageOffset:
			if got == 0 || ps.stopEmpty && len(recs) == 0 {
				return nil
			}
			last := false
			tp, tpErr := strconv.Atoi(strings.TrimSpace(resp.Header.Get(ps.totalPagesHeader)))
			total, totalErr := strconv.Atoi(strings.TrimSpace(resp.Header.Get(ps.totalHeader)))
			switch {
			case ps.kind == PageNumber && ps.totalPagesHeader != "" && tpErr == nil:
				last = page >= tp
			case ps.totalHeader != "" && totalErr == nil:
				last = fetched >= total
			default:
				last = got < size && !ps.stopEmpty
			}
			if last {
				return nil
			}
			page++
			if overlap {
				offset += got - 1
			} else {
				offset += got
			}
		case PageCursor:
			next := text(ps.nextCursor.get(body))
			if next == "" {
				return nil
			}
			// has_more, when configured and given, decides (a filtered page
			// may be empty and still have more after it); else an empty
			// page ends the list.
			if hm := ps.hasMore.get(body); len(ps.hasMore) > 0 && hm.Kind() == mapping.Bool {
				if !hm.Bool() {
					return nil
				}
			} else if got == 0 {
				return nil
			}
			if next == cursor {
				return connectors.Permanent(fmt.Errorf("%s: the server sent the same next cursor %q twice", o.op, next))
			}
			cursor = next
		case PageLink:
			next := nextLink(resp.Header.Values("Link"))
			if next == "" {
				return nil
			}
			u, err := curURL.Parse(next)
			if err != nil {
				return connectors.Permanent(fmt.Errorf("%s: next link %q: %w", o.op, next, err))
			}
			if u.Scheme != base.Scheme || u.Host != base.Host {
				return connectors.Permanent(fmt.Errorf("%s: refusing to follow the next link %q off %s://%s (it would carry the credentials there)",
					o.op, next, base.Scheme, base.Host))
			}
			if u.String() == curURL.String() {
				return connectors.Permanent(fmt.Errorf("%s: the next link %q points at the page itself", o.op, next))
			}
			reqPath, reqQuery = u.String(), nil
		}
	}
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q)+2)
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func parseBody(b []byte) (mapping.Value, error) {
	if len(strings.TrimSpace(string(b))) == 0 {
		return mapping.Value{}, nil
	}
	return mapping.ParseJSON(b)
}

// nextLink returns the target of the rel="next" link in RFC 8288 Link
// header values, or "".
func nextLink(values []string) string {
	for _, v := range values {
		for _, link := range splitLinks(v) {
			link = strings.TrimSpace(link)
			if !strings.HasPrefix(link, "<") {
				continue
			}
			end := strings.Index(link, ">")
			if end < 0 {
				continue
			}
			target := link[1:end]
			for _, attr := range strings.Split(link[end+1:], ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(attr), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				val = strings.Trim(strings.TrimSpace(val), `"`)
				for _, rel := range strings.Fields(val) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// splitLinks splits a Link header value at the commas between links (not
// those inside <...> or quotes).
func splitLinks(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' && depth == 0:
			quoted = !quoted
		case c == '<' && !quoted:
			depth++
		case c == '>' && !quoted && depth > 0:
			depth--
		case c == ',' && depth == 0 && !quoted:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}
