package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/pipeline/node"
)

// TestConnectorDocsExamples loads every `connectors:` YAML example of
// docs/connectors/*.md with the binary's connector kinds: an operator who
// copies one gets a config the hub accepts (a page once showed its keys
// nested under settings:, which the loader refuses).
func TestConnectorDocsExamples(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join("..", "..", "docs", "connectors", "*.md"))
	if err != nil || len(pages) < 4 {
		t.Fatalf("connector pages: %v %v", pages, err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(connectors:\n.*?)```")
	ref := regexp.MustCompile(`\$\{([A-Z0-9_]+)(:-[^}]*)?\}`)
	reg, err := kinds()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, page := range pages {
		for i, m := range block.FindAllStringSubmatch(mustRead(t, page), -1) {
			yaml := m[1]
			for _, r := range ref.FindAllStringSubmatch(yaml, -1) {
				t.Setenv(r[1], "secret-from-env")
			}
			dir := t.TempDir()
			// Examples name the shipped mappings as mappings/<file>.
			if err := os.CopyFS(filepath.Join(dir, "mappings"), os.DirFS(filepath.Join("..", "..", "configs", "mappings"))); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "hub.yaml")
			body := "state: {dsn: 'sqlite:" + filepath.Join(dir, "hub.db") + "'}\n" + yaml
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(p)
			if err == nil {
				_, err = node.Build(cfg, reg)
			}
			if err != nil {
				t.Errorf("%s, example %d does not load:\n%v\n%s", filepath.Base(page), i+1, err, yaml)
			}
			n++
		}
	}
	if n < 4 {
		t.Errorf("found %d connector examples in %d pages, want one at least per page", n, len(pages))
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
