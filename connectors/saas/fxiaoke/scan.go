package fxiaoke

import (
	"context"
	"fmt"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

// scanPos is a scan position: the _id of the last record handed out and
// the offset of the page it was on.
type scanPos struct {
	V      int    `json:"v"`
	Offset int    `json:"o"`
	ID     string `json:"id"`
}

// maxStepsBack bounds how far a resumed scan looks back for its place.
const maxStepsBack = 20

// Scan lists every record of entity not voided, by _id, after position,
// at most max (and page_size) a page, with their detail lines. The query
// pages by offset (a multiple of the page size) in _id order; a resumed
// scan takes only _ids after the position's, and when the page at the
// position's offset begins after it (records before it were voided), it
// steps back a page at a time to find its place: so it neither skips nor
// repeats a record, whatever was added or voided meanwhile.
func (c *Conn) Scan(ctx context.Context, entity, position string, max int) (connectors.Page, error) {
	e, err := c.entity(entity)
	if err != nil {
		return connectors.Page{}, err
	}
	if max <= 0 || max > c.cfg.PageSize {
		max = c.cfg.PageSize
	}
	var pos scanPos
	if position != "" {
		if err := erp.DecodeCursor(position, &pos); err != nil || pos.V != 1 || pos.Offset%c.cfg.PageSize != 0 {
			return connectors.Page{}, connectors.Permanent(fmt.Errorf("fxiaoke %s: scan %s: invalid position %q", c.name, entity, position))
		}
	}
	p, err := c.scan(ctx, e, pos, max)
	if err != nil {
		return connectors.Page{}, fmt.Errorf("fxiaoke %s: scan %s: %w", c.name, entity, err)
	}
	return p, nil
}

func (c *Conn) scan(ctx context.Context, e *entity, pos scanPos, max int) (connectors.Page, error) {
	size := c.cfg.PageSize
	byID := []sortBy{{Field: "_id", Asc: true}}
	op := "scan " + e.cfg.Object
	off := pos.Offset
	var page []row
	for step := 0; ; step++ {
		vals, _, err := c.query(ctx, op, e.cfg.Object, nil, byID, off, size)
		if err != nil {
			return connectors.Page{}, err
		}
		page = page[:0]
		for _, v := range vals {
			r, err := rowOf(v)
			if err != nil {
				return connectors.Page{}, connectors.Retryable(fmt.Errorf("%s: %w", op, err), 0)
			}
			page = append(page, r)
		}
		if off == 0 || pos.ID == "" || step >= maxStepsBack || (len(page) > 0 && page[0].id <= pos.ID) {
			break
		}
		off -= size // the place moved back: records before it went
	}
	var out []row
	last := pos
	for {
		for _, r := range page {
			if len(out) == max {
				break
			}
			if pos.ID != "" && r.id <= pos.ID {
				continue
			}
			out = append(out, r)
			last = scanPos{V: 1, Offset: off, ID: r.id}
		}
		if len(out) == max || len(page) < size {
			break
		}
		off += size
		vals, _, err := c.query(ctx, op, e.cfg.Object, nil, byID, off, size)
		if err != nil {
			return connectors.Page{}, err
		}
		page = page[:0]
		for _, v := range vals {
			r, err := rowOf(v)
			if err != nil {
				return connectors.Page{}, connectors.Retryable(fmt.Errorf("%s: %w", op, err), 0)
			}
			page = append(page, r)
		}
	}
	recs, err := c.records(ctx, e, out)
	if err != nil {
		return connectors.Page{}, err
	}
	p := connectors.Page{Records: recs}
	if len(out) == max {
		p.Next = erp.EncodeCursor(last)
	}
	return p, nil
}
