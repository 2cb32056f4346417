package zoho

import (
	"context"
	"fmt"
	"strings"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// Scan lists every record of entity by id, after position (the last id
// handed out; "" for the start), at most max (and page_size) a page: COQL
// "where id > <position> order by id" is a keyset, so a resumed scan
// neither skips nor repeats a record, whatever changed meanwhile, and
// pages past the 2,000-record list limit. Each record is read by id for
// its line items and lookups. Next is "" once the module is done.
func (c *Conn) Scan(ctx context.Context, entity, position string, max int) (connectors.Page, error) {
	e, err := c.entity(entity)
	if err != nil {
		return connectors.Page{}, err
	}
	if max <= 0 || max > c.cfg.PageSize {
		max = c.cfg.PageSize
	}
	if strings.Trim(position, "0123456789") != "" {
		return connectors.Page{}, connectors.Permanent(fmt.Errorf("zoho %s: scan %s: invalid position %q", c.name, entity, position))
	}
	p, err := c.scan(ctx, e, position, max)
	if err != nil {
		return connectors.Page{}, fmt.Errorf("zoho %s: scan %s: %w", c.name, entity, err)
	}
	return p, nil
}

func (c *Conn) scan(ctx context.Context, e *entity, position string, max int) (connectors.Page, error) {
	where := "id is not null"
	if position != "" {
		where = "id > " + position
	}
	q := fmt.Sprintf("select id from %s where %s order by id asc limit %d", e.module, where, max)
	rows, _, _, err := c.coql(ctx, "scan "+e.module, q, max)
	if err != nil {
		return connectors.Page{}, err
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, erp.Text(r.Get("id")))
	}
	full, err := c.fetch(ctx, e, ids)
	if err != nil {
		return connectors.Page{}, err
	}
	var data []mapping.Value
	var keys []string
	for _, id := range ids {
		if r, ok := full[id]; ok {
			data, keys = append(data, r), append(keys, id)
		}
	}
	if data, err = c.withCodes(ctx, e.cfg.LineItems, data); err != nil {
		return connectors.Page{}, err
	}
	p := connectors.Page{Records: make([]connectors.Record, len(data))}
	for i, r := range data {
		v, _ := parseTime(erp.Text(r.Get("Modified_Time")))
		p.Records[i] = connectors.Record{Entity: e.name, Key: keys[i], Op: connectors.OpUpsert, Version: v, Data: r}
	}
	if len(ids) == max {
		p.Next = ids[len(ids)-1]
	}
	return p, nil
}
