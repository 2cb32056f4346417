package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

func person(key, name, email, phone string) connectors.Record {
	ms := []mapping.Member{{Key: "id", Value: mapping.StringValue(key)}, {Key: "name", Value: mapping.StringValue(name)}}
	if email != "" {
		ms = append(ms, mapping.Member{Key: "email", Value: mapping.StringValue(email)})
	}
	if phone != "" {
		ms = append(ms, mapping.Member{Key: "phone", Value: mapping.StringValue(phone)})
	}
	return connectors.Record{Entity: "customer", Key: key, Op: connectors.OpUpsert, Version: time.Now(), Data: mapping.ObjectValue(ms...)}
}

const personIn = `name: t-person-in
system: any
entity: customer
direction: in
fields:
  external_id: {from: id, type: string, required: true}
  name: {from: name, required: true}
  email: {from: email}
  phone: {from: phone}
`

func TestMatchingOnFirstContact(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pol := &Policy{Match: []MatchRule{
		{Field: "email", Normalize: "email"}, {Field: "phone", Normalize: "phone", CountryCode: "49"}}}
	src := func(system string) *Source {
		return &Source{Name: system + "-customer", System: system, Entity: "customer", Plan: compile(t, "pin", personIn),
			Store: h.store, Metrics: h.m, Log: h.log, Policy: pol}
	}
	crm, erp, shop := src("crm"), src("erp"), src("shop")
	// The CRM knows four people: Ana and Bob share a company phone; Dan and
	// Eve share another and have no email.
	if _, err := crm.envelopes(ctx, []connectors.Record{
		person("c1", "Ana", "Ana.Lopez@Example.com", "030 1234567"),
		person("c2", "Bob", "bob@example.com", "+49 30 1234567"),
		person("c3", "Dan", "", "089 7654321"),
		person("c4", "Eve", "", "+49 89 7654321"),
	}); err != nil {
		t.Fatal(err)
	}
	hubOf := func(system, key string) string {
		id, ok, err := h.store.LookupHubID(ctx, "customer", system, key)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return ""
		}
		return id
	}
	if hubOf("crm", "c1") == hubOf("crm", "c2") {
		t.Fatal("two CRM records became one hub record")
	}
	tests := []struct {
		name   string
		src    *Source
		rec    connectors.Record
		wantAs string // the CRM key it must match, "" for a new hub id, "review" for parked
	}{
		{"email in another case and phone in another format", erp, person("E-1", "A. Lopez", "  ANA.LOPEZ@example.COM ", "+49 (30) 123-4567"), "c1"},
		{"the same person from a third system", shop, person("S-9", "Ana", "ana.lopez@EXAMPLE.com", "0049 30 1234567"), "c1"},
		{"shares the company phone but has another email", erp, person("E-2", "Carol", "carol@example.com", "030/1234567"), ""},
		{"phone shared by two hub records without email", erp, person("E-3", "D. or E.", "", "089-7654321"), "review"},
		{"no match at all", erp, person("E-4", "Zed", "zed@example.com", "+1 555 0100"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.src.envelopes(ctx, []connectors.Record{tc.rec})
			if err != nil {
				t.Fatal(err)
			}
			got := hubOf(tc.src.System, tc.rec.Key)
			switch tc.wantAs {
			case "review":
				var re *reviewError
				if got != "" || !errors.As(p.bad[0], &re) {
					t.Fatalf("hub id %q, error %v; want no hub id and a review", got, p.bad[0])
				}
			case "":
				if got == "" {
					t.Fatal("no hub id")
				}
				for _, k := range []string{"c1", "c2", "c3", "c4"} {
					if got == hubOf("crm", k) {
						t.Fatalf("matched CRM %s; want a new hub record", k)
					}
				}
			default:
				if want := hubOf("crm", tc.wantAs); got != want {
					t.Fatalf("hub id %s; want CRM %s's %s", got, tc.wantAs, want)
				}
			}
		})
	}
}

func TestE164(t *testing.T) {
	for _, tc := range []struct{ in, cc, want string }{
		{"+49 30 1234567", "", "+49301234567"},
		{"030 1234567", "49", "+49301234567"},
		{"0049-30-1234567", "", "+49301234567"},
		{"(030) 123 45 67", "49", "+49301234567"},
		{"12", "49", ""},
	} {
		if got := E164(tc.in, tc.cc); got != tc.want {
			t.Errorf("E164(%q, %q) = %q, want %q", tc.in, tc.cc, got, tc.want)
		}
	}
}
