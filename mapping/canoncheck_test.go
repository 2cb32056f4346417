package mapping

import (
	"errors"
	"strings"
	"testing"
)

// TestCanonicalTypesEnforced: an inbound mapping's output must fit the
// canonical model: ISO 3166 country, ISO 4217 currency, e-mail syntax,
// E.164 phones, non-blank required fields and non-negative quantities.
// Each violation is a field error naming the field and the value.
func TestCanonicalTypesEnforced(t *testing.T) {
	const customerSpec = `name: canon-test
system: crm
entity: customer
direction: in
fields:
  external_id: {from: id, type: string}
  name: {from: name, required: true}
  email: email
  phone: phone
  currency: currency
  billing_address.country: country
`
	p := mustPlan(t, customerSpec)
	good := `{"id":1,"name":"Acme","email":"info@acme.example","phone":"+49301234567","currency":"EUR","country":"DE"}`
	if _, err := applyJSON(t, p, good, nil); err != nil {
		t.Fatalf("a fitting record: %v", err)
	}
	bad := `{"id":1,"name":"   ","email":"not-an-email","phone":"030 1234567","currency":"euro","country":"Germany"}`
	_, err := applyJSON(t, p, bad, nil)
	var re *RecordError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want field errors", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`name: required, but blank`,
		`email: "not-an-email": is not an e-mail address`,
		`phone: "030 1234567": is not an E.164 phone number`,
		`currency: "euro": is not an ISO 4217 currency code`,
		`billing_address.country: "Germany": is not an ISO 3166-1 alpha-2 country code`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if _, err := applyJSON(t, p, `{"id":1,"name":"A","country":"de","currency":"eur"}`, nil); err == nil ||
		!strings.Contains(err.Error(), "(DE? add transform: [upper])") || !strings.Contains(err.Error(), "(EUR? add transform: [upper])") {
		t.Errorf("lower-case codes: %v, want a hint to upper-case them", err)
	}

	const orderSpec = `name: canon-order
system: shop
entity: order
direction: in
fields:
  external_id: {from: id, type: string}
  lines:
    each: items
    fields:
      qty: {from: qty, type: decimal}
`
	po := mustPlan(t, orderSpec)
	if _, err := applyJSON(t, po, `{"id":1,"items":[{"qty":"2"},{"qty":"-1.5"},{"qty":"-0.00"}]}`, nil); err == nil ||
		!strings.Contains(err.Error(), `lines[1].qty: "-1.5": must not be negative`) || strings.Contains(err.Error(), "lines[2]") {
		t.Errorf("negative quantity: %v", err)
	}
	// Outbound mappings write the target's shape: not checked.
	const out = `name: canon-out
system: erp
entity: customer
direction: out
fields:
  land: billing_address.country
`
	if _, err := applyJSON(t, mustPlan(t, out), `{"billing_address":{"country":"Germany"}}`, nil); err != nil {
		t.Errorf("an outbound mapping was checked: %v", err)
	}
}
