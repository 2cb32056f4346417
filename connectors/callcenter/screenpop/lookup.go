package screenpop

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crmhub/hub/connectors/callcenter/phone"
)

// Answer is a screen-pop: the number asked about, normalised, and every
// customer it belongs to, best match first. An unknown or unreadable
// number has no customers (an empty list, never an error).
type Answer struct {
	// Phone is the number in E.164; "" when the text asked about is no
	// number at all.
	Phone     string `json:"phone"`
	Customers []Card `json:"customers"`
}

// Card is what an agent sees of one customer.
type Card struct {
	ID string `json:"id"`
	// IDs are the customer's ids in the systems it came from.
	IDs        map[string]string `json:"ids,omitempty"`
	Name       string            `json:"name"`
	CustomerNo string            `json:"customer_no,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Company    string            `json:"company,omitempty"`
	Email      string            `json:"email,omitempty"`
	Phone      string            `json:"phone,omitempty"`
	Mobile     string            `json:"mobile,omitempty"`
	Status     string            `json:"status,omitempty"`
	City       string            `json:"city,omitempty"`
	Country    string            `json:"country,omitempty"`
	// Matched says which of the customer's numbers the caller's is.
	Matched      *Match        `json:"matched,omitempty"`
	Contacts     []Contact     `json:"contacts,omitempty"`
	RecentOrders []Order       `json:"recent_orders"`
	OpenInvoices []Invoice     `json:"open_invoices"`
	BalanceDue   []Amount      `json:"balance_due"`
	Last         []Interaction `json:"last_interactions"`
}

// Match says how a number matched a customer: its own phone or mobile, or
// a contact person's.
type Match struct {
	Field   string `json:"field"` // phone, mobile, contact
	Contact string `json:"contact,omitempty"`
}

// Contact is a customer's contact person.
type Contact struct {
	Name   string `json:"name,omitempty"`
	Role   string `json:"role,omitempty"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
	Mobile string `json:"mobile,omitempty"`
}

// Order is one of the recent orders.
type Order struct {
	ID       string `json:"id"`
	OrderNo  string `json:"order_no,omitempty"`
	Date     string `json:"order_date,omitempty"`
	Status   string `json:"status,omitempty"`
	Currency string `json:"currency,omitempty"`
	Total    string `json:"total,omitempty"`
}

// Invoice is one of the open invoices.
type Invoice struct {
	ID           string `json:"id"`
	InvoiceNo    string `json:"invoice_no,omitempty"`
	Date         string `json:"invoice_date,omitempty"`
	DueDate      string `json:"due_date,omitempty"`
	PaymentState string `json:"payment_state,omitempty"`
	Currency     string `json:"currency,omitempty"`
	Total        string `json:"total,omitempty"`
	AmountDue    string `json:"amount_due"`
}

// Amount is money in one currency.
type Amount struct {
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
}

// Interaction is one of the last contacts with the customer.
type Interaction struct {
	ID        string `json:"id"`
	Channel   string `json:"channel,omitempty"`
	Direction string `json:"direction,omitempty"`
	StartedAt string `json:"started_at,omitempty"`
	Duration  int32  `json:"duration_seconds,omitempty"`
	Outcome   string `json:"outcome,omitempty"`
	Agent     string `json:"agent,omitempty"`
	Subject   string `json:"subject,omitempty"`
}

// slots finds the slots of a number written in any common notation, the
// quick reading first (see Lookup); the caller holds the read lock while
// it uses them. It returns the number in E.164 ("" when raw is no
// number) and its Key.
func (x *Index) slots(raw, region string) (string, uint64, []uint32) {
	if region == "" || strings.EqualFold(region, x.o.Phones.Region()) {
		if q := x.o.Phones.Quick(raw); q != "" {
			if k, ok := phone.Key(q); ok {
				if s := x.customersOf(k); len(s) > 0 {
					return q, k, s
				}
			}
		}
	}
	e, err := x.o.Phones.E164(raw, region)
	if err != nil {
		return "", 0, nil
	}
	k, ok := phone.Key(e)
	if !ok {
		return e, 0, nil
	}
	return e, k, x.customersOf(k)
}

// CallerName is the display name of the best match of a number (see
// Answer.CallerName), without building the cards; "" for an unknown
// number. isNumber reports whether raw is a number at all.
func (x *Index) CallerName(raw, region string) (name string, isNumber bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e164, k, slots := x.slots(raw, region)
	best := -1
	for i, s := range slots {
		if x.custs[s].state == slotKnown && (best < 0 || x.before(s, slots[best], k)) {
			best = i
		}
	}
	if best < 0 {
		return "", e164 != ""
	}
	c := &x.custs[slots[best]]
	name = recordText(c.rec, fName)
	if m := matchKind(c, k); m == matchContact {
		r := x.scratch.Get().(*record)
		defer x.scratch.Put(r)
		decodeInto(c.rec, r)
		if p := contactOf(r, k); p != "" {
			name = p + " (" + name + ")"
		}
	}
	return SafeName(name), true
}

// How a number matches a customer, in the order of the ranking.
const (
	matchOwn     = iota // its phone or mobile, or not a number lookup
	matchContact        // a contact person's
)

func matchKind(c *customer, k uint64) int {
	if k == 0 || c.phone == k || c.mobile == k {
		return matchOwn
	}
	return matchContact
}

// before reports whether slot a ranks before slot b as matches of number
// k: the customer's own number before a contact's, active before blocked
// before archived, more recent activity, then by name and id.
func (x *Index) before(a, b uint32, k uint64) bool {
	ca, cb := &x.custs[a], &x.custs[b]
	if d := cmp.Or(cmp.Compare(matchKind(ca, k), matchKind(cb, k)), cmp.Compare(ca.status, cb.status),
		-cmp.Compare(ca.activity, cb.activity)); d != 0 {
		return d < 0
	}
	if d := cmp.Compare(recordText(ca.rec, fName), recordText(cb.rec, fName)); d != 0 {
		return d < 0
	}
	return cmp.Compare(x.idText(ca), x.idText(cb)) < 0
}

// ranked are the known customers among slots, best first.
func (x *Index) ranked(slots []uint32, k uint64, buf []uint32) []uint32 {
	out := buf[:0]
	for _, s := range slots {
		if x.custs[s].state == slotKnown {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b uint32) int {
		switch {
		case x.before(a, b, k):
			return -1
		case x.before(b, a, k):
			return 1
		}
		return 0
	})
	return out
}

// idText is a customer's hub id as given.
func (x *Index) idText(c *customer) string {
	if raw := recordText(c.rec, fRawID); raw != "" {
		return raw
	}
	return c.id.String()
}

// contactOf is the name of r's contact person with number k.
func contactOf(r *record, k uint64) string {
	for _, p := range r.contacts {
		if p.phone == k || p.mobile == k {
			return p.name
		}
	}
	return ""
}

// Lookup finds the customers of a number written in any common notation;
// region reads a number without a country code ("" for the default
// region). A quick reading of the number is tried first and counts only
// if the index holds it; else libphonenumber decides (package phone).
func (x *Index) Lookup(raw, region string) Answer {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e164, k, slots := x.slots(raw, region)
	return x.answer(e164, k, slots)
}

// LookupE164 finds the customers of a number already in E.164.
func (x *Index) LookupE164(e164 string) Answer {
	k, ok := phone.Key(e164)
	if !ok {
		return Answer{Customers: []Card{}}
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.answer(e164, k, x.customersOf(k))
}

// ByID finds a customer by its id in system (the origin of its records,
// e.g. "crm"), or, with system "", by its hub id or its id in any system.
func (x *Index) ByID(id, system string) Answer {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var slots []uint32
	if system == "" {
		if s, ok := x.byID[mustID(id)]; ok && x.custs[s].state == slotKnown {
			slots = append(slots, s)
		}
	}
	for i, origin := range x.syms {
		if system != "" && origin != system {
			continue
		}
		if s, ok := x.sourceSlot(sym(i), id); ok && !slices.Contains(slots, s) {
			slots = append(slots, s)
		}
	}
	return x.answer("", 0, slots)
}

func mustID(s string) hubID {
	id, _ := parseHubID(s)
	return id
}

// answer builds the ranked cards of slots (under the read lock).
func (x *Index) answer(e164 string, k uint64, slots []uint32) Answer {
	ranked := x.ranked(slots, k, nil)
	a := Answer{Phone: e164, Customers: make([]Card, 0, len(ranked))}
	for _, s := range ranked {
		a.Customers = append(a.Customers, x.card(&x.custs[s], k))
	}
	return a
}

// card is what an agent sees of c, called from number k (0: not a call).
func (x *Index) card(c *customer, k uint64) Card {
	r, _ := decodeRecord(c.rec)
	cd := Card{ID: x.idText(c), Name: r.text[fName], CustomerNo: r.text[fNo], Kind: r.text[fKind], Company: r.text[fCompany],
		Email: r.text[fEmail], Status: r.text[fStatus], City: r.text[fCity], Country: r.text[fCountry],
		Phone: keyText(r.phone), Mobile: keyText(r.mobile),
		RecentOrders: make([]Order, len(r.orders)), OpenInvoices: make([]Invoice, len(r.invoices)),
		BalanceDue: []Amount{}, Last: make([]Interaction, len(r.inters))}
	if len(r.sources) > 0 {
		cd.IDs = make(map[string]string, len(r.sources))
		for _, s := range r.sources {
			cd.IDs[x.word(s.origin)] = s.id
		}
	}
	cd.Matched = matchOf(c, &r, k)
	for _, p := range r.contacts {
		cd.Contacts = append(cd.Contacts, Contact{Name: p.name, Role: p.role, Email: p.email, Phone: keyText(p.phone), Mobile: keyText(p.mobile)})
	}
	for i, o := range r.orders {
		cd.RecentOrders[i] = Order{ID: o.id.String(), OrderNo: o.no, Date: o.date.String(), Status: x.word(o.status),
			Currency: x.word(o.currency), Total: o.total.String()}
	}
	cd.OpenInvoices, cd.BalanceDue = x.invoices(&r)
	for i, it := range r.inters {
		cd.Last[i] = Interaction{ID: it.id.String(), Channel: x.word(it.channel), Direction: x.word(it.direction),
			StartedAt: timeText(it.started), Duration: it.duration, Outcome: x.word(it.outcome), Agent: it.agent, Subject: it.subject}
	}
	return cd
}

// invoices are r's open invoices and the balance due by currency.
func (x *Index) invoices(r *record) ([]Invoice, []Amount) {
	out := make([]Invoice, len(r.invoices))
	type total struct {
		cur sym
		sum decimal
	}
	var sums []total
	for i, in := range r.invoices {
		out[i] = Invoice{ID: in.id.String(), InvoiceNo: in.no, Date: in.date.String(), DueDate: in.dueDate.String(),
			PaymentState: x.word(in.state), Currency: x.word(in.currency), Total: in.total.String(), AmountDue: in.due.String()}
		j := slices.IndexFunc(sums, func(t total) bool { return t.cur == in.currency })
		if j < 0 {
			sums = append(sums, total{cur: in.currency})
			j = len(sums) - 1
		}
		sums[j].sum = sums[j].sum.add(in.due)
	}
	bal := make([]Amount, len(sums))
	for i, t := range sums {
		bal[i] = Amount{Currency: x.word(t.cur), Amount: t.sum.String()}
	}
	slices.SortFunc(bal, func(a, b Amount) int { return cmp.Compare(a.Currency, b.Currency) })
	return out, bal
}

// matchOf says which of c's numbers k is (nil when k is 0).
func matchOf(c *customer, r *record, k uint64) *Match {
	switch {
	case k == 0:
		return nil
	case c.phone == k:
		return &Match{Field: "phone"}
	case c.mobile == k:
		return &Match{Field: "mobile"}
	}
	return &Match{Field: "contact", Contact: contactOf(r, k)}
}

// statusRank puts active customers first, then blocked, then archived.
func statusRank(status string) int {
	switch status {
	case "", "ACTIVE":
		return 0
	case "ARCHIVED", "DELETED", "INACTIVE":
		return 2
	}
	return 1
}

func keyText(k uint64) string {
	if k == 0 {
		return ""
	}
	return phone.FromKey(k)
}

// maxCallerName is how long a caller's display name may be: PBXs cut
// longer ones (FreePBX's Superfecta at 60 characters).
const maxCallerName = 60

// CallerName is the display name of a number's best match for a PBX: the
// customer's name (for a contact person's number, "Person (Customer)"),
// at most 60 characters, without quotes, backslashes or control
// characters (PBXs put it between quotes in a SIP header). "" when the
// number is unknown.
func (a Answer) CallerName() string {
	if len(a.Customers) == 0 {
		return ""
	}
	c := a.Customers[0]
	name := c.Name
	if c.Matched != nil && c.Matched.Field == "contact" && c.Matched.Contact != "" {
		name = c.Matched.Contact + " (" + c.Name + ")"
	}
	return SafeName(name)
}

// SafeName makes text safe as a caller's display name (see CallerName).
func SafeName(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == utf8.RuneError:
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if utf8.RuneCountInString(out) > maxCallerName {
		n := 0
		for i := range out {
			if n == maxCallerName {
				out = strings.TrimSpace(out[:i])
				break
			}
			n++
		}
	}
	return out
}

// Stats is what the index holds.
type Stats struct {
	Customers    int // with their own record
	Placeholders int // named by other records only
	Numbers      int // distinct numbers
	Shared       int // numbers of more than one customer
	Orders       int
	Invoices     int
	Interactions int
	// Bytes estimates the memory the index holds (records, text, maps).
	Bytes int64
	// Dropped counts customers not indexed because of MaxCustomers.
	Dropped uint64
}

// Per-entry estimates of the maps' memory (Go's maps, at their usual
// load): key, value and control bytes, rounded up.
const (
	idEntry     = 24
	sourceEntry = 16
	phoneEntry  = 16
)

// Stats reports what the index holds.
func (x *Index) Stats() Stats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	st := Stats{Customers: x.known, Placeholders: len(x.byID) - x.known, Numbers: len(x.byPhone) + len(x.shared),
		Shared: len(x.shared), Orders: len(x.orderAt), Invoices: len(x.invoiceAt), Interactions: len(x.interAt), Dropped: x.dropped}
	st.Bytes = int64(cap(x.custs))*customerSize + x.dyn +
		int64(len(x.byID)+len(x.orderAt)+len(x.invoiceAt)+len(x.interAt))*idEntry +
		int64(len(x.bySource))*sourceEntry + int64(len(x.byPhone)+len(x.shared))*phoneEntry
	for _, l := range x.shared {
		st.Bytes += int64(cap(l))*4 + 24
	}
	return st
}
