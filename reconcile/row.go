package reconcile

import (
	"context"
	"sort"
	"time"

	"github.com/crmhub/hub/mapping"
)

// Row is one record of one side in canonical form.
type Row struct {
	// Key is the record's match key: the job's key field of Doc, or ID
	// when the job has none.
	Key string
	// ID is the record's native id in its system.
	ID string
	// HubID is its hub id from the crosswalk, "" when it has none.
	HubID string
	// Version is when the system last changed it (zero: unknown); the
	// window and newest_wins use it.
	Version time.Time
	// Doc is the canonical record.
	Doc mapping.Value
	// Refs are the hub ids of the records it references, by entity (an
	// order's customer), where the side knows them; repairs carry them.
	Refs map[string]string
}

// Stream yields the rows of one side, in any order. Next returns false
// once the side is exhausted.
type Stream interface {
	Next(ctx context.Context) (Row, bool, error)
}

// KeyRange is the keys k with From <= k < To, compared bytewise; an empty
// From or To leaves that end open.
type KeyRange struct {
	From, To string
}

// Contains reports whether key lies in r.
func (r KeyRange) Contains(key string) bool {
	return (r.From == "" || key >= r.From) && (r.To == "" || key < r.To)
}

// Scope restricts a side's scan to some keys or key ranges (the checksum
// path hands over the ranges whose checksums differ). The zero Scope is
// everything.
type Scope struct {
	Keys   []string
	Ranges []KeyRange
}

// All reports whether s restricts nothing.
func (s Scope) All() bool { return len(s.Keys) == 0 && len(s.Ranges) == 0 }

// Contains reports whether key is in scope.
func (s Scope) Contains(key string) bool {
	if s.All() {
		return true
	}
	for _, r := range s.Ranges {
		if r.Contains(key) {
			return true
		}
	}
	i := sort.SearchStrings(s.sortedKeys(), key)
	return i < len(s.Keys) && s.Keys[i] == key
}

func (s Scope) sortedKeys() []string {
	if !sort.StringsAreSorted(s.Keys) {
		sort.Strings(s.Keys)
	}
	return s.Keys
}

// Restrict returns the rows of st whose Key is in scope.
func Restrict(st Stream, scope Scope) Stream {
	if scope.All() {
		return st
	}
	scope.Keys = append([]string(nil), scope.Keys...)
	sort.Strings(scope.Keys)
	return &restricted{st: st, scope: scope}
}

type restricted struct {
	st    Stream
	scope Scope
}

func (r *restricted) Next(ctx context.Context) (Row, bool, error) {
	for {
		row, ok, err := r.st.Next(ctx)
		if err != nil || !ok || r.scope.Contains(row.Key) {
			return row, ok, err
		}
	}
}

// Rows is a Stream over rows held in memory (tests, small sides).
type Rows struct {
	rows []Row
}

// NewRows returns a Stream over rows.
func NewRows(rows ...Row) *Rows { return &Rows{rows: rows} }

// Next yields the next row.
func (r *Rows) Next(ctx context.Context) (Row, bool, error) {
	if err := ctx.Err(); err != nil {
		return Row{}, false, err
	}
	if len(r.rows) == 0 {
		return Row{}, false, nil
	}
	row := r.rows[0]
	r.rows = r.rows[1:]
	return row, true, nil
}
