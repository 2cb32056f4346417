package odoo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// codeTable caches the records of one model by a code field, both ways:
// products by internal reference (default_code), countries by ISO code. A
// code not found is asked again next time. Safe for concurrent use.
type codeTable struct {
	model, field string
	what         string // in errors: "products", "countries"
	upper        bool   // codes are compared in upper case (ISO codes)
	// archived: reading the codes of ids includes archived records (an old
	// invoice's product); looking codes up never does.
	archived bool

	mu     sync.RWMutex
	byCode map[string]int64
	byID   map[int64]string
}

func newCodeTable(model, field, what string, upper, archived bool) *codeTable {
	t := &codeTable{model: model, field: field, what: what, upper: upper, archived: archived}
	t.reset()
	return t
}

// reset forgets everything (a new session may see another database).
func (t *codeTable) reset() {
	t.mu.Lock()
	t.byCode, t.byID = map[string]int64{}, map[int64]string{}
	t.mu.Unlock()
}

func (t *codeTable) code(row Row) string {
	code := asString(row[t.field])
	if t.upper {
		code = strings.ToUpper(code)
	}
	return code
}

// learn caches a record's code, keeping the first id of a code.
func (t *codeTable) learn(id int64, code string) {
	t.byID[id] = code
	if _, dup := t.byCode[code]; code != "" && !dup {
		t.byCode[code] = id
	}
}

// ids resolves codes to record ids; a code the ERP does not know is missing
// from the result.
func (t *codeTable) ids(ctx context.Context, r *rpc, octx map[string]any, codes []string) (map[string]int64, error) {
	out := make(map[string]int64, len(codes))
	var missing []string
	t.mu.RLock()
	for _, code := range codes {
		if id, ok := t.byCode[code]; ok {
			out[code] = id
		} else if !slices.Contains(missing, code) {
			missing = append(missing, code)
		}
	}
	t.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := r.searchRead(ctx, t.model, octx, []any{[]any{t.field, "in", missing}}, []string{t.field}, 0, 0, "id")
	if err != nil {
		return nil, fmt.Errorf("look up %s %s: %w", t.what, strings.Join(missing, ", "), err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, row := range rows {
		code := t.code(row)
		if _, dup := out[code]; code == "" || dup {
			continue
		}
		out[code] = row.ID()
		t.learn(row.ID(), code)
	}
	return out, nil
}

// codes returns the codes of record ids.
func (t *codeTable) codes(ctx context.Context, r *rpc, octx map[string]any, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	var missing []int64
	t.mu.RLock()
	for _, id := range ids {
		if code, ok := t.byID[id]; ok {
			out[id] = code
		} else if id > 0 && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	t.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	if t.archived {
		octx = withContext(octx, "active_test", false)
	}
	rows, err := r.searchRead(ctx, t.model, octx, []any{[]any{"id", "in", missing}}, []string{t.field}, 0, 0, "id")
	if err != nil {
		return nil, fmt.Errorf("read the codes of %s: %w", t.what, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, row := range rows {
		code := t.code(row)
		out[row.ID()] = code
		t.learn(row.ID(), code)
	}
	return out, nil
}
