package connectortest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
)

// The sample indexes each check uses, so checks on one system do not meet.
const (
	iIdempotent = 1 // 1, 2, 3
	iUpdate     = 4
	iGuard      = 5
	iDelete     = 6
	iGone       = 7
	iRefused    = 10 // 10, 11
	iCancel     = 12
	iDown       = 13
	iRead       = 100 // 100...
	iScan       = 200 // 200...
)

// writer runs the checks of one entity a Writer writes.
func (s *suite) writer(t *testing.T, spec connectors.WriteSpec) {
	e := spec.Entity
	need(t, "Sample and Lookup", s.h.Sample != nil && s.h.Lookup != nil)
	t.Run("Idempotent", func(t *testing.T) { s.idempotent(t, e) })
	t.Run("Update", func(t *testing.T) { s.update(t, e) })
	t.Run("VersionGuard", func(t *testing.T) {
		if !spec.VersionGuard {
			t.Skip("no version guard declared")
		}
		s.versionGuard(t, e)
	})
	t.Run("Delete", func(t *testing.T) {
		if !spec.Deletes {
			t.Skip("no deletes declared")
		}
		s.delete(t, e)
	})
	t.Run("Gone", func(t *testing.T) { s.gone(t, e) })
	t.Run("Refused", func(t *testing.T) { s.refused(t, e) })
	t.Run("Cancelled", func(t *testing.T) { s.writeCancelled(t, e) })
}

// write writes recs and fails t unless the batch got one result each.
func (s *suite) write(t *testing.T, entity string, recs ...connectors.WriteRecord) []connectors.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := s.w.Write(ctx, entity, recs)
	if err != nil {
		t.Fatalf("write %d %s records: %v", len(recs), entity, err)
	}
	if len(res) != len(recs) {
		t.Fatalf("write %d %s records: %d results", len(recs), entity, len(res))
	}
	return res
}

// upsert is sample i at version v, as an upsert.
func (s *suite) upsert(t *testing.T, entity string, i, v int) Sample {
	t.Helper()
	sm := s.h.Sample(t, entity, i, v)
	sm.Rec.Entity, sm.Rec.Op = entity, connectors.OpUpsert
	return sm
}

// wantOutcome fails t unless r is one of the outcomes, without an error.
func wantOutcome(t *testing.T, what string, r connectors.Result, want ...connectors.Outcome) {
	t.Helper()
	if r.Err != nil || !slices.Contains(want, r.Outcome) {
		t.Fatalf("%s: %v (err %v), want %v", what, r.Outcome, r.Err, want)
	}
}

// holds fails t unless the target holds the record under ext with mark.
func (s *suite) holds(t *testing.T, entity, ext, mark, what string) {
	t.Helper()
	st := s.h.Lookup(t, entity, ext)
	if !st.Found || st.Deleted || st.Mark != mark {
		t.Fatalf("%s: the target holds %+v under %q, want %q", what, st, ext, mark)
	}
}

// idempotent writes a batch twice as it is (the rerun after a crash that
// lost the external ids) and once more with the ids: one record each in
// the target, holding the content, and never Failed.
func (s *suite) idempotent(t *testing.T, entity string) {
	var batch []connectors.WriteRecord
	var marks []string
	for i := iIdempotent; i < iIdempotent+3; i++ {
		sm := s.upsert(t, entity, i, 1)
		batch, marks = append(batch, sm.Rec), append(marks, sm.Mark)
	}
	before := -1
	if s.h.Count != nil {
		before = s.h.Count(t, entity)
	}
	first := s.write(t, entity, batch...)
	for i, r := range first {
		wantOutcome(t, fmt.Sprintf("first write of record %d", i), r, connectors.Written)
		if r.ExternalID == "" {
			t.Fatalf("first write of record %d: no external id", i)
		}
		s.holds(t, entity, r.ExternalID, marks[i], fmt.Sprintf("after the first write of record %d", i))
	}
	again := s.write(t, entity, batch...)
	withIDs := slices.Clone(batch)
	for i := range withIDs {
		withIDs[i].ExternalID = first[i].ExternalID
	}
	third := s.write(t, entity, withIDs...)
	for i := range batch {
		for n, res := range [][]connectors.Result{again, third} {
			r := res[i]
			wantOutcome(t, fmt.Sprintf("write %d of record %d", n+2, i), r, connectors.Written, connectors.Unchanged)
			if r.ExternalID != first[i].ExternalID {
				t.Fatalf("write %d of record %d: external id %q, the first write said %q", n+2, i, r.ExternalID, first[i].ExternalID)
			}
		}
		s.holds(t, entity, first[i].ExternalID, marks[i], fmt.Sprintf("after three writes of record %d", i))
	}
	if before >= 0 {
		if after := s.h.Count(t, entity); after != before+len(batch) {
			t.Fatalf("the target holds %d %s records after three writes of %d new ones, had %d: want %d",
				after, entity, len(batch), before, before+len(batch))
		}
	}
}

// update writes a record and then another version of it under its id.
func (s *suite) update(t *testing.T, entity string) {
	r := s.write(t, entity, s.upsert(t, entity, iUpdate, 1).Rec)[0]
	wantOutcome(t, "create", r, connectors.Written)
	v2 := s.upsert(t, entity, iUpdate, 2)
	v2.Rec.ExternalID = r.ExternalID
	u := s.write(t, entity, v2.Rec)[0]
	wantOutcome(t, "update", u, connectors.Written)
	if u.ExternalID != r.ExternalID {
		t.Fatalf("update: external id %q, the create said %q", u.ExternalID, r.ExternalID)
	}
	s.holds(t, entity, r.ExternalID, v2.Mark, "after the update")
}

// versionGuard writes a newer version, then an older one (Stale, the
// newer data stays), then a newer one again (Written).
func (s *suite) versionGuard(t *testing.T, entity string) {
	// Versions in the past: a version in the future would hold a cursor
	// on the same column (a reader of the same table) there until then.
	base := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)
	newer := s.upsert(t, entity, iGuard, 2)
	newer.Rec.Version = base.Add(time.Hour)
	r := s.write(t, entity, newer.Rec)[0]
	wantOutcome(t, "the newer version", r, connectors.Written)
	older := s.upsert(t, entity, iGuard, 1)
	older.Rec.Version, older.Rec.ExternalID = base, r.ExternalID
	wantOutcome(t, "the older version", s.write(t, entity, older.Rec)[0], connectors.Stale)
	s.holds(t, entity, r.ExternalID, newer.Mark, "after an older version")
	newest := s.upsert(t, entity, iGuard, 3)
	newest.Rec.Version, newest.Rec.ExternalID = base.Add(2*time.Hour), r.ExternalID
	wantOutcome(t, "the newest version", s.write(t, entity, newest.Rec)[0], connectors.Written)
	s.holds(t, entity, r.ExternalID, newest.Mark, "after the newest version")
}

// deletion is the delete of sample i written under ext.
func (s *suite) deletion(t *testing.T, entity string, i int, ext string) connectors.WriteRecord {
	rec := s.upsert(t, entity, i, 1).Rec
	rec.Op, rec.ExternalID, rec.Version = connectors.OpDelete, ext, time.Time{}
	return rec
}

// delete writes a record, deletes it (gone, or soft-deleted) and deletes
// it again (no error: NotFound, or Unchanged, or Written again).
func (s *suite) delete(t *testing.T, entity string) {
	r := s.write(t, entity, s.upsert(t, entity, iDelete, 1).Rec)[0]
	wantOutcome(t, "create", r, connectors.Written)
	del := s.deletion(t, entity, iDelete, r.ExternalID)
	wantOutcome(t, "delete", s.write(t, entity, del)[0], connectors.Written)
	if st := s.h.Lookup(t, entity, r.ExternalID); st.Found && !st.Deleted {
		t.Fatalf("after the delete the target holds %+v", st)
	}
	wantOutcome(t, "delete again", s.write(t, entity, del)[0], connectors.NotFound, connectors.Unchanged, connectors.Written)
	if st := s.h.Lookup(t, entity, r.ExternalID); st.Found && !st.Deleted {
		t.Fatalf("after the second delete the target holds %+v", st)
	}
}

// gone writes a record, removes it in the system behind the connector's
// back and writes it again under its old id: NotFound (and not there),
// or Written (and there again).
func (s *suite) gone(t *testing.T, entity string) {
	need(t, "Remove", s.h.Remove != nil)
	r := s.write(t, entity, s.upsert(t, entity, iGone, 1).Rec)[0]
	wantOutcome(t, "create", r, connectors.Written)
	s.h.Remove(t, entity, r.ExternalID)
	v2 := s.upsert(t, entity, iGone, 2)
	v2.Rec.ExternalID = r.ExternalID
	u := s.write(t, entity, v2.Rec)[0]
	wantOutcome(t, "update of a removed record", u, connectors.NotFound, connectors.Written)
	switch {
	case u.Outcome == connectors.Written:
		s.holds(t, entity, u.ExternalID, v2.Mark, "written again")
	case s.h.Lookup(t, entity, r.ExternalID).Found:
		t.Fatalf("NotFound, but the target holds %q", r.ExternalID)
	}
}

// refused writes a good record, one the target refuses and another good
// one: the refused one Failed, Permanent; the others Written and there.
func (s *suite) refused(t *testing.T, entity string) {
	need(t, "Refused", s.h.Refused != nil)
	bad := s.h.Refused(t, entity)
	bad.Entity, bad.Op = entity, connectors.OpUpsert
	a, b := s.upsert(t, entity, iRefused, 1), s.upsert(t, entity, iRefused+1, 1)
	res := s.write(t, entity, a.Rec, bad, b.Rec)
	if res[1].Outcome != connectors.Failed || res[1].Err == nil || kindOf(res[1].Err) != connectors.KindPermanent {
		t.Fatalf("the refused record: %v (err %v, %v), want Failed with a permanent error", res[1].Outcome, res[1].Err, kindOf(res[1].Err))
	}
	t.Logf("the refused record: %v", res[1].Err)
	for i, sm := range map[int]Sample{0: a, 2: b} {
		wantOutcome(t, fmt.Sprintf("good record %d beside a refused one", i), res[i], connectors.Written)
		s.holds(t, entity, res[i].ExternalID, sm.Mark, fmt.Sprintf("good record %d", i))
	}
}

// writeCancelled writes with a cancelled context: it returns promptly and
// reports nothing written.
func (s *suite) writeCancelled(t *testing.T, entity string) {
	rec := s.upsert(t, entity, iCancel, 1).Rec
	var res []connectors.Result
	var err error
	quick(t, "Write", func() { res, err = s.w.Write(cancelled(), entity, []connectors.WriteRecord{rec}) })
	if err != nil {
		if kindOf(err) == connectors.KindPermanent {
			t.Fatalf("a cancelled write failed permanently: %v", err)
		}
		return
	}
	for i, r := range res {
		if r.Outcome != connectors.Failed || kindOf(r.Err) == connectors.KindPermanent {
			t.Fatalf("a cancelled write: record %d %v (err %v), want Failed and not permanent", i, r.Outcome, r.Err)
		}
	}
}
