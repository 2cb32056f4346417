package main

// `hub map test` and `hub map explain` are what an operator runs before
// deploying a mapping change; these tests drive the built binary on the
// shipped mappings and their golden samples.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var (
	mappingsDir = filepath.Join("..", "..", "configs", "mappings")
	testdataDir = filepath.Join(mappingsDir, "testdata")
)

// runHubIO runs the hub binary with stdin and returns its standard output,
// standard error and exit code.
func runHubIO(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(hubBinary(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("hub %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), 0
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func compactJSON(t *testing.T, data []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	return b.String()
}

// withField returns the JSON object in data with key set to value; numbers
// keep their text.
func withField(t *testing.T, data []byte, key string, value any) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m[key]; !ok {
		t.Fatalf("sample has no field %q", key)
	}
	m[key] = value
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMapTest(t *testing.T) {
	shopIn := readFile(t, filepath.Join(testdataDir, "shop-order-in.input.json"))
	tests := []struct {
		name  string
		args  []string
		stdin []byte
		code  int
		// want is the file whose JSON stdout must equal; "" wants no output.
		want string
		// wantErr are lines standard error must hold.
		wantErr []string
	}{
		{
			name: "shop order from a file",
			args: []string{"-m", filepath.Join(mappingsDir, "shop-order-in.yaml"), "-i", filepath.Join(testdataDir, "shop-order-in.input.json")},
			want: filepath.Join(testdataDir, "shop-order-in.expected.json"),
		},
		{
			name:  "shop order from standard input",
			args:  []string{"-m", filepath.Join(mappingsDir, "shop-order-in.yaml")},
			stdin: shopIn,
			want:  filepath.Join(testdataDir, "shop-order-in.expected.json"),
		},
		{
			name: "ERP sale with xref lookups",
			args: []string{"-m", filepath.Join(mappingsDir, "erp-sale-out.yaml"), "-i", filepath.Join(testdataDir, "erp-sale-out.input.json"),
				"--lookups", filepath.Join(testdataDir, "erp-sale-out.lookups.json")},
			want: filepath.Join(testdataDir, "erp-sale-out.expected.json"),
		},
		{
			name:    "a total that is not a decimal",
			args:    []string{"-m", filepath.Join(mappingsDir, "shop-order-in.yaml")},
			stdin:   withField(t, shopIn, "total_price", "12,50"),
			code:    1,
			wantErr: []string{`total: "12,50": not a decimal`, "hub: 1 field(s) failed"},
		},
		{
			name:  "two bad fields, each reported",
			args:  []string{"-m", filepath.Join(mappingsDir, "shop-order-in.yaml")},
			stdin: withField(t, withField(t, shopIn, "total_price", "12,50"), "currency", nil),
			code:  1,
			wantErr: []string{`total: "12,50": not a decimal`, "currency: required, but missing (null)",
				"hub: 2 field(s) failed"},
		},
		{
			name:    "a reference with no lookup",
			args:    []string{"-m", filepath.Join(mappingsDir, "erp-sale-out.yaml"), "-i", filepath.Join(testdataDir, "erp-sale-out.input.json")},
			code:    1,
			wantErr: []string{"header.CUSTOMER_NO: ", "no lookup hook is configured"},
		},
		{
			name:    "input that is not JSON",
			args:    []string{"-m", filepath.Join(mappingsDir, "shop-order-in.yaml")},
			stdin:   []byte(`{"id": 1,`),
			code:    1,
			wantErr: []string{"input is not JSON"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runHubIO(t, tt.stdin, append([]string{"map", "test"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			if tt.want != "" {
				if got, want := compactJSON(t, []byte(stdout)), compactJSON(t, readFile(t, tt.want)); got != want {
					t.Errorf("stdout\n%s\nwant (%s)\n%s", got, tt.want, want)
				}
			} else if stdout != "" {
				t.Errorf("a failed record printed a result:\n%s", stdout)
			}
			lines := strings.Split(stderr, "\n")
			for _, w := range tt.wantErr {
				found := false
				for _, l := range lines {
					found = found || strings.Contains(l, w)
				}
				if !found {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestMapExplain(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("entity: order\ndirection: in\nfields:\n  total:\n    from: total_price\n    transform: [frobnicate]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec string
		code int
		want []string // lines of stdout (code 0) or stderr
	}{
		{"shop order in", filepath.Join(mappingsDir, "shop-order-in.yaml"), 0, []string{
			"mapping shop-order-in: shop order, in (system -> canonical)",
			"external_id: from id, then prefix \"shop:\", then required",
			"total: from total_price, then round half away from zero to 2 places, then as decimal, then required",
			"lines: each element of line_items",
			"  sku: from sku, then required",
		}},
		{"a spec with a mistake", bad, 2, []string{bad + ":6: total: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runHubIO(t, nil, "map", "explain", "-m", tt.spec)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			out := stdout
			if tt.code != 0 {
				out = stderr
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
