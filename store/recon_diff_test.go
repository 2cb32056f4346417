package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

func TestReconDiffAges(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openStore(t, dsn)
		diff := func(class, ident string) ReconDiff {
			return ReconDiff{Job: "nightly", Class: class, Ident: ident, Key: ident,
				Detail: json.RawMessage(`{"fields":[{"field":"total","left":"1","right":"2"}]}`)}
		}
		// Run 1: a and b differ. Run 2 (failed): nothing. Run 3: a and c.
		// Run 4: a.
		runs := [][]ReconDiff{
			{diff("field_mismatch", "a"), diff("missing_left", "b")},
			nil,
			{diff("field_mismatch", "a"), diff("unmatched", "c")},
			{diff("field_mismatch", "a")},
		}
		var ids []int64
		for i, ds := range runs {
			id, err := s.StartReconRun(ctx, "nightly")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			prev, err := s.PreviousReconRun(ctx, "nightly", id)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AddReconDiffs(ctx, id, prev, ds); err != nil {
				t.Fatal(err)
			}
			status := ReconDiffs
			if i == 1 {
				status = ReconFailed // a failed run does not break a difference's age
			}
			if err := s.FinishReconRun(ctx, id, status, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		got, total, err := s.ListReconDiffs(ctx, ids[3], ReconDiffFilter{})
		if err != nil || total != 1 || len(got) != 1 || got[0].Age != 3 || got[0].Key != "a" {
			t.Fatalf("run 4: %+v total %d, %v", got, total, err)
		}
		got, total, err = s.ListReconDiffs(ctx, ids[2], ReconDiffFilter{})
		if err != nil || total != 2 || got[0].Age != 2 || got[1].Age != 1 || got[1].Class != "unmatched" {
			t.Fatalf("run 3: %+v total %d, %v", got, total, err)
		}
		var detail struct {
			Fields []struct{ Field, Left, Right string }
		}
		if err := json.Unmarshal(got[0].Detail, &detail); err != nil || detail.Fields[0].Right != "2" {
			t.Fatalf("detail %s: %v", got[0].Detail, err)
		}
		got, total, err = s.ListReconDiffs(ctx, ids[0], ReconDiffFilter{Class: "missing_left"})
		if err != nil || total != 1 || got[0].Key != "b" {
			t.Fatalf("run 1 missing_left: %+v total %d, %v", got, total, err)
		}
		got, total, _ = s.ListReconDiffs(ctx, ids[0], ReconDiffFilter{Limit: 1, Offset: 1})
		if total != 2 || len(got) != 1 || got[0].Key != "b" {
			t.Fatalf("run 1 page 2: %+v total %d", got, total)
		}
		// By class and age, on every engine: run 3 has a (2 runs) and c (new).
		counts, err := s.CountReconDiffs(ctx, ids[2])
		want := []ReconDiffCount{{Class: "field_mismatch", Age: 2, Count: 1}, {Class: "unmatched", Age: 1, Count: 1}}
		if err != nil || len(counts) != 2 || counts[0] != want[0] || counts[1] != want[1] {
			t.Fatalf("run 3 by class and age: %+v, %v; want %+v", counts, err, want)
		}
		if counts, err := s.CountReconDiffs(ctx, ids[1]); err != nil || len(counts) != 0 {
			t.Fatalf("the failed run by class and age: %+v, %v", counts, err)
		}
		last, err := s.LastReconRun(ctx, "nightly")
		if err != nil || last.ID != ids[3] {
			t.Fatalf("last run %+v, %v", last, err)
		}
		if _, err := s.LastReconRun(ctx, "other"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("last run of a job never run: %v", err)
		}
	})
}
