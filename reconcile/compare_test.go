package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/mapping"
)

func order(key, id, hub, total, cur string) Row {
	return Row{Key: key, ID: id, HubID: hub, Doc: mapping.ObjectValue(
		mapping.Member{Key: "number", Value: mapping.StringValue(key)},
		mapping.Member{Key: "total", Value: mapping.StringValue(total)},
		mapping.Member{Key: "currency", Value: mapping.StringValue(cur)},
		mapping.Member{Key: "status", Value: mapping.StringValue("Confirmed")},
	)}
}

func testJob() Job {
	return Job{Name: "orders", Entity: "order", Left: "crm", Right: "erp", Key: "number",
		Amount: "total", Currency: "currency",
		Fields: []Field{
			{Name: "total", Rule: Rule{Kind: RuleTolerance, Tolerance: decimal.RequireFromString("0.01")}},
			{Name: "currency"},
			{Name: "status", Rule: Rule{Kind: RuleCaseInsensitive}},
		}}
}

type collect struct {
	mu    sync.Mutex
	diffs []Diff
}

func (c *collect) Add(_ context.Context, d Diff) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.diffs = append(c.diffs, d)
	return nil
}

func (c *collect) keys(class Class) []string {
	var out []string
	for _, d := range c.diffs {
		if d.Class == class {
			out = append(out, string(d.Side)+":"+d.Key)
		}
	}
	sort.Strings(out)
	return out
}

// seeded builds n agreeing orders and one difference of every class.
func seeded(n int) (left, right []Row) {
	for i := range n {
		k := fmt.Sprintf("SO%06d", i)
		hub := fmt.Sprintf("h%d", i)
		left = append(left, order(k, "c"+k, hub, "100.00", "EUR"))
		right = append(right, order(k, "e"+k, hub, "100.00", "EUR"))
	}
	// within tolerance, and a status differing only in case: equal
	right[1] = order(right[1].Key, right[1].ID, right[1].HubID, "100.005", "EUR")
	left[2].Doc = mapping.ObjectValue(append(left[2].Doc.Members()[:3], mapping.Member{Key: "status", Value: mapping.StringValue("confirmed")})...)
	// field mismatch
	right[3] = order(right[3].Key, right[3].ID, right[3].HubID, "120.00", "EUR")
	// missing right (left has it, known to the crosswalk)
	left = append(left, order("SOX1", "cSOX1", "hx1", "5.00", "USD"))
	// missing left
	right = append(right, order("SOX2", "eSOX2", "hx2", "7.00", "EUR"))
	// unmatched on the right: no hub id, no key partner
	right = append(right, order("SOX3", "eSOX3", "", "9.00", "EUR"))
	// duplicate key on the left
	left = append(left, order("SOX4", "cSOX4a", "hx4a", "1.00", "EUR"), order("SOX4", "cSOX4b", "hx4b", "1.00", "EUR"))
	// matched by crosswalk although the key changed on the right: a field mismatch? no, key not compared: agrees
	left = append(left, order("SOX5", "cSOX5", "hx5", "3.00", "EUR"))
	right = append(right, order("SOX5-renamed", "eSOX5", "hx5", "3.00", "EUR"))
	// matched by key without a crosswalk entry on the right
	left = append(left, order("SOX6", "cSOX6", "hx6", "4.00", "EUR"))
	right = append(right, order("SOX6", "eSOX6", "", "4.00", "EUR"))
	return left, right
}

func TestCompareClasses(t *testing.T) {
	for _, mem := range []int{0, 50} { // in memory, and spilled to disk
		t.Run(fmt.Sprintf("mem=%d", mem), func(t *testing.T) {
			l, r := seeded(500)
			var c collect
			e := Engine{MemRows: mem, Parts: 7, TempDir: t.TempDir()}
			tot, err := e.Compare(context.Background(), testJob(), NewRows(l...), NewRows(r...), &c)
			if err != nil {
				t.Fatal(err)
			}
			want := map[Class][]string{
				MissingRight:  {"left:SOX1"},
				MissingLeft:   {"right:SOX2"},
				Unmatched:     {"right:SOX3"},
				DuplicateKey:  {"left:SOX4"},
				FieldMismatch: {":SO000003"},
			}
			for _, class := range Classes {
				if got := c.keys(class); fmt.Sprint(got) != fmt.Sprint(want[class]) {
					t.Errorf("%s: got %v, want %v", class, got, want[class])
				}
				if tot.Classes[class] != int64(len(want[class])) {
					t.Errorf("totals %s = %d, want %d", class, tot.Classes[class], len(want[class]))
				}
			}
			for _, d := range c.diffs {
				if d.Class == FieldMismatch {
					if len(d.Fields) != 1 || d.Fields[0].Field != "total" || d.Fields[0].Left.Str() != "100.00" || d.Fields[0].Right.Str() != "120.00" {
						t.Errorf("mismatch fields: %+v", d.Fields)
					}
					if d.LeftID != "cSO000003" || d.RightID != "eSO000003" || d.HubID != "h3" {
						t.Errorf("mismatch ids: %+v", d)
					}
				}
				if d.Class == DuplicateKey && fmt.Sprint(d.IDs) != "[cSOX4a cSOX4b]" {
					t.Errorf("duplicate ids %v", d.IDs)
				}
			}
			// 500 agreeing pairs (2 within tolerance) + 1 mismatch counted in them, SOX5 and SOX6.
			if tot.Matched != 502 {
				t.Errorf("matched %d, want 502", tot.Matched)
			}
			if tot.Left.Count != 505 || tot.Right.Count != 504 {
				t.Errorf("counts %d %d", tot.Left.Count, tot.Right.Count)
			}
			if tot.Left.Amounts["EUR"] != "50009.00" || tot.Left.Amounts["USD"] != "5.00" {
				t.Errorf("left amounts %v", tot.Left.Amounts)
			}
			if tot.Right.Amounts["EUR"] != "50043.005" {
				t.Errorf("right amounts %v", tot.Right.Amounts)
			}
			if tot.ScannedLeft != 505 || tot.ScannedRight != 504 {
				t.Errorf("scanned %d %d", tot.ScannedLeft, tot.ScannedRight)
			}
		})
	}
}

func TestCompareWindowAndNoKey(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	old, recent := now.AddDate(0, 0, -30), now.AddDate(0, 0, -1)
	job := testJob()
	job.Window = 7 * 24 * time.Hour
	l := []Row{order("A", "1", "ha", "1.00", "EUR"), order("B", "2", "hb", "1.00", "EUR"), order("C", "3", "hc", "1.00", "EUR")}
	r := []Row{order("A", "x1", "ha", "2.00", "EUR"), order("B", "x2", "hb", "2.00", "EUR")}
	l[0].Version, r[0].Version = old, old    // old mismatch: outside the window
	l[1].Version, r[1].Version = old, recent // changed on one side lately: compared
	l[2].Version = old                       // old missing: outside
	var c collect
	e := Engine{Now: func() time.Time { return now }}
	tot, err := e.Compare(context.Background(), job, NewRows(l...), NewRows(r...), &c)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.diffs) != 1 || c.diffs[0].Key != "B" || tot.Matched != 1 {
		t.Fatalf("window: diffs %+v matched %d", c.diffs, tot.Matched)
	}

	// Without a key field, rows pair through the crosswalk only; equal
	// native ids on both sides mean nothing.
	job = testJob()
	job.Key = ""
	l = []Row{{Key: "7", ID: "7", HubID: "h1", Doc: order("A", "", "", "1", "EUR").Doc}, {Key: "8", ID: "8", Doc: order("B", "", "", "1", "EUR").Doc}}
	r = []Row{{Key: "9", ID: "9", HubID: "h1", Doc: order("A", "", "", "1", "EUR").Doc}, {Key: "8", ID: "8", Doc: order("B", "", "", "1", "EUR").Doc}}
	c = collect{}
	tot, err = Compare(context.Background(), job, NewRows(l...), NewRows(r...), &c)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.keys(Unmatched); fmt.Sprint(got) != "[left:8 right:8]" || tot.Matched != 1 {
		t.Fatalf("no key: unmatched %v matched %d", got, tot.Matched)
	}
}

func TestRestrict(t *testing.T) {
	l, _ := seeded(20)
	st := Restrict(NewRows(l...), Scope{Keys: []string{"SO000019", "SO000002"}, Ranges: []KeyRange{{From: "SO000005", To: "SO000007"}}})
	var got []string
	for {
		row, ok, err := st.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, row.Key)
	}
	if fmt.Sprint(got) != "[SO000002 SO000005 SO000006 SO000019]" {
		t.Fatalf("restricted: %v", got)
	}
}

func TestEqualRules(t *testing.T) {
	s, n := mapping.StringValue, mapping.NumberValue
	tol := Rule{Kind: RuleTolerance, Tolerance: decimal.RequireFromString("0.01")}
	cases := []struct {
		rule Rule
		a, b mapping.Value
		want bool
	}{
		{Rule{}, s("x"), s("x"), true},
		{Rule{}, s("x"), s("X"), false},
		{Rule{}, n("10.0"), n("10"), true},
		{Rule{}, mapping.Value{}, s(""), false},
		{Rule{}, mapping.Value{}, mapping.Value{}, true},
		{Rule{Kind: RuleCaseInsensitive}, s("Ann@X.org "), s("ann@x.org"), true},
		{tol, s("10.00"), s("10.01"), true},
		{tol, s("10.00"), n("10.011"), false},
		{tol, s("abc"), s("abc"), true},
		{Rule{Kind: RuleDays, Days: 2}, s("2026-01-01"), s("2026-01-03T00:00:00Z"), true},
		{Rule{Kind: RuleDays, Days: 2}, s("2026-01-01"), s("2026-01-04"), false},
		{Rule{Kind: RuleIgnore}, s("a"), mapping.Value{}, true},
	}
	for i, c := range cases {
		if got := Equal(c.rule, c.a, c.b); got != c.want {
			t.Errorf("%d: Equal(%v, %v, %v) = %v", i, c.rule.Kind, c.a, c.b, got)
		}
	}
}

// TestCompareSameWhateverTheWorkers: parts paired at once hand the sink
// the same differences, field for field, and give the same totals as
// parts paired one by one, in memory and spilled, with the hub id pass
// spilled too (a third of the right side's keys renamed); the sink is
// never called twice at once; a sink that fails ends the run with its
// error.
func TestCompareSameWhateverTheWorkers(t *testing.T) {
	l, r := seeded(3000)
	for i := 10; i < len(r); i += 97 { // more mismatches, spread over the parts
		r[i] = order(r[i].Key, r[i].ID, r[i].HubID, "99.00", "EUR")
	}
	for i := 0; i < 3000; i += 3 { // paired by hub id instead
		r[i].Key = "renamed-" + r[i].Key
	}
	for _, mem := range []int{0, 50} {
		var want string
		for _, workers := range []int{1, 2, 5} {
			c := &serialSink{t: t}
			e := Engine{MemRows: mem, Parts: 16, Workers: workers, TempDir: t.TempDir()}
			tot, err := e.Compare(context.Background(), testJob(), NewRows(l...), NewRows(r...), c)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, d := range c.diffs { // the parts' order depends on each run's hash seed
				line := fmt.Sprintf("%s %s %s %s %s %s %v", d.Class, d.Side, d.Key, d.HubID, d.LeftID, d.RightID, d.IDs)
				for _, f := range d.Fields {
					line += fmt.Sprintf(" %s:%s/%s", f.Field, f.Left.Str(), f.Right.Str())
				}
				lines = append(lines, line)
			}
			sort.Strings(lines)
			got := fmt.Sprintf("%s\nmatched %d, left %+v, right %+v", strings.Join(lines, "\n"), tot.Matched, tot.Left, tot.Right)
			if workers == 1 {
				want = got
				if len(c.diffs) < 30 || tot.Matched != 3002 {
					t.Fatalf("mem=%d: %d differences, %d matched; want over 30 and 3002", mem, len(c.diffs), tot.Matched)
				}
				continue
			}
			if got != want {
				t.Errorf("mem=%d workers=%d:\n%s\nwant (one worker):\n%s", mem, workers, got, want)
			}
		}
		e := Engine{MemRows: mem, Parts: 16, Workers: 3, TempDir: t.TempDir()}
		_, err := e.Compare(context.Background(), testJob(), NewRows(l...), NewRows(r...), failAfter(5))
		if err == nil || !strings.Contains(err.Error(), "sink full") {
			t.Errorf("mem=%d: a failing sink: %v", mem, err)
		}
	}
}

// TestCompareStopsWhenCancelled: a run whose context ends while its
// parts are paired returns, whatever the number of workers, although
// most parts have nothing to hand the sink (they never see the context).
func TestCompareStopsWhenCancelled(t *testing.T) {
	l, r := seeded(2000)
	for _, workers := range []int{1, 2, 4} {
		for _, mem := range []int{0, 50} {
			ctx, cancel := context.WithCancel(context.Background())
			sink := DiffFunc(func(context.Context, Diff) error { cancel(); return nil })
			e := Engine{MemRows: mem, Parts: 128, Workers: workers, TempDir: t.TempDir()}
			done := make(chan error, 1)
			go func() {
				_, err := e.Compare(ctx, testJob(), NewRows(l...), NewRows(r...), sink)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("workers=%d mem=%d: %v, want context canceled", workers, mem, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("workers=%d mem=%d: Compare did not return after its context ended", workers, mem)
			}
			cancel()
		}
	}
}

// serialSink collects differences and fails the test when called by two
// goroutines at once.
type serialSink struct {
	t     *testing.T
	busy  atomic.Int32
	diffs []Diff
}

func (s *serialSink) Add(_ context.Context, d Diff) error {
	if s.busy.Add(1) != 1 {
		s.t.Error("the sink was called by two goroutines at once")
	}
	defer s.busy.Add(-1)
	time.Sleep(time.Microsecond)
	s.diffs = append(s.diffs, d)
	return nil
}

// failAfter is a sink that takes n differences, then fails.
func failAfter(n int) DiffFunc {
	return func(context.Context, Diff) error {
		if n--; n < 0 {
			return errors.New("sink full")
		}
		return nil
	}
}
