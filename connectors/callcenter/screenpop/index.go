// Package screenpop owns the call center's read model: an in-memory index
// of customers by every telephone number of theirs and of their contacts
// (E.164), and by their ids in every system, with what an agent needs when
// one calls: recent orders, open invoices with the balance due, last
// contacts. It is fed canonical changes from the entity topics (Apply)
// and answers lookups without touching any database.
//
// Its memory is bounded: per customer it keeps at most the configured
// numbers of orders, open invoices and interactions, compactly (one
// pointer-free blob a customer, see records.go and codec.go), and at most
// MaxCustomers customers; Stats reports what it holds and an estimate of
// its bytes. A snapshot (snapshot.go) saves the index with the topic
// positions it stands at, so a restart resumes from there instead of
// reading every topic again.
//
// It depends on the connector contract (connectors.Change, Positions) and
// on package phone; it knows nothing of HTTP, Kafka or the pipeline.
package screenpop

import (
	"errors"
	"hash/maphash"
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
	o       Options
	seed    maphash.Seed
	scratch sync.Pool // *record, for lookups

	mu    sync.RWMutex
	custs []customer
	free  []uint32
	byID  map[hubID]uint32
	// bySource finds a customer by its id in a system, by a hash of the
	// two (a string key a customer would cost the collector a pointer);
	// the rare second source of one hash goes to srcOver.
	bySource  map[uint64]uint32
	srcOver   map[sourceKey]uint32
	byPhone   map[uint64]uint32   // a number of one customer
	shared    map[uint64][]uint32 // a number of several (a company's switchboard)
	orderAt   map[hubID]uint32    // held orders -> their customer's slot
	invoiceAt map[hubID]uint32
	interAt   map[hubID]uint32
	syms      []string
	symOf     map[string]sym
	pos       connectors.Positions
	work      record // the record a change edits
	known     int    // customers with their own record
	dyn       int64  // bytes of the record blobs
	dropped   uint64
}

// sourceKey is a customer's id in a system.
type sourceKey struct {
	origin sym
	id     string
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
	x := &Index{o: o, seed: maphash.MakeSeed()}
	x.scratch.New = func() any { return &record{} }
	x.clear()
	return x, nil
}

// clear empties the index (under the write lock, or before it is shared).
func (x *Index) clear() {
	x.custs, x.free = nil, nil
	x.byID = map[hubID]uint32{}
	x.bySource = map[uint64]uint32{}
	x.srcOver = map[sourceKey]uint32{}
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

// load decodes slot s's record into the index's work record (under the
// write lock: the next load overwrites it, and what it points to is
// copied when it is stored).
func (x *Index) load(s uint32) *record {
	decodeInto(x.custs[s].rec, &x.work)
	return &x.work
}

// store makes r slot s's record and refreshes what the slot keeps beside
// it.
func (x *Index) store(s uint32, r *record) {
	c := &x.custs[s]
	rec := r.encode()
	x.dyn += int64(len(rec) - len(c.rec))
	c.rec = rec
	c.phone, c.mobile = r.phone, r.mobile
	c.activity = r.activity()
	c.status = uint8(statusRank(r.text[fStatus]))
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
	x.custs[s] = customer{id: id, state: slotPlaceholder}
	var r record // not the work record: a change may be editing it
	r.text[fRawID] = cut(raw, maxField)
	x.store(s, &r)
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
		rawText = ref
	}
	return x.slot(id, rawText, true)
}

// deleteCustomer forgets a customer and everything held under it.
func (x *Index) deleteCustomer(id hubID) {
	s, ok := x.byID[id]
	if !ok {
		return
	}
	r := x.load(s)
	for _, k := range r.numbers(nil) {
		x.unindexPhone(k, s)
	}
	for _, src := range r.sources {
		x.unindexSource(src, s)
	}
	for _, o := range r.orders {
		delete(x.orderAt, o.id)
	}
	for _, in := range r.invoices {
		delete(x.invoiceAt, in.id)
	}
	for _, it := range r.inters {
		delete(x.interAt, it.id)
	}
	c := &x.custs[s]
	if c.state == slotKnown {
		x.known--
	}
	x.dyn -= int64(len(c.rec))
	x.custs[s] = customer{}
	delete(x.byID, id)
	x.free = append(x.free, s)
}

// freeIfEmpty frees a placeholder that holds nothing any more.
func (x *Index) freeIfEmpty(s uint32) {
	if x.custs[s].state != slotPlaceholder {
		return
	}
	if r := x.load(s); len(r.orders) == 0 && len(r.invoices) == 0 && len(r.inters) == 0 {
		x.deleteCustomer(x.custs[s].id)
	}
}

// dropHeld forgets a held order, invoice or interaction by its hub id.
func (x *Index) dropHeld(at map[hubID]uint32, id hubID, remove func(*record, hubID)) {
	s, ok := at[id]
	if !ok {
		return
	}
	delete(at, id)
	r := x.load(s)
	remove(r, id)
	x.store(s, r)
	x.freeIfEmpty(s)
}

// sourceHash is where (origin, id) is in bySource.
func (x *Index) sourceHash(origin sym, id string) uint64 {
	return maphash.String(x.seed, id) ^ uint64(origin)*0x9E3779B97F4A7C15
}

// sourceSlot finds the customer with id in system origin.
func (x *Index) sourceSlot(origin sym, id string) (uint32, bool) {
	if s, ok := x.bySource[x.sourceHash(origin, id)]; ok && hasSource(x.custs[s].rec, origin, id) {
		return s, true
	}
	s, ok := x.srcOver[sourceKey{origin, id}]
	return s, ok
}

// indexSource makes (origin, id) find slot s.
func (x *Index) indexSource(src source, s uint32) {
	h := x.sourceHash(src.origin, src.id)
	if o, ok := x.bySource[h]; ok && o != s && !hasSource(x.custs[o].rec, src.origin, src.id) {
		x.srcOver[sourceKey{src.origin, strings.Clone(src.id)}] = s // another source with this hash
		return
	}
	x.bySource[h] = s
}

// unindexSource forgets that (origin, id) finds slot s.
func (x *Index) unindexSource(src source, s uint32) {
	h := x.sourceHash(src.origin, src.id)
	if x.bySource[h] == s {
		delete(x.bySource, h)
	}
	key := sourceKey(src)
	if x.srcOver[key] == s {
		delete(x.srcOver, key)
	}
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
