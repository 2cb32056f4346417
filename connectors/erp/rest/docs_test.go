package rest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-viper/mapstructure/v2"
	"gopkg.in/yaml.v3"

	"github.com/crmhub/hub/connectors/erp"
)

// TestDocExamples loads every connector block of kind rest in the YAML
// examples of docs/connectors/rest.md as the hub would (mapstructure,
// unknown keys reported) and validates it, so the documentation cannot
// drift from the code.
func TestDocExamples(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "connectors", "rest.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(raw), -1)
	refs := regexp.MustCompile(`\$\{[A-Z_]+\}`)
	n := 0
	for _, b := range blocks {
		var doc struct {
			Connectors map[string]map[string]any `yaml:"connectors"`
		}
		if err := yaml.Unmarshal([]byte(refs.ReplaceAllString(b[1], "x")), &doc); err != nil {
			t.Fatalf("example does not parse: %v\n%s", err, b[1])
		}
		for name, settings := range doc.Connectors {
			if settings["kind"] != Kind {
				continue
			}
			delete(settings, "kind")
			var cfg Config
			var md mapstructure.Metadata
			dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
				DecodeHook:       mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(",")),
				WeaklyTypedInput: true, Metadata: &md, Result: &cfg})
			if err != nil {
				t.Fatal(err)
			}
			if err := dec.Decode(settings); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(md.Unused) > 0 {
				t.Fatalf("%s: unknown keys %v", name, md.Unused)
			}
			if _, err := New(name, cfg, erp.Options{}); err != nil {
				t.Fatalf("%s: %v", name, strings.ReplaceAll(err.Error(), "; ", "\n"))
			}
			n++
		}
	}
	if n < 2 {
		t.Fatalf("found %d rest connector examples, want the ERPNext and WooCommerce ones", n)
	}
}
