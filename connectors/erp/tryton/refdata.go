package tryton

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// searchRead is model.<m>.search_read(domain, offset, limit, order, fields).
func (r *rpc) searchRead(ctx context.Context, model string, tctx map[string]any, domain []any, offset, limit int, order [][2]string, fields []string) ([]Row, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	var ord any
	if len(order) > 0 {
		o := make([][]string, len(order))
		for i, p := range order {
			o[i] = []string{p[0], p[1]}
		}
		ord = o
	}
	if domain == nil {
		domain = []any{}
	}
	var rows []Row
	if err := r.model(ctx, model, "search_read", tctx, &rows, domain, offset, lim, ord, fields); err != nil {
		return nil, err
	}
	return rows, nil
}

// products resolves product codes to ids and sale units, caching what it
// found (products are reference data; a code not found is asked again).
func (c *Conn) lookupProducts(ctx context.Context, r *rpc, tctx map[string]any, codes []string) (map[string]product, error) {
	out := make(map[string]product, len(codes))
	var missing []string
	c.mu.RLock()
	for _, code := range codes {
		if p, ok := c.productCache[code]; ok {
			out[code] = p
		} else if !contains(missing, code) {
			missing = append(missing, code)
		}
	}
	c.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := r.searchRead(ctx, "product.product", tctx, []any{[]any{"code", "in", missing}}, 0, 0, nil,
		[]string{"code", "default_uom", "template.sale_uom"})
	if err != nil {
		return nil, fmt.Errorf("look up products %s: %w", strings.Join(missing, ", "), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, row := range rows {
		p := product{id: row.ID(), unit: erp.AsInt(row["default_uom"])}
		if t, ok := row["template."].(map[string]any); ok && erp.AsInt(t["sale_uom"]) != 0 {
			p.unit = erp.AsInt(t["sale_uom"])
		}
		code := asString(row["code"])
		if _, dup := out[code]; !dup {
			out[code] = p
			if c.productCache != nil {
				c.productCache[code] = p
			}
		}
	}
	return out, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// loadUnits reads every unit of measure once (a short list).
func (c *Conn) loadUnits(ctx context.Context, r *rpc, tctx map[string]any) (map[string]int64, map[int64]string, error) {
	c.mu.RLock()
	u, s := c.units, c.unitSym
	c.mu.RUnlock()
	if u != nil {
		return u, s, nil
	}
	rows, err := r.searchRead(ctx, "product.uom", tctx, nil, 0, 0, [][2]string{{"id", "ASC"}}, []string{"symbol"})
	if err != nil {
		return nil, nil, fmt.Errorf("read the units of measure: %w", err)
	}
	u, s = map[string]int64{}, map[int64]string{}
	for _, row := range rows {
		sym := asString(row["symbol"])
		if _, dup := u[sym]; !dup {
			u[sym] = row.ID()
		}
		s[row.ID()] = sym
	}
	c.mu.Lock()
	c.units, c.unitSym = u, s
	c.mu.Unlock()
	return u, s, nil
}

// codeID resolves an ISO code of model (currency.currency,
// country.country) to its id, caching it.
func (c *Conn) codeID(ctx context.Context, r *rpc, tctx map[string]any, model, code string) (int64, error) {
	cache := func() map[string]int64 {
		if model == "currency.currency" {
			return c.currencies
		}
		return c.countries
	}
	c.mu.RLock()
	id, ok := cache()[code]
	c.mu.RUnlock()
	if ok {
		return id, nil
	}
	rows, err := r.searchRead(ctx, model, tctx, []any{[]any{"code", "=", code}}, 0, 1, nil, []string{"code"})
	if err != nil {
		return 0, fmt.Errorf("look up %s %q: %w", model, code, err)
	}
	if len(rows) == 0 {
		return 0, connectors.Permanent(fmt.Errorf("%s %q does not exist in Tryton", model, code))
	}
	id = rows[0].ID()
	c.mu.Lock()
	if m := cache(); m != nil {
		m[code] = id
	}
	c.mu.Unlock()
	return id, nil
}
