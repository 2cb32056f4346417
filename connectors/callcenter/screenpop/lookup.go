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
	activity     int64         // for ranking
	rank         [2]int        // match kind, status
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
// quick reading first (see Lookup), under the read lock; it returns the
// number in E.164 ("" when raw is no number) and unlocks nothing: the
// caller holds the read lock while it uses the slots.
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
// number. found reports whether the number is a number at all.
func (x *Index) CallerName(raw, region string) (name string, found bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e164, k, slots := x.slots(raw, region)
	var best *customer
	var bestKey rankKey
	for _, s := range slots {
		c := &x.custs[s]
		if c.state != slotKnown {
			continue
		}
		key := x.rankOf(c, k)
		if best == nil || key.before(bestKey) {
			best, bestKey = c, key
		}
	}
	if best == nil {
		return "", e164 != ""
	}
	name = best.field(fName)
	if m, _ := matchOf(best, k); m != nil && m.Field == "contact" && m.Contact != "" {
		name = m.Contact + " (" + name + ")"
	}
	return SafeName(name), true
}

// rankKey orders the customers of one number (see answer).
type rankKey struct {
	match, status int
	activity      int64
	name, id      string
}

func (a rankKey) before(b rankKey) bool {
	return cmp.Or(cmp.Compare(a.match, b.match), cmp.Compare(a.status, b.status), -cmp.Compare(a.activity, b.activity),
		cmp.Compare(a.name, b.name), cmp.Compare(a.id, b.id)) < 0
}

// rankOf is c's rank key as a match of number k.
func (x *Index) rankOf(c *customer, k uint64) rankKey {
	_, m := matchOf(c, k)
	act := c.updated
	if len(c.orders) > 0 {
		act = max(act, int64(c.orders[0].date-1)*86400)
	}
	if len(c.inters) > 0 {
		act = max(act, c.inters[0].started)
	}
	id := c.rawID
	if id == "" {
		id = c.id.String()
	}
	return rankKey{match: m, status: statusRank(c.field(fStatus)), activity: act, name: c.field(fName), id: id}
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
		if s, ok := x.bySource[sourceKey{origin: sym(i), id: id}]; ok && !slices.Contains(slots, s) {
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
	a := Answer{Phone: e164, Customers: make([]Card, 0, len(slots))}
	for _, s := range slots {
		c := &x.custs[s]
		if c.state != slotKnown {
			continue
		}
		a.Customers = append(a.Customers, x.card(c, k))
	}
	slices.SortStableFunc(a.Customers, func(p, q Card) int {
		return cmp.Or(cmp.Compare(p.rank[0], q.rank[0]), cmp.Compare(p.rank[1], q.rank[1]),
			-cmp.Compare(p.activity, q.activity), cmp.Compare(p.Name, q.Name), cmp.Compare(p.ID, q.ID))
	})
	return a
}

// card is what an agent sees of c, called from number k (0: not a call).
func (x *Index) card(c *customer, k uint64) Card {
	id := c.rawID
	if id == "" {
		id = c.id.String()
	}
	cd := Card{ID: id, Name: c.field(fName), CustomerNo: c.field(fNo), Kind: c.field(fKind), Company: c.field(fCompany),
		Email: c.field(fEmail), Status: c.field(fStatus), City: c.field(fCity), Country: c.field(fCountry),
		Phone: keyText(c.phone), Mobile: keyText(c.mobile), activity: c.updated,
		RecentOrders: make([]Order, len(c.orders)), OpenInvoices: make([]Invoice, len(c.invoices)),
		BalanceDue: []Amount{}, Last: make([]Interaction, len(c.inters))}
	if len(c.sources) > 0 {
		cd.IDs = make(map[string]string, len(c.sources))
		for _, s := range c.sources {
			cd.IDs[x.word(s.origin)] = s.id
		}
	}
	cd.Matched, cd.rank[0] = matchOf(c, k)
	cd.rank[1] = statusRank(cd.Status)
	for _, p := range c.contacts {
		cd.Contacts = append(cd.Contacts, Contact{Name: p.name, Role: p.role, Email: p.email, Phone: keyText(p.phone), Mobile: keyText(p.mobile)})
	}
	for i, o := range c.orders {
		cd.RecentOrders[i] = Order{ID: o.id.String(), OrderNo: o.no, Date: o.date.String(), Status: x.word(o.status),
			Currency: x.word(o.currency), Total: o.total.String()}
		cd.activity = max(cd.activity, int64(o.date-1)*86400)
	}
	cd.OpenInvoices, cd.BalanceDue = x.invoices(c)
	for i, it := range c.inters {
		cd.Last[i] = Interaction{ID: it.id.String(), Channel: x.word(it.channel), Direction: x.word(it.direction),
			StartedAt: timeText(it.started), Duration: it.duration, Outcome: x.word(it.outcome), Agent: it.agent, Subject: it.subject}
		cd.activity = max(cd.activity, it.started)
	}
	return cd
}

// invoices are c's open invoices and the balance due by currency.
func (x *Index) invoices(c *customer) ([]Invoice, []Amount) {
	out := make([]Invoice, len(c.invoices))
	type total struct {
		cur sym
		sum decimal
	}
	var sums []total
	for i, in := range c.invoices {
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

// matchOf says which of c's numbers k is, and ranks it: the customer's
// own number before a contact person's.
func matchOf(c *customer, k uint64) (*Match, int) {
	switch {
	case k == 0:
		return nil, 0
	case c.phone == k:
		return &Match{Field: "phone"}, 0
	case c.mobile == k:
		return &Match{Field: "mobile"}, 0
	}
	for _, p := range c.contacts {
		if p.phone == k || p.mobile == k {
			return &Match{Field: "contact", Contact: p.name}, 1
		}
	}
	return nil, 2
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
	sourceEntry = 32
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
