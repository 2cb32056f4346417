package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
)

// benchOrders is how many orders (3 lines each) one benchmark op reads or
// writes: a batch of the hub's default size.
const benchOrders = 500

// BenchmarkOrdersWithLines measures the connector's own work per batch of
// orders with their lines, on PostgreSQL as in `hub bench sync`: a sink
// writing them (checked against the schema, multi-row upserts, the lines
// replaced) and a source reading them (the rows, then their lines). Its
// allocs/op is what the change it was written for is judged by; ns/op
// includes the server.
//
//	go test ./connectors/sqlstore -run '^$' -bench OrdersWithLines -benchmem
func BenchmarkOrdersWithLines(b *testing.B) {
	ctx := context.Background()
	td := newTestDB(b, "postgres")
	cfg := sinkTables(td, b)
	c := startConn(b, td, cfg)
	recs := func(ver time.Time) []connectors.WriteRecord {
		out := make([]connectors.WriteRecord, benchOrders)
		for i := range out {
			out[i] = orderWithLines(fmt.Sprintf("o%05d", i), ver)
		}
		return out
	}
	write := func(b *testing.B, rs []connectors.WriteRecord) {
		res, err := c.Write(ctx, "order", rs)
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil || r.Outcome != connectors.Written {
				b.Fatalf("order %d: %v, %v", i, r.Outcome, r.Err)
			}
		}
	}
	write(b, recs(t0))

	ver := t0
	b.Run("write", func(b *testing.B) {
		batches := make([][]connectors.WriteRecord, b.N)
		for i := range batches { // each op a newer version: every row updated
			ver = ver.Add(time.Second)
			batches[i] = recs(ver)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			write(b, batches[i])
		}
	})
	if n := td.count(b, "SELECT COUNT(*) FROM order_lines"); n != 3*benchOrders {
		b.Fatalf("%d lines after the writes, want %d", n, 3*benchOrders)
	}

	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			batch, err := c.Read(ctx, "order", "", benchOrders)
			if err != nil {
				b.Fatal(err)
			}
			if len(batch.Records) != benchOrders {
				b.Fatalf("read %d orders, want %d", len(batch.Records), benchOrders)
			}
			if ls := batch.Records[0].Data.Get(LinesField); ls.Len() != 3 {
				b.Fatalf("first order has %d lines, want 3", ls.Len())
			}
		}
	})
}
