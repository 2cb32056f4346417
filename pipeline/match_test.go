package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/store"
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
options: {default_region: DE}
fields:
  external_id: {from: id, type: string, required: true}
  name: {from: name, required: true}
  email: {from: email, transform: [trim, lower]}
  phone: {from: phone, type: phone}
`

func TestMatchingOnFirstContact(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pol := &Policy{Match: []MatchRule{
		{Field: "email", Normalize: "email"}, {Field: "phone", Normalize: "phone", CountryCode: "49"}}}
	src := func(system string) *Intake {
		return &Intake{Name: system + "-customer", System: system, Entity: "customer", Plan: compile(t, "pin", personIn),
			Store: h.store, Metrics: h.m, Log: h.log, Policy: pol}
	}
	crm, erp, shop := src("crm"), src("erp"), src("shop")
	// The CRM knows four people: Ana and Bob share a company phone; Dan and
	// Eve share another and have no email.
	if _, err := crm.prepare(ctx, []connectors.Record{
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
		src    *Intake
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
			p, err := tc.src.prepare(ctx, []connectors.Record{tc.rec})
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

// TestAmbiguousMatchParkedForReview: a first contact that matches two hub
// records is not published and gets no hub id; it is parked in the
// dead-letter store as a review (stage match) naming both candidates, with
// the native record as payload. The same record read again stays one
// dead letter.
func TestAmbiguousMatchParkedForReview(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pol := &Policy{Match: []MatchRule{{Field: "email", Normalize: "email"}, {Field: "phone", Normalize: "phone", CountryCode: "49"}}}
	w := h.bus.NewWriter(h.prefix + ".customer")
	defer w.Close()
	dlq := &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}
	src := func(system string) *Intake {
		return &Intake{Name: system + "-customer", System: system, Entity: "customer", Plan: compile(t, "pin", personIn),
			Store: h.store, Writer: w, DLQ: dlq, Metrics: h.m, Log: h.log, Policy: pol}
	}
	crm, erp := src("crm"), src("erp")
	// Dan and Eve share a phone and have no email.
	if err := crm.publishRecords(ctx, []connectors.Record{
		person("c3", "Dan", "", "089 7654321"), person("c4", "Eve", "", "+49 89 7654321")}); err != nil {
		t.Fatal(err)
	}
	dan, _, _ := h.store.LookupHubID(ctx, "customer", "crm", "c3")
	eve, _, _ := h.store.LookupHubID(ctx, "customer", "crm", "c4")
	for range 2 {
		if err := erp.publishRecords(ctx, []connectors.Record{person("E-3", "D. or E.", "", "089-7654321")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := h.store.LookupHubID(ctx, "customer", "erp", "E-3"); ok {
		t.Error("the ambiguous record got a hub id")
	}
	if n := counter(t, h.m.RecordsIn.WithLabelValues("erp", "customer")); n != 0 {
		t.Errorf("the ambiguous record was published (%v records)", n)
	}
	dls, err := h.store.ListDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen, Payload: true})
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters %v: %+v; want one", err, dls)
	}
	d := dls[0]
	if d.Kind != KindReview || d.Stage != StageMatch || d.Connector != "erp-customer" || d.RecordKey != "E-3" || d.Occurrences != 2 {
		t.Errorf("dead letter %s/%s by %s key %s seen %d times; want review/match by erp-customer, key E-3, twice",
			d.Kind, d.Stage, d.Connector, d.RecordKey, d.Occurrences)
	}
	first, second := min(dan, eve), max(dan, eve)
	if want := `ambiguous match by phone "+49897654321": hub records ` + first + ", " + second; !strings.Contains(d.Error, want) {
		t.Errorf("reason %q; want it to contain %q", d.Error, want)
	}
	if p, err := mapping.ParseJSON(d.Payload); err != nil || p.Get("id").Str() != "E-3" || p.Get("phone").Str() != "089-7654321" {
		t.Errorf("payload %s (%v); want the native record", d.Payload, err)
	}
	// "Where is this record?" by its ERP id: parked, with its dead letter.
	traced, err := h.store.Trace(ctx, "E-3", "")
	if err != nil || len(traced) != 1 || traced[0].HubID != "" || len(traced[0].DeadLetters) != 1 || traced[0].DeadLetters[0].ID != d.ID {
		t.Fatalf("trace E-3: %v %+v; want the dead letter of a record without a hub id", err, traced)
	}
	var b strings.Builder
	if err := FormatTrace(&b, "E-3", traced); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"customer (no hub id yet)", "(review, open) at match by erp-customer: ambiguous match by phone"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("trace lacks %q:\n%s", want, b.String())
		}
	}
}

// company is a customer with a tax id.
func company(key, name, email, taxID string) connectors.Record {
	r := person(key, name, email, "")
	ms := append(r.Data.Members(), mapping.Member{Key: "vat", Value: mapping.StringValue(taxID)})
	r.Data = mapping.ObjectValue(ms...)
	return r
}

const companyIn = personIn + `  tax_id: {from: vat}
`

// TestMatchingByTaxID: tax ids match whatever their spacing, case and
// separators; an email match whose tax id contradicts is no match.
func TestMatchingByTaxID(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pol := &Policy{Match: []MatchRule{{Field: "email", Normalize: NormalizeKind("email")}, {Field: "tax_id", Normalize: NormalizeKind("tax_id")}}}
	src := func(system string) *Intake {
		return &Intake{Name: system + "-customer", System: system, Entity: "customer", Plan: compile(t, "cin", companyIn),
			Store: h.store, Metrics: h.m, Log: h.log, Policy: pol}
	}
	if _, err := src("crm").prepare(ctx, []connectors.Record{
		company("c1", "Acme GmbH", "info@acme.example", "DE 123.456-789"),
		company("c2", "Beta AG", "", "DE987654321"),
	}); err != nil {
		t.Fatal(err)
	}
	hubOf := func(system, key string) string {
		id, _, err := h.store.LookupHubID(ctx, "customer", system, key)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tests := []struct {
		name, system string
		rec          connectors.Record
		wantAs       string // the CRM key it must match, "" for a new hub record
	}{
		{"lower case, no separators", "erp", company("E-1", "ACME", "", "de123456789"), "c1"},
		{"slashes and dashes", "erp", company("E-2", "Beta", "", "DE-987/654/321"), "c2"},
		{"the email matches but the tax id contradicts", "shop", company("S-1", "Acme Branch", "INFO@acme.example", "DE 000 000 000"), ""},
		{"an unknown tax id", "shop", company("S-2", "Gamma", "", "ATU 1234 5678"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := src(tc.system).prepare(ctx, []connectors.Record{tc.rec})
			if err != nil || len(p.bad) != 0 {
				t.Fatalf("%v %v", err, p.bad)
			}
			got := hubOf(tc.system, tc.rec.Key)
			if tc.wantAs != "" {
				if want := hubOf("crm", tc.wantAs); got != want {
					t.Fatalf("hub id %s; want CRM %s's %s", got, tc.wantAs, want)
				}
				return
			}
			if got == "" || got == hubOf("crm", "c1") || got == hubOf("crm", "c2") {
				t.Fatalf("hub id %q; want a new hub record", got)
			}
		})
	}
	if got := (MatchRule{Field: "tax_id", Normalize: "exact"}).Key(mapping.StringValue(" de 123.456-789/ ")); got != "DE123456789" {
		t.Errorf("tax id key %q", got)
	}
}

// TestMatchingAcrossSourcesAtOnce: two systems that read the same new
// people at the same moment give each person one hub id. Matching, linking
// and storing the match keys of first contacts hold a lock per entity in
// the state store; without it each source could miss the other's
// not-yet-stored keys and mint a second hub record.
func TestMatchingAcrossSourcesAtOnce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pol := &Policy{Match: []MatchRule{{Field: "email", Normalize: "email"}}}
	src := func(system string) *Intake {
		return &Intake{Name: system + "-customer", System: system, Entity: "customer", Plan: compile(t, "pin", personIn),
			Store: h.store, Metrics: h.m, Log: h.log, Policy: pol}
	}
	const people = 60
	var wg sync.WaitGroup
	for _, s := range []*Intake{src("crm"), src("erp"), src("shop")} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range people {
				rec := person(fmt.Sprintf("%s-%d", s.System, i), "P", fmt.Sprintf("p%d@example.com", i), "")
				if _, err := s.prepare(ctx, []connectors.Record{rec}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range people {
		ids := map[string]bool{}
		for _, sys := range []string{"crm", "erp", "shop"} {
			id, ok, err := h.store.LookupHubID(ctx, "customer", sys, fmt.Sprintf("%s-%d", sys, i))
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				id = "none (parked: it matched two hub records)"
			}
			ids[id] = true
		}
		if len(ids) != 1 {
			t.Errorf("person %d has %d hub ids: %v", i, len(ids), ids)
		}
	}
}

// TestLinkMatchReview: an operator resolves an ambiguous first contact by
// linking it to one of the candidates (or to a new hub record); the record
// is then published by its source and merged into that hub record.
func TestLinkMatchReview(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pol := &Policy{Merge: true, Conflict: ConflictNewest, Match: []MatchRule{{Field: "phone", Normalize: "phone", CountryCode: "49"}}}
	w := h.bus.NewWriter(h.prefix + ".customer")
	defer w.Close()
	dlq := &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}
	src := func(system string) *Intake {
		return &Intake{Name: system + "-customer", System: system, Entity: "customer", Plan: compile(t, "pin", personIn),
			Store: h.store, Writer: w, DLQ: dlq, Metrics: h.m, Log: h.log, Policy: pol}
	}
	crm, erp := src("crm"), src("erp")
	rp := &Replayer{Store: h.store, Bus: h.bus, Prefix: h.prefix, Sources: map[string]*Intake{crm.Name: crm, erp.Name: erp}, DLQ: dlq, Log: h.log}
	// Dan, Eve and Fay share a phone.
	if err := crm.publishRecords(ctx, []connectors.Record{
		person("c3", "Dan", "", "089 7654321"), person("c4", "Eve", "", "+49 89 7654321"), person("c5", "Fay", "", "089/7654321")}); err != nil {
		t.Fatal(err)
	}
	eve, _, _ := h.store.LookupHubID(ctx, "customer", "crm", "c4")
	park := func(key string) store.DeadLetter {
		t.Helper()
		if err := erp.publishRecords(ctx, []connectors.Record{person(key, "Eve E.", "", "089-7654321")}); err != nil {
			t.Fatal(err)
		}
		dls, err := h.store.ListDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dls {
			if d.RecordKey == key && d.Stage == StageMatch {
				return d
			}
		}
		t.Fatalf("%s not parked: %+v", key, dls)
		return store.DeadLetter{}
	}
	d := park("E-3")

	// Refused: not a hub id; a hub record that already has an ERP record.
	if _, err := rp.Link(ctx, d.ID, "no-such-hub-id", "test"); !errors.Is(err, ErrNotReplayable) {
		t.Errorf("link to an unknown hub id: %v", err)
	}
	what, err := rp.Link(ctx, d.ID, eve, "test")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := h.store.LookupHubID(ctx, "customer", "erp", "E-3"); got != eve {
		t.Fatalf("E-3 has hub id %q after %q; want Eve's %s", got, what, eve)
	}
	recs, err := h.store.LoadRecords(ctx, "customer", []string{eve})
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := mapping.ParseJSON([]byte(recs[eve].Data)); data.Get("name").Str() != "Eve E." {
		t.Errorf("Eve's hub record %s; want the ERP's newer name merged in", recs[eve].Data)
	}
	if got, _ := h.store.GetDeadLetter(ctx, d.ID); got.Status != store.StatusReplayed {
		t.Errorf("dead letter status %s, want replayed", got.Status)
	}
	if _, err := rp.Link(ctx, d.ID, eve, "test"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("linking it twice: %v", err)
	}
	d2 := park("E-4") // another ERP record of the phone: Dan or Fay now
	if _, err := rp.Link(ctx, d2.ID, eve, "test"); !errors.Is(err, ErrNotReplayable) {
		t.Errorf("link to a hub record that has an ERP record already: %v", err)
	}
	// A new hub record.
	if _, err := rp.Link(ctx, d2.ID, "", "test"); err != nil {
		t.Fatal(err)
	}
	got, ok, _ := h.store.LookupHubID(ctx, "customer", "erp", "E-4")
	dan, _, _ := h.store.LookupHubID(ctx, "customer", "crm", "c3")
	fay, _, _ := h.store.LookupHubID(ctx, "customer", "crm", "c5")
	if !ok || got == eve || got == dan || got == fay {
		t.Errorf("E-4 has hub id %q (%v); want a new one", got, ok)
	}
	audit, err := h.store.ListAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	links := 0
	for _, a := range audit {
		if a.Action == "dlq.link" {
			links++
		}
	}
	if links != 2 {
		t.Errorf("%d dlq.link audit entries, want 2: %+v", links, audit)
	}
}

// TestMatchingAfterReference: a record referenced before it came (an ERP
// order naming a customer the hub has not read from the ERP yet) gets a
// placeholder hub id; when the record itself comes and matches an existing
// hub record, the placeholder becomes an alias of it, so the order's
// reference resolves to the one customer.
func TestMatchingAfterReference(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pol := &Policy{Match: []MatchRule{{Field: "email", Normalize: "email"}}}
	custSrc := func(system string) *Intake {
		return &Intake{Name: system + "-customer", System: system, Entity: "customer", Plan: compile(t, "pin", personIn),
			Store: h.store, Metrics: h.m, Log: h.log, Policy: pol}
	}
	crm, erp := custSrc("crm"), custSrc("erp")
	if _, err := crm.prepare(ctx, []connectors.Record{person("c1", "Ana", "ana@example.com", "")}); err != nil {
		t.Fatal(err)
	}
	ana, _, _ := h.store.LookupHubID(ctx, "customer", "crm", "c1")
	// The ERP's order names customer 901 first.
	orders := &Intake{Name: "erp-orders", System: "erp", Entity: "order", Plan: compile(t, "oin", orderIn),
		Refs: map[string]string{"customer": "customer_id"}, Store: h.store, Metrics: h.m, Log: h.log}
	p, err := orders.prepare(ctx, []connectors.Record{order(1, 901, "10.00")})
	if err != nil || p.envs[0] == nil {
		t.Fatalf("order: %v %+v", err, p.bad)
	}
	placeholder := p.envs[0].Refs["customer"]
	if placeholder == "" || placeholder == ana {
		t.Fatalf("the order's customer ref %q; want a placeholder hub id", placeholder)
	}
	// Then the customer itself, with Ana's email in another case.
	pc, err := erp.prepare(ctx, []connectors.Record{person("901", "Ana L.", "ANA@example.com", "")})
	if err != nil {
		t.Fatal(err)
	}
	if pc.envs[0] == nil || pc.envs[0].ID != ana {
		t.Fatalf("ERP customer published as %+v; want Ana's hub id %s", pc.envs[0], ana)
	}
	if got, _, _ := h.store.LookupHubID(ctx, "customer", "erp", "901"); got != ana {
		t.Errorf("ERP customer 901 linked to %s, want %s", got, ana)
	}
	// The order's reference resolves to Ana's CRM record.
	ext, err := h.store.LookupExternals(ctx, "customer", "crm", []string{placeholder})
	if err != nil || ext[placeholder].ExternalID != "c1" {
		t.Errorf("the placeholder resolves in the CRM to %+v (%v); want c1", ext[placeholder], err)
	}
	// A placeholder that matches nobody stays the record's hub id.
	p, _ = orders.prepare(ctx, []connectors.Record{order(2, 902, "5.00")})
	other := p.envs[0].Refs["customer"]
	pc, _ = erp.prepare(ctx, []connectors.Record{person("902", "Bo", "bo@example.com", "")})
	if pc.envs[0] == nil || pc.envs[0].ID != other {
		t.Errorf("ERP customer 902 published as %+v; want its placeholder %s", pc.envs[0], other)
	}
}
