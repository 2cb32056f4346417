package screenpop

import (
	"strings"

	"github.com/crmhub/hub/mapping"
)

// What the index keeps of a customer: a few fields it searches and ranks
// by (customer), and the rest in one immutable string, the record blob
// (codec.go), so that a million customers are a million small objects
// without pointers inside, which the garbage collector passes over, not
// ten million. A change decodes the blob into a record, edits that, and
// encodes a new blob.

// The customer's text fields.
const (
	fName = iota
	fNo
	fCompany
	fEmail
	fStatus
	fCity
	fCountry
	fKind
	fRawID // the hub id as given, when it is not a UUID
	nFields
)

// maxField caps each text field (bytes): a card is for reading aloud.
const maxField = 512

// The states of a customer slot.
const (
	slotFree        uint8 = iota // in the free list
	slotPlaceholder              // named by orders, invoices or interactions; its own record has not come
	slotKnown                    // its own record has come
)

// customer is one slot of the index.
type customer struct {
	id     hubID
	state  uint8
	status uint8 // statusRank of its status
	// phone and mobile are Keys of its own numbers (0: none).
	phone, mobile uint64
	// activity is the newest of its last change, its newest order's date
	// and its newest interaction (Unix seconds), for ranking.
	activity int64
	rec      string // the record blob (codec.go)
}

// record is a customer's record decoded: what a change edits and a card
// shows. Its strings point into the blob it was decoded from.
type record struct {
	text          [nFields]string
	phone, mobile uint64
	updated       int64 // Unix seconds of its last change
	sources       []source
	contacts      []contact
	orders        []order       // newest first
	invoices      []invoice     // open ones, soonest due first
	inters        []interaction // newest first
}

// contact is a contact person of a customer.
type contact struct {
	name, role, email string
	phone, mobile     uint64
}

// source is a customer's id in one system (the origin of its envelopes).
type source struct {
	origin sym
	id     string
}

// order is one of a customer's recent orders.
type order struct {
	id               hubID
	no               string
	total            decimal
	date             day
	status, currency sym
}

// invoice is one of a customer's open invoices.
type invoice struct {
	id              hubID
	no              string
	total, due      decimal
	date, dueDate   day
	state, currency sym
}

// interaction is one of a customer's last contacts (calls, e-mails ...).
type interaction struct {
	id                          hubID
	started                     int64
	duration                    int32
	channel, direction, outcome sym
	agent, subject              string
}

// sym is a word of a small vocabulary (a status, a currency, an origin),
// stored once in the index's symbol table.
type sym uint16

// maxSyms bounds the symbol table; words beyond it are kept as "".
const maxSyms = 4096

// str reads a string member ("" for null or another kind).
func str(v mapping.Value, key string) string {
	f := v.Get(key)
	switch f.Kind() {
	case mapping.String, mapping.Number:
		return strings.TrimSpace(f.Str())
	}
	return ""
}

// cut is s cut to n bytes at a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// numbers appends the Keys of a record's own and its contacts' numbers to
// dst, each once.
func (r *record) numbers(dst []uint64) []uint64 {
	add := func(k uint64) {
		if k == 0 {
			return
		}
		for _, o := range dst {
			if o == k {
				return
			}
		}
		dst = append(dst, k)
	}
	add(r.phone)
	add(r.mobile)
	for _, p := range r.contacts {
		add(p.phone)
		add(p.mobile)
	}
	return dst
}

// activity is what a record's customer ranks by among others on one
// number: its most recent sign of life.
func (r *record) activity() int64 {
	a := r.updated
	if len(r.orders) > 0 {
		a = max(a, int64(r.orders[0].date-1)*86400)
	}
	if len(r.inters) > 0 {
		a = max(a, r.inters[0].started)
	}
	return a
}
