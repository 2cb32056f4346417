package odoo

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// lookupProducts resolves internal references (default_code) to
// product.product ids, caching what it found (a code not found is asked
// again next time). Archived products are not found.
func (c *Conn) lookupProducts(ctx context.Context, r *rpc, octx map[string]any, codes []string) (map[string]int64, error) {
	out := make(map[string]int64, len(codes))
	var missing []string
	c.mu.RLock()
	for _, code := range codes {
		if id, ok := c.products[code]; ok {
			out[code] = id
		} else if !slices.Contains(missing, code) {
			missing = append(missing, code)
		}
	}
	c.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := r.searchRead(ctx, "product.product", octx, []any{[]any{"default_code", "in", missing}}, []string{"default_code"}, 0, 0, "id")
	if err != nil {
		return nil, fmt.Errorf("look up products %s: %w", strings.Join(missing, ", "), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, row := range rows {
		code := asString(row["default_code"])
		if _, dup := out[code]; code == "" || dup {
			continue
		}
		out[code] = row.ID()
		if c.products != nil {
			c.products[code] = row.ID()
			c.productCodes[row.ID()] = code
		}
	}
	return out, nil
}

// productCodesOf returns the internal references of product ids (archived
// products included), caching them.
func (c *Conn) productCodesOf(ctx context.Context, r *rpc, octx map[string]any, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	var missing []int64
	c.mu.RLock()
	for _, id := range ids {
		if code, ok := c.productCodes[id]; ok {
			out[id] = code
		} else if id > 0 && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	c.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := r.searchRead(ctx, "product.product", withContext(octx, "active_test", false),
		[]any{[]any{"id", "in", missing}}, []string{"default_code"}, 0, 0, "id")
	if err != nil {
		return nil, fmt.Errorf("read the internal references of products: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, row := range rows {
		code := asString(row["default_code"])
		out[row.ID()] = code
		if c.productCodes != nil {
			c.productCodes[row.ID()] = code
			if code != "" {
				if _, dup := c.products[code]; !dup {
					c.products[code] = row.ID()
				}
			}
		}
	}
	return out, nil
}

// countryIDs resolves ISO codes to res.country ids, caching them; a code
// Odoo does not know is missing from the result.
func (c *Conn) countryIDs(ctx context.Context, r *rpc, octx map[string]any, codes []string) (map[string]int64, error) {
	out := make(map[string]int64, len(codes))
	var missing []string
	c.mu.RLock()
	for _, code := range codes {
		if id, ok := c.countries[code]; ok {
			out[code] = id
		} else if !slices.Contains(missing, code) {
			missing = append(missing, code)
		}
	}
	c.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := r.searchRead(ctx, "res.country", octx, []any{[]any{"code", "in", missing}}, []string{"code"}, 0, 0, "id")
	if err != nil {
		return nil, fmt.Errorf("look up countries %s: %w", strings.Join(missing, ", "), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, row := range rows {
		code := strings.ToUpper(asString(row["code"]))
		out[code] = row.ID()
		if c.countries != nil {
			c.countries[code] = row.ID()
			c.countryCodes[row.ID()] = code
		}
	}
	return out, nil
}

// countryCodesOf returns the ISO codes of res.country ids, caching them.
func (c *Conn) countryCodesOf(ctx context.Context, r *rpc, octx map[string]any, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	var missing []int64
	c.mu.RLock()
	for _, id := range ids {
		if code, ok := c.countryCodes[id]; ok {
			out[id] = code
		} else if id > 0 && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	c.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := r.searchRead(ctx, "res.country", octx, []any{[]any{"id", "in", missing}}, []string{"code"}, 0, 0, "id")
	if err != nil {
		return nil, fmt.Errorf("read the codes of countries: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, row := range rows {
		code := strings.ToUpper(asString(row["code"]))
		out[row.ID()] = code
		if c.countryCodes != nil {
			c.countryCodes[row.ID()] = code
			c.countries[code] = row.ID()
		}
	}
	return out, nil
}
