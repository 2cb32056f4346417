package reconcile

import (
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/hub/mapping"
)

func TestPlan(t *testing.T) {
	old, newer := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	l := order("SO1", "c1", "h1", "10.00", "EUR")
	r := order("SO1", "e1", "h1", "12.00", "USD")
	l.Version, r.Version = old, newer
	l.Refs = map[string]string{"customer": "hc"}
	mism := Diff{Class: FieldMismatch, Key: "SO1", HubID: "h1", LeftID: "c1", RightID: "e1", LeftRow: &l, RightRow: &r,
		Fields: []FieldDiff{{Field: "total", Left: mapping.StringValue("10.00"), Right: mapping.StringValue("12.00")},
			{Field: "currency", Left: mapping.StringValue("EUR"), Right: mapping.StringValue("USD")}}}
	missR := Diff{Class: MissingRight, Key: "SO1", HubID: "h1", LeftID: "c1", LeftRow: &l, Side: Left}
	missL := Diff{Class: MissingLeft, Key: "SO1", HubID: "h1", RightID: "e1", RightRow: &r, Side: Right}
	desc := func(rs []Repair) string {
		out := ""
		for _, x := range rs {
			op := "upsert"
			if x.Delete {
				op = "delete"
			}
			out += fmt.Sprintf("[%s %s<-%s target=%q total=%s cur=%s refs=%v fields=%v]", op, x.Target, x.From, x.TargetID,
				Lookup(x.Doc, "total").Str(), Lookup(x.Doc, "currency").Str(), x.Refs, x.Fields)
		}
		return out
	}
	job := testJob()
	job.Owners = map[string]string{"total": "crm", "currency": "erp"}
	cases := []struct {
		policy  Policy
		deletes bool
		d       Diff
		want    string
	}{
		{PolicyReport, true, mism, ""},
		{PolicyLeftWins, false, mism, `[upsert right<-left target="e1" total=10.00 cur=EUR refs=map[customer:hc] fields=[total currency]]`},
		{PolicyRightWins, false, mism, `[upsert left<-right target="c1" total=12.00 cur=USD refs=map[] fields=[total currency]]`},
		{PolicyNewestWins, false, mism, `[upsert left<-right target="c1" total=12.00 cur=USD refs=map[] fields=[total currency]]`},
		// each field from its owner: the ERP gets the CRM's total, the CRM the ERP's currency
		{PolicyOwnerWins, false, mism, `[upsert right<-left target="e1" total=10.00 cur=USD refs=map[] fields=[total]]` +
			`[upsert left<-right target="c1" total=10.00 cur=USD refs=map[customer:hc] fields=[currency]]`},
		{PolicyLeftWins, false, missR, `[upsert right<-left target="" total=10.00 cur=EUR refs=map[customer:hc] fields=[]]`},
		{PolicyRightWins, false, missR, ""}, // would delete: not allowed
		{PolicyRightWins, true, missR, `[delete left<-right target="c1" total=10.00 cur=EUR refs=map[] fields=[]]`},
		{PolicyLeftWins, true, missL, `[delete right<-left target="e1" total=12.00 cur=USD refs=map[] fields=[]]`},
		{PolicyNewestWins, false, missL, `[upsert left<-right target="" total=12.00 cur=USD refs=map[] fields=[]]`},
		{PolicyOwnerWins, true, missL, ""},
		{PolicyLeftWins, true, Diff{Class: Unmatched, Key: "x", LeftRow: &l}, ""},
		{PolicyLeftWins, true, Diff{Class: DuplicateKey, Key: "x"}, ""},
	}
	for i, c := range cases {
		job.Repair, job.Deletes = c.policy, c.deletes
		if got := desc(Plan(job, c.d)); got != c.want {
			t.Errorf("%d: %s %s deletes=%v:\n got %s\nwant %s", i, c.policy, c.d.Class, c.deletes, got, c.want)
		}
	}
	// newest_wins with no way to tell leaves the mismatch for a person.
	job.Repair = PolicyNewestWins
	r.Version = old
	if rs := Plan(job, mism); len(rs) != 0 {
		t.Errorf("newest_wins at equal versions: %s", desc(rs))
	}
}

func TestSpillKeepsEverything(t *testing.T) {
	l, r := seeded(300)
	l[5].Refs = map[string]string{"customer": "hc5", "order": "ho"}
	l[5].Version = time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	r[5] = order(r[5].Key, r[5].ID, r[5].HubID, "99.00", "EUR")
	var c collect
	e := Engine{MemRows: 10, Parts: 3, TempDir: t.TempDir()}
	if _, err := e.Compare(t.Context(), testJob(), NewRows(l...), NewRows(r...), &c); err != nil {
		t.Fatal(err)
	}
	for _, d := range c.diffs {
		if d.Key == l[5].Key {
			got := d.LeftRow
			if fmt.Sprint(got.Refs) != "map[customer:hc5 order:ho]" || !got.Version.Equal(l[5].Version) || got.ID != l[5].ID ||
				string(mapping.AppendJSON(nil, got.Doc)) != string(mapping.AppendJSON(nil, l[5].Doc)) {
				t.Fatalf("row after the spill: %+v", got)
			}
			return
		}
	}
	t.Fatalf("the mismatch of %s was not reported: %+v", l[5].Key, c.diffs)
}
