// Package mappingtest runs a shipped mapping (configs/mappings) on its
// sample, for the tests of packages that feed mapped records on (a
// connector writing what its outbound mapping makes). Every shipped
// mapping's sample is checked against its expected output by the mapping
// package's own TestShippedMappings; this package hands the result on.
package mappingtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmhub/hub/mapping"
)

// Golden loads dir/<name>.yaml, maps dir/testdata/<name>.input.json
// (dir/testdata/<name>.lookups.json standing in for the pipeline's xref),
// fails t unless the result is dir/testdata/<name>.expected.json, and
// returns it. With HUB_UPDATE_GOLDEN=1 it first writes the result as the
// expected output.
func Golden(t testing.TB, dir, name string) mapping.Value {
	t.Helper()
	plan, err := mapping.Load(filepath.Join(dir, name+".yaml"))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	td := filepath.Join(dir, "testdata", name)
	rec, err := mapping.ParseJSON(read(t, td+".input.json"))
	if err != nil {
		t.Fatalf("%s.input.json: %v", name, err)
	}
	var lk mapping.Lookup
	if data, err := os.ReadFile(td + ".lookups.json"); err == nil {
		var m mapping.MapLookup
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s.lookups.json: %v", name, err)
		}
		lk = m
	}
	got, err := plan.Apply(context.Background(), rec, lk)
	if err != nil {
		t.Fatalf("apply %s: %v", name, err)
	}
	g := mapping.AppendJSON(nil, got)
	if os.Getenv("HUB_UPDATE_GOLDEN") == "1" {
		WriteIndented(t, td+".expected.json", g)
	}
	want, err := mapping.ParseJSON(read(t, td+".expected.json"))
	if err != nil {
		t.Fatalf("%s.expected.json: %v", name, err)
	}
	if w := mapping.AppendJSON(nil, want); !bytes.Equal(g, w) {
		t.Fatalf("%s: got\n%s\nwant\n%s", name, g, w)
	}
	return got
}

// WriteIndented writes compact JSON to path, indented as the samples are.
func WriteIndented(t testing.TB, path string, compact []byte) {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
