package node

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/pipeline"
)

// TestPolicies loads a config with two-way keys (docs/two-way.md) and
// checks the policy each entity's sources and sinks get.
func TestPolicies(t *testing.T) {
	cfg := loadConfig(t, `
connectors:
  crm: {kind: sqlstore}
  erp: {kind: sqlstore}
  shop: {kind: sqlstore}
sources:
  crm-customers: {connector: crm, entity: customer, mapping: in.yaml}
  erp-customers: {connector: erp, entity: customer, mapping: in.yaml}
  crm-orders: {connector: crm, entity: order, mapping: in.yaml}
  shop-orders: {connector: shop, entity: order, mapping: in.yaml}
  erp-invoices: {connector: erp, entity: invoice, mapping: in.yaml}
  erp-invoices-again: {connector: erp, entity: invoice, mapping: in.yaml}
sinks:
  erp:
    connector: erp
    entities:
      customer: {mapping: out.yaml}
entities:
  customer:
    owners:
      email: crm
      phone: crm
      credit_limit: erp
      payment_terms: erp
    conflict: newest
    match: [email, phone, tax_id]
    phone_country_code: "49"
  interaction:
    conflict: crm
`)
	got := Policies(cfg)
	want := map[string]*pipeline.Policy{
		"customer": {Merge: true, Conflict: pipeline.ConflictNewest,
			Owners: map[string]string{"email": "crm", "phone": "crm", "credit_limit": "erp", "payment_terms": "erp"},
			Match: []pipeline.MatchRule{
				{Field: "email", Normalize: "email", CountryCode: "49"},
				{Field: "phone", Normalize: "phone", CountryCode: "49"},
				{Field: "tax_id", Normalize: "exact", CountryCode: "49"},
			}},
		// Read by two connectors, configured nowhere: merged, newest wins.
		"order": {Merge: true, Conflict: pipeline.ConflictNewest},
		// A named system decides; nobody reads it yet.
		"interaction": {Merge: true, Conflict: "crm"},
		// invoice: two sources of one connector: one-way, no policy.
	}
	if len(got) != len(want) {
		t.Errorf("policies for %v; want %v", keys(got), keys(want))
	}
	for entity, w := range want {
		if g := got[entity]; !reflect.DeepEqual(g, w) {
			t.Errorf("%s: policy %+v; want %+v", entity, g, w)
		}
	}
	if got["invoice"] != nil {
		t.Errorf("invoice (one connector, not configured): policy %+v; want none", got["invoice"])
	}
}

// TestPoliciesMatchOnly: match rules alone do not merge; an owner or a
// conflict policy alone does.
func TestPoliciesMatchOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ec    config.EntityConfig
		merge bool
	}{
		{"match only", config.EntityConfig{Match: []string{"email"}}, false},
		{"an owner", config.EntityConfig{Owners: map[string]string{"email": "crm"}}, true},
		{"a conflict policy", config.EntityConfig{Conflict: "newest"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Policies(&config.Config{Entities: map[string]config.EntityConfig{"customer": tc.ec}})["customer"]
			if p == nil || p.Merge != tc.merge || p.Conflict != pipeline.ConflictNewest {
				t.Fatalf("policy %+v; want merge %v, conflict newest", p, tc.merge)
			}
			if len(tc.ec.Match) > 0 && (len(p.Match) != 1 || p.Match[0] != (pipeline.MatchRule{Field: "email", Normalize: "email"})) {
				t.Errorf("match %+v", p.Match)
			}
		})
	}
}

func keys[V any](m map[string]V) []string { return sorted(m) }

// loadConfig loads hub.yaml text from a folder that also holds the empty
// mappings in.yaml and out.yaml.
func loadConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for _, m := range []string{"in.yaml", "out.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, m), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
