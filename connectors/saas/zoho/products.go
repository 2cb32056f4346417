package zoho

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/saas"
	"github.com/crmhub/hub/mapping"
)

// productCache maps product ids to their codes (SKUs) and back. Line items
// name their product by id; the hub's records name it by SKU.
type productCache struct {
	module, codeField string

	mu     sync.Mutex
	byID   map[string]string
	byCode map[string]string
}

func newProductCache(module, codeField string) *productCache {
	return &productCache{module: module, codeField: codeField, byID: map[string]string{}, byCode: map[string]string{}}
}

// inChunk is how many values one COQL "in" takes here.
const inChunk = 50

// lookup fills the cache with the products whose field (id or the code
// field) is one of values, and returns the values still unknown.
func (c *Conn) lookupProducts(ctx context.Context, field string, values []string) error {
	pc := c.products
	pc.mu.Lock()
	var missing []string
	for _, v := range dedupe(values) {
		known := false
		if field == "id" {
			_, known = pc.byID[v]
		} else {
			_, known = pc.byCode[v]
		}
		if !known && v != "" {
			missing = append(missing, v)
		}
	}
	pc.mu.Unlock()
	for start := 0; start < len(missing); start += inChunk {
		part := missing[start:min(len(missing), start+inChunk)]
		quoted := make([]string, len(part))
		for i, v := range part {
			quoted[i] = quote(v)
		}
		q := fmt.Sprintf("select id, %s from %s where %s in (%s) limit %d", pc.codeField, pc.module, field, strings.Join(quoted, ", "), 200)
		rows, _, _, err := c.coql(ctx, "look up products", q, 200)
		if err != nil {
			return fmt.Errorf("look up %s by %s: %w", pc.module, field, err)
		}
		pc.mu.Lock()
		for _, r := range rows {
			id, code := erp.Text(r.Get("id")), erp.Text(r.Get(pc.codeField))
			pc.byID[id] = code
			if code != "" {
				pc.byCode[code] = id
			}
		}
		pc.mu.Unlock()
	}
	return nil
}

// withCodes adds the product code to each line item's Product_Name of
// recs (the line items subform li), looking up products not cached yet.
func (c *Conn) withCodes(ctx context.Context, li string, recs []mapping.Value) ([]mapping.Value, error) {
	if li == "" {
		return recs, nil
	}
	var ids []string
	for _, r := range recs {
		for _, it := range r.Get(li).Elems() {
			if id := erp.Text(it.Get("Product_Name").Get("id")); id != "" {
				ids = append(ids, id)
			}
		}
	}
	if err := c.lookupProducts(ctx, "id", ids); err != nil {
		return nil, err
	}
	pc := c.products
	pc.mu.Lock()
	defer pc.mu.Unlock()
	out := make([]mapping.Value, len(recs))
	for i, r := range recs {
		items := r.Get(li).Elems()
		if items == nil {
			out[i] = r
			continue
		}
		next := make([]mapping.Value, len(items))
		for j, it := range items {
			p := it.Get("Product_Name")
			code, ok := pc.byID[erp.Text(p.Get("id"))]
			if ok && p.Kind() == mapping.Object {
				p = saas.With(p, pc.codeField, mapping.StringValue(code))
			}
			next[j] = saas.With(it, "Product_Name", p)
		}
		out[i] = saas.With(r, li, mapping.ArrayValue(next))
	}
	return out, nil
}

// productIDs resolves the product codes of the line items of recs to ids:
// a line item names its product as {"Product_Name": {"<code field>":
// "SKU-1"}} (or by id). A code Zoho does not have is the record's fault.
func (c *Conn) productIDs(ctx context.Context, li string, recs []mapping.Value) ([]mapping.Value, []error, error) {
	errs := make([]error, len(recs))
	if li == "" {
		return recs, errs, nil
	}
	pc := c.products
	var codes []string
	for _, r := range recs {
		for _, it := range r.Get(li).Elems() {
			if code := erp.Text(it.Get("Product_Name").Get(pc.codeField)); code != "" {
				codes = append(codes, code)
			}
		}
	}
	if err := c.lookupProducts(ctx, pc.codeField, codes); err != nil {
		return nil, nil, err
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	out := make([]mapping.Value, len(recs))
	for i, r := range recs {
		items := r.Get(li).Elems()
		next := make([]mapping.Value, len(items))
		for j, it := range items {
			p := it.Get("Product_Name")
			if id := erp.Text(p.Get("id")); id != "" {
				next[j] = saas.With(it, "Product_Name", mapping.ObjectValue(mapping.Member{Key: "id", Value: mapping.StringValue(id)}))
				continue
			}
			code := erp.Text(p.Get(pc.codeField))
			id, ok := pc.byCode[code]
			if !ok {
				errs[i] = connectors.Permanent(fmt.Errorf("line %d: no product with %s %q in Zoho's %s", j+1, pc.codeField, code, pc.module))
				break
			}
			next[j] = saas.With(it, "Product_Name", mapping.ObjectValue(mapping.Member{Key: "id", Value: mapping.StringValue(id)}))
		}
		if items != nil {
			r = saas.With(r, li, mapping.ArrayValue(next))
		}
		out[i] = r
	}
	return out, errs, nil
}
