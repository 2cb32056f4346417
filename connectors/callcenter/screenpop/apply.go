package screenpop

import (
	"slices"
	"strings"
	"unsafe"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter/phone"
	"github.com/crmhub/hub/mapping"
)

// The changes, entity by entity: each replaces what the index held of the
// record with what the change says.

// maxContacts caps the contacts kept per customer.
const maxContacts = 32

// putCustomer takes a customer's record.
func (x *Index) putCustomer(ch *connectors.Change, id hubID, raw bool) {
	rawText := ""
	if raw {
		rawText = strings.Clone(ch.HubID)
	}
	s, ok := x.slot(id, rawText, true)
	if !ok {
		return
	}
	c := &x.custs[s]
	before := c.size()
	old := c.numbers(nil)
	d := ch.Data
	country := strings.ToUpper(str(d.Get("billing_address"), "country"))
	if country == "" {
		country = strings.ToUpper(str(d.Get("shipping_address"), "country"))
	}
	city := str(d.Get("billing_address"), "city")
	if city == "" {
		city = str(d.Get("shipping_address"), "city")
	}
	c.setText([nFields]string{
		fName: displayName(d), fNo: str(d, "customer_no"), fCompany: str(d, "company"),
		fEmail: str(d, "email"), fStatus: strings.ToUpper(str(d, "status")),
		fCity: city, fCountry: country, fKind: strings.ToUpper(str(d, "kind")),
	})
	c.phone = x.phoneKey(str(d, "phone"), country)
	c.mobile = x.phoneKey(str(d, "mobile"), country)
	c.contacts = x.contacts(d.Get("contacts"), country)
	c.updated = parseTime(str(d, "updated_at"))
	if c.updated == 0 && !ch.Version.IsZero() {
		c.updated = ch.Version.Unix()
	}
	if c.state != slotKnown {
		c.state = slotKnown
		x.known++
	}
	x.addSource(s, ch.Origin, ch.SourceID)
	fresh := c.numbers(nil)
	for _, k := range old {
		if !slices.Contains(fresh, k) {
			x.unindexPhone(k, s)
		}
	}
	for _, k := range fresh {
		x.indexPhone(k, s)
	}
	x.dyn += c.size() - before
}

// displayName is what a customer is called: its name, else its company,
// else its first and last names.
func displayName(d mapping.Value) string {
	if n := str(d, "name"); n != "" {
		return n
	}
	if n := str(d, "company"); n != "" {
		return n
	}
	return strings.TrimSpace(str(d, "first_name") + " " + str(d, "last_name"))
}

// contacts reads a customer's contact persons.
func (x *Index) contacts(v mapping.Value, country string) []contact {
	if v.Kind() != mapping.Array || v.Len() == 0 {
		return nil
	}
	out := make([]contact, 0, min(v.Len(), maxContacts))
	for _, e := range v.Elems() {
		if len(out) == maxContacts {
			break
		}
		if e.Kind() != mapping.Object {
			continue
		}
		out = append(out, contact{
			name: own(str(e, "name"), maxField), role: own(str(e, "role"), maxField), email: own(str(e, "email"), maxField),
			phone: x.phoneKey(str(e, "phone"), country), mobile: x.phoneKey(str(e, "mobile"), country),
		})
	}
	return out
}

// phoneKey is the Key of a customer's number: E.164 as the canonical
// model writes it, else read by libphonenumber in the customer's country
// or the default region. 0 for none.
func (x *Index) phoneKey(raw, country string) uint64 {
	if raw == "" {
		return 0
	}
	if k, ok := phone.Key(raw); ok {
		return k
	}
	e, err := x.o.Phones.E164(raw, country)
	if err != nil {
		return 0
	}
	k, _ := phone.Key(e)
	return k
}

// addSource records a customer's id in the system a change came from.
func (x *Index) addSource(s uint32, origin, id string) {
	if origin == "" || id == "" {
		return
	}
	key := sourceKey{origin: x.intern(origin), id: own(id, maxField)}
	if o, ok := x.bySource[key]; ok && o != s {
		// The system's id now names another customer (merged records).
		oc := &x.custs[o]
		before := oc.size()
		oc.sources = slices.DeleteFunc(oc.sources, func(src source) bool { return sourceKey(src) == key })
		x.dyn += oc.size() - before
	}
	x.bySource[key] = s
	c := &x.custs[s]
	for _, src := range c.sources {
		if sourceKey(src) == key {
			return
		}
	}
	c.sources = append(c.sources, source(key))
}

// numbers appends the Keys of a customer's own and its contacts' numbers
// to dst, each once.
func (c *customer) numbers(dst []uint64) []uint64 {
	add := func(k uint64) {
		if k != 0 && !slices.Contains(dst, k) {
			dst = append(dst, k)
		}
	}
	add(c.phone)
	add(c.mobile)
	for _, p := range c.contacts {
		add(p.phone)
		add(p.mobile)
	}
	return dst
}

// putOrder takes an order: held among its customer's most recent ones.
func (x *Index) putOrder(ch *connectors.Change, id hubID) {
	s, ok := x.refSlot(ch)
	if !ok {
		x.dropHeld(x.orderAt, id, removeOrder)
		return
	}
	if o, held := x.orderAt[id]; held && o != s {
		x.dropHeld(x.orderAt, id, removeOrder)
	}
	d := ch.Data
	o := order{id: id, no: own(str(d, "order_no"), maxField), total: parseDecimal(str(d, "total")),
		date: parseDay(str(d, "order_date")), status: x.intern(strings.ToUpper(str(d, "status"))),
		currency: x.intern(strings.ToUpper(str(d, "currency")))}
	if o.date == 0 {
		o.date = parseDay(str(d, "created_at"))
	}
	c := &x.custs[s]
	before := c.size()
	var kept bool
	var evicted []hubID
	c.orders, kept, evicted = put(c.orders, o, func(o order) hubID { return o.id }, orderBefore, x.o.Orders)
	x.settle(x.orderAt, s, id, kept, evicted)
	x.dyn += c.size() - before
	x.freeIfEmpty(s)
}

// orderBefore: newer orders first (by date, then number).
func orderBefore(a, b order) bool {
	if a.date != b.date {
		return a.date > b.date
	}
	return a.no > b.no
}

// putInvoice takes an invoice: held while it is open (an amount due, not
// paid or void), soonest due first.
func (x *Index) putInvoice(ch *connectors.Change, id hubID) {
	d := ch.Data
	in := invoice{id: id, no: own(str(d, "invoice_no"), maxField), total: parseDecimal(str(d, "total")),
		due: parseDecimal(str(d, "amount_due")), date: parseDay(str(d, "invoice_date")),
		dueDate: parseDay(str(d, "due_date")), state: x.intern(strings.ToUpper(str(d, "payment_state"))),
		currency: x.intern(strings.ToUpper(str(d, "currency")))}
	switch x.word(in.state) {
	case "PAID", "VOID", "CANCELLED":
		in.due = decimal{}
	}
	if !in.due.positive() {
		x.dropHeld(x.invoiceAt, id, removeInvoice)
		return
	}
	s, ok := x.refSlot(ch)
	if !ok {
		x.dropHeld(x.invoiceAt, id, removeInvoice)
		return
	}
	if o, held := x.invoiceAt[id]; held && o != s {
		x.dropHeld(x.invoiceAt, id, removeInvoice)
	}
	c := &x.custs[s]
	before := c.size()
	var kept bool
	var evicted []hubID
	c.invoices, kept, evicted = put(c.invoices, in, func(i invoice) hubID { return i.id }, invoiceBefore, x.o.Invoices)
	x.settle(x.invoiceAt, s, id, kept, evicted)
	x.dyn += c.size() - before
	x.freeIfEmpty(s)
}

// invoiceBefore: the soonest due first (undated last), then by number.
func invoiceBefore(a, b invoice) bool {
	ad, bd := a.dueDate, b.dueDate
	if ad == 0 {
		ad = 1 << 30
	}
	if bd == 0 {
		bd = 1 << 30
	}
	if ad != bd {
		return ad < bd
	}
	return a.no < b.no
}

// putInteraction takes a call, e-mail or chat: held among its customer's
// last ones.
func (x *Index) putInteraction(ch *connectors.Change, id hubID) {
	s, ok := x.refSlot(ch)
	if !ok {
		x.dropHeld(x.interAt, id, removeInteraction)
		return
	}
	if o, held := x.interAt[id]; held && o != s {
		x.dropHeld(x.interAt, id, removeInteraction)
	}
	d := ch.Data
	it := interaction{id: id, started: parseTime(str(d, "started_at")),
		channel: x.intern(strings.ToUpper(str(d, "channel"))), direction: x.intern(strings.ToUpper(str(d, "direction"))),
		outcome: x.intern(strings.ToUpper(str(d, "outcome"))), agent: own(str(d, "agent"), 128),
		subject: own(str(d, "subject"), 200)}
	if it.started == 0 {
		it.started = parseTime(str(d, "created_at"))
	}
	if it.started == 0 && !ch.Version.IsZero() {
		it.started = ch.Version.Unix()
	}
	if n := parseDecimal(str(d, "duration_seconds")); n.ok && n.scale == 0 && n.units >= 0 && n.units < 1<<31 {
		it.duration = int32(n.units)
	}
	c := &x.custs[s]
	before := c.size()
	var kept bool
	var evicted []hubID
	c.inters, kept, evicted = put(c.inters, it, func(i interaction) hubID { return i.id }, interactionBefore, x.o.Interactions)
	x.settle(x.interAt, s, id, kept, evicted)
	x.dyn += c.size() - before
	x.freeIfEmpty(s)
}

// interactionBefore: the newest first.
func interactionBefore(a, b interaction) bool {
	if a.started != b.started {
		return a.started > b.started
	}
	return string(a.id[:]) > string(b.id[:])
}

// settle records where a put left record id: held under slot s or not,
// and the records it pushed out of the list.
func (x *Index) settle(at map[hubID]uint32, s uint32, id hubID, kept bool, evicted []hubID) {
	if kept {
		at[id] = s
	} else {
		delete(at, id)
	}
	for _, e := range evicted {
		delete(at, e)
	}
}

// put replaces the item with it's id in list (or adds it), keeping list
// in the order of before and at most max long. kept says whether it is
// in the list afterwards; evicted are the ids pushed out. The result is
// a new slice of exactly its length: lists are short, and a customer
// holds no spare capacity.
func put[T any](list []T, it T, idOf func(T) hubID, before func(a, b T) bool, max int) (out []T, kept bool, evicted []hubID) {
	id := idOf(it)
	rest := make([]T, 0, len(list)+1)
	for _, o := range list {
		if idOf(o) != id {
			rest = append(rest, o)
		}
	}
	i := 0
	for i < len(rest) && !before(it, rest[i]) {
		i++
	}
	if i >= max {
		return slices.Clone(rest), false, nil
	}
	rest = slices.Insert(rest, i, it)
	for len(rest) > max {
		evicted = append(evicted, idOf(rest[len(rest)-1]))
		rest = rest[:len(rest)-1]
	}
	out = make([]T, len(rest))
	copy(out, rest)
	return out, true, evicted
}

func removeOrder(c *customer, id hubID) {
	c.orders = slices.DeleteFunc(c.orders, func(o order) bool { return o.id == id })
}

func removeInvoice(c *customer, id hubID) {
	c.invoices = slices.DeleteFunc(c.invoices, func(i invoice) bool { return i.id == id })
}

func removeInteraction(c *customer, id hubID) {
	c.inters = slices.DeleteFunc(c.inters, func(i interaction) bool { return i.id == id })
}

// The sizes of the records, for the memory estimate.
var (
	contactSize     = int64(unsafe.Sizeof(contact{}))
	sourceSize      = int64(unsafe.Sizeof(source{}))
	orderSize       = int64(unsafe.Sizeof(order{}))
	invoiceSize     = int64(unsafe.Sizeof(invoice{}))
	interactionSize = int64(unsafe.Sizeof(interaction{}))
	customerSize    = int64(unsafe.Sizeof(customer{}))
)

// size estimates the bytes of a customer's variable parts (its text, ids
// and lists), beyond the slot itself.
func (c *customer) size() int64 {
	n := int64(len(c.text) + len(c.rawID))
	n += int64(cap(c.contacts)) * contactSize
	for _, p := range c.contacts {
		n += int64(len(p.name) + len(p.role) + len(p.email))
	}
	n += int64(cap(c.sources)) * sourceSize
	for _, s := range c.sources {
		n += int64(len(s.id))
	}
	n += int64(cap(c.orders)) * orderSize
	for _, o := range c.orders {
		n += int64(len(o.no))
	}
	n += int64(cap(c.invoices)) * invoiceSize
	for _, in := range c.invoices {
		n += int64(len(in.no))
	}
	n += int64(cap(c.inters)) * interactionSize
	for _, it := range c.inters {
		n += int64(len(it.agent) + len(it.subject))
	}
	return n
}
