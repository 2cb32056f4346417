package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

// A source's batches are judged against what it published before them even
// while the settle stage has not recorded it yet (Source.unsettled).

func unsettledIntake(h *harness, system string) *Intake {
	in := newIntake(h, "customer", customerIn, nil)
	in.Name, in.System = system+"-customer", system
	in.Writer = h.bus.NewWriter(h.prefix + ".customer")
	h.t.Cleanup(func() { in.Writer.Close() })
	in.DLQ = &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}
	in.unsettled = &unsettled{}
	return in
}

func customerAt(key, name, email string, at int64) connectors.Record {
	return connectors.Record{Entity: "customer", Key: key, Op: connectors.OpUpsert, Version: time.Unix(at, 0),
		Data: mapping.ObjectValue(
			mapping.Member{Key: "id", Value: mapping.StringValue(key)},
			mapping.Member{Key: "name", Value: mapping.StringValue(name)},
			mapping.Member{Key: "email", Value: mapping.StringValue(email)},
		)}
}

// publishUnsettled prepares and publishes recs and holds their stamps as a
// source does until its settle stage records them; it returns what was
// prepared and what is left to record.
func publishUnsettled(t *testing.T, in *Intake, recs ...connectors.Record) (prep, []publishedPart) {
	t.Helper()
	p := mustPrepare(t, in, recs...)
	pubs, err := in.publishAhead(context.Background(), []part{{recs: recs, prep: p}})
	if err != nil {
		t.Fatal(err)
	}
	in.unsettled.add(pubs)
	return p, pubs
}

// A re-read of what was published and not yet recorded is not published
// again; once recorded, the stamps are let go.
func TestUnsettledReReadNotPublishedAgain(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := unsettledIntake(h, "crm")
	publishUnsettled(t, in, customerAt("1", "Ann", "ann@example.com", 100))
	if p := mustPrepare(t, in, customerAt("1", "Ann", "ann@example.com", 100)); p.envs[0] != nil {
		t.Errorf("the re-read of unsettled content is published again")
	}
	_, pubs := publishUnsettled(t, in, customerAt("2", "Bo", "bo@example.com", 100))
	if err := in.recordPublished(ctx, pubs...); err != nil {
		t.Fatal(err)
	}
	in.unsettled.settled(pubs)
	if n := len(in.unsettled.stamps); n != 1 {
		t.Errorf("%d stamps held after record 2 was recorded, want 1 (record 1's)", n)
	}
}

func mustPrepare(t *testing.T, in *Intake, recs ...connectors.Record) prep {
	t.Helper()
	p, err := in.prepare(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Two-way: the CRM changes a customer's email in its second batch; the ERP
// renamed the customer in between. The second batch must be judged against
// the first (name unchanged in the CRM), not against the state before it
// (every field a change at the newer version), or the CRM's old name
// would win over the ERP's newer one.
func TestUnsettledJudgesTheNextBatch(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pol := &Policy{Merge: true, Conflict: ConflictNewest}
	crm, erp := unsettledIntake(h, "crm"), unsettledIntake(h, "erp")
	crm.Policy, erp.Policy = pol, pol
	erp.unsettled = nil // records at once

	p, _ := publishUnsettled(t, crm, customerAt("C1", "Ann", "ann@example.com", 100))
	hub := p.envs[0].ID
	if _, err := h.store.LinkMany(ctx, "customer", "erp", map[string]string{"E1": hub}); err != nil {
		t.Fatal(err)
	}
	if err := erp.publishRecords(ctx, []connectors.Record{customerAt("E1", "Ann Erp", "ann@example.com", 150)}); err != nil {
		t.Fatal(err)
	}
	publishUnsettled(t, crm, customerAt("C1", "Ann", "ann@new.example.com", 200))

	recs, err := h.store.LoadRecords(ctx, "customer", []string{hub})
	if err != nil {
		t.Fatal(err)
	}
	data, err := mapping.ParseJSON([]byte(recs[hub].Data))
	if err != nil {
		t.Fatal(err)
	}
	if got := data.Get("name").Str(); got != "Ann Erp" {
		t.Errorf("hub name %q, want the ERP's newer %q", got, "Ann Erp")
	}
	if got := data.Get("email").Str(); got != "ann@new.example.com" {
		t.Errorf("hub email %q, want the CRM's change", got)
	}
}
