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

// pageAt is where a page of a list starts: a page number (page), an
// offset (offset), the server's cursor (cursor) or the URL of a next link
// (link); the zero value is the first page of every kind.
type pageAt struct {
	Page   int    `json:"p,omitempty"` // page numbers counted from 0 here: first_page is added
	Offset int    `json:"o,omitempty"`
	Cursor string `json:"c,omitempty"`
	Link   string `json:"u,omitempty"`
}

// listPage is one page of a list as the server sent it.
type listPage struct {
	recs []mapping.Value
	// last is true when no page follows; next is where the next one
	// starts, unless nextErr says why it must not be followed.
	last    bool
	next    pageAt
	nextErr error
}

// fetchPage GETs the page of e's list (query q, size records a page) that
// starts at at, and works out where the next one starts. For page and
// offset lists, before is the number of records listed before this page
// (the total header's reference).
func fetchPage(ctx context.Context, cl *erp.Client, e *entity, q url.Values, at pageAt, size, before int, op string) (listPage, error) {
	ps := e.page
	reqPath, reqQuery := e.cfg.List, cloneValues(q)
	if ps.kind != PageNone && ps.sizeParam != "" {
		reqQuery.Set(ps.sizeParam, strconv.Itoa(size))
	}
	switch ps.kind {
	case PageNumber:
		reqQuery.Set(ps.pageParam, strconv.Itoa(ps.firstPage+at.Page))
	case PageOffset:
		reqQuery.Set(ps.offsetParam, strconv.Itoa(at.Offset))
	case PageCursor:
		if at.Cursor != "" {
			reqQuery.Set(ps.cursorParam, at.Cursor)
		}
	case PageLink:
		if at.Link != "" {
			reqPath, reqQuery = at.Link, nil // a next link, with its own query
		}
	}
	var curURL *url.URL
	var err error
	if reqQuery == nil {
		curURL, err = url.Parse(reqPath)
	} else if curURL, err = url.Parse(strings.TrimRight(cl.Config().URL, "/") + reqPath); err == nil {
		curURL.RawQuery = reqQuery.Encode()
	}
	if err != nil {
		return listPage{}, connectors.Permanent(fmt.Errorf("%s: %q is not a URL", op, reqPath))
	}
	resp, err := do(ctx, cl, erp.Request{Op: op, Method: http.MethodGet, Path: reqPath, Query: reqQuery, Idempotent: true,
		Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return listPage{}, err
	}
	body, err := parseBody(resp.Body)
	if err != nil {
		return listPage{}, connectors.Retryable(fmt.Errorf("%s: the reply is not JSON: %w", op, err), 0)
	}
	recsV := e.recordsPath.get(body)
	// A missing or null member is an empty page (some APIs leave it out).
	if recsV.Kind() != mapping.Array && !recsV.IsNull() {
		return listPage{}, connectors.Permanent(fmt.Errorf("%s: the reply has no array of records at %s (records:), but a %s", op, e.recordsPath, recsV.Kind()))
	}
	pg := listPage{recs: recsV.Elems()}
	got := len(pg.recs)
	switch ps.kind {
	case PageNone:
		pg.last = true
	case PageNumber, PageOffset:
		tp, tpErr := strconv.Atoi(strings.TrimSpace(resp.Header.Get(ps.totalPagesHeader)))
		total, totalErr := strconv.Atoi(strings.TrimSpace(resp.Header.Get(ps.totalHeader)))
		switch {
		case got == 0:
			pg.last = true
		case ps.kind == PageNumber && ps.totalPagesHeader != "" && tpErr == nil:
			pg.last = ps.firstPage+at.Page >= tp
		case ps.totalHeader != "" && totalErr == nil:
			pg.last = before+got >= total
		default:
			pg.last = got < size && !ps.stopEmpty
		}
		pg.next = pageAt{Page: at.Page + 1, Offset: at.Offset + got}
	case PageCursor:
		next := text(ps.nextCursor.get(body))
		pg.next = pageAt{Cursor: next}
		// has_more, when configured and given, decides (a filtered page
		// may be empty and still have more after it); else an empty page
		// ends the list.
		switch hm := ps.hasMore.get(body); {
		case next == "":
			pg.last = true
		case len(ps.hasMore) > 0 && hm.Kind() == mapping.Bool:
			pg.last = !hm.Bool()
		default:
			pg.last = got == 0
		}
		if !pg.last && next == at.Cursor {
			return listPage{}, connectors.Permanent(fmt.Errorf("%s: the server sent the same next cursor %q twice", op, next))
		}
	case PageLink:
		next := nextLink(resp.Header.Values("Link"))
		if next == "" {
			pg.last = true
			break
		}
		pg.next, pg.nextErr = followable(cl, curURL, next, op)
	}
	return pg, nil
}

// followable resolves a next link against the page's URL and refuses one
// that leaves the server (it would carry the credentials there) or points
// at the page itself.
func followable(cl *erp.Client, page *url.URL, next, op string) (pageAt, error) {
	u, err := page.Parse(next)
	if err != nil {
		return pageAt{}, connectors.Permanent(fmt.Errorf("%s: next link %q: %w", op, next, err))
	}
	base, err := url.Parse(cl.Config().URL)
	if err != nil {
		return pageAt{}, connectors.Permanent(fmt.Errorf("url: %w", err))
	}
	if u.Scheme != base.Scheme || u.Host != base.Host {
		return pageAt{}, connectors.Permanent(fmt.Errorf("%s: refusing to follow the next link %q off %s://%s (it would carry the credentials there)",
			op, next, base.Scheme, base.Host))
	}
	if u.String() == page.String() {
		return pageAt{}, connectors.Permanent(fmt.Errorf("%s: the next link %q points at the page itself", op, next))
	}
	return pageAt{Link: u.String()}, nil
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
	var at pageAt
	fetched := 0
	var lastID string
	for n := 0; ; n++ {
		if n >= ps.maxPages {
			return connectors.Permanent(fmt.Errorf("%s: stopped after max_pages (%d) pages: the list does not end", o.op, ps.maxPages))
		}
		pg, err := fetchPage(ctx, cl, e, q, at, size, fetched, o.op)
		if err != nil {
			return err
		}
		recs := pg.recs
		if overlap && at.Offset > 0 && lastID != "" {
			if len(recs) == 0 {
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
		if o.onePage || pg.last || ps.stopEmpty && len(recs) == 0 {
			return nil
		}
		if pg.nextErr != nil {
			return pg.nextErr
		}
		at = pg.next
		if overlap {
			at.Offset-- // the next page starts with this one's last record
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
