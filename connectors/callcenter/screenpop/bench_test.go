package screenpop

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/crmhub/hub/connectors"
)

// BenchmarkLookup: one screen-pop (a national number, as a PBX sends it)
// and its JSON, against 100,000 customers with 3 orders each. The full
// 1,000,000-customer figures come from `hub bench screenpop`
// (docs/benchmarks.md).
func BenchmarkLookup(b *testing.B) {
	const customers = 100000
	x := newIndex(b, Options{})
	batch := make([]connectors.Change, 0, 4000)
	for i := 1; i <= customers; i++ {
		batch = append(batch, cust(i, "crm", fmt.Sprint(i), "name", fmt.Sprint("Customer ", i), "phone", fmt.Sprintf("+49301%07d", i)))
		for j := 0; j < 3; j++ {
			batch = append(batch, ord(customers+3*i+j, i, fmt.Sprint("SO-", i, "-", j), fmt.Sprintf("2026-0%d-01", j+1), "99.90", "OPEN"))
		}
		if len(batch) >= 4000 {
			x.Apply(batch, nil)
			batch = batch[:0]
		}
	}
	x.Apply(batch, nil)
	queries := make([]string, 1024)
	for i := range queries {
		queries[i] = fmt.Sprintf("0301 %07d", 1+i*97%customers)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			a := x.Lookup(queries[i%len(queries)], "")
			if len(a.Customers) != 1 {
				b.Errorf("%s: %+v", queries[i%len(queries)], a)
				return
			}
			if _, err := json.Marshal(a); err != nil {
				b.Error(err)
			}
			i++
		}
	})
}
