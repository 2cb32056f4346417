package connectortest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
)

// readWait is how long the suite waits for a change to arrive.
const readWait = 30 * time.Second

// reader runs the checks of one entity a Reader reads.
func (s *suite) reader(t *testing.T, spec connectors.ReadSpec) {
	need(t, "Insert", s.h.Insert != nil)
	t.Run("Resume", func(t *testing.T) { s.resume(t, spec.Entity) })
	t.Run("Deletes", func(t *testing.T) {
		if !spec.Deletes {
			t.Skip("no deletes declared")
		}
		need(t, "Delete", s.h.Delete != nil)
		s.readDeletes(t, spec.Entity)
	})
	t.Run("Cancelled", func(t *testing.T) {
		var b connectors.Batch
		var err error
		quick(t, "Read", func() { b, err = s.r.Read(cancelled(), spec.Entity, "", 10) })
		if err != nil || len(b.Records) != 0 {
			t.Fatalf("Read with a cancelled context: %d records, %v; want an empty batch and no error", len(b.Records), err)
		}
	})
}

// readOnce reads from cursor, waiting at most wait for changes.
func (s *suite) readOnce(t *testing.T, entity, cursor string, max int, wait time.Duration) connectors.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	b, err := s.r.Read(ctx, entity, cursor, max)
	if err != nil {
		t.Fatalf("read %s from %q: %v", entity, cursor, err)
	}
	if b.Cursor == "" && (cursor != "" || len(b.Records) > 0) {
		t.Fatalf("read %s: an empty cursor after reading", entity)
	}
	return b
}

// readUntil reads from cursor in batches of max until every key in want
// has come (or readWait passed), and returns what came and the cursor.
func (s *suite) readUntil(t *testing.T, entity, cursor string, max int, want []string) ([]connectors.Record, string) {
	t.Helper()
	var got []connectors.Record
	deadline := time.Now().Add(readWait)
	for time.Now().Before(deadline) {
		b := s.readOnce(t, entity, cursor, max, 2*time.Second)
		got = append(got, b.Records...)
		if b.Cursor != "" {
			cursor = b.Cursor
		}
		if missing(got, want) == nil {
			return got, cursor
		}
	}
	t.Fatalf("read %s: %v did not arrive within %s (got %v)", entity, missing(got, want), readWait, keysOf(got))
	return nil, ""
}

// missing are the keys of want that recs lack.
func missing(recs []connectors.Record, want []string) []string {
	var out []string
	for _, k := range want {
		if !slices.ContainsFunc(recs, func(r connectors.Record) bool { return r.Key == k }) {
			out = append(out, k)
		}
	}
	return out
}

func keysOf(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key
	}
	return out
}

// resume inserts records in the system, reads them all in small batches,
// then inserts one more and updates one: reading on from the cursor
// brings exactly those two, and Durable takes the cursor.
func (s *suite) resume(t *testing.T, entity string) {
	var keys []string
	for i := iRead; i < iRead+5; i++ {
		keys = append(keys, s.h.Insert(t, entity, i))
	}
	got, cursor := s.readUntil(t, entity, "", 2, keys)
	for _, r := range got {
		if r.Entity != entity || r.Key == "" || r.Op == "" {
			t.Fatalf("record %+v: entity, key and op are required", r)
		}
	}
	for _, k := range keys {
		if n := countKey(got, k); n != 1 {
			t.Errorf("record %s read %d times across batch boundaries, want once", k, n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.r.Durable(ctx, entity, cursor); err != nil {
		t.Errorf("Durable(%q): %v", cursor, err)
	}

	added := s.h.Insert(t, entity, iRead+5)
	want := []string{added}
	changed := ""
	if s.h.Update != nil && s.h.Update(t, entity, keys[2]) {
		changed = keys[2]
		want = append(want, changed)
	}
	got, cursor = s.readUntil(t, entity, cursor, 2, want)
	for _, r := range got {
		if r.Key != added && r.Key != changed && slices.Contains(keys, r.Key) {
			t.Errorf("read from the cursor brought %s again, which did not change", r.Key)
		}
	}
	if b := s.readOnce(t, entity, cursor, 10, 500*time.Millisecond); hasAny(b.Records, append(keys, added)) {
		t.Errorf("after everything was read, a read brought %v again", keysOf(b.Records))
	}
}

func countKey(recs []connectors.Record, key string) int {
	n := 0
	for _, r := range recs {
		if r.Key == key {
			n++
		}
	}
	return n
}

// hasAny reports whether recs hold a record with one of keys.
func hasAny(recs []connectors.Record, keys []string) bool {
	return slices.ContainsFunc(recs, func(r connectors.Record) bool { return slices.Contains(keys, r.Key) })
}

// readDeletes inserts a record, reads to it, deletes it in the system and
// reads a delete of it from the cursor.
func (s *suite) readDeletes(t *testing.T, entity string) {
	key := s.h.Insert(t, entity, iRead+10)
	_, cursor := s.readUntil(t, entity, "", 50, []string{key})
	if !s.h.Delete(t, entity, key) {
		t.Skipf("the system cannot delete %s records", entity)
	}
	deadline := time.Now().Add(readWait)
	for time.Now().Before(deadline) {
		b := s.readOnce(t, entity, cursor, 50, 2*time.Second)
		cursor = b.Cursor
		for _, r := range b.Records {
			if r.Key != key {
				continue
			}
			if r.Op != connectors.OpDelete {
				t.Fatalf("after the delete, record %s came as %s", key, r.Op)
			}
			return
		}
	}
	t.Fatalf("the delete of %s did not arrive within %s", key, readWait)
}
