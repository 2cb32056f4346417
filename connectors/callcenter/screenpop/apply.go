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
		rawText = ch.HubID
	}
	s, ok := x.slot(id, rawText, true)
	if !ok {
		return
	}
	r := x.load(s)
	old := r.numbers(nil)
	d := ch.Data
	country := strings.ToUpper(str(d.Get("billing_address"), "country"))
	if country == "" {
		country = strings.ToUpper(str(d.Get("shipping_address"), "country"))
	}
	city := str(d.Get("billing_address"), "city")
	if city == "" {
		city = str(d.Get("shipping_address"), "city")
	}
	r.text = [nFields]string{
		fName: displayName(d), fNo: str(d, "customer_no"), fCompany: str(d, "company"),
		fEmail: str(d, "email"), fStatus: strings.ToUpper(str(d, "status")),
		fCity: city, fCountry: country, fKind: strings.ToUpper(str(d, "kind")), fRawID: r.text[fRawID],
	}
	for i := range r.text {
		r.text[i] = cut(r.text[i], maxField)
	}
	r.phone = x.phoneKey(str(d, "phone"), country)
	r.mobile = x.phoneKey(str(d, "mobile"), country)
	r.contacts = x.contacts(d.Get("contacts"), country)
	r.updated = parseTime(str(d, "updated_at"))
	if r.updated == 0 && !ch.Version.IsZero() {
		r.updated = ch.Version.Unix()
	}
	c := &x.custs[s]
	if c.state != slotKnown {
		c.state = slotKnown
		x.known++
	}
	x.addSource(s, r, ch.Origin, ch.SourceID)
	x.store(s, r)
	fresh := r.numbers(nil)
	for _, k := range old {
		if !slices.Contains(fresh, k) {
			x.unindexPhone(k, s)
		}
	}
	for _, k := range fresh {
		x.indexPhone(k, s)
	}
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
			name: cut(str(e, "name"), maxField), role: cut(str(e, "role"), maxField), email: cut(str(e, "email"), maxField),
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

// addSource records in r, slot s's record, the customer's id in the
// system a change came from.
func (x *Index) addSource(s uint32, r *record, origin, id string) {
	if origin == "" || id == "" {
		return
	}
	src := source{origin: x.intern(origin), id: cut(id, maxField)}
	for _, have := range r.sources {
		if have == src {
			return
		}
	}
	if o, ok := x.sourceSlot(src.origin, src.id); ok && o != s {
		// The system's id now names another customer (merged records).
		or, _ := decodeRecord(x.custs[o].rec) // r is the work record
		or.sources = slices.DeleteFunc(or.sources, func(have source) bool { return have == src })
		x.unindexSource(src, o)
		x.store(o, &or)
	}
	r.sources = append(r.sources, src)
	x.indexSource(src, s)
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
	o := order{id: id, no: cut(str(d, "order_no"), maxField), total: parseDecimal(str(d, "total")),
		date: parseDay(str(d, "order_date")), status: x.intern(strings.ToUpper(str(d, "status"))),
		currency: x.intern(strings.ToUpper(str(d, "currency")))}
	if o.date == 0 {
		o.date = parseDay(str(d, "created_at"))
	}
	r := x.load(s)
	var kept bool
	var evicted []hubID
	r.orders, kept, evicted = put(r.orders, o, func(o order) hubID { return o.id }, orderBefore, x.o.Orders)
	x.settle(x.orderAt, s, id, kept, evicted)
	x.store(s, r)
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
	in := invoice{id: id, no: cut(str(d, "invoice_no"), maxField), total: parseDecimal(str(d, "total")),
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
	r := x.load(s)
	var kept bool
	var evicted []hubID
	r.invoices, kept, evicted = put(r.invoices, in, func(i invoice) hubID { return i.id }, invoiceBefore, x.o.Invoices)
	x.settle(x.invoiceAt, s, id, kept, evicted)
	x.store(s, r)
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
		outcome: x.intern(strings.ToUpper(str(d, "outcome"))), agent: cut(str(d, "agent"), 128),
		subject: cut(str(d, "subject"), 200)}
	if it.started == 0 {
		it.started = parseTime(str(d, "created_at"))
	}
	if it.started == 0 && !ch.Version.IsZero() {
		it.started = ch.Version.Unix()
	}
	if n := parseDecimal(str(d, "duration_seconds")); n.ok && n.scale == 0 && n.units >= 0 && n.units < 1<<31 {
		it.duration = int32(n.units)
	}
	r := x.load(s)
	var kept bool
	var evicted []hubID
	r.inters, kept, evicted = put(r.inters, it, func(i interaction) hubID { return i.id }, interactionBefore, x.o.Interactions)
	x.settle(x.interAt, s, id, kept, evicted)
	x.store(s, r)
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
// in the list afterwards; evicted are the ids pushed out.
func put[T any](list []T, it T, idOf func(T) hubID, before func(a, b T) bool, max int) (out []T, kept bool, evicted []hubID) {
	id := idOf(it)
	list = slices.DeleteFunc(list, func(o T) bool { return idOf(o) == id })
	i := 0
	for i < len(list) && !before(it, list[i]) {
		i++
	}
	if i >= max {
		return list, false, nil
	}
	list = slices.Insert(list, i, it)
	for len(list) > max {
		evicted = append(evicted, idOf(list[len(list)-1]))
		list = list[:len(list)-1]
	}
	return list, true, evicted
}

func removeOrder(r *record, id hubID) {
	r.orders = slices.DeleteFunc(r.orders, func(o order) bool { return o.id == id })
}

func removeInvoice(r *record, id hubID) {
	r.invoices = slices.DeleteFunc(r.invoices, func(i invoice) bool { return i.id == id })
}

func removeInteraction(r *record, id hubID) {
	r.inters = slices.DeleteFunc(r.inters, func(i interaction) bool { return i.id == id })
}

// customerSize is a slot's own size, for the memory estimate.
var customerSize = int64(unsafe.Sizeof(customer{}))
