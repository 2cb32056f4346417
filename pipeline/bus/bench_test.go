package bus

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkWrite writes 1.5 KB records through a Writer (acks=all, sync) into
// the embedded broker, in Write calls of "batch" records, and reports
// records/s. Broker and client share the machine's cores.
//
//	go test ./pipeline/bus -run '^$' -bench BenchmarkWrite -benchtime 20000x
func BenchmarkWrite(b *testing.B) {
	for _, batch := range []int{1, 100, 500} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			br := startBroker(b)
			bs := newBus(b, Config{Brokers: br.Addrs()})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			ensure(b, ctx, bs, TopicSpec{Name: "bench", Partitions: 3})
			w := bs.NewWriter("bench")
			defer w.Close()

			value := make([]byte, 1500)
			for i := range value {
				value[i] = byte('a' + i%26)
			}
			msgs := make([]Message, batch)
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				for i := range n {
					msgs[i] = Message{Key: fmt.Appendf(nil, "customer-%d", done+i), Value: value}
				}
				if err := w.Write(ctx, msgs[:n]...); err != nil {
					b.Fatal(err)
				}
				done += n
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
