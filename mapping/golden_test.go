package mapping

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedMappings compiles every spec under configs/mappings and
// configs/demo/mappings and maps its sample input
// (testdata/<name>.input.json next to the spec) to the expected output
// (testdata/<name>.expected.json). testdata/<name>.lookups.json, when
// present, stands in for the pipeline's xref lookups.
func TestShippedMappings(t *testing.T) {
	for _, tc := range []struct {
		name, root string
		min        int // so that a moved folder fails instead of testing nothing
	}{
		{"shipped", filepath.Join("..", "configs", "mappings"), 6},
		{"demo", filepath.Join("..", "configs", "demo", "mappings"), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testMappingsIn(t, tc.root, tc.min)
		})
	}
}

func testMappingsIn(t *testing.T, root string, atLeast int) {
	specs, err := filepath.Glob(filepath.Join(root, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bench, _ := filepath.Glob(filepath.Join(root, "bench", "*.yaml"))
	specs = append(specs, bench...)
	if len(specs) < atLeast {
		t.Fatalf("found only %d specs under %s", len(specs), root)
	}
	for _, spec := range specs {
		name := strings.TrimSuffix(filepath.Base(spec), ".yaml")
		t.Run(name, func(t *testing.T) {
			p, err := Load(spec)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if filepath.Base(filepath.Dir(spec)) == "bench" {
				return // checked against the bench's golden files in TestYardstickGolden
			}
			td := filepath.Join(root, "testdata", name)
			in, err := os.ReadFile(td + ".input.json")
			if err != nil {
				t.Fatalf("every shipped mapping needs a sample input: %v", err)
			}
			wantRaw, err := os.ReadFile(td + ".expected.json")
			if err != nil {
				t.Fatalf("every shipped mapping needs an expected output: %v", err)
			}
			var lk Lookup
			if data, err := os.ReadFile(td + ".lookups.json"); err == nil {
				var m MapLookup
				if err := json.Unmarshal(data, &m); err != nil {
					t.Fatalf("lookups: %v", err)
				}
				lk = m
			}
			got, err := p.ApplyJSON(context.Background(), in, lk)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			want, err := ParseJSON(wantRaw)
			if err != nil {
				t.Fatalf("expected output: %v", err)
			}
			// Compare compact encodings: key order and number text count.
			w := string(AppendJSON(nil, want))
			if string(got) != w {
				t.Fatalf("got\n%s\nwant\n%s", got, w)
			}
			// The Value-building Apply gives the same record.
			rec, err := ParseJSON(in)
			if err != nil {
				t.Fatal(err)
			}
			v, err := p.Apply(context.Background(), rec, lk)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if g := string(AppendJSON(nil, v)); g != w {
				t.Fatalf("Apply got\n%s\nwant\n%s", g, w)
			}
		})
	}
}
