package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
)

// TestConnectorProblems: a constructor's field errors become problems at
// the full key and its line (a key the file leaves out at its parent's);
// anything else lands on the connector's line; decoding problems, already
// located, pass as they are.
func TestConnectorProblems(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.yaml")
	body := "state: {dsn: 'sqlite:" + filepath.Join(dir, "hub.db") + "'}\n" + `connectors:
  crm:
    kind: sqlstore
    driver: oracle
    entities:
      order:
        table: orders
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	wrap := func(err error) error { return fmt.Errorf("connector crm (sqlstore): %w", err) }
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"field errors", wrap(connectors.FieldErrors{
			{Key: "driver", Msg: `unknown driver "oracle"`},
			{Key: "entities.order.table", Msg: "is; not plain"},
			{Key: "dsn", Msg: "is required"},
			{Msg: "no settings"},
		}), []string{
			path + `:5: connectors.crm.driver: unknown driver "oracle"`,
			path + ":8: connectors.crm.entities.order.table: is; not plain",
			path + ":3: connectors.crm.dsn: is required",
			path + ":3: connectors.crm: sqlstore: no settings",
		}},
		{"a plain error", wrap(errors.New("boom")), []string{path + ":3: connectors.crm: sqlstore: boom"}},
		{"decoding problems", config.Problems{{File: "x.yaml", Line: 9, Key: "connectors.crm.tabel", Msg: "unknown key"}},
			[]string{"x.yaml:9: connectors.crm.tabel: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range connectorProblems(cfg, "crm", "sqlstore", tt.err) {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
