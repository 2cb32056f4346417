package pipeline

import (
	"context"
	"testing"

	"github.com/crmhub/hub/mapping"
)

// TestWithoutOwned: a write to a system never carries the members made
// from fields that system owns, whether the hub holds a value for them or
// not (writing NULL would wipe the owner's own value on an update); a
// member computed by an expression is left out only when it depends on an
// owned field.
func TestWithoutOwned(t *testing.T) {
	plan := compile(t, "erp-out", `name: erp-out
system: erp
entity: customer
direction: out
fields:
  REF: {from: id}
  NAME: {from: name}
  CREDIT: {from: credit_limit, type: decimal}
  TERMS: {from: payment_terms}
  RATED: {expr: 'credit_limit != nil ? "rated" : "unrated"'}
  LABEL: {expr: 'name + "!"'}
`)
	s := &Sink{System: "erp", Plan: plan, Policy: &Policy{Owners: map[string]string{
		"credit_limit": "erp", "payment_terms": "erp", "email": "crm"}}}
	for _, c := range []struct {
		name, data string
		want       string
	}{
		{"owned fields absent: not written as null", `{"id":"h1","name":"Ann"}`,
			`{"REF":"h1","NAME":"Ann","RATED":"unrated","LABEL":"Ann!"}`},
		{"owned fields present: not written either", `{"id":"h1","name":"Ann","credit_limit":"500.00","payment_terms":"NET30"}`,
			`{"REF":"h1","NAME":"Ann","LABEL":"Ann!"}`},
	} {
		data := mustParse(t, c.data)
		out, err := plan.Apply(context.Background(), data, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := s.withoutOwned(context.Background(), data, out, &view{})
		if string(mapping.AppendJSON(nil, got)) != c.want {
			t.Errorf("%s: wrote %s, want %s", c.name, mapping.AppendJSON(nil, got), c.want)
		}
	}
	// The system that does not own them gets everything.
	s.System = "crm"
	data := mustParse(t, `{"id":"h1","name":"Ann","credit_limit":"500.00"}`)
	out, _ := plan.Apply(context.Background(), data, nil)
	if got := s.withoutOwned(context.Background(), data, out, &view{}); got.Len() != out.Len() {
		t.Errorf("to crm: %s, want all of %s", mapping.AppendJSON(nil, got), mapping.AppendJSON(nil, out))
	}
}
