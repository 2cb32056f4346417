package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/kafka"
)

// reloadConfigs writes the mappings and each config text to one folder
// and loads them, in order.
func reloadConfigs(t *testing.T, texts ...string) []*config.Config {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"customer-out.yaml": "entity: customer\ndirection: out\nfields:\n  name: name\n",
		"order-out.yaml":    "entity: order\ndirection: out\nfields:\n  total: total\n",
		"order-xref.yaml":   "entity: order\ndirection: out\nfields:\n  total: total\n  customer: {from: customer.id, transform: [{xref: customer}]}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out []*config.Config
	for i, text := range texts {
		path := filepath.Join(dir, "hub"+string(rune('a'+i))+".yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("config %d: %v", i, err)
		}
		out = append(out, cfg)
	}
	return out
}

// TestReloadRefusesWhatFitsOnlyWithARestart: a reload whose new config
// is sound as a whole, but whose hot changes would run beside settings
// that only a restart changes, is refused whole. Here sink orders' new
// mapping looks up the lake's customer ids, which sink customers is to
// record from now on (stamps: true, refused until a restart): applied
// alone, every order would be dead-lettered for want of them.
func TestReloadRefusesWhatFitsOnlyWithARestart(t *testing.T) {
	const base = `connectors:
  lake:
    kind: kafka
    brokers: [127.0.0.1:9092]
    entities:
      customer: {topic: lake.customers}
      order: {topic: lake.orders}
sinks:
  customers:
    connector: lake
    stamps: %s
    entities:
      customer: {mapping: customer-out.yaml}
  orders:
    connector: lake
    batch_size: %s
    entities:
      order: {mapping: %s}
`
	fill := func(stamps, batch, mapping string) string {
		out := base
		for _, v := range []string{stamps, batch, mapping} {
			out = strings.Replace(out, "%s", v, 1)
		}
		return out
	}
	cfgs := reloadConfigs(t,
		fill("false", "100", "order-out.yaml"),  // running
		fill("true", "100", "order-xref.yaml"),  // stamps back on, and the xref
		fill("true", "200", "order-out.yaml"),   // stamps back on, and a batch size
		fill("false", "100", "order-xref.yaml"), // refused by validation as a whole
	)
	reg := connectors.NewRegistry()
	if err := kafka.Register(reg); err != nil {
		t.Fatal(err)
	}
	n := &Node{live: cfgs[0], kinds: reg}

	groups := groupChanges(config.Diff(n.live, cfgs[1]), n.live)
	if len(groups) != 2 {
		t.Fatalf("changes grouped as %d owners, want 2 (sink customers, sink orders)", len(groups))
	}
	err := n.checkPartial(groups, settled(n.live, cfgs[1], groups))
	if err == nil || !strings.Contains(err.Error(), "looks up `xref: customer`") || !strings.Contains(err.Error(), "need a restart") {
		t.Fatalf("the xref beside stamps still off: %v; want it refused, naming the lookup", err)
	}

	// What fits the running settings goes through.
	groups = groupChanges(config.Diff(n.live, cfgs[2]), n.live)
	if err := n.checkPartial(groups, settled(n.live, cfgs[2], groups)); err != nil {
		t.Fatalf("a batch size beside a refused stamps change: %v", err)
	}
	// The xref in a new config that keeps stamps off is refused earlier,
	// by the check of the new config as a whole (Build).
	if _, err := Build(cfgs[3], reg); err == nil || !strings.Contains(err.Error(), "looks up `xref: customer`") {
		t.Fatalf("the xref with stamps off: %v", err)
	}
}
