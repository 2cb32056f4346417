package screenpop

import (
	"reflect"
	"testing"
)

func sampleRecord() record {
	r := record{phone: 4930123, mobile: 49170123, updated: 1700000000,
		sources:  []source{{origin: 1, id: "42"}, {origin: 2, id: "C-1"}},
		contacts: []contact{{name: "Erika", role: "buyer", email: "e@example.com", phone: 4930555}},
		orders:   []order{{id: hubID{1}, no: "SO-1", total: parseDecimal("10.50"), date: parseDay("2026-01-02"), status: 3, currency: 4}},
		invoices: []invoice{{id: hubID{2}, no: "INV-1", total: parseDecimal("100"), due: parseDecimal("-0.05"), dueDate: 10, state: 5, currency: 4}},
		inters:   []interaction{{id: hubID{3}, started: 1700000001, duration: 65, channel: 6, agent: "1001", subject: "Rückruf"}},
	}
	r.text[fName], r.text[fRawID] = "Acme", "raw"
	return r
}

// TestRecordRoundTrip: a record comes back from its blob as it went in,
// and a lookup's scratch record is filled the same way.
func TestRecordRoundTrip(t *testing.T) {
	r := sampleRecord()
	got, ok := decodeRecord(r.encode())
	if !ok || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
	}
	scratch := sampleRecord()
	scratch.orders = append(scratch.orders, order{no: "stale"})
	if !decodeInto(r.encode(), &scratch) || !reflect.DeepEqual(scratch, r) {
		t.Errorf("decodeInto kept stale entries: %+v", scratch)
	}
	if recordText(r.encode(), fRawID) != "raw" || !hasSource(r.encode(), 2, "C-1") || hasSource(r.encode(), 1, "C-1") {
		t.Error("recordText or hasSource misread the blob")
	}
}

// FuzzDecodeRecord: no blob, however damaged, makes the decoder panic,
// and what it accepts encodes to a blob that decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	r := sampleRecord()
	f.Add(r.encode())
	f.Add("")
	f.Add("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
	f.Fuzz(func(t *testing.T, b string) {
		r, ok := decodeRecord(b)
		if again, ok2 := decodeRecord(r.encode()); ok && (!ok2 || !reflect.DeepEqual(again, r)) {
			t.Errorf("%q decodes but does not encode back", b)
		}
		_ = recordText(b, fRawID)
		_ = hasSource(b, 1, "x")
	})
}
