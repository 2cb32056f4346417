package screenpop

import (
	"strings"

	"github.com/crmhub/hub/mapping"
)

// The records the index keeps, each in a compact form: strings only for
// text a person reads, symbols (sym) for the small vocabularies (status,
// currency, origin), decimals and days as numbers.

// The customer's text fields, in the order they are joined in
// customer.text.
const (
	fName = iota
	fNo
	fCompany
	fEmail
	fStatus
	fCity
	fCountry
	fKind
	nFields
)

// maxField caps each text field (bytes): a card is for reading aloud, and
// the offsets are 16 bits.
const maxField = 512

// The states of a customer slot.
const (
	slotFree        uint8 = iota // in the free list
	slotPlaceholder              // named by orders, invoices or interactions; its own record has not come
	slotKnown                    // its own record has come
)

// customer is one customer and what a screen-pop shows of it.
type customer struct {
	id    hubID
	rawID string // the hub id as given, when it is not a UUID
	text  string // the text fields joined; see field
	ends  [nFields]uint16
	state uint8
	// phone and mobile are Keys of its own numbers (0: none).
	phone, mobile uint64
	updated       int64 // Unix seconds of its last change
	contacts      []contact
	sources       []source      // its ids in the systems it came from
	orders        []order       // newest first
	invoices      []invoice     // open ones, soonest due first
	inters        []interaction // newest first
}

// field is text field i.
func (c *customer) field(i int) string {
	start := 0
	if i > 0 {
		start = int(c.ends[i-1])
	}
	return c.text[start:c.ends[i]]
}

// setText joins the fields into c.text.
func (c *customer) setText(fields [nFields]string) {
	var b strings.Builder
	for i, f := range fields {
		if len(f) > maxField {
			f = f[:maxField]
		}
		b.WriteString(f)
		c.ends[i] = uint16(b.Len())
	}
	c.text = b.String()
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

// sourceKey finds a customer by its id in a system.
type sourceKey struct {
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

// own is a copy of s cut to n bytes at a rune boundary. The index keeps
// only copies: a string of a decoded record shares the record's buffer,
// and keeping it would keep the whole record alive.
func own(s string, n int) string {
	if len(s) > n {
		for n > 0 && s[n]&0xC0 == 0x80 {
			n--
		}
		s = s[:n]
	}
	return strings.Clone(s)
}
