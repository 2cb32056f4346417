package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConnectorPagesUpToDate regenerates the settings reference of every
// connector page in memory: a page whose generated section differs from
// its kind's spec is stale.
func TestConnectorPagesUpToDate(t *testing.T) {
	reg, err := kinds()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs", "connectors")
	for _, name := range reg.Kinds() {
		k, _ := reg.Kind(name)
		path, page := filepath.Join(dir, name+".md"), "docs/connectors/"+name+".md"
		current, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v: run `go generate ./cmd/hub` to create it", page, err)
			continue
		}
		want, err := pageFor(k, current, true)
		if err != nil {
			t.Errorf("%s: %v", page, err)
			continue
		}
		if want != string(current) {
			t.Errorf("%s is stale: its settings reference is not what kind %s declares; run `go generate ./cmd/hub` (hub connectors doc --write docs/connectors)", page, name)
		}
	}
}

// TestShippedKindsDeclareSpecs: every kind the binary ships derives its
// settings spec (kinds() fails otherwise), documents every key, and can
// read and write, except the call center's kinds: a view and a pusher.
func TestShippedKindsDeclareSpecs(t *testing.T) {
	reg, err := kinds()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range reg.Kinds() {
		k, _ := reg.Kind(name)
		if len(k.Spec.Fields) == 0 || k.Summary == "" {
			t.Errorf("%s: no settings spec or summary", name)
		}
		for _, f := range k.Spec.All() {
			if f.Doc == "" || f.Type == "" {
				t.Errorf("%s: key %s lacks a doc or a type", name, f.Path)
			}
		}
		got := strings.Join(k.Capabilities, ",")
		want := map[string]string{"screenpop": "view", "calls": "pusher"}[name]
		switch {
		case want != "" && got != want:
			t.Errorf("%s: capabilities %q, want %q", name, got, want)
		case want == "" && (!strings.Contains(got, "reader") || !strings.Contains(got, "writer") && !strings.Contains(got, "pusher")):
			t.Errorf("%s: capabilities %q", name, got)
		}
	}
}

// runCmd runs the hub's command tree in-process.
func runCmd(t *testing.T, args ...string) (stdout string, code int, err error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err = root.Execute()
	if err != nil {
		code = exitCode(err)
	}
	return out.String(), code, err
}

func TestConnectorsCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string // in stdout, or in the error
	}{
		{"list", []string{"connectors"}, 0, []string{"KIND", "odoo         reader, writer, scanner", "rest ", "sqlstore ", "tryton ", "a Tryton ERP", "shopify      reader, pusher", "woocommerce  reader, pusher"}},
		{"list by name", []string{"connectors", "list"}, 0, []string{"sqlstore     reader, writer, scanner          a SQL database", "zoho         reader, pusher, writer, scanner  Zoho CRM"}},
		{"doc", []string{"connectors", "doc", "sqlstore"}, 0, []string{
			"| key | type | default | required | allowed values | description |",
			"| `driver` | string |  | yes |  |",
			"| `entities.<entity>.capture` | string | `cursor` |  | `cursor`, `outbox` |",
			"| `entities.<entity>.version` | string | the value of updated_at |",
			"| `dsn` | string |  | yes |  | the driver's data source name.",
		}},
		{"squashed and nested keys", []string{"connectors", "doc", "rest"}, 0, []string{
			"| `timeout` | duration | `30s` |",
			"| `auth.type` | string | `none` |",
			"| `entities.<entity>.pagination.type` | string |  | yes | `page`, `offset`, `cursor`, `link`, `none` |",
		}},
		{"unknown kind", []string{"connectors", "doc", "magento"}, 2, []string{`unknown connector kind "magento" (known: calls, fxiaoke, kafka, odoo, rest, screenpop, shopify, sqlstore, tryton, woocommerce, zoho)`}},
		{"no kind", []string{"connectors", "doc"}, 2, []string{"give a kind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code, err := runCmd(t, tt.args...)
			if err != nil {
				out += err.Error()
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d: %v", code, tt.code, err)
			}
			for _, w := range tt.contains {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestConnectorsDocWrite: --write rewrites only the marked section of each
// page, keeps the prose, creates a missing page and refuses a page without
// markers, naming it.
func TestConnectorsDocWrite(t *testing.T) {
	dir := t.TempDir()
	stale := "# SQL store\n\nHand-written prose.\n\n" + settingsBegin + "\nold table\n" + settingsEnd + "\n\nMore prose.\n"
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("sqlstore.md", stale)
	if _, _, err := runCmd(t, "connectors", "doc", "--write", dir, "sqlstore", "odoo"); err == nil {
		t.Fatal("two kinds accepted")
	}
	out, _, err := runCmd(t, "connectors", "doc", "--write", dir, "sqlstore")
	if err != nil {
		t.Fatal(err)
	}
	got := string(readFile(t, filepath.Join(dir, "sqlstore.md")))
	if !strings.HasPrefix(got, "# SQL store\n\nHand-written prose.\n\n"+settingsBegin+"\nThe settings of kind `sqlstore`") ||
		!strings.HasSuffix(got, "|\n"+settingsEnd+"\n\nMore prose.\n") || strings.Contains(got, "old table") {
		t.Errorf("rewritten page:\n%s", got)
	}
	if !strings.Contains(out, "wrote "+filepath.Join(dir, "sqlstore.md")) {
		t.Errorf("output %q", out)
	}
	if out, _, err = runCmd(t, "connectors", "doc", "--write", dir, "sqlstore"); err != nil || out != "" {
		t.Errorf("an up-to-date page was written again: %q, %v", out, err)
	}

	write("odoo.md", "# Odoo\n\nNo markers here.\n")
	_, _, err = runCmd(t, "connectors", "doc", "--write", dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "odoo.md")+": no settings markers") {
		t.Errorf("a page without markers: %v", err)
	}
	write("odoo.md", "# Odoo\n\n"+settingsBegin+"\n"+settingsEnd+"\n")
	if _, _, err = runCmd(t, "connectors", "doc", "--write", dir); err != nil {
		t.Fatal(err)
	}
	created := string(readFile(t, filepath.Join(dir, "tryton.md")))
	if !strings.HasPrefix(created, "# Connector kind `tryton`\n\nConnects a Tryton ERP") || !strings.Contains(created, "| `database` | string |") {
		t.Errorf("created page:\n%s", created)
	}
}

func TestRewriteSettings(t *testing.T) {
	tests := []struct {
		name, page, want, err string
	}{
		{"replaces between the markers", "a\n" + settingsBegin + "\nold\n" + settingsEnd + "\nb\n", "a\n" + settingsBegin + "\nNEW\n" + settingsEnd + "\nb\n", ""},
		{"empty section", settingsBegin + settingsEnd, settingsBegin + "\nNEW\n" + settingsEnd, ""},
		{"no markers", "prose only\n", "", "no settings markers"},
		{"no end", settingsBegin + "\n", "", "no settings markers"},
		{"twice", settingsBegin + settingsEnd + settingsBegin + settingsEnd, "", "more than once"},
		{"reversed", settingsEnd + settingsBegin, "", "comes before"},
	}
	for _, tt := range tests {
		got, err := rewriteSettings(tt.page, "NEW\n")
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}
