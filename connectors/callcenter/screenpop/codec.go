package screenpop

import (
	"encoding/binary"
)

// The record blob: a customer's record in one immutable string of
// varints and length-prefixed strings, in this order (the order a card's
// JSON is written in):
//
//	sources:  n, then each origin (sym), id
//	text:     nFields strings
//	phone, mobile, updated
//	contacts: n, then each name, role, email, phone, mobile
//	orders:   n, then each id (16 bytes), no, total, date, status, currency
//	invoices: n, then each id, no, total, due, date, due date, state, currency
//	inters:   n, then each id, started, duration, channel, direction, outcome, agent, subject
//
// A decimal is its scale+1 (0: none) and then its units.

// encode writes r as a blob.
func (r *record) encode() string {
	w := make([]byte, 0, 64+len(r.orders)*40+len(r.invoices)*56+len(r.inters)*48)
	w = binary.AppendUvarint(w, uint64(len(r.sources)))
	for _, s := range r.sources {
		w = binary.AppendUvarint(w, uint64(s.origin))
		w = appendStr(w, s.id)
	}
	for _, t := range r.text {
		w = appendStr(w, t)
	}
	w = binary.AppendUvarint(w, r.phone)
	w = binary.AppendUvarint(w, r.mobile)
	w = binary.AppendVarint(w, r.updated)
	w = binary.AppendUvarint(w, uint64(len(r.contacts)))
	for _, p := range r.contacts {
		w = appendStr(appendStr(appendStr(w, p.name), p.role), p.email)
		w = binary.AppendUvarint(binary.AppendUvarint(w, p.phone), p.mobile)
	}
	w = binary.AppendUvarint(w, uint64(len(r.orders)))
	for _, o := range r.orders {
		w = append(w, o.id[:]...)
		w = appendDec(appendStr(w, o.no), o.total)
		w = binary.AppendVarint(w, int64(o.date))
		w = binary.AppendUvarint(binary.AppendUvarint(w, uint64(o.status)), uint64(o.currency))
	}
	w = binary.AppendUvarint(w, uint64(len(r.invoices)))
	for _, in := range r.invoices {
		w = append(w, in.id[:]...)
		w = appendDec(appendDec(appendStr(w, in.no), in.total), in.due)
		w = binary.AppendVarint(binary.AppendVarint(w, int64(in.date)), int64(in.dueDate))
		w = binary.AppendUvarint(binary.AppendUvarint(w, uint64(in.state)), uint64(in.currency))
	}
	w = binary.AppendUvarint(w, uint64(len(r.inters)))
	for _, it := range r.inters {
		w = append(w, it.id[:]...)
		w = binary.AppendVarint(binary.AppendVarint(w, it.started), int64(it.duration))
		w = binary.AppendUvarint(binary.AppendUvarint(binary.AppendUvarint(w, uint64(it.channel)), uint64(it.direction)), uint64(it.outcome))
		w = appendStr(appendStr(w, it.agent), it.subject)
	}
	return string(w)
}

func appendStr(w []byte, s string) []byte {
	return append(binary.AppendUvarint(w, uint64(len(s))), s...)
}

func appendDec(w []byte, d decimal) []byte {
	if !d.ok {
		return append(w, 0)
	}
	return binary.AppendVarint(binary.AppendUvarint(w, uint64(d.scale)+1), d.units)
}

// decodeRecord decodes a blob; its strings point into it. A blob the
// index wrote always decodes; ok is false for anything else (a damaged
// snapshot).
func decodeRecord(b string) (r record, ok bool) {
	ok = decodeInto(b, &r)
	return r, ok
}

// decodeInto decodes a blob into r, reusing r's lists.
func decodeInto(b string, r *record) bool {
	d := blob{s: b}
	r.sources = r.sources[:0]
	for n := d.count(2); n > 0; n-- {
		r.sources = append(r.sources, source{origin: sym(d.uint()), id: d.str()})
	}
	for i := range r.text {
		r.text[i] = d.str()
	}
	r.phone, r.mobile, r.updated = d.uint(), d.uint(), d.int()
	r.contacts = r.contacts[:0]
	for n := d.count(5); n > 0; n-- {
		r.contacts = append(r.contacts, contact{name: d.str(), role: d.str(), email: d.str(), phone: d.uint(), mobile: d.uint()})
	}
	r.orders = r.orders[:0]
	for n := d.count(20); n > 0; n-- {
		var o order
		o.id, o.no, o.total, o.date = d.id(), d.str(), d.dec(), day(d.int())
		o.status, o.currency = sym(d.uint()), sym(d.uint())
		r.orders = append(r.orders, o)
	}
	r.invoices = r.invoices[:0]
	for n := d.count(24); n > 0; n-- {
		var in invoice
		in.id, in.no, in.total, in.due = d.id(), d.str(), d.dec(), d.dec()
		in.date, in.dueDate = day(d.int()), day(d.int())
		in.state, in.currency = sym(d.uint()), sym(d.uint())
		r.invoices = append(r.invoices, in)
	}
	r.inters = r.inters[:0]
	for n := d.count(22); n > 0; n-- {
		var it interaction
		it.id, it.started, it.duration = d.id(), d.int(), int32(d.int())
		it.channel, it.direction, it.outcome = sym(d.uint()), sym(d.uint()), sym(d.uint())
		it.agent, it.subject = d.str(), d.str()
		r.inters = append(r.inters, it)
	}
	return !d.bad && d.i == len(d.s)
}

// recordText is text field i of a blob, without decoding the rest.
func recordText(b string, i int) string {
	d := blob{s: b}
	for n := d.count(2); n > 0; n-- {
		d.uint()
		d.str()
	}
	for ; i > 0; i-- {
		d.str()
	}
	return d.str()
}

// hasSource reports whether a blob holds id in system origin.
func hasSource(b string, origin sym, id string) bool {
	d := blob{s: b}
	for n := d.count(2); n > 0; n-- {
		o, s := sym(d.uint()), d.str()
		if o == origin && s == id {
			return true
		}
	}
	return false
}

// blob reads a record blob; a read past its end or a bad varint marks it
// bad and reads zeros.
type blob struct {
	s   string
	i   int
	bad bool
}

func (d *blob) uint() uint64 {
	var v uint64
	var shift uint
	for d.i < len(d.s) {
		c := d.s[d.i]
		d.i++
		if c < 0x80 {
			if shift == 63 && c > 1 {
				break
			}
			return v | uint64(c)<<shift
		}
		v |= uint64(c&0x7f) << shift
		shift += 7
		if shift > 63 {
			break
		}
	}
	d.bad = true
	return 0
}

func (d *blob) int() int64 {
	u := d.uint()
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a list's length: no more entries than the rest of the blob
// could hold at min bytes each.
func (d *blob) count(min int) int {
	n := d.uint()
	if n > uint64(len(d.s)-d.i)/uint64(min) {
		d.bad = true
		return 0
	}
	return int(n)
}

func (d *blob) str() string {
	n := d.uint()
	if n > uint64(len(d.s)-d.i) {
		d.bad = true
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *blob) id() (id hubID) {
	if len(d.s)-d.i < len(id) {
		d.bad = true
		return id
	}
	copy(id[:], d.s[d.i:])
	d.i += len(id)
	return id
}

func (d *blob) dec() decimal {
	s := d.uint()
	if s == 0 {
		return decimal{}
	}
	if s > 10 {
		d.bad = true
		return decimal{}
	}
	return decimal{units: d.int(), scale: uint8(s - 1), ok: true}
}
