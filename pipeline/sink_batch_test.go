package pipeline

import (
	"context"
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
