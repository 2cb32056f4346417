package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/store"
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

// TestMergeOnlyChangedFields: a row has one version for all its fields, so
// a read competes only with the fields the system changed since the hub
// last knew it; the others, if they differ from the hub's, make the origin
// stale instead of undoing newer values from elsewhere.
func TestMergeOnlyChangedFields(t *testing.T) {
	at := func(sec int) time.Time { return time.Date(2026, 5, 1, 10, 0, sec, 0, time.UTC) }
	obj := func(name, phone, credit string) mapping.Value {
		return mustParse(t, `{"name":"`+name+`","phone":"`+phone+`","credit_limit":"`+credit+`"}`)
	}
	pol := &Policy{Merge: true, Conflict: ConflictNewest, Owners: map[string]string{"phone": "crm", "credit_limit": "erp"}}
	h, err := decodeRecord(store.StoredRecord{})
	if err != nil {
		t.Fatal(err)
	}
	// Both systems hold Ann at first; the ERP as of second 5.
	first := obj("Ann", "+4930111", "100")
	if o := pol.mergeInto(h, "crm", at(1), first, nil); !o.changed {
		t.Fatalf("first merge changed nothing: %+v", o)
	}
	h.members["credit_limit"], h.fields["credit_limit"] = mapping.StringValue("100"), fieldMeta{S: "erp", V: versionText(at(5))}
	erpHeld := &held{version: versionText(at(5)), fields: heldFields(first)}

	// The CRM renames her at second 10; the ERP, not written yet, raises
	// her credit at second 20 and still holds the old name.
	if o := pol.mergeInto(h, "crm", at(10), obj("Anna", "+4930111", "100"), nil); !o.changed {
		t.Fatalf("rename not taken: %+v", o)
	}
	o := pol.mergeInto(h, "erp", at(20), obj("Ann", "+4930111", "900"), erpHeld)
	if got := h.members["name"].Str(); got != "Anna" {
		t.Errorf("name %q after the ERP's credit change: its unchanged old name undid the CRM's newer rename", got)
	}
	if got := h.members["credit_limit"].Str(); got != "900" || !o.changed {
		t.Errorf("credit %q (outcome %+v): the ERP's own change not taken", got, o)
	}
	if !o.stale {
		t.Errorf("outcome %+v: the ERP holds the old name and must be written back", o)
	}

	// The read-back of the hub's write at the ERP's version: no change,
	// even where the ERP's mapping gives a field another value.
	erpHeld = &held{version: versionText(at(20)), fields: heldFields(obj("Anna", "+4930111", "900"))}
	o = pol.mergeInto(h, "erp", at(20), obj("ANNA", "+4930111", "900"), erpHeld)
	if got := h.members["name"].Str(); got != "Anna" || o.changed {
		t.Errorf("name %q (outcome %+v) after a read at the known version", got, o)
	}

	// A refused edit of a field its owner never set is written back too
	// (as the owner's nothing), not kept by the origin.
	h2, _ := decodeRecord(store.StoredRecord{})
	pol.mergeInto(h2, "crm", at(1), mustParse(t, `{"name":"Bob"}`), nil)
	o = pol.mergeInto(h2, "crm", at(2), mustParse(t, `{"name":"Bob","credit_limit":"1.00"}`), nil)
	if _, has := h2.members["credit_limit"]; has || !o.stale || len(o.refused) != 1 {
		t.Errorf("CRM's credit limit: hub %v, outcome %+v; want refused and the CRM written back", h2.members["credit_limit"], o)
	}
}
