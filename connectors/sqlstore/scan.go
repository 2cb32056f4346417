package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/crmhub/hub/connectors"
)

// Scans lists the configured entities: every table can be listed in key
// order.
func (c *Conn) Scans() []string { return c.Entities() }

// positionPrefix starts a scan position; the rest is the last key handed
// out, as text.
const positionPrefix = "k:"

// Scan returns the rows of entity after position (with their lines, as
// Read gives them), in key order, at most max (capped by batch_size). The
// position is the last key of the page before: the next page asks for
// keys greater than it, compared as the key column's type (integers as
// integers, text in the column's collation), so a resumed scan neither
// skips nor repeats a row that did not change meanwhile, and a row added
// or deleted meanwhile shows or not by its key alone. Next is "" on the
// last page.
func (c *Conn) Scan(ctx context.Context, entityName, position string, max int) (connectors.Page, error) {
	db, e, err := c.started(entityName)
	if err != nil {
		return connectors.Page{}, err
	}
	if max <= 0 || max > e.cfg.BatchSize {
		max = e.cfg.BatchSize
	}
	q, args := c.selectFrom(e), []any{}
	k := c.d.ident(e.cfg.Key)
	if position != "" {
		after, ok := strings.CutPrefix(position, positionPrefix)
		if !ok {
			return connectors.Page{}, connectors.Permanent(fmt.Errorf("sqlstore %s: scan %s: invalid position %q", c.name, entityName, position))
		}
		q += " WHERE " + k + " > ?"
		args = append(args, keyArg(after, e.t.types[e.cfg.Key]))
	}
	// One row more than the page tells whether another page follows.
	rows, err := c.queryRows(ctx, db, e, q+" ORDER BY "+k+" LIMIT ?", append(args, max+1)...)
	if err != nil {
		return connectors.Page{}, fmt.Errorf("sqlstore %s: scan %s: %w", c.name, entityName, err)
	}
	more := len(rows) > max
	if more {
		rows = rows[:max]
	}
	if err := c.attachLines(ctx, db, e, rows); err != nil {
		return connectors.Page{}, fmt.Errorf("sqlstore %s: scan %s: %w", c.name, entityName, err)
	}
	p := connectors.Page{Records: make([]connectors.Record, len(rows))}
	for i, r := range rows {
		p.Records[i] = r.record(e.name)
	}
	if more {
		p.Next = positionPrefix + rows[len(rows)-1].keyS
	}
	return p, nil
}
