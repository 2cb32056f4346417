package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/mapping"
)

// parallelInput is n records made from the golden three (each with its own
// id, so that a chunk written out of order shows), with blank lines,
// lines that fail (bad JSON, a total that is no number), a line longer
// than both Run's and the reader's buffers, and no newline at the end.
func parallelInput(t testing.TB, n int) []byte {
	t.Helper()
	in, err := os.ReadFile(golden + "input-3.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	for l := range bytes.SplitSeq(bytes.TrimSpace(in), []byte("\n")) {
		_, rest, ok := bytes.Cut(l, []byte(","))
		if !ok {
			t.Fatal("golden line without a comma")
		}
		recs = append(recs, rest)
	}
	long := fmt.Appendf(nil, `{"id":1,"note":"%s",`, strings.Repeat("x", 3<<20/2))
	long = append(long, recs[0]...)
	var b bytes.Buffer
	for i := range n {
		switch {
		case i == 700 || i == 2500:
			b.WriteString("{\"id\":\n")
		case i == 900:
			fmt.Fprintf(&b, `{"id":%d,"total_price":"not a number"}`+"\n", i)
		case i == 1200:
			b.Write(long)
			b.WriteByte('\n')
		case i%97 == 5:
			b.WriteString("\n\n")
			fallthrough
		default:
			fmt.Fprintf(&b, `{"id":%d,`, 7000000+i)
			b.Write(recs[i%len(recs)])
			b.WriteByte('\n')
		}
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// choppy returns reads of random sizes, some tiny, some empty.
type choppy struct {
	r   io.Reader
	rnd *rand.Rand
}

func (c *choppy) Read(p []byte) (int, error) {
	switch c.rnd.IntN(4) {
	case 0:
		return 0, nil
	case 1:
		p = p[:min(len(p), 1+c.rnd.IntN(16))]
	case 2:
		p = p[:min(len(p), 1+c.rnd.IntN(4096))]
	}
	return c.r.Read(p)
}

func TestRunParallelSameAsRun(t *testing.T) {
	p, err := mapping.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	data := parallelInput(t, 3000)
	if path := os.Getenv("BENCH_NDJSON"); path != "" && !testing.Short() {
		gen, err := os.ReadFile(path) // generated orders, e.g. gen -n 20000 -seed 38
		if err != nil {
			t.Fatal(err)
		}
		data = append(append(gen, '\n'), data...)
	}
	total := bytes.Count(data, []byte("\n")) + 1
	ctx := context.Background()
	for _, n := range []int{0, 1, 5, 700, 701, 1201, 2000, total + 10} {
		var want bytes.Buffer
		wres, err := Run(ctx, p, bytes.NewReader(data), &want, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && (wres.Failed != 3 || wres.Records < 2990) {
			t.Fatalf("the input is not what the test means: %+v", wres)
		}
		for _, workers := range []int{2, 3, 8} {
			for _, chop := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(data)
				if chop {
					r = &choppy{r: r, rnd: rand.New(rand.NewPCG(uint64(n), uint64(workers)))}
				}
				var got bytes.Buffer
				res, err := RunParallel(ctx, p, r, &got, n, nil, workers)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("n=%d workers=%d choppy=%v", n, workers, chop)
				if res.Records != wres.Records || res.Failed != wres.Failed || res.FirstError != wres.FirstError ||
					res.BytesIn != wres.BytesIn || res.BytesOut != wres.BytesOut || res.Workers != workers {
					t.Fatalf("%s: result\n%+v\nwant (Run)\n%+v", name, res, wres)
				}
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					t.Fatalf("%s: output differs from Run's (%d bytes, want %d)", name, got.Len(), want.Len())
				}
			}
		}
	}
	// The first failure by input order, numbered as Run numbers it.
	res, err := RunParallel(ctx, p, bytes.NewReader(parallelInput(t, 3000)), io.Discard, 0, nil, 4)
	if err != nil || !strings.HasPrefix(res.FirstError, "record 701: ") {
		t.Fatalf("first error %q, %v", res.FirstError, err)
	}
}

// endless is an input that never ends.
type endless struct {
	line []byte
	off  int
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.line[e.off:])
		n += c
		e.off = (e.off + c) % len(e.line)
	}
	return n, nil
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// waitGoroutines waits for the goroutine count to come back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunParallelStops(t *testing.T) {
	p, err := mapping.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile(golden + "input-3.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()

	// Cancelled while mapping an endless input.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	res, err := RunParallel(ctx, p, &endless{line: in}, io.Discard, 0, nil, 3)
	if !errors.Is(err, context.Canceled) || res.Records == 0 {
		t.Fatalf("cancelled: %+v, %v", res, err)
	}
	waitGoroutines(t, base)

	// Cancelled before it starts.
	res, err = RunParallel(ctx, p, &endless{line: in}, io.Discard, 0, nil, 2)
	if !errors.Is(err, context.Canceled) || res.Records != 0 {
		t.Fatalf("cancelled before: %+v, %v", res, err)
	}
	waitGoroutines(t, base)

	// The output fails.
	res, err = RunParallel(context.Background(), p, &endless{line: in}, &failWriter{after: 1 << 20}, 0, nil, 2)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("write error: %+v, %v", res, err)
	}
	waitGoroutines(t, base)

	// The input fails: what came before is mapped and counted.
	r := io.MultiReader(bytes.NewReader(bytes.Repeat(in, 100)), iotestErr{})
	res, err = RunParallel(context.Background(), p, r, io.Discard, 0, nil, 2)
	if err == nil || !strings.Contains(err.Error(), "read input") || res.Records != 300 {
		t.Fatalf("read error: %+v, %v", res, err)
	}
	waitGoroutines(t, base)
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("device gone") }

// BenchmarkYardstickParallel is BenchmarkYardstick with GOMAXPROCS
// workers (go test -bench Parallel -cpu 1,2).
func BenchmarkYardstickParallel(b *testing.B) {
	p, data := yardstickBench(b, 3000)
	for done := 0; done < b.N; {
		n := min(b.N-done, 9000)
		res, err := RunParallel(context.Background(), p, bytes.NewReader(data), discard{}, n, nil, runtime.GOMAXPROCS(0))
		if err != nil || res.Failed > 0 {
			b.Fatal(err, res.FirstError)
		}
		done += n
	}
}
