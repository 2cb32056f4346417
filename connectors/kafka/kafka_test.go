package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

func startConn(t *testing.T, cluster *kfake.Cluster, e EntityConfig, mod func(*Config)) *Conn {
	t.Helper()
	cfg := Config{Brokers: cluster.ListenAddrs(), Timeout: 5 * time.Second, Entities: map[string]EntityConfig{"order": e}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New("events", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func produceAll(t *testing.T, cluster *kfake.Cluster, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func readN(t *testing.T, c *Conn, cursor string, n int) ([]connectors.Record, string) {
	t.Helper()
	var out []connectors.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		b, err := c.Read(ctx, "order", cursor, n-len(out))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out, cursor = append(out, b.Records...), b.Cursor
	}
	if len(out) != n {
		t.Fatalf("read %d records, want %d", len(out), n)
	}
	return out, cursor
}

// TestReadRecords: keys from a field (a dotted path) or the message key,
// versions from a field or the timestamp, tombstones as deletes, and a
// value that is not a JSON object marked for the dead letters with where
// it was, not dropped and not a stop. Left raw for the hub (LeaveRaw), a
// good value comes as it arrived, with its key and version read, and a
// bad one is marked the same way.
func TestReadRecords(t *testing.T) {
	for _, raw := range []bool{false, true} {
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) { testReadRecords(t, raw) })
	}
}

func testReadRecords(t *testing.T, raw bool) {
	cluster := newCluster(t, 0)
	defer cluster.Close()
	topic := topics["order"]
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	first := []byte(`{"order":{"no":"A-1"},"changed":"2026-12-02T10:00:00Z","total":"10.50"}`)
	produceAll(t, cluster,
		&kgo.Record{Topic: topic, Partition: 0, Key: []byte("k1"), Value: first, Timestamp: at},
		&kgo.Record{Topic: topic, Partition: 0, Key: []byte("k2"), Value: []byte(`{"order":{"no":"A-2"} truncated`), Timestamp: at},
		&kgo.Record{Topic: topic, Partition: 0, Key: []byte("A-1"), Value: nil, Timestamp: at},
		&kgo.Record{Topic: topic, Partition: 0, Key: []byte("k4"), Value: []byte(`[1,2]`), Timestamp: at},
		&kgo.Record{Topic: topic, Partition: 0, Key: []byte("k5"), Value: []byte(`{"total":"1"}`), Timestamp: at},
	)
	c := startConn(t, cluster, EntityConfig{Topic: topic, Start: "earliest", KeyField: "order.no", VersionField: "changed"}, nil)
	if raw {
		c.LeaveRaw("order")
	}
	recs, cursor := readN(t, c, "", 5)
	if cursor != "0:5" {
		t.Errorf("cursor %q, want 0:5 (partitions 1 and 2 are empty)", cursor)
	}
	r := recs[0]
	if r.Err != nil || r.Key != "A-1" || r.Op != connectors.OpUpsert || !r.Version.Equal(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("first record: %+v", r)
	}
	switch {
	case !raw && (r.Data.Get("total").Str() != "10.50" || r.Raw != nil):
		t.Errorf("first record decoded: data %v, raw %q", r.Data, r.Raw)
	case raw && (!r.Data.IsNull() || string(r.Raw) != string(first)):
		t.Errorf("first record left raw: data %v, raw %q; want no data and the value as it arrived", r.Data, r.Raw)
	}
	if r := recs[1]; r.Err == nil || !strings.Contains(r.Err.Error(), "partition 0 offset 1 of "+topic) || !strings.Contains(r.Err.Error(), "not a JSON object") || !strings.Contains(r.Data.Str(), "truncated") || r.Raw != nil {
		t.Errorf("truncated JSON: err %v, data %v, raw %q", r.Err, r.Data, r.Raw)
	}
	if r := recs[2]; r.Err != nil || r.Op != connectors.OpDelete || r.Key != "A-1" || !r.Version.Equal(at) {
		t.Errorf("tombstone: %+v", r)
	}
	if r := recs[3]; r.Err == nil || !strings.Contains(r.Err.Error(), "JSON array") {
		t.Errorf("an array value: %v", r.Err)
	}
	if r := recs[4]; r.Err == nil || !strings.Contains(r.Err.Error(), "field order.no is empty") {
		t.Errorf("no key: %v", r.Err)
	}
}

// TestReadAgainFromACursor: asked again from an older cursor (a batch the
// hub could not publish), the source repositions and brings the same
// messages; from a cursor made of a moment, the messages at or after it.
func TestReadAgainFromACursor(t *testing.T) {
	cluster := newCluster(t, 0)
	defer cluster.Close()
	topic := topics["order"]
	base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var msgs []*kgo.Record
	for i := range 9 {
		msgs = append(msgs, &kgo.Record{Topic: topic, Partition: int32(i % 3), Key: []byte{'a' + byte(i)},
			Value: []byte(`{"n":1}`), Timestamp: base.Add(time.Duration(i) * time.Minute)})
	}
	produceAll(t, cluster, msgs...)
	c := startConn(t, cluster, EntityConfig{Topic: topic, Start: "earliest"}, nil)
	first, mid := readN(t, c, "", 4)
	rest, end := readN(t, c, mid, 5)
	again, end2 := readN(t, c, mid, 5)
	if keys(again) != keys(rest) || end2 != end {
		t.Errorf("read again from %s: %s to %s, first time %s to %s", mid, keys(again), end2, keys(rest), end)
	}
	if n := len(first) + len(rest); n != 9 || end != "0:3,1:3,2:3" {
		t.Errorf("read %d messages to %s", n, end)
	}
	ctx := context.Background()
	since, err := c.CursorSince(ctx, "order", base.Add(6*time.Minute))
	if err != nil || since != "0:2,1:2,2:2" {
		t.Fatalf("CursorSince = %q, %v; want 0:2,1:2,2:2", since, err)
	}
	late, _ := readN(t, c, since, 3)
	if k := keys(late); k != "ghi" {
		t.Errorf("from 08:06: %s, want ghi", k)
	}
	desc, err := c.DescribeCursor(ctx, "order", "0:1,1:3")
	if err != nil || !strings.Contains(desc, "partition 0 at offset 1, 2 behind") || !strings.Contains(desc, "partition 2 not read yet") {
		t.Errorf("DescribeCursor = %q, %v", desc, err)
	}
	if _, err := c.Read(ctx, "order", "0:x", 1); err == nil {
		t.Error("a broken cursor was taken")
	}
}

func keys(recs []connectors.Record) string {
	ks := make([]string, len(recs))
	for i, r := range recs {
		ks[i] = r.Key
	}
	slices.Sort(ks)
	return strings.Join(ks, "")
}

// TestDurableCommitsToTheGroup: the position the hub stored is committed
// to the configured group, where the cluster's lag tools find it.
func TestDurableCommitsToTheGroup(t *testing.T) {
	cluster := newCluster(t, 0)
	defer cluster.Close()
	c := startConn(t, cluster, EntityConfig{Topic: topics["order"], Start: "earliest", Group: "crm-hub"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Durable(ctx, "order", "0:7,1:3,2:0"); err != nil {
		t.Fatal(err)
	}
	cl, _ := c.client()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = "crm-hub"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := offsets{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			got[p.Partition] = p.Offset
		}
	}
	if got.String() != "0:7,1:3,2:0" {
		t.Errorf("group crm-hub holds %s", got)
	}
}

// TestWriteMessages: the key from key_field, the hub's headers and the
// configured ones, a delete as a tombstone of the key it was written
// under (its data is not mapped); a record too large for the
// broker fails alone, permanently.
func TestWriteMessages(t *testing.T) {
	cluster := newCluster(t, 0)
	defer cluster.Close()
	topic := topics["order"]
	c := startConn(t, cluster, EntityConfig{Topic: topic, KeyField: "no", Headers: map[string]string{"source": "crm"}}, nil)
	v := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	big := strings.Repeat("x", 2<<20)
	recs := []connectors.WriteRecord{
		{Entity: "order", HubID: "hub-1", Op: connectors.OpUpsert, Version: v, Data: obj("no", "A-1")},
		{Entity: "order", HubID: "hub-2", Op: connectors.OpUpsert, Version: v, Data: obj("no", "A-2", "note", big)},
		{Entity: "order", HubID: "hub-3", ExternalID: "A-3", Op: connectors.OpDelete, Version: v, Data: obj("id", "hub-3")}, // a delete: the key it was written under
	}
	ctx := context.Background()
	res, err := c.Write(ctx, "order", recs)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome != connectors.Written || res[0].ExternalID != "A-1" || res[2].Outcome != connectors.Written {
		t.Errorf("results %+v", res)
	}
	var ce *connectors.Error
	if res[1].Outcome != connectors.Failed || !errors.As(res[1].Err, &ce) || ce.Kind != connectors.KindPermanent {
		t.Errorf("a 2 MiB record: %+v", res[1])
	}
	f := &kafkaFixture{cluster: cluster}
	got := f.newest(t, "order")
	m := got["A-1"]
	if m == nil || string(m.Value) != `{"no":"A-1"}` || header(m, "hub-id") != "hub-1" || header(m, "hub-op") != "upsert" ||
		header(m, "hub-version") != "2026-12-03T09:00:00Z" || header(m, "source") != "crm" {
		t.Errorf("A-1: %+v", m)
	}
	if m := got["A-3"]; m == nil || m.Value != nil || header(m, "hub-op") != "delete" {
		t.Errorf("the delete: %+v", m)
	}
	if _, ok := got["A-2"]; ok || len(got) != 2 {
		t.Errorf("the topic holds %d keys", len(got))
	}
}

func obj(kv ...string) mapping.Value {
	var ms []mapping.Member
	for i := 0; i+1 < len(kv); i += 2 {
		ms = append(ms, mapping.Member{Key: kv[i], Value: mapping.StringValue(kv[i+1])})
	}
	return mapping.ObjectValue(ms...)
}

func header(m *kgo.Record, k string) string {
	for _, h := range m.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// TestMissingTopicAndBadSettings: a topic that does not exist is a
// system problem (unavailable), named; bad settings are field errors.
func TestMissingTopicAndBadSettings(t *testing.T) {
	cluster := newCluster(t, 0)
	defer cluster.Close()
	c, err := New("events", Config{Brokers: cluster.ListenAddrs(), Timeout: 5 * time.Second,
		Entities: map[string]EntityConfig{"order": {Topic: "no.such.topic"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Start(context.Background())
	var ce *connectors.Error
	if err == nil || !errors.As(err, &ce) || ce.Kind != connectors.KindUnavailable || !strings.Contains(err.Error(), "topic no.such.topic does not exist") {
		t.Errorf("Start with a missing topic: %v", err)
	}
	auto, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer auto.Close()
	c = startConn(t, auto, EntityConfig{Topic: "analytics.orders", Create: true}, nil)
	if res, err := c.Write(context.Background(), "order", []connectors.WriteRecord{{Entity: "order", HubID: "hub-1", Op: connectors.OpUpsert, Data: obj("no", "1")}}); err != nil || res[0].Outcome != connectors.Written {
		t.Errorf("write to a topic made with create: %+v, %v", res, err)
	}
	_, err = New("events", Config{Brokers: []string{"localhost"}, Timeout: time.Second,
		Entities: map[string]EntityConfig{"order": {Topic: "a b", Headers: map[string]string{"hub-id": "x"}}}}, nil)
	fe, ok := connectors.AsFieldErrors(err)
	if !ok || len(fe) != 3 {
		t.Fatalf("bad settings: %v", err)
	}
	for _, want := range []string{"brokers[0]", "entities.order.topic", "entities.order.headers.hub-id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no error about %s in %v", want, err)
		}
	}
}

// TestReadMetadata: with metadata set, each value carries the message's
// topic, partition, offset, timestamp, key and headers under that name,
// first, hiding a member of the same name in the value; a header given
// twice keeps its last value, a message without a key has a null key.
// Left raw, the value is the message's with that member added, whatever
// its spacing, and an empty object stays valid.
func TestReadMetadata(t *testing.T) {
	for _, raw := range []bool{false, true} {
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) { testReadMetadata(t, raw) })
	}
}

func testReadMetadata(t *testing.T, raw bool) {
	cluster := newCluster(t, 0)
	defer cluster.Close()
	topic := topics["order"]
	at := time.Date(2026, 12, 1, 8, 0, 0, 123000000, time.UTC)
	produceAll(t, cluster,
		&kgo.Record{Topic: topic, Partition: 1, Key: []byte("S-1"), Value: []byte(" {\n \"email\": \"ada@example.com\", \"_kafka\": \"the value's own\"}\n"), Timestamp: at,
			Headers: []kgo.RecordHeader{{Key: "tenant", Value: []byte("de")}, {Key: "campaign", Value: []byte("spring")}, {Key: "tenant", Value: []byte("at")}}},
		&kgo.Record{Topic: topic, Partition: 1, Key: []byte("S-2"), Value: []byte(`{ }`), Timestamp: at,
			Headers: []kgo.RecordHeader{{Key: "none", Value: nil}, {Key: "empty", Value: []byte{}}}},
		&kgo.Record{Topic: topic, Partition: 1, Value: []byte(`{"id":"S-3"}`), Timestamp: at},
	)
	c := startConn(t, cluster, EntityConfig{Topic: topic, Start: "earliest", Metadata: "_kafka"}, nil)
	if raw {
		c.LeaveRaw("order")
	}
	recs, _ := readN(t, c, "", 3)
	data := func(r connectors.Record) mapping.Value {
		t.Helper()
		if !raw {
			return r.Data
		}
		v, err := mapping.ParseJSON(r.Raw)
		if err != nil {
			t.Fatalf("record %s left raw with metadata is not JSON: %v: %q", r.Key, err, r.Raw)
		}
		return v
	}
	v := data(recs[0])
	meta := v.Get("_kafka")
	want := map[string]string{"topic": topic, "partition": "1", "offset": "0", "timestamp": "2026-12-01T08:00:00.123Z", "key": "S-1"}
	for k, w := range want {
		if got := meta.Get(k).Str(); got != w {
			t.Errorf("_kafka.%s = %q, want %q (metadata %s)", k, got, w, mapping.AppendJSON(nil, meta))
		}
	}
	if h := meta.Get("headers"); h.Get("tenant").Str() != "at" || h.Get("campaign").Str() != "spring" || h.Len() != 2 {
		t.Errorf("_kafka.headers = %s, want tenant at (the last of two) and campaign spring", mapping.AppendJSON(nil, h))
	}
	if !raw && v.Len() != 2 {
		t.Errorf("decoded with metadata: %s, want the metadata and email only (the value's own _kafka hidden)", mapping.AppendJSON(nil, v))
	}
	if v.Get("email").Str() != "ada@example.com" || recs[0].Key != "S-1" || recs[0].Err != nil {
		t.Errorf("the value itself: %s, key %q, err %v", mapping.AppendJSON(nil, v), recs[0].Key, recs[0].Err)
	}
	if v := data(recs[1]); v.Len() != 1 || v.Get("_kafka").Get("offset").Str() != "1" {
		t.Errorf("an empty object with metadata: %s", mapping.AppendJSON(nil, v))
	} else if h := v.Get("_kafka").Get("headers"); h.Len() != 2 || h.Members()[0].Key != "none" || h.Get("none").Kind() != mapping.Null || h.Get("empty").Kind() != mapping.String || h.Get("empty").Str() != "" {
		t.Errorf("a header with a null value and one with an empty value: %s, want none: null and empty: \"\"", mapping.AppendJSON(nil, h))
	}
	if r := recs[2]; r.Err == nil || !strings.Contains(r.Err.Error(), "no key") {
		t.Errorf("a message without a key: err %v", r.Err)
	} else if m := data(r).Get("_kafka"); m.Get("key").Kind() != mapping.Null || m.Get("offset").Str() != "2" {
		t.Errorf("a message without a key: metadata %s", mapping.AppendJSON(nil, m))
	}
}

// TestWriteHeaderFields: header_fields take headers from each mapped
// record; an empty or absent field adds none, and a delete (no mapped
// data) only the hub's. Settings that clash are refused by name.
func TestWriteHeaderFields(t *testing.T) {
	cluster := newCluster(t, 0)
	defer cluster.Close()
	topic := topics["order"]
	c := startConn(t, cluster, EntityConfig{Topic: topic, KeyField: "no", HeaderFields: map[string]string{"tenant": "shop.tenant", "channel": "channel"}}, nil)
	v := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	recs := []connectors.WriteRecord{
		{Entity: "order", HubID: "hub-1", Op: connectors.OpUpsert, Version: v,
			Data: mapping.ObjectValue(mapping.Member{Key: "no", Value: mapping.StringValue("A-1")}, mapping.Member{Key: "shop", Value: obj("tenant", "de")}, mapping.Member{Key: "channel", Value: mapping.StringValue("web")})},
		{Entity: "order", HubID: "hub-2", Op: connectors.OpUpsert, Version: v, Data: obj("no", "A-2", "channel", "")},
		{Entity: "order", HubID: "hub-3", ExternalID: "A-3", Op: connectors.OpDelete, Version: v, Data: obj("channel", "web")},
	}
	if res, err := c.Write(context.Background(), "order", recs); err != nil || res[0].Outcome != connectors.Written || res[1].Outcome != connectors.Written || res[2].Outcome != connectors.Written {
		t.Fatalf("write: %+v, %v", res, err)
	}
	got := (&kafkaFixture{cluster: cluster}).newest(t, "order")
	if m := got["A-1"]; m == nil || header(m, "tenant") != "de" || header(m, "channel") != "web" || len(m.Headers) != 6 {
		t.Errorf("A-1: headers %+v, want the hub's four, tenant de and channel web", m.Headers)
	}
	if m := got["A-2"]; m == nil || len(m.Headers) != 4 {
		t.Errorf("A-2 (no tenant, an empty channel): headers %+v, want the hub's four", m.Headers)
	}
	if m := got["A-3"]; m == nil || len(m.Headers) != 4 {
		t.Errorf("the delete: headers %+v, want the hub's four", m.Headers)
	}
	_, err := New("events", Config{Brokers: []string{"localhost:9092"}, Timeout: time.Second,
		Entities: map[string]EntityConfig{"order": {Topic: topic, Metadata: "_kafka.meta", Headers: map[string]string{"tenant": "de"},
			HeaderFields: map[string]string{"tenant": "shop.tenant", "hub-op": "op", "channel": "", "": "x"}},
			"customer": {Topic: topic, Metadata: "_kafka", KeyField: "_kafka.key", VersionField: "_kafka"}}}, nil)
	for _, want := range []string{"entities.order.metadata", "entities.order.header_fields.tenant", "entities.order.header_fields.hub-op",
		"entities.order.header_fields.channel", "entities.order.header_fields.: a header needs a name",
		"entities.customer.key_field: _kafka.key reads the message's value, not its metadata (_kafka): leave it out to key by the message key",
		"entities.customer.version_field: _kafka reads the message's value"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no error about %s in %v", want, err)
		}
	}
}

// TestWriteCompressed: a sink's batches carry the configured codec, and
// what it wrote reads back the same.
func TestWriteCompressed(t *testing.T) {
	codes := map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4, "": 2}
	for _, name := range []string{"", "none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(cmp.Or(name, "default"), func(t *testing.T) {
			cluster := newCluster(t, 0)
			defer cluster.Close()
			topic := topics["order"]
			c := startConn(t, cluster, EntityConfig{Topic: topic, KeyField: "no"}, func(cfg *Config) { cfg.Compression = name })
			var recs []connectors.WriteRecord
			for i := range 20 {
				recs = append(recs, connectors.WriteRecord{Entity: "order", HubID: fmt.Sprintf("hub-%d", i), Op: connectors.OpUpsert,
					Version: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), Data: obj("no", fmt.Sprintf("A-%d", i), "note", strings.Repeat("compressible ", 40))})
			}
			if _, err := c.Write(context.Background(), "order", recs); err != nil {
				t.Fatal(err)
			}
			got := (&kafkaFixture{cluster: cluster}).newest(t, "order")
			if len(got) != len(recs) {
				t.Fatalf("%d messages read back, want %d", len(got), len(recs))
			}
			for i := range recs {
				m := got[fmt.Sprintf("A-%d", i)]
				if m == nil || m.Attrs.CompressionType() != codes[name] || !strings.Contains(string(m.Value), `"note":"compressible`) {
					t.Fatalf("A-%d: %+v, want codec %d and the value as written", i, m, codes[name])
				}
			}
		})
	}
}
