package mapping

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
)

// BenchmarkApplyParallel maps the yardstick's golden orders with Apply
// from every P at once, on one shared plan, as a hub's sink workers do.
// Per record it should cost what one goroutine pays: nothing the plan
// shares may be written per record.
//
//	go test ./mapping -run '^$' -bench ApplyParallel -cpu 1,2 -count 5
func BenchmarkApplyParallel(b *testing.B) {
	p := yardstickPlan(b)
	in := readLines(b, filepath.Join("testdata", "yardstick", "input-3.ndjson"))
	recs := make([]Value, len(in))
	for i, line := range in {
		v, err := p.NewDecoder().Decode(line)
		if err != nil {
			b.Fatalf("record %d: %v", i, err)
		}
		recs[i] = v
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := p.Apply(ctx, recs[i%len(recs)], nil); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// withLines is the yardstick's first golden order with n copies of its
// first line item.
func withLines(tb testing.TB, p *Plan, n int) Value {
	tb.Helper()
	in := readLines(tb, filepath.Join("testdata", "yardstick", "input-3.ndjson"))
	var order map[string]any
	if err := json.Unmarshal(in[0], &order); err != nil {
		tb.Fatal(err)
	}
	items, _ := order["line_items"].([]any)
	if len(items) == 0 {
		tb.Fatal("the golden order has no line_items")
	}
	lines := make([]any, n)
	for i := range lines {
		lines[i] = items[0]
	}
	order["line_items"] = lines
	data, err := json.Marshal(order)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := p.NewDecoder().Decode(data)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// TestArenaHintHoldsWhileRecordsVary: records of varying size leave the
// shared size hint alone, so that goroutines mapping with one plan do not
// write it per record; a record that does not fit raises it, and records
// far smaller than it lower it.
func TestArenaHintHoldsWhileRecordsVary(t *testing.T) {
	p := yardstickPlan(t)
	ctx := context.Background()
	apply := func(v Value) int32 {
		t.Helper()
		if _, err := p.Apply(ctx, v, nil); err != nil {
			t.Fatal(err)
		}
		return p.arenaHint.Load()
	}
	small, big, huge := withLines(t, p, 6), withLines(t, p, 8), withLines(t, p, 40)
	hSmall := apply(small)
	hBig := apply(big)
	if hBig <= hSmall {
		t.Fatalf("8 lines took no more than 6: hints %d, %d", hSmall, hBig)
	}
	for range 3 {
		if h := apply(small); h != hBig {
			t.Fatalf("a smaller record moved the hint: %d -> %d", hBig, h)
		}
		if h := apply(big); h != hBig {
			t.Fatalf("the same record moved the hint: %d -> %d", hBig, h)
		}
	}
	hHuge := apply(huge)
	if hHuge <= hBig {
		t.Fatalf("a record that did not fit left the hint at %d", hHuge)
	}
	if h := apply(small); h != hSmall {
		t.Fatalf("after a record of 40 lines, one of 6 set the hint to %d (40 lines: %d, 6 lines: %d)", h, hHuge, hSmall)
	}
}
