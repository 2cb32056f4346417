package reconcile

import (
	"context"
	"fmt"
	"testing"
)

// benchSides are n agreeing orders per side with 1% of totals changed.
func benchSides(n int) (left, right []Row) {
	for i := range n {
		k := fmt.Sprintf("SO%08d", i)
		hub := fmt.Sprintf("h%d", i)
		total := "100.00"
		left = append(left, order(k, "c"+k, hub, total, "EUR"))
		if i%100 == 0 {
			total = "101.00"
		}
		right = append(right, order(k, "e"+k, hub, total, "EUR"))
	}
	return left, right
}

// BenchmarkCompare compares 100,000 orders per side with 1% differences,
// in memory and spilled to disk (MemRows 10,000).
func BenchmarkCompare(b *testing.B) {
	l, r := benchSides(100_000)
	for _, mem := range []int{0, 10_000} {
		b.Run(fmt.Sprintf("memrows=%d", mem), func(b *testing.B) {
			e := Engine{MemRows: mem, TempDir: b.TempDir()}
			b.ReportAllocs()
			for b.Loop() {
				tot, err := e.Compare(context.Background(), testJob(), NewRows(l...), NewRows(r...), nil)
				if err != nil || tot.Classes[FieldMismatch] != 1000 {
					b.Fatalf("%v %v", tot.Classes, err)
				}
			}
			b.ReportMetric(float64(2*len(l))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
