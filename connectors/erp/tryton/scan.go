package tryton

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
// (inactive parties included; invoices in the configured invoice_states),
// at most max (capped by batch_size), shaped as Read gives them. Tryton's
// ids only grow, so a scan resumed from a position neither skips nor
// repeats a record that did not change meanwhile. Next is "" on the last
// page.
func (c *Conn) Scan(ctx context.Context, entity, position string, max int) (connectors.Page, error) {
	r, tctx, err := c.started(entity)
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
			return connectors.Page{}, connectors.Permanent(fmt.Errorf("tryton %s: scan %s: invalid position %q", c.name, entity, position))
		}
	}
	// One record more than the page tells whether another page follows.
	rows, err := r.searchRead(ctx, modelOf(entity), withActiveTest(tctx), and(c.baseDomain(entity), []any{"id", ">", last}),
		0, max+1, [][2]string{{"id", "ASC"}}, readFields(entity))
	if err != nil {
		return connectors.Page{}, fmt.Errorf("tryton %s: scan %s after id %d: %w", c.name, entity, last, err)
	}
	more := len(rows) > max
	if more {
		rows = rows[:max]
	}
	p := connectors.Page{Records: make([]connectors.Record, len(rows))}
	for i, row := range rows {
		p.Records[i] = record(entity, row)
	}
	if more {
		p.Next = positionPrefix + idString(rows[len(rows)-1].ID())
	}
	return p, nil
}
