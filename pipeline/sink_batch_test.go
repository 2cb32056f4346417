package pipeline

import (
	"context"
	"maps"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// TestSinkBatchKeepsNewestByHubID: supersession in a sink batch is decided
// on the decoded hub id and version, never on the raw Kafka key, and every
// message read ends kept, skipped as another sink's replay, superseded
// (traced) or dead-lettered.
func TestSinkBatchKeepsNewestByHubID(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s := &Sink{Name: "erp", System: "erp", Entity: "customer", Store: h.store, Metrics: h.m, Log: h.log,
		DLQ: &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}, Journal: &Journal{Store: h.store, Log: h.log}}
	env := func(id, name string, sec int64) []byte {
		e := &Envelope{Entity: "customer", ID: id, Op: OpUpsert, Origin: "crm", SourceID: id, Version: time.Unix(sec, 0),
			Data: mapping.ObjectValue(mapping.Member{Key: "name", Value: mapping.StringValue(name)})}
		e.Hash = Hash(e.Data)
		return e.AppendJSON(nil)
	}
	msg := func(key string, value []byte, offset int64, headers ...bus.Header) bus.Message {
		return bus.Message{Topic: "t.customer", Key: []byte(key), Value: value, Offset: offset, Headers: headers}
	}
	msgs := []bus.Message{
		// three valid envelopes with different ids and no key: all written
		msg("", env("a", "A", 1), 1), msg("", env("b", "B", 1), 2), msg("", env("c", "C", 1), 3),
		// a valid envelope, then garbage under the same key
		msg("d", env("d", "D", 1), 4), msg("d", []byte("{garbage"), 5),
		// two versions of one record, the newer first (a replay of the
		// older one came later): the newer one is kept
		msg("e", env("e", "E2", 20), 6), msg("e", env("e", "E1", 10), 7),
		// another sink's replay of f does not supersede this sink's f
		msg("f", env("f", "F", 5), 8), msg("f", env("f", "F-other", 9), 9, bus.Header{Key: HeaderReplayFor, Value: []byte("crm")}),
	}
	items, err := s.decodeBatch(ctx, msgs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.env.ID+"="+it.env.Data.Get("name").Str())
	}
	sort.Strings(got)
	if want := "a=A b=B c=C d=D e=E2 f=F"; strings.Join(got, " ") != want {
		t.Errorf("kept %v, want %s", got, want)
	}
	dls, err := h.store.ListDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Stage != StageDecode || dls[0].Offset != 5 {
		t.Errorf("dead letters = %+v, want the garbage at offset 5", dls)
	}
	superseded := false
	for _, ev := range s.events {
		if ev.HubID == "e" && ev.Event == store.TraceSuppressed && strings.Contains(ev.Detail, "superseded") {
			superseded = true
		}
	}
	if !superseded {
		t.Errorf("the superseded version of e left no trace: %+v", s.events)
	}
}

// Of two envelopes of one merge in a batch (same record, same hash: one
// source's merge changed the data, the other's only what it saw of its own
// system), the one kept carries the newest version of each system either
// saw. The later one alone would base the write to the ERP on a version
// older than the one the hub has read, and the write would be skipped as if
// the ERP had changed since (CI: TestTwoWayConcurrentUpdatesSettle never
// settled).
func TestSinkBatchFoldsSeenOfOneMerge(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s := &Sink{Name: "erp", System: "erp", Entity: "customer", Store: h.store, Metrics: h.m, Log: h.log,
		Policy: &Policy{Merge: true}, DLQ: &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log},
		Journal: &Journal{Store: h.store, Log: h.log}}
	data := mapping.ObjectValue(mapping.Member{Key: "name", Value: mapping.StringValue("A")})
	env := func(origin string, seen map[string]string, offset int64) bus.Message {
		e := &Envelope{Entity: "customer", ID: "a", Op: OpUpsert, Origin: origin, SourceID: "a",
			Version: time.Date(2026, 12, 6, 5, 42, 11, 886553000, time.UTC), Data: data, Seen: seen, OriginStale: origin == "erp"}
		e.Hash = Hash(e.Data)
		return bus.Message{Topic: "t.customer", Key: []byte("a"), Value: e.AppendJSON(nil), Offset: offset}
	}
	items, err := s.decodeBatch(ctx, []bus.Message{
		env("erp", map[string]string{"erp": "2026-12-06T05:42:11.799805Z", "crm": "2026-12-06T05:42:11.2Z"}, 1),
		env("crm", map[string]string{"erp": "2026-12-06T05:42:11.178246Z", "crm": "2026-12-06T05:42:11.886553Z"}, 2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 {
		t.Fatalf("kept %d envelopes of one merge, want 1", len(items))
	}
	got := items[0].env
	want := map[string]string{"erp": "2026-12-06T05:42:11.799805Z", "crm": "2026-12-06T05:42:11.886553Z"}
	if got.Origin != "crm" || !maps.Equal(got.Seen, want) {
		t.Errorf("kept the %s envelope seeing %v, want the crm one seeing %v", got.Origin, got.Seen, want)
	}
}
