package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/crmhub/hub/mapping"
)

const spec = "../../configs/mappings/bench/shop-order-yardstick.yaml"

// golden is the repository's copy of the yardstick's three records and
// their expected output (mapping/testdata/yardstick), always present.
const golden = "../testdata/yardstick/"

func TestRunGolden(t *testing.T) {
	p, err := mapping.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile(golden + "input-3.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(golden + "expected-3.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	// Add a broken line and a blank one: counted, not fatal.
	in = append(in, []byte("{\"id\":\n\n")...)
	var out bytes.Buffer
	res, err := Run(context.Background(), p, bytes.NewReader(in), &out, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 3 || res.Failed != 1 || !strings.Contains(res.FirstError, "record 4") {
		t.Fatalf("result %+v", res)
	}
	if out.String() != string(want) {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	res, err = Run(context.Background(), p, bytes.NewReader(in), &out, 2, nil)
	if err != nil || res.Records != 2 {
		t.Fatalf("n=2: %+v %v", res, err)
	}
}

// yardstickBench loads the yardstick's plan and its 3 golden input
// records repeated times, and sets the benchmark's bytes per record.
func yardstickBench(b *testing.B, times int) (*mapping.Plan, []byte) {
	b.Helper()
	p, err := mapping.Load(spec)
	if err != nil {
		b.Fatal(err)
	}
	in, err := os.ReadFile(golden + "input-3.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in) / 3))
	b.ReportAllocs()
	b.ResetTimer()
	return p, bytes.Repeat(in, times)
}

func BenchmarkYardstick(b *testing.B) {
	p, data := yardstickBench(b, 1000)
	for done := 0; done < b.N; {
		n := min(b.N-done, 3000)
		res, err := Run(context.Background(), p, bytes.NewReader(data), discard{}, n, nil)
		if err != nil || res.Failed > 0 {
			b.Fatal(err, res.FirstError)
		}
		done += n
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkYardstickFile runs on generated data when BENCH_NDJSON names a
// file (gen -seed 38 output), e.g. /tmp/orders-100k.ndjson.
func BenchmarkYardstickFile(b *testing.B) {
	path := os.Getenv("BENCH_NDJSON")
	if path == "" {
		b.Skip("set BENCH_NDJSON to an NDJSON file of generated orders")
	}
	p, err := mapping.Load(spec)
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(data, []byte("\n"))
	b.SetBytes(int64(len(data) / max(1, lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(b.N-done, lines)
		res, err := Run(context.Background(), p, bytes.NewReader(data), discard{}, n, nil)
		if err != nil || res.Failed > 0 {
			b.Fatal(err, res.FirstError)
		}
		done += n
	}
}
