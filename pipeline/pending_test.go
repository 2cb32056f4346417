package pipeline

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// A source writes a batch's new links with their stamps before it
// publishes the batch. One that stops (as a crash would) after that and
// before Kafka has the batch leaves the stamps pending: the next run takes
// them back before reading, so its re-read publishes every record, each
// once, instead of taking them for unchanged. A record too large to
// publish is dead-lettered before its link is written, and without a
// stamp, so that its next read or a replay publishes it.
func TestUnpublishedStampsTakenBack(t *testing.T) {
	h := newHarness(t)
	const n = 250
	for i := 1; i <= n; i++ {
		rec := order(i, 1+i%7, fmt.Sprintf("%d.00", i))
		if i == 222 {
			rec = order(i, 1, strings.Repeat("7", 2000)+".00")
		}
		h.src.add("order", rec)
	}
	plan := compile(t, "oin", orderIn)
	dlq := &DeadLetters{Store: h.store, Topic: h.bus.NewWriter(h.prefix + ".dlq"), Metrics: h.m, Log: h.log}
	source := func(b *bus.Bus) *Source {
		return &Source{Intake: Intake{Name: "crm-order", System: "crm", Entity: "order", Plan: plan,
			Refs: map[string]string{"customer": "customer_id"}, Store: h.store, Writer: b.NewWriter(h.prefix + ".order"),
			DLQ: dlq, Metrics: h.m, Log: h.log, MaxMessageBytes: 1500},
			Conn: h.src, Interval: 20 * time.Millisecond, BatchSize: 50}
	}
	run := func(src *Source, until func() (bool, string)) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = src.Run(ctx) })
		eventually(t, 20*time.Second, "the source", until)
		cancel()
		wg.Wait()
		_ = src.Writer.Close()
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint(i + 1)
	}

	// Run 1: Kafka does not answer. The first batch's links are written,
	// stamped, and it is never published.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()
	dead, err := bus.New(bus.Config{Brokers: []string{deadAddr}, DialTimeout: 100 * time.Millisecond}, h.log)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	run(source(dead), func() (bool, string) {
		links, err := h.store.LookupLinks(context.Background(), "order", "crm", keys[:50])
		if err != nil {
			return false, err.Error()
		}
		stamped := 0
		for _, l := range links {
			if l.LastHash != "" {
				stamped++
			}
		}
		return stamped == 50, fmt.Sprintf("%d of the first batch's 50 orders linked with a stamp", stamped)
	})
	if c, ok, err := h.store.GetCursor(context.Background(), "crm-order", "order"); err != nil || ok {
		t.Fatalf("cursor stored without publishing: %q %v %v", c, ok, err)
	}

	// Run 2: Kafka answers. Every order is published once, but 222 (in a
	// batch run 1 did not reach), which is too large to publish:
	// dead-lettered, its stamp taken back.
	run(source(h.bus), func() (bool, string) {
		c, _, err := h.store.GetCursor(context.Background(), "crm-order", "order")
		return c == fmt.Sprint(n) && err == nil, "cursor " + c
	})
	got := readKeys(t, h.bus, h.prefix+".order", n-1)
	links, err := h.store.LookupLinks(context.Background(), "order", "crm", keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		hub := links[k].HubID
		switch {
		case k == "222":
			if got[hub] != 0 || links[k].LastHash != "" {
				t.Errorf("order 222 (dead-lettered at publishing): published %d times, stamp %q; want 0 and none", got[hub], links[k].LastHash)
			}
		case got[hub] != 1:
			t.Errorf("order %d (hub id %s) published %d times, want once", i+1, hub, got[hub])
		case links[k].LastHash == "":
			t.Errorf("order %d published but not stamped: a re-read would publish it again", i+1)
		}
	}
	dls, err := h.store.ListDeadLetters(context.Background(), store.DeadLetterFilter{Connector: "crm-order"})
	if err != nil || len(dls) != 1 || dls[0].RecordKey != "222" {
		t.Fatalf("dead letters = %+v (%v), want order 222's alone", dls, err)
	}
}

// readKeys reads topic from the start until it has want records, and a
// second more for any copy, and counts the records per key.
func readKeys(t *testing.T, b *bus.Bus, topic string, want int) map[string]int {
	t.Helper()
	r := b.NewReader("check-"+topic, []string{topic}, bus.ReaderOptions{MaxWait: 50 * time.Millisecond})
	defer r.Close()
	got := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for total := 0; total < want; total++ {
		m, err := r.Fetch(ctx)
		if err != nil {
			t.Fatalf("read %s: %d records, want %d: %v", topic, total, want, err)
		}
		got[string(m.Key)]++
	}
	more, cancelMore := context.WithTimeout(context.Background(), time.Second)
	defer cancelMore()
	for {
		m, err := r.Fetch(more)
		if err != nil {
			return got
		}
		got[string(m.Key)]++
	}
}

// A node that lost its source's lease without noticing yet (it stalled
// past the lease, another node took the source over) writes no links or
// stamps for the batches it still reads: the state store refuses them by
// the lease (store.Fence), and the node stops reading and stands by,
// without dead-lettering anything. Otherwise its stamps could land after
// the new owner had taken back the pending ones, and make the new owner's
// re-read skip records never published.
func TestSourceFencedByItsLease(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dlq := &DeadLetters{Store: h.store, Topic: h.bus.NewWriter(h.prefix + ".dlq"), Metrics: h.m, Log: h.log}
	src := &Source{Intake: Intake{Name: "crm-order", System: "crm", Entity: "order", Plan: compile(t, "oin", orderIn),
		Refs: map[string]string{"customer": "customer_id"}, Store: h.store, Writer: h.bus.NewWriter(h.prefix + ".order"),
		DLQ: dlq, Metrics: h.m, Log: h.log},
		Conn: h.src, Interval: 20 * time.Millisecond, BatchSize: 50,
		// Renewed every 20 s: the test is over before node-a would notice.
		Owner: &Owner{Store: h.store, Holder: "node-a", TTL: time.Minute}}
	var wg sync.WaitGroup
	wg.Go(func() { _ = src.Run(ctx) })
	eventually(t, 10*time.Second, "node-a holds the source", func() (bool, string) {
		ls, err := h.store.ListLeases(ctx)
		return err == nil && len(ls) == 1 && ls[0].Holder == "node-a", fmt.Sprint(ls, err)
	})
	// node-a's lease ends (as if it had expired) and node-b takes it.
	if err := h.store.ReleaseLease(ctx, "source/crm-order", "node-a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.store.AcquireLease(ctx, "source/crm-order", "node-b", time.Minute); err != nil || !ok {
		t.Fatalf("node-b takes the lease: %v %v", ok, err)
	}
	for i := 1; i <= 60; i++ {
		h.src.add("order", order(i, 1, "1.00"))
	}
	eventually(t, 10*time.Second, "node-a stands by", func() (bool, string) {
		return src.Standby(), "reading"
	})
	cancel()
	wg.Wait()
	keys := make([]string, 60)
	for i := range keys {
		keys[i] = fmt.Sprint(i + 1)
	}
	if links, err := h.store.LookupLinks(context.Background(), "order", "crm", keys); err != nil || len(links) != 0 {
		t.Errorf("node-a linked %d orders after losing its lease (%v), want none", len(links), err)
	}
	if dls, err := h.store.ListDeadLetters(context.Background(), store.DeadLetterFilter{}); err != nil || len(dls) != 0 {
		t.Errorf("dead letters %+v (%v), want none", dls, err)
	}
	// (An empty read before the takeover stored "0".)
	if c, _, err := h.store.GetCursor(context.Background(), "crm-order", "order"); err != nil || (c != "" && c != "0") {
		t.Errorf("node-a stored the cursor %q after losing its lease (%v)", c, err)
	}
}

// A new key another writer links first, between the batch's look-up and
// the writing of its links, keeps that writer's hub id: the record's
// envelope is built and encoded again with it, its link is not stamped
// with the batch (that link is not the batch's to stamp) but once the
// record is published, and the batch's other new record is linked with
// its stamp as usual. Each is published once, under its hub id.
func TestLostLinkRaceRebuildsTheEnvelope(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := newIntake(h, "order", orderIn, nil)
	in.linkStamps = true
	in.Writer = h.bus.NewWriter(h.prefix + ".order")
	defer in.Writer.Close()
	recs := []connectors.Record{order(1, 7, "10.00"), order(2, 7, "20.00")}
	p := in.mapIn(ctx, recs).prep()
	if err := in.identify(ctx, recs, &p); err != nil {
		t.Fatal(err)
	}
	minted, second := p.fresh["1"], p.fresh["2"]
	if minted == "" || second == "" {
		t.Fatalf("new keys = %v, want 1 and 2 given hub ids to link with their stamps", p.fresh)
	}
	// Another writer of the system (a webhook, a second source) links key 1 now.
	if _, err := h.store.LinkMany(ctx, "order", "crm", map[string]string{"1": "hub-other"}); err != nil {
		t.Fatal(err)
	}
	in.buildEnvelopes(recs, &p)
	in.encode(&p)
	if err := in.linkFresh(ctx, recs, &p); err != nil {
		t.Fatal(err)
	}
	lost, won := p.envs[0], p.envs[1]
	if lost == nil {
		t.Fatal("the envelope of the key linked elsewhere first was dropped")
	}
	if lost.ID != "hub-other" || lost.Data.Get("id").Str() != "hub-other" {
		t.Fatalf("the envelope of the key linked elsewhere first has hub id %s (data %s), want it built again with hub-other",
			lost.ID, lost.Data.Get("id").Str())
	}
	if v := string(lost.value); !strings.Contains(v, `"hub-other"`) || strings.Contains(v, minted) {
		t.Fatalf("the envelope as it will be published: %s, want hub-other's and not %s", v, minted)
	}
	if won == nil || won.ID != second || p.prestamped["hub-other"] || !p.prestamped[second] {
		t.Fatalf("stamped with the batch: %v (want only %s)", p.prestamped, second)
	}
	links, err := h.store.LookupLinks(ctx, "order", "crm", []string{"1", "2"})
	if err != nil {
		t.Fatal(err)
	}
	if links["1"].HubID != "hub-other" || links["1"].LastHash != "" || links["2"].HubID != second || links["2"].LastHash != won.Hash {
		t.Fatalf("links before publishing: %+v, want 1 -> hub-other unstamped, 2 -> %s stamped", links, second)
	}
	if err := in.publishPart(ctx, recs, p); err != nil {
		t.Fatal(err)
	}
	if links, err = h.store.LookupLinks(ctx, "order", "crm", []string{"1"}); err != nil || links["1"].LastHash != lost.Hash {
		t.Errorf("the lost key's link after publishing: %+v, %v; want it stamped %s", links["1"], err, lost.Hash)
	}
	got := readKeys(t, h.bus, h.prefix+".order", 2)
	if len(got) != 2 || got["hub-other"] != 1 || got[second] != 1 {
		t.Errorf("published keys: %v, want hub-other and %s once each", got, second)
	}
}
