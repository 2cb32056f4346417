package mapping

import (
	"context"
	"fmt"
)

// Lookup is the hook through which a mapping asks the pipeline for values
// it cannot know itself, above all cross-references: the id a referenced
// record has in the target system.
//
// The transform `xref: customer` calls Lookup(ctx, "xref.customer", key)
// and `hook: {name: N}` calls Lookup(ctx, N, key). found=false means the
// key has no value (a per-record field error unless the field is
// optional); a non-nil error means the lookup itself failed (the pipeline
// should retry), and Apply returns it wrapped in a *LookupError.
type Lookup interface {
	Lookup(ctx context.Context, name, key string) (value string, found bool, err error)
}

// LookupFunc adapts a function to Lookup.
type LookupFunc func(ctx context.Context, name, key string) (string, bool, error)

// Lookup calls f.
func (f LookupFunc) Lookup(ctx context.Context, name, key string) (string, bool, error) {
	return f(ctx, name, key)
}

// MapLookup is a Lookup backed by fixed tables, keyed by name then key. It
// is the test double for the pipeline's xref lookups.
type MapLookup map[string]map[string]string

// Lookup returns m[name][key].
func (m MapLookup) Lookup(_ context.Context, name, key string) (string, bool, error) {
	v, ok := m[name][key]
	return v, ok, nil
}

// LookupError is a failure of the Lookup hook itself (not a missing key):
// the record is fine and should be retried later.
type LookupError struct {
	Field string
	Name  string
	Key   string
	Err   error
}

func (e *LookupError) Error() string {
	return fmt.Sprintf("%s: lookup %s %q: %v", e.Field, e.Name, e.Key, e.Err)
}

func (e *LookupError) Unwrap() error { return e.Err }
