package config

import (
	"strings"
	"testing"
	"time"
)

func TestTwoWayKeys(t *testing.T) {
	cfg, err := Load(writeFile(t, `
connectors:
  crm: {kind: sqlstore}
  erp: {kind: tryton}
entities:
  customer:
    owners: {email: crm, phone: crm, credit_limit: erp, payment_terms: erp}
    conflict: newest
    match: [email, phone, tax_id]
    phone_country_code: "49"
trace:
  retention: 72h
`))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Entities["customer"]
	if c.Owners["credit_limit"] != "erp" || c.Conflict != "newest" || strings.Join(c.Match, ",") != "email,phone,tax_id" || c.PhoneCountryCode != "49" {
		t.Errorf("entities.customer = %+v", c)
	}
	if !cfg.Trace.Enabled || cfg.Trace.Retention != 72*time.Hour || cfg.Trace.PruneInterval != time.Hour {
		t.Errorf("trace = %+v", cfg.Trace)
	}

	for _, tc := range []struct{ yaml, key string }{
		{"entities:\n  customer:\n    owners: {email: shop}\n", "entities.customer.owners.email"},
		{"entities:\n  customer:\n    conflict: loudest\n", "entities.customer.conflict"},
		{"entities:\n  customer:\n    phone_country_code: \"+49\"\n", "entities.customer.phone_country_code"},
		{"entities:\n  lead: {conflict: newest}\n", "entities.lead"},
		{"trace:\n  retention: 0s\n", "trace.retention"},
	} {
		_, err := Load(writeFile(t, "connectors:\n  crm: {kind: sqlstore}\n"+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v; want one naming %s", strings.TrimSpace(tc.yaml), err, tc.key)
		}
	}
}
