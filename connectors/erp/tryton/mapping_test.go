package tryton

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmhub/hub/mapping"
)

// TestMappings maps each Tryton mapping's sample input
// (configs/mappings/testdata/<name>.input.json) with mapping.Load and
// plan.Apply and compares the result with <name>.expected.json;
// <name>.lookups.json stands in for the pipeline's xref.
func TestMappings(t *testing.T) {
	root := filepath.Join("..", "..", "..", "configs", "mappings")
	for _, name := range []string{"tryton-party-out", "tryton-sale-out", "tryton-invoice-in"} {
		t.Run(name, func(t *testing.T) {
			plan, err := mapping.Load(filepath.Join(root, name+".yaml"))
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			td := filepath.Join(root, "testdata", name)
			in, err := os.ReadFile(td + ".input.json")
			if err != nil {
				t.Fatal(err)
			}
			rec, err := mapping.ParseJSON(in)
			if err != nil {
				t.Fatal(err)
			}
			var lk mapping.Lookup
			if data, err := os.ReadFile(td + ".lookups.json"); err == nil {
				var m mapping.MapLookup
				if err := json.Unmarshal(data, &m); err != nil {
					t.Fatal(err)
				}
				lk = m
			}
			got, err := plan.Apply(context.Background(), rec, lk)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			g := string(mapping.AppendJSON(nil, got))
			if os.Getenv("HUB_UPDATE_GOLDEN") == "1" {
				var out bytes.Buffer
				_ = json.Indent(&out, []byte(g), "", "  ")
				out.WriteByte('\n')
				if err := os.WriteFile(td+".expected.json", out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantRaw, err := os.ReadFile(td + ".expected.json")
			if err != nil {
				t.Fatal(err)
			}
			want, err := mapping.ParseJSON(wantRaw)
			if err != nil {
				t.Fatal(err)
			}
			if w := string(mapping.AppendJSON(nil, want)); g != w {
				t.Fatalf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}
