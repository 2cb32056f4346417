package connectortest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
)

// scanner runs the checks of one entity a Scanner lists.
func (s *suite) scanner(t *testing.T, entity string) {
	need(t, "Insert", s.h.Insert != nil)
	t.Run("Pages", func(t *testing.T) { s.pages(t, entity) })
	t.Run("Cancelled", func(t *testing.T) {
		var err error
		quick(t, "Scan", func() { _, err = s.sc.Scan(cancelled(), entity, "", 10) })
		if err == nil {
			t.Fatal("Scan with a cancelled context returned no error")
		}
	})
}

// scanPage scans one page.
func (s *suite) scanPage(t *testing.T, entity, position string, max int) connectors.Page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := s.sc.Scan(ctx, entity, position, max)
	if err != nil {
		t.Fatalf("scan %s from %q: %v", entity, position, err)
	}
	if len(p.Records) > max {
		t.Fatalf("scan %s: %d records, asked for at most %d", entity, len(p.Records), max)
	}
	for _, r := range p.Records {
		if r.Entity != entity || r.Key == "" || r.Op != connectors.OpUpsert {
			t.Fatalf("scanned %+v: want entity %s, a key and op upsert", r, entity)
		}
	}
	return p
}

// scanFrom scans from position to the end, max a page, and returns the
// records and each page's Next.
func (s *suite) scanFrom(t *testing.T, entity, position string, max int) ([]connectors.Record, []string) {
	t.Helper()
	var recs []connectors.Record
	var nexts []string
	for range 10000 {
		p := s.scanPage(t, entity, position, max)
		recs = append(recs, p.Records...)
		if p.Next == "" {
			return recs, nexts
		}
		nexts = append(nexts, p.Next)
		position = p.Next
	}
	t.Fatalf("the scan of %s does not end", entity)
	return nil, nil
}

// pages inserts records, scans them in pages of 3 (each key once), scans
// the page after the first position twice (the same page), then inserts
// one more, updates one of the first page and deletes one after it, and
// resumes from the first position: every unchanged record after it comes
// exactly once, none of the first page comes again unless it changed,
// and the new one comes.
func (s *suite) pages(t *testing.T, entity string) {
	var keys []string
	for i := iScan; i < iScan+7; i++ {
		keys = append(keys, s.h.Insert(t, entity, i))
	}
	all, nexts := s.scanFrom(t, entity, "", 3)
	if m := missing(all, keys); m != nil {
		t.Fatalf("the scan lacks %v (got %v)", m, keysOf(all))
	}
	for _, r := range all {
		if n := countKey(all, r.Key); n != 1 {
			t.Fatalf("the scan lists %s %d times", r.Key, n)
		}
	}
	if len(nexts) == 0 {
		t.Fatalf("%d records in one page of 3", len(all))
	}
	first := s.scanPage(t, entity, "", 3)
	second := s.scanPage(t, entity, first.Next, 3)
	if again := s.scanPage(t, entity, first.Next, 3); !slices.Equal(keysOf(again.Records), keysOf(second.Records)) {
		t.Fatalf("the same position gave %v, then %v", keysOf(second.Records), keysOf(again.Records))
	}

	before := keysOf(first.Records)
	var rest []string // the records after the first page
	for _, r := range all {
		if !slices.Contains(before, r.Key) {
			rest = append(rest, r.Key)
		}
	}
	added := s.h.Insert(t, entity, iScan+7)
	changed := ""
	if s.h.Update != nil && s.h.Update(t, entity, before[0]) {
		changed = before[0]
	}
	deleted := ""
	if s.h.Delete != nil && len(rest) > 1 && s.h.Delete(t, entity, rest[len(rest)/2]) {
		deleted = rest[len(rest)/2]
	}
	resumed, _ := s.scanFrom(t, entity, first.Next, 3)
	for _, k := range rest {
		if k != deleted && countKey(resumed, k) != 1 {
			t.Errorf("resumed: %s, unchanged after the position, came %d times (resumed %v)", k, countKey(resumed, k), keysOf(resumed))
		}
	}
	for _, k := range before {
		if k != changed && countKey(resumed, k) != 0 {
			t.Errorf("resumed: %s, unchanged before the position, came again", k)
		}
	}
	if countKey(resumed, added) != 1 {
		t.Errorf("resumed: the record added meanwhile (%s) came %d times", added, countKey(resumed, added))
	}
	if deleted != "" && countKey(resumed, deleted) != 0 {
		t.Errorf("resumed: the record deleted meanwhile (%s) came", deleted)
	}
}
