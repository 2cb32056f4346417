package kafka

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

// orderJSON is a shop order of about 1.5 KB, as the Kafka bench sends.
// (The bench's own generator, internal/bench.NewOrderGen, cannot be used
// here: internal/bench imports the hub's nodes, and they this package.)
func orderJSON(i int) []byte {
	var lines []string
	for l := range 3 {
		lines = append(lines, fmt.Sprintf(`{"id":%d,"sku":"SKU-%d-%d","title":"Item %d of order %d","quantity":%d,"price":"%d.95","tax_lines":[{"title":"VAT","rate":0.2,"price":"%d.19"}]}`,
			i*10+l, i, l, l, i, l+1, 10+l, 2+l))
	}
	return fmt.Appendf(nil, `{"id":%d,"name":"#%d","email":"buyer%d@example.org","created_at":"2026-12-05T10:%02d:00Z","currency":"EUR","total_price":"%d.10","customer":{"id":%d,"first_name":"Ana","last_name":"Example","phone":"+49 30 1234567"},"billing_address":{"address1":"Street %d","city":"Berlin","zip":"10115","country_code":"DE"},"shipping_address":{"address1":"Street %d","city":"Berlin","zip":"10115","country_code":"DE"},"line_items":[%s],"note":"%s"}`,
		i, 1000+i, i, i%60, 40+i, 500+i, i, i, strings.Join(lines, ","), strings.Repeat("n", 200))
}

// One Decoder reads a whole batch: each record keeps its own values after
// the next message is decoded.
func TestRecordsKeepTheirValues(t *testing.T) {
	e := EntityConfig{Topic: "orders", KeyField: "id"}
	var r reader
	var recs []string
	for i := range 5 {
		rec := r.record("order", e, &kgo.Record{Topic: "orders", Value: orderJSON(i)})
		if rec.Err != nil {
			t.Fatal(rec.Err)
		}
		recs = append(recs, string(mapping.AppendJSON(nil, rec.Data)))
		if i > 0 && recs[i] == recs[i-1] {
			t.Fatal("two orders decoded alike")
		}
	}
	for i, got := range recs {
		want, err := mapping.ParseJSON(orderJSON(i))
		if err != nil {
			t.Fatal(err)
		}
		if got != string(mapping.AppendJSON(nil, want)) {
			t.Errorf("order %d changed after later messages were decoded:\n%s", i, got)
		}
	}
}

// BenchmarkRecord decodes messages into records with a Decoder per
// message, with one for the batch, as Read does, and left raw for the hub
// (only the key field decoded).
//
//	go test ./connectors/kafka -run '^$' -bench Record -benchmem
func BenchmarkRecord(b *testing.B) {
	e := EntityConfig{Topic: "orders", KeyField: "id"}
	msgs := make([]*kgo.Record, 64)
	for i := range msgs {
		msgs[i] = &kgo.Record{Topic: "orders", Value: orderJSON(i)}
	}
	b.Run("decoder-per-message", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var r reader
			if rec := r.record("order", e, msgs[i%len(msgs)]); rec.Err != nil {
				b.Fatal(rec.Err)
			}
		}
	})
	b.Run("decoder-per-batch", func(b *testing.B) {
		b.ReportAllocs()
		var r reader
		for i := 0; b.Loop(); i++ {
			if rec := r.record("order", e, msgs[i%len(msgs)]); rec.Err != nil {
				b.Fatal(rec.Err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		r := reader{raw: true, fields: mapping.NewDecoderFor(e.KeyField)}
		for i := 0; b.Loop(); i++ {
			if rec := r.record("order", e, msgs[i%len(msgs)]); rec.Err != nil || rec.Key == "" {
				b.Fatal(rec.Err)
			}
		}
	})
}

// A record written twice gives two messages with the same headers in the
// same order: the hub's, then the fixed ones and those from fields, each
// group in name order.
func TestMessageHeadersInNameOrder(t *testing.T) {
	e := EntityConfig{Topic: "orders",
		Headers:      map[string]string{"site": "berlin", "app": "hub", "region": "eu", "owner": "sales"},
		HeaderFields: map[string]string{"status": "status", "channel": "channel", "tenant": "tenant"}}
	data, err := mapping.ParseJSON([]byte(`{"status": "open", "channel": "web", "tenant": "de"}`))
	if err != nil {
		t.Fatal(err)
	}
	rec := connectors.WriteRecord{Op: connectors.OpUpsert, HubID: "H-1", Data: data}
	want := []string{"hub-id", "hub-entity", "hub-op", "hub-version", "app", "owner", "region", "site", "channel", "status", "tenant"}
	for range 20 { // a map's order changes from one range to the next
		m, err := message("order", e, e.headerNames(), rec)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range m.Headers {
			got = append(got, h.Key)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("headers %v, want %v", got, want)
		}
	}
}
