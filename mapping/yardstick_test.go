package mapping

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// benchDir is the shared yardstick (generator, golden files, peer
// figures): $HUB_BENCH_DIR, or ../shared/bench beside the repository's
// checkout, where the development machines have it.
func benchDir() string {
	if d := os.Getenv("HUB_BENCH_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "bench")
}

// yardstickGoldenDirs are the folders holding input-3.ndjson and
// expected-3.ndjson, by name: the repository's copy, always, and the
// shared originals when they are present.
func yardstickGoldenDirs() [][2]string {
	dirs := [][2]string{{"repo", filepath.Join("testdata", "yardstick")}}
	shared := filepath.Join(benchDir(), "golden")
	if _, err := os.Stat(filepath.Join(shared, "input-3.ndjson")); err == nil {
		dirs = append(dirs, [2]string{"shared", shared})
	}
	return dirs
}

func yardstickPlan(tb testing.TB) *Plan {
	tb.Helper()
	p, err := Load(filepath.Join("..", "configs", "mappings", "bench", "shop-order-yardstick.yaml"))
	if err != nil {
		tb.Fatalf("load yardstick: %v", err)
	}
	return p
}

func readLines(tb testing.TB, path string) [][]byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("yardstick golden file: %v", err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

// TestYardstickGolden maps the bench's golden input and compares with the
// hand-worked expected records: byte for byte (same key order, same
// decimal text) and, to be sure, as decoded JSON.
func TestYardstickGolden(t *testing.T) {
	p := yardstickPlan(t)
	for _, d := range yardstickGoldenDirs() {
		dir := d[1]
		t.Run(d[0], func(t *testing.T) {
			in := readLines(t, filepath.Join(dir, "input-3.ndjson"))
			want := readLines(t, filepath.Join(dir, "expected-3.ndjson"))
			if len(in) != len(want) || len(in) == 0 {
				t.Fatalf("golden files: %d inputs, %d expected", len(in), len(want))
			}
			for i := range in {
				got, err := p.ApplyJSON(context.Background(), in[i], nil)
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if !bytes.Equal(got, want[i]) {
					t.Errorf("record %d:\n got %s\nwant %s", i, got, want[i])
				}
				var g, w any
				dg := json.NewDecoder(bytes.NewReader(got))
				dg.UseNumber()
				dw := json.NewDecoder(bytes.NewReader(want[i]))
				dw.UseNumber()
				if err := dg.Decode(&g); err != nil {
					t.Fatalf("record %d: output is not JSON: %v", i, err)
				}
				if err := dw.Decode(&w); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(g, w) {
					t.Errorf("record %d differs as JSON", i)
				}
			}
		})
	}
}
