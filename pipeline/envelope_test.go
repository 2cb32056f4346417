package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/mapping"
)

func mustParse(t testing.TB, s string) mapping.Value {
	t.Helper()
	v, err := mapping.ParseJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEnvelopeRoundTrip(t *testing.T) {
	data := mustParse(t, `{"order_no":"1001","total":"12.50","lines":[{"sku":"A","qty":2}],"note":"tab\there \u0001 ünï"}`)
	e := &Envelope{
		Entity: "order", ID: "h-1", Op: OpUpsert, Origin: "shop", SourceID: "820982911946154508",
		Version: time.Date(2026, 11, 22, 10, 0, 0, 123, time.UTC), Hash: Hash(data),
		Refs: map[string]string{"customer": "h-9"}, Data: data, TraceID: "t1",
	}
	b := e.AppendJSON(nil)
	if !json.Valid(b) {
		t.Fatalf("not valid JSON: %s", b)
	}
	got, err := DecodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Entity != e.Entity || got.ID != e.ID || got.Op != e.Op || got.Origin != e.Origin ||
		got.SourceID != e.SourceID || !got.Version.Equal(e.Version) || got.Hash != e.Hash ||
		got.Refs["customer"] != "h-9" || got.TraceID != "t1" {
		t.Errorf("round trip changed the envelope:\n got %+v\nwant %+v", got, e)
	}
	if Hash(got.Data) != e.Hash {
		t.Error("data changed in the round trip")
	}
	if s := string(mapping.AppendJSON(nil, got.Data.Get("total"))); s != `"12.50"` {
		t.Errorf("total = %s", s)
	}
}

func TestHashIgnoresOrderAndNulls(t *testing.T) {
	a := mustParse(t, `{"a":1,"b":{"y":"2","x":null,"z":[1,2]}}`)
	b := mustParse(t, `{"b":{"z":[1,2],"y":"2"},"a":1}`)
	c := mustParse(t, `{"b":{"z":[2,1],"y":"2"},"a":1}`)
	if Hash(a) != Hash(b) {
		t.Error("key order or nulls changed the hash")
	}
	if Hash(a) == Hash(c) {
		t.Error("array order must change the hash")
	}
}

// TestHashWideObject covers objects wider than the array Hash sorts
// members in on the stack.
// Hash is the hex sha256 of the canonical text, as the hashes stored in
// the crosswalk by earlier hubs are: the value below is `printf '%s'
// '{"a":"x","b":2,"c":{"y":true,"z":[1,"é"]}}' | sha256sum`.
func TestHashStaysTheSame(t *testing.T) {
	v := mustParse(t, `{"b":2,"a":"x","n":null,"c":{"z":[1,"é"],"y":true}}`)
	if got, want := Hash(v), "a2d6f616e58c6840e14ccaa5e30d5792a432b3b3c93e5b271307362bfc523a00"; got != want {
		t.Errorf("Hash = %s, want %s (the stored hashes would all differ)", got, want)
	}
}

func TestHashWideObject(t *testing.T) {
	var fwd, rev []string
	for i := range 40 {
		fwd = append(fwd, fmt.Sprintf(`"f%02d":%d`, i, i))
		rev = append([]string{fmt.Sprintf(`"f%02d":%d`, i, i)}, rev...)
	}
	a := mustParse(t, "{"+strings.Join(fwd, ",")+"}")
	b := mustParse(t, "{"+strings.Join(rev, ",")+"}")
	changed := mustParse(t, "{"+strings.Join(append(fwd[:39:39], `"f39":0`), ",")+"}")
	if Hash(a) != Hash(b) {
		t.Error("the order of 40 members changed the hash")
	}
	if Hash(a) == Hash(changed) {
		t.Error("a changed 40th member kept the hash")
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`not json`, "not valid JSON"},
		{`[1]`, "want a JSON object"},
		{`{"id":"x","op":"upsert"}`, "entity: missing"},
		{`{"entity":"order","id":7,"op":"upsert"}`, "id: want a string"},
		{`{"entity":"order","id":"x","op":"merge"}`, `op: "merge" is not upsert or delete`},
		{`{"entity":"order","id":"x","op":"upsert","version":"yesterday"}`, "version"},
		{`{"entity":"order","id":"x","op":"upsert","refs":{"customer":1}}`, "refs.customer"},
	}
	for _, tt := range tests {
		_, err := DecodeEnvelope([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeEnvelope(%s) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"entity":"order","id":"x","op":"upsert","data":{"a":[1,{"b":null}]}}`))
	f.Add([]byte(`{"refs":{"":""}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err != nil {
			return
		}
		again, err := DecodeEnvelope(e.AppendJSON(nil))
		if err != nil {
			t.Fatalf("re-decoding our own encoding: %v", err)
		}
		if Hash(again.Data) != Hash(e.Data) {
			t.Fatal("data changed in a round trip")
		}
	})
}

func BenchmarkEnvelopeEncode(b *testing.B) {
	data := mustParse(b, benchOrder)
	e := &Envelope{Entity: "order", ID: "h-1", Op: OpUpsert, Origin: "crm", SourceID: "42",
		Version: time.Now(), Hash: Hash(data), Data: data}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkEnvelopeDecode(b *testing.B) {
	data := mustParse(b, benchOrder)
	e := &Envelope{Entity: "order", ID: "h-1", Op: OpUpsert, Origin: "crm", SourceID: "42",
		Version: time.Now(), Hash: Hash(data), Data: data}
	enc := e.AppendJSON(nil)
	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEnvelope(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reused", func(b *testing.B) { // as the sink decodes a batch
		var dec mapping.Decoder
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEnvelopeWith(&dec, enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkHash(b *testing.B) {
	data := mustParse(b, benchOrder)
	b.ReportAllocs()
	for b.Loop() {
		_ = Hash(data)
	}
}

const benchOrder = `{"external_id":"crm:1001","order_no":"1001","order_date":"2026-11-22","currency":"EUR","status":"OPEN","total":"149.70",
"customer":{"name":"Ada Lovelace","email":"ada@example.com","phone":"+442071234567"},
"lines":[{"sku":"SKU-1","qty":1,"unit_price":"49.90","amount":"49.90"},{"sku":"SKU-2","qty":2,"unit_price":"49.90","amount":"99.80"}]}`

// withIDs puts the record's hub id first (replacing an "id" of its
// own), sets a reference's id inside its object, and adds an object for
// a reference the data does not hold.
func TestWithIDs(t *testing.T) {
	for _, c := range []struct {
		data string
		refs map[string]string
		want string
	}{
		{`{"id":"crm-9","no":"1001","customer":{"name":"Ada"}}`, map[string]string{"customer": "h-c"},
			`{"id":"h-1","no":"1001","customer":{"id":"h-c","name":"Ada"}}`},
		{`{"no":"1001"}`, map[string]string{"customer": "h-c"}, `{"id":"h-1","no":"1001","customer":{"id":"h-c"}}`},
		{`{"no":"1001","customer":"Ada"}`, nil, `{"id":"h-1","no":"1001","customer":"Ada"}`},
	} {
		// Compared as canonical text (keys sorted), not through Hash,
		// which is what this file also tests.
		got := withIDs(mustParse(t, c.data), "h-1", c.refs)
		if string(appendCanonical(nil, got)) != string(appendCanonical(nil, mustParse(t, c.want))) || got.Get("id").Str() != "h-1" {
			t.Errorf("withIDs(%s, %v) = %s, want %s", c.data, c.refs, mapping.AppendJSON(nil, got), c.want)
		}
	}
}

// BenchmarkWithIDs is the hub ids put into a mapped order, as every
// source record's envelope is built: its own, and its customer's.
func BenchmarkWithIDs(b *testing.B) {
	data := mustParse(b, benchOrder)
	refs := map[string]string{"customer": "h-c-7"}
	b.ReportAllocs()
	for b.Loop() {
		_ = withIDs(data, "h-1", refs)
	}
}
