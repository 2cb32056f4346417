package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/store"
)

// The source steps, each on its own: build (mapIn, buildEnvelopes,
// dropUnchanged, dropOlder) and identity (identify), against a real state
// store. The runners' tests (pipeline_test.go, twoway_test.go,
// match_test.go) cover them together.

func newIntake(h *harness, entity, spec string, refs map[string]string) *Intake {
	return &Intake{Name: "crm-" + entity, System: "crm", Entity: entity, Plan: compile(h.t, entity+"in", spec),
		Refs: refs, Store: h.store, Metrics: h.m, Log: h.log}
}

func TestBuildMapIn(t *testing.T) {
	h := newHarness(t)
	in := newIntake(h, "order", orderIn, map[string]string{"customer": "customer_id"})
	noKey := order(9, 1, "1.00")
	noKey.Key = ""
	bad := order(3, 2, "12,50")
	del := connectors.Record{Entity: "order", Key: "4", Op: connectors.OpDelete}
	recs := []connectors.Record{order(1, 7, "10.00"), noKey, bad, del}
	p := in.mapIn(context.Background(), recs).prep()

	if got := stageOf(p.bad[1], ""); got != StageSourceMap || !strings.Contains(p.bad[1].Error(), "no key") {
		t.Errorf("record without a key: %v (stage %s)", p.bad[1], got)
	}
	if got := stageOf(p.bad[2], ""); got != StageSourceMap || !strings.Contains(p.bad[2].Error(), "total") {
		t.Errorf("record whose mapping fails: %v (stage %s)", p.bad[2], got)
	}
	if _, ok := p.bad[0]; ok || p.canon[0].Get("total").Str() != "10.00" {
		t.Errorf("good record: bad=%v canon=%s", p.bad[0], mapping.AppendJSON(nil, p.canon[0]))
	}
	if p.canon[3].Kind() == mapping.Object {
		t.Errorf("a delete is not mapped")
	}
	if got := strings.Join(p.keys["order"], ","); got != "1,3,4" {
		t.Errorf("own keys = %s, want 1,3,4 (the keyless one has none)", got)
	}
	if got := strings.Join(p.keys["customer"], ","); got != "7" {
		t.Errorf("referenced keys = %s, want 7 (a failed mapping references nothing)", got)
	}
}

// TestMapInDecodesRaw: data a connector left raw (connectors.RawReader) is
// decoded for the mapping and the refs only, mapped like decoded data, and
// a dead letter keeps it as it arrived; a value that is not a JSON object
// is the record's error, not a stop.
func TestMapInDecodesRaw(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := newIntake(h, "order", orderIn, map[string]string{"customer": "customer_id"})
	in.DLQ = &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}
	good := []byte(`{"id":1,"notes":"not mapped","customer_id":7,"total":"10.00","lines":[{"sku":"a"}]}`)
	recs := []connectors.Record{
		{Entity: "order", Key: "1", Op: connectors.OpUpsert, Raw: good},
		{Entity: "order", Key: "2", Op: connectors.OpUpsert, Raw: []byte(`{"id":2, truncated`)},
	}
	p := in.mapIn(ctx, recs).prep()
	if _, ok := p.bad[0]; ok || p.canon[0].Get("total").Str() != "10.00" || p.canon[0].Get("external_id").Str() != "1" {
		t.Errorf("raw record: bad=%v canon=%s", p.bad[0], mapping.AppendJSON(nil, p.canon[0]))
	}
	if got := string(mapping.AppendJSON(nil, recs[0].Data)); got != `{"id":1,"customer_id":7,"total":"10.00"}` {
		t.Errorf("raw record decoded as %s, want only what the mapping and the refs read", got)
	}
	if got := strings.Join(p.keys["customer"], ","); got != "7" {
		t.Errorf("referenced keys = %s, want 7", got)
	}
	if err := p.bad[1]; err == nil || !strings.Contains(err.Error(), "not a JSON object") || recs[1].Raw != nil || !strings.Contains(recs[1].Data.Str(), "truncated") {
		t.Errorf("malformed raw record: err %v, data %v, raw %q", err, recs[1].Data, recs[1].Raw)
	}
	if err := in.deadLetter(ctx, recs[0], stageErr(StageSourceMap, errors.New("refused"))); err != nil {
		t.Fatal(err)
	}
	dls, err := h.store.ListDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen, Payload: true})
	if err != nil || len(dls) != 1 || string(dls[0].Payload) != string(good) {
		t.Fatalf("dead letters = %+v, %v; want the raw record as it arrived", dls, err)
	}
}

func TestIdentityAssignsAndReuses(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := newIntake(h, "order", orderIn, map[string]string{"customer": "customer_id"})
	prepare := func(recs ...connectors.Record) prep {
		t.Helper()
		p := in.mapIn(ctx, recs).prep()
		if err := in.identify(ctx, recs, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := prepare(order(1, 7, "10.00"), order(2, 7, "20.00"),
		connectors.Record{Entity: "order", Key: "3", Op: connectors.OpDelete})
	o1, o2, c7 := first.ids["order"]["1"], first.ids["order"]["2"], first.ids["customer"]["7"]
	if o1 == "" || o2 == "" || c7 == "" || o1 == o2 {
		t.Fatalf("ids = %v", first.ids)
	}
	if _, ok := first.ids["order"]["3"]; ok {
		t.Errorf("a delete of a record the hub never saw got a hub id")
	}
	// The links are stored: the same keys get the same ids again, and the
	// customer's own record finds the id its orders gave it.
	again := prepare(order(1, 7, "11.00"))
	if again.ids["order"]["1"] != o1 || again.ids["customer"]["7"] != c7 {
		t.Errorf("second batch ids = %v, want order 1 %s and customer 7 %s", again.ids, o1, c7)
	}
	cust := newIntake(h, "customer", customerIn, nil)
	recs := []connectors.Record{customer(7, "Acme")}
	cp := cust.mapIn(ctx, recs).prep()
	if err := cust.identify(ctx, recs, &cp); err != nil {
		t.Fatal(err)
	}
	if cp.ids["customer"]["7"] != c7 {
		t.Errorf("customer 7 = %s, want the id its order gave it (%s)", cp.ids["customer"]["7"], c7)
	}
}

func TestBuildDropsUnchangedAndOlder(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := newIntake(h, "customer", customerIn, nil)
	in.NewerOnly = true
	in.Writer = h.bus.NewWriter(h.prefix + ".customer")
	defer in.Writer.Close()
	in.DLQ = &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}
	at := func(c connectors.Record, sec int64) connectors.Record { c.Version = time.Unix(sec, 0); return c }

	if err := in.publishRecords(ctx, []connectors.Record{at(customer(1, "Ann"), 100)}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		recs []connectors.Record
		want []bool // published?
	}{
		{"the same content again", []connectors.Record{at(customer(1, "Ann"), 100)}, []bool{false}},
		{"an older version (a late webhook)", []connectors.Record{at(customer(1, "Old"), 50)}, []bool{false}},
		{"a newer version", []connectors.Record{at(customer(1, "Anna"), 200)}, []bool{true}},
		{"twice in one batch", []connectors.Record{at(customer(2, "Bo"), 10), at(customer(2, "Bo"), 10)}, []bool{true, false}},
	}
	for _, c := range cases {
		p, err := in.prepare(ctx, c.recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range c.want {
			if got := p.envs[i] != nil; got != want {
				t.Errorf("%s: record %d published = %v, want %v", c.name, i, got, want)
			}
		}
		if err := in.publish(ctx, []part{{recs: c.recs, prep: p}}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPrepareFailureEndsAsDeadLetter: a batch whose preparation keeps
// failing while the state store answers is prepared record by record; the
// record that fails alone is dead-lettered (stage prepare), the others go
// on, and nothing is retried forever.
func TestPrepareFailureEndsAsDeadLetter(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	// A mapping whose lookup fails for one customer only stands in for a
	// state-store conflict that hits one record (a lookup error is a
	// retryable error of the step, not a mapping error).
	in := newIntake(h, "customer", customerIn, nil)
	in.Writer = h.bus.NewWriter(h.prefix + ".customer")
	defer in.Writer.Close()
	in.DLQ = &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}
	in.Policy = &Policy{Merge: true, Conflict: ConflictNewest}
	// A record whose hub record cannot be decoded fails the merge every
	// time: the state store answers, the record is to blame.
	bad := customer(2, "Broken")
	good := []connectors.Record{customer(1, "Ann"), bad, customer(3, "Cy")}
	p := in.mapIn(ctx, good[1:2]).prep()
	if err := in.identify(ctx, good[1:2], &p); err != nil {
		t.Fatal(err)
	}
	hub := p.ids["customer"]["2"]
	if _, err := h.store.SaveRecords(ctx, "customer", []store.StoredRecord{{HubID: hub, Data: "{not json", Hash: "x"}}); err != nil {
		t.Fatal(err)
	}
	parts, err := in.prepareAll(ctx, good, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Fatalf("parts = %d, want the batch prepared record by record (3)", len(parts))
	}
	if err := in.publish(ctx, parts); err != nil {
		t.Fatal(err)
	}
	dls, err := h.store.ListDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].RecordKey != "2" || dls[0].Stage != StagePrepare || dls[0].Kind != store.KindRetriesExhausted {
		t.Fatalf("dead letters = %+v, want customer 2 at stage prepare", dls)
	}
	for _, k := range []string{"1", "3"} {
		if l, err := h.store.LookupLinks(ctx, "customer", "crm", []string{k}); err != nil || l[k].LastHash == "" {
			t.Errorf("customer %s not published (%v, %+v)", k, err, l)
		}
	}
}

// TestOversizedRecordDeadLettered: a record whose envelope is over the
// broker's message limit (a 1 MiB name) is dead-lettered before
// publishing, with its reason; the rest of the batch is published, and
// nothing is retried forever.
func TestOversizedRecordDeadLettered(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := newIntake(h, "customer", customerIn, nil)
	in.Writer = h.bus.NewWriter(h.prefix + ".customer")
	defer in.Writer.Close()
	in.DLQ = &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}
	in.MaxMessageBytes = 900<<10 - 1024 // what the node sets for the default kafka.producer.batch_bytes
	huge := customer(2, strings.Repeat("x", 1<<20))
	recs := []connectors.Record{customer(1, "Ann"), huge, customer(3, "Cy")}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := in.publishRecords(pctx, recs); err != nil {
		t.Fatalf("publish: %v", err)
	}
	dls, err := h.store.ListDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].RecordKey != "2" || dls[0].Stage != StagePublish || !strings.Contains(dls[0].Error, "over the") {
		t.Fatalf("dead letters = %+v, want customer 2 at stage publish", dls)
	}
	links, err := h.store.LookupLinks(ctx, "customer", "crm", []string{"1", "2", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if links["1"].LastHash == "" || links["3"].LastHash == "" || links["2"].LastHash != "" {
		t.Errorf("stamps: %+v; want 1 and 3 published, 2 not", links)
	}
}

// TestBuildConnectorRefs: hub ids a connector found itself (a call matched
// to a customer by its number) travel as the envelope's refs and in the
// data; a ref the source resolves from a native key wins over them.
func TestBuildConnectorRefs(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := newIntake(h, "order", orderIn, map[string]string{"customer": "customer_id"})
	own := order(1, 7, "10.00")
	own.Data = mapping.ObjectValue(own.Data.Members()[0], own.Data.Members()[2]) // no customer_id
	own.Refs = map[string]string{"customer": "hub-of-the-caller"}
	both := order(2, 7, "20.00")
	both.Refs = map[string]string{"customer": "ignored"}
	p, err := in.prepare(ctx, []connectors.Record{own, both})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.envs[0].Refs["customer"]; got != "hub-of-the-caller" {
		t.Errorf("refs = %v, want the connector's hub id", p.envs[0].Refs)
	}
	if got := p.envs[0].Data.Get("customer").Get("id").Str(); got != "hub-of-the-caller" {
		t.Errorf("data customer.id = %q, want the connector's hub id", got)
	}
	if got, want := p.envs[1].Refs["customer"], p.ids["customer"]["7"]; got != want || got == "ignored" {
		t.Errorf("refs = %v, want the source's resolved %s", p.envs[1].Refs, want)
	}
}

// A source's map stage maps each batch ahead of its prepare stage: in
// order, a batch with no records (a cursor moved over nothing) passed on
// unmapped, a record whose mapping fails set aside in its batch; it
// closes its output when its input ends, and when the run stops while
// nobody takes its batch.
func TestSourceMapStage(t *testing.T) {
	h := newHarness(t)
	s := &Source{Intake: *newIntake(h, "order", orderIn, map[string]string{"customer": "customer_id"})}
	ctx := context.Background()
	in := make(chan readBatch, 3)
	in <- readBatch{Batch: connectors.Batch{Records: []connectors.Record{order(1, 7, "10.00"), order(2, 7, "12,50")}, Cursor: "c1"}}
	in <- readBatch{Batch: connectors.Batch{Cursor: "c2"}}
	in <- readBatch{Batch: connectors.Batch{Records: []connectors.Record{order(3, 8, "30.00")}, Cursor: "c3"}}
	close(in)
	out := make(chan readBatch)
	go s.mapStage(ctx, in, out)
	var got []readBatch
	for open := true; open; {
		select {
		case rb, ok := <-out:
			if open = ok; ok {
				got = append(got, rb)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the map stage did not close its output when its input ended (after %d batches)", len(got))
		}
	}
	if len(got) != 3 || got[0].Cursor != "c1" || got[1].Cursor != "c2" || got[2].Cursor != "c3" {
		t.Fatalf("batches out: %+v, want c1, c2, c3 in order", got)
	}
	first := got[0].mapped
	if first == nil || first.canon[0].Get("total").Str() != "10.00" || first.bad[0] != nil {
		t.Errorf("first batch, first record: %+v", first)
	}
	if first == nil || stageOf(first.bad[1], "") != StageSourceMap {
		t.Errorf("first batch, the record whose mapping fails: %+v", first)
	}
	if got[1].mapped != nil {
		t.Errorf("a batch without records was mapped: %+v", got[1].mapped)
	}
	if m := got[2].mapped; m == nil || strings.Join(m.keys["customer"], ",") != "8" || m.canon[0].Get("total").Str() != "30.00" {
		t.Errorf("third batch: %+v", m)
	}

	stop, cancel := context.WithCancel(ctx)
	in = make(chan readBatch, 1)
	in <- readBatch{Batch: connectors.Batch{Records: []connectors.Record{order(4, 8, "1.00")}, Cursor: "c4"}}
	out = make(chan readBatch)
	done := make(chan struct{})
	go func() {
		s.mapStage(stop, in, out)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the map stage did not stop with its run")
	}
	if rb, open := <-out; open {
		t.Errorf("the map stage left its output open after stopping (got %q)", rb.Cursor)
	}
}
