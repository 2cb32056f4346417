package sqlstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/crmhub/hub/connectors"
)

func TestConfigValidation(t *testing.T) {
	ok := EntityConfig{Table: "customers"}
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"injection in a table", Config{Driver: "pgx", DSN: "x", Entities: map[string]EntityConfig{"customer": {Table: "users; drop table x"}}},
			[]string{`entities.customer.table: "users; drop table x" is not a plain table name`}},
		{"injection in a column", Config{Driver: "mysql", DSN: "x", Entities: map[string]EntityConfig{"customer": {Table: "c", Columns: []string{"id", "a`b"}, Key: "id); --"}}},
			[]string{`entities.customer.key: "id); --"`, "entities.customer.columns[1]"}},
		{"three-part table", Config{Driver: "sqlite", DSN: "x", Entities: map[string]EntityConfig{"order": {Table: "a.b.c"}}},
			[]string{"entities.order.table"}},
		{"missing everything", Config{}, []string{"driver: is required", "dsn: is required", "entities: is required"}},
		{"bad values", Config{Driver: "oracle", DSN: "x", PollInterval: -1, OutboxKeep: dur(-time.Hour), Entities: map[string]EntityConfig{
			"customer": {Table: "c", Capture: "binlog", BatchSize: -1, LookBack: dur(-time.Second), Delete: DeleteConfig{Mode: "soft"}},
			"ticket":   ok,
			"invoice":  {Table: "i", Delete: DeleteConfig{Column: "x"}},
		}}, []string{`driver: unknown driver "oracle"`, "poll_interval", "outbox_keep: must not be negative", "entities.customer.capture", "entities.customer.batch_size",
			"entities.customer.look_back", "entities.customer.delete.column: is required", `entities.ticket: unknown entity "ticket"`,
			"entities.invoice.delete.column: only a soft delete"}},
		{"lines on a customer", Config{Driver: "pgx", DSN: "x", Entities: map[string]EntityConfig{"customer": {Table: "c", Lines: &LinesConfig{Table: "l"}}}},
			[]string{"entities.customer.lines.parent_key: is required", "entities.customer.lines: only an order or an invoice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("crm", tt.cfg)
			if err == nil {
				t.Fatal("config accepted")
			}
			if _, ok := connectors.AsFieldErrors(err); !ok {
				t.Errorf("error %q carries no field errors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
	c, err := New("crm", Config{Driver: "postgres", DSN: "x", Entities: map[string]EntityConfig{"customer": {Table: "crm.customers"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := c.Config().Entities["customer"]
	if c.Config().Driver != "pgx" || e.Key != "id" || e.UpdatedAt != "updated_at" || e.ExternalID != "id" || e.Version != "updated_at" ||
		e.Capture != CaptureCursor || *e.LookBack != 5*time.Second || e.BatchSize != 500 || e.Delete.Mode != DeleteHard {
		t.Errorf("defaults = %+v", e)
	}
	if keep := c.Config().OutboxKeep; keep == nil || *keep != 24*time.Hour {
		t.Errorf("outbox_keep default = %v, want 24h", keep)
	}
	if got := postgres.table("crm.customers"); got != `"crm"."customers"` {
		t.Errorf("quoted = %s", got)
	}
	if got := mariadb.ident("a`b"); got != "`a``b`" {
		t.Errorf("quoted = %s", got)
	}
}

// TestRegister decodes settings the way the hub's config does (mapstructure,
// durations from strings, unknown keys rejected).
func TestRegister(t *testing.T) {
	r := connectors.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	settings := map[string]any{
		"driver": "sqlite", "dsn": t.TempDir() + "/x.db", "poll_interval": "250ms",
		"entities": map[string]any{"order": map[string]any{
			"table": "orders", "capture": "outbox", "look_back": "2s", "columns": []any{"id", "total"},
			"delete": map[string]any{"mode": "soft", "column": "status", "value": "cancelled"},
			"lines":  map[string]any{"table": "order_lines", "parent_key": "order_id", "key": "line_no"},
		}},
	}
	decode := func(settings map[string]any) func(any) error {
		return func(into any) error {
			dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
				DecodeHook: mapstructure.StringToTimeDurationHookFunc(), ErrorUnused: true, Result: into,
			})
			if err != nil {
				return err
			}
			return dec.Decode(settings)
		}
	}
	conn, err := r.New(Kind, connectors.Params{Name: "crm", Decode: decode(settings)})
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*Conn)
	e := c.Config().Entities["order"]
	if c.Config().PollInterval != 250*time.Millisecond || *e.LookBack != 2*time.Second || e.Lines.ParentKey != "order_id" || e.Delete.Value != "cancelled" {
		t.Errorf("decoded %+v", c.Config())
	}
	settings["entities"].(map[string]any)["order"].(map[string]any)["tabel"] = "x"
	if _, err := r.New(Kind, connectors.Params{Name: "crm", Decode: decode(settings)}); err == nil || !strings.Contains(err.Error(), "tabel") {
		t.Errorf("unknown key: %v", err)
	}
}

// TestMariaDBGuard runs MariaDB's guarded ON DUPLICATE KEY UPDATE on its
// own (without the locking read that normally comes first): an older
// version must change no column, a newer one all of them.
func TestMariaDBGuard(t *testing.T) {
	td := newTestDB(t, "mysql")
	td.exec(t, `CREATE TABLE customers (ext VARCHAR(20) PRIMARY KEY, name VARCHAR(20), city VARCHAR(20), version DATETIME(6))`)
	c := startConn(t, td, Config{Entities: map[string]EntityConfig{"customer": {Table: "customers", Key: "ext", UpdatedAt: "version"}}})
	_, e, err := c.started("customer")
	if err != nil {
		t.Fatal(err)
	}
	up := func(name string, ver time.Time) {
		tx := td.db.MustBegin()
		defer tx.Rollback()
		if err := c.mariaUpsert(context.Background(), tx, e, []string{"name", "city", "ext", "version"}, []any{name, name, "k", ver}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	state := func() string {
		var name, city string
		var ver time.Time
		if err := td.db.QueryRow("SELECT name, city, version FROM customers WHERE ext = 'k'").Scan(&name, &city, &ver); err != nil {
			t.Fatal(err)
		}
		return name + "/" + city + "/" + ver.UTC().Format(time.RFC3339)
	}
	up("new", t0.Add(time.Hour))
	up("old", t0)
	if got := state(); got != "new/new/2026-11-22T11:00:00Z" {
		t.Errorf("after an older write: %s", got)
	}
	up("newer", t0.Add(2*time.Hour))
	if got := state(); got != "newer/newer/2026-11-22T12:00:00Z" {
		t.Errorf("after a newer write: %s", got)
	}
}
