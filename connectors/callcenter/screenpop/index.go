// Package screenpop owns the call center's read model: an in-memory index
// of customers by every telephone number of theirs and of their contacts
// (E.164), and by their ids in every system, with what an agent needs when
// one calls: recent orders, open invoices with the balance due, last
// contacts. It is fed canonical changes from the entity topics (Apply)
// and answers lookups without touching any database.
//
// Its memory is bounded: per customer it keeps at most the configured
// numbers of orders, open invoices and interactions, compactly (see
// records.go), and at most MaxCustomers customers; Stats reports what it
// holds and an estimate of its bytes. A snapshot (snapshot.go) saves the
// index with the topic positions it stands at, so a restart resumes from
// there instead of reading every topic again.
//
// It depends on the connector contract (connectors.Change, Positions) and
// on package phone; it knows nothing of HTTP, Kafka or the pipeline.
package screenpop

import (
	"errors"
	"strings"
	"sync"

	"github.com/crmhub/hub/canonical"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter/phone"
)

// Options shape and bound an index.
type Options struct {
	// Phones reads numbers written without a country code in its default
	// region (or, for a customer's own numbers, in its billing country).
	Phones *phone.Normalizer
	// Orders, Invoices and Interactions are how many recent orders, open
	// invoices and last interactions are kept per customer (defaults 5,
	// 20 and 5).
	Orders, Invoices, Interactions int
	// MaxCustomers bounds the customers held (0: no bound). Customers
	// beyond it are not indexed and are counted in Stats.Dropped.
	MaxCustomers int
}

// Index is the screen-pop read model. It is safe for concurrent use:
// lookups share a read lock, changes take the write lock.
type Index struct {
	o Options

	mu        sync.RWMutex
	custs     []customer
	free      []uint32
	byID      map[hubID]uint32
	bySource  map[sourceKey]uint32
	byPhone   map[uint64]uint32   // a number of one customer
	shared    map[uint64][]uint32 // a number of several (a company's switchboard)
	orderAt   map[hubID]uint32    // held orders -> their customer's slot
	invoiceAt map[hubID]uint32
	interAt   map[hubID]uint32
	syms      []string
	symOf     map[string]sym
	pos       connectors.Positions
	known     int   // customers with their own record
	dyn       int64 // bytes of the customers' variable parts
	dropped   uint64
}

// New returns an empty index.
func New(o Options) (*Index, error) {
	if o.Phones == nil {
		return nil, errors.New("screenpop: no phone normalizer")
	}
	if o.Orders <= 0 {
		o.Orders = 5
	}
	if o.Invoices <= 0 {
		o.Invoices = 20
	}
	if o.Interactions <= 0 {
		o.Interactions = 5
	}
	x := &Index{o: o}
	x.clear()
	return x, nil
}

// clear empties the index (under the write lock, or before it is shared).
func (x *Index) clear() {
	x.custs, x.free = nil, nil
	x.byID = map[hubID]uint32{}
	x.bySource = map[sourceKey]uint32{}
	x.byPhone = map[uint64]uint32{}
	x.shared = map[uint64][]uint32{}
	x.orderAt = map[hubID]uint32{}
	x.invoiceAt = map[hubID]uint32{}
	x.interAt = map[hubID]uint32{}
	x.syms = []string{""}
	x.symOf = map[string]sym{"": 0}
	x.pos = connectors.Positions{}
	x.known, x.dyn, x.dropped = 0, 0, 0
}

// Phones is the index's reader of telephone numbers.
func (x *Index) Phones() *phone.Normalizer { return x.o.Phones }

// Reset forgets everything, positions included: the next Apply starts a
// rebuild from the start of the topics.
func (x *Index) Reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.clear()
}

// Follows are the entities whose changes the index takes.
func Follows() []string {
	return []string{canonical.Customer, canonical.Order, canonical.Invoice, canonical.Interaction}
}

// Apply takes changes in their order and records at as where the index
// now stands in those partitions. Changes of entities it does not follow
// are ignored; a change it cannot read (no hub id) is skipped: it never
// fails on input.
func (x *Index) Apply(changes []connectors.Change, at connectors.Positions) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range changes {
		x.apply(&changes[i])
	}
	for topic, parts := range at {
		if x.pos[topic] == nil {
			x.pos[topic] = map[int]int64{}
		}
		for p, off := range parts {
			x.pos[topic][p] = off
		}
	}
}

// Positions is a copy of where the index stands in each topic.
func (x *Index) Positions() connectors.Positions {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return copyPositions(x.pos)
}

func copyPositions(p connectors.Positions) connectors.Positions {
	out := make(connectors.Positions, len(p))
	for topic, parts := range p {
		out[topic] = make(map[int]int64, len(parts))
		for k, v := range parts {
			out[topic][k] = v
		}
	}
	return out
}

func (x *Index) apply(ch *connectors.Change) {
	if ch.HubID == "" {
		return
	}
	id, raw := parseHubID(ch.HubID)
	del := ch.Op == connectors.OpDelete
	switch ch.Entity {
	case canonical.Customer:
		if del {
			x.deleteCustomer(id)
			return
		}
		x.putCustomer(ch, id, raw)
	case canonical.Order:
		if del {
			x.dropHeld(x.orderAt, id, removeOrder)
			return
		}
		x.putOrder(ch, id)
	case canonical.Invoice:
		if del {
			x.dropHeld(x.invoiceAt, id, removeInvoice)
			return
		}
		x.putInvoice(ch, id)
	case canonical.Interaction:
		if del {
			x.dropHeld(x.interAt, id, removeInteraction)
			return
		}
		x.putInteraction(ch, id)
	}
}

// intern returns the symbol of word, adding it while the table has room.
func (x *Index) intern(word string) sym {
	if s, ok := x.symOf[word]; ok {
		return s
	}
	if len(x.syms) >= maxSyms {
		return 0
	}
	s := sym(len(x.syms))
	word = strings.Clone(word)
	x.syms = append(x.syms, word)
	x.symOf[word] = s
	return s
}

// word is the text of a symbol.
func (x *Index) word(s sym) string {
	if int(s) < len(x.syms) {
		return x.syms[s]
	}
	return ""
}

// slot finds the customer with hub id, making a placeholder for it when
// create is set and the index has room. raw is the id as given, kept when
// it is not a UUID.
func (x *Index) slot(id hubID, raw string, create bool) (uint32, bool) {
	if s, ok := x.byID[id]; ok {
		return s, true
	}
	if !create {
		return 0, false
	}
	if x.o.MaxCustomers > 0 && len(x.byID) >= x.o.MaxCustomers {
		x.dropped++
		return 0, false
	}
	var s uint32
	if n := len(x.free); n > 0 {
		s = x.free[n-1]
		x.free = x.free[:n-1]
	} else {
		x.custs = append(x.custs, customer{})
		s = uint32(len(x.custs) - 1)
	}
	x.custs[s] = customer{id: id, rawID: raw, state: slotPlaceholder}
	x.dyn += int64(len(raw))
	x.byID[id] = s
	return s, true
}

// refSlot finds (or makes) the slot of the customer a change refers to:
// its refs, else the customer.id in its data.
func (x *Index) refSlot(ch *connectors.Change) (uint32, bool) {
	ref := ch.Refs[canonical.Customer]
	if ref == "" {
		ref = str(ch.Data.Get("customer"), "id")
	}
	if ref == "" {
		return 0, false
	}
	id, raw := parseHubID(ref)
	rawText := ""
	if raw {
		rawText = strings.Clone(ref)
	}
	return x.slot(id, rawText, true)
}

// deleteCustomer forgets a customer and everything held under it.
func (x *Index) deleteCustomer(id hubID) {
	s, ok := x.byID[id]
	if !ok {
		return
	}
	c := &x.custs[s]
	for _, k := range c.numbers(nil) {
		x.unindexPhone(k, s)
	}
	for _, src := range c.sources {
		if x.bySource[sourceKey(src)] == s {
			delete(x.bySource, sourceKey(src))
		}
	}
	for _, o := range c.orders {
		delete(x.orderAt, o.id)
	}
	for _, in := range c.invoices {
		delete(x.invoiceAt, in.id)
	}
	for _, it := range c.inters {
		delete(x.interAt, it.id)
	}
	if c.state == slotKnown {
		x.known--
	}
	x.dyn -= c.size()
	x.custs[s] = customer{}
	delete(x.byID, id)
	x.free = append(x.free, s)
}

// freeIfEmpty frees a placeholder that holds nothing any more.
func (x *Index) freeIfEmpty(s uint32) {
	c := &x.custs[s]
	if c.state == slotPlaceholder && len(c.orders) == 0 && len(c.invoices) == 0 && len(c.inters) == 0 {
		x.deleteCustomer(c.id)
	}
}

// dropHeld forgets a held order, invoice or interaction by its hub id.
func (x *Index) dropHeld(at map[hubID]uint32, id hubID, remove func(*customer, hubID)) {
	s, ok := at[id]
	if !ok {
		return
	}
	delete(at, id)
	c := &x.custs[s]
	before := c.size()
	remove(c, id)
	x.dyn += c.size() - before
	x.freeIfEmpty(s)
}

// indexPhone adds customer s under number k.
func (x *Index) indexPhone(k uint64, s uint32) {
	if list, ok := x.shared[k]; ok {
		for _, o := range list {
			if o == s {
				return
			}
		}
		x.shared[k] = append(list, s)
		return
	}
	if o, ok := x.byPhone[k]; ok {
		if o != s {
			delete(x.byPhone, k)
			x.shared[k] = []uint32{o, s}
		}
		return
	}
	x.byPhone[k] = s
}

// unindexPhone removes customer s from number k.
func (x *Index) unindexPhone(k uint64, s uint32) {
	if list, ok := x.shared[k]; ok {
		out := list[:0]
		for _, o := range list {
			if o != s {
				out = append(out, o)
			}
		}
		switch len(out) {
		case 0:
			delete(x.shared, k)
		case 1:
			delete(x.shared, k)
			x.byPhone[k] = out[0]
		default:
			x.shared[k] = out
		}
		return
	}
	if x.byPhone[k] == s {
		delete(x.byPhone, k)
	}
}

// customersOf are the slots of the customers under number k.
func (x *Index) customersOf(k uint64) []uint32 {
	if s, ok := x.byPhone[k]; ok {
		return []uint32{s}
	}
	return x.shared[k]
}
