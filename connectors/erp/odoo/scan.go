package odoo

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/crmhub/hub/connectors"
)

// Scans lists the configured entities: each model is listed in id order.
func (c *Conn) Scans() []string { return append([]string(nil), c.cfg.Entities...) }

// positionPrefix starts a scan position; the rest is the last record id
// handed out.
const positionPrefix = "id:"

// Scan returns the records of entity after position in id order
// (archived partners included; invoices are customer invoices), at most
// max (capped by batch_size), shaped and enriched as Read gives them.
// Odoo's ids only grow, so a scan resumed from a position neither skips
// nor repeats a record that did not change meanwhile. Next is "" on the
// last page.
func (c *Conn) Scan(ctx context.Context, entity, position string, max int) (connectors.Page, error) {
	r, octx, err := c.started(entity)
	if err != nil {
		return connectors.Page{}, err
	}
	if max <= 0 || max > c.cfg.BatchSize {
		max = c.cfg.BatchSize
	}
	var last int64
	if position != "" {
		s, ok := strings.CutPrefix(position, positionPrefix)
		if last, err = strconv.ParseInt(s, 10, 64); !ok || err != nil || last < 0 {
			return connectors.Page{}, connectors.Permanent(fmt.Errorf("odoo %s: scan %s: invalid position %q", c.name, entity, position))
		}
	}
	// One row more than the page tells whether another page follows; its
	// lines are not read.
	rows, err := r.searchRead(ctx, modelOf(entity), readContext(octx), and(baseDomain(entity), []any{"id", ">", last}),
		readFields(entity), 0, max+1, "id asc")
	if err != nil {
		return connectors.Page{}, fmt.Errorf("odoo %s: scan %s after id %d: %w", c.name, entity, last, err)
	}
	more := len(rows) > max
	if more {
		rows = rows[:max]
	}
	recs, err := c.records(ctx, r, octx, entity, rows)
	if err != nil {
		return connectors.Page{}, fmt.Errorf("odoo %s: scan %s after id %d: %w", c.name, entity, last, err)
	}
	p := connectors.Page{Records: recs}
	if more {
		p.Next = positionPrefix + recs[len(recs)-1].Key
	}
	return p, nil
}
