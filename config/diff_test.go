package config

import (
	"reflect"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	old := &Config{
		Log:        LogConfig{Level: "info"},
		State:      StateConfig{DSN: "postgres://a"},
		Connectors: map[string]ConnectorConfig{"crm": {Kind: "sql", Settings: map[string]any{"dsn": "x", "tables": map[string]any{"order": "orders"}}}},
		Sources:    map[string]SourceConfig{"crm-orders": {Connector: "crm", Entity: "order", Interval: time.Second, Refs: map[string]string{"customer": "customer_id"}}},
		Sinks:      map[string]SinkConfig{"erp": {Connector: "erp", Entities: map[string]SinkEntityConfig{"order": {Mapping: "a.yaml"}}}},
	}
	same := *old
	if d := Diff(old, &same); len(d) != 0 {
		t.Fatalf("Diff of a config with itself: %v", d)
	}
	new := &Config{
		Log:        LogConfig{Level: "debug"},
		State:      StateConfig{DSN: "postgres://b"},
		Connectors: map[string]ConnectorConfig{"crm": {Kind: "sql", Settings: map[string]any{"dsn": "x", "tables": map[string]any{"order": "orders2"}}}},
		Sources: map[string]SourceConfig{
			"crm-orders": {Connector: "crm", Entity: "order", Interval: 2 * time.Second, Refs: map[string]string{"customer": "customer_id"}},
			"crm-new":    {Connector: "crm", Entity: "customer"},
		},
		Sinks: map[string]SinkConfig{"erp": {Connector: "erp", Entities: map[string]SinkEntityConfig{"order": {Mapping: "b.yaml", Deletes: "ignore"}}}},
	}
	want := []Change{
		{"connectors.crm.tables.order", "changed"},
		{"log.level", "changed"},
		{"sinks.erp.entities.order.deletes", "changed"},
		{"sinks.erp.entities.order.mapping", "changed"},
		{"sources.crm-new", "added"},
		{"sources.crm-orders.interval", "changed"},
		{"state.dsn", "changed"},
	}
	if got := Diff(old, new); !reflect.DeepEqual(got, want) {
		t.Errorf("Diff:\n got %v\nwant %v", got, want)
	}
	// A setting that changes shape (a string becomes a map) is a change,
	// not a panic.
	shaped := *old
	shaped.Connectors = map[string]ConnectorConfig{"crm": {Kind: "sql", Settings: map[string]any{"dsn": "x", "tables": "orders"}}}
	if got := Diff(old, &shaped); !reflect.DeepEqual(got, []Change{{"connectors.crm.tables", "changed"}}) {
		t.Errorf("Diff of a reshaped setting: %v", got)
	}
}
