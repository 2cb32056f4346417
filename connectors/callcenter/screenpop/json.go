package screenpop

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AppendLookup appends the screen-pop of a number (the JSON of Lookup's
// Answer, byte for byte) to dst, written straight from the index: a
// lookup allocates nothing but dst's growth. It also returns the answer's
// outcome: "hit", "miss", or "invalid" for text that is no number.
func (x *Index) AppendLookup(dst []byte, raw, region string) ([]byte, string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e164, k, slots := x.slots(raw, region)
	var buf [8]uint32
	found := x.ranked(slots, k, buf[:0])
	dst = append(dst, `{"phone":`...)
	dst = appendString(dst, e164)
	dst = append(dst, `,"customers":[`...)
	r := x.scratch.Get().(*record)
	defer x.scratch.Put(r)
	for i, s := range found {
		if i > 0 {
			dst = append(dst, ',')
		}
		c := &x.custs[s]
		decodeInto(c.rec, r)
		dst = x.appendCard(dst, c, r, k)
	}
	dst = append(dst, "]}"...)
	switch {
	case len(found) > 0:
		return dst, "hit"
	case e164 == "":
		return dst, "invalid"
	}
	return dst, "miss"
}

// appendCard writes the JSON of card(c, k), r being c's record (under
// the read lock).
func (x *Index) appendCard(dst []byte, c *customer, r *record, k uint64) []byte {
	dst = append(dst, `{"id":`...)
	if raw := r.text[fRawID]; raw != "" {
		dst = appendString(dst, raw)
	} else {
		dst = append(dst, '"')
		dst = c.id.appendTo(dst)
		dst = append(dst, '"')
	}
	dst = x.appendIDs(dst, r)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, r.text[fName])
	dst = optString(dst, "customer_no", r.text[fNo])
	dst = optString(dst, "kind", r.text[fKind])
	dst = optString(dst, "company", r.text[fCompany])
	dst = optString(dst, "email", r.text[fEmail])
	dst = optString(dst, "phone", keyText(r.phone))
	dst = optString(dst, "mobile", keyText(r.mobile))
	dst = optString(dst, "status", r.text[fStatus])
	dst = optString(dst, "city", r.text[fCity])
	dst = optString(dst, "country", r.text[fCountry])
	if m := matchOf(c, r, k); m != nil {
		dst = append(dst, `,"matched":{"field":`...)
		dst = appendString(dst, m.Field)
		dst = optString(dst, "contact", m.Contact)
		dst = append(dst, '}')
	}
	dst = appendContacts(dst, r)
	dst = x.appendOrders(dst, r)
	dst = x.appendInvoices(dst, r)
	dst = x.appendInteractions(dst, r)
	return append(dst, "]}"...)
}

// appendIDs writes the card's ids: a JSON object by system, keys sorted
// and the last id of a system kept, as encoding/json writes a map.
func (x *Index) appendIDs(dst []byte, r *record) []byte {
	if len(r.sources) == 0 {
		return dst
	}
	dst = append(dst, `,"ids":{`...)
	// encoding/json writes a map's keys sorted.
	var order [8]int
	idx := order[:0]
	for i := range r.sources {
		idx = append(idx, i)
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return strings.Compare(x.word(r.sources[a].origin), x.word(r.sources[b].origin))
	})
	last := ""
	for n, i := range idx {
		w := x.word(r.sources[i].origin)
		if n > 0 && w == last {
			continue // a map keeps one id per system (the last)
		}
		last = w
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, w)
		dst = append(dst, ':')
		dst = appendString(dst, x.lastSource(r, w))
	}
	dst = append(dst, '}')
	return dst
}

// appendContacts writes the card's contacts (omitted when none).
func appendContacts(dst []byte, r *record) []byte {
	if len(r.contacts) == 0 {
		return dst
	}
	dst = append(dst, `,"contacts":[`...)
	for i, p := range r.contacts {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		n := len(dst)
		dst = optString(dst, "name", p.name)
		dst = optString(dst, "role", p.role)
		dst = optString(dst, "email", p.email)
		dst = optString(dst, "phone", keyText(p.phone))
		dst = optString(dst, "mobile", keyText(p.mobile))
		if len(dst) > n {
			dst = append(dst[:n], dst[n+1:]...) // the first member's comma
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	return dst
}

// appendOrders writes "recent_orders":[... (the list stays open for the
// next one to close).
func (x *Index) appendOrders(dst []byte, r *record) []byte {
	dst = append(dst, `,"recent_orders":[`...)
	for i, o := range r.orders {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":"`...)
		dst = o.id.appendTo(dst)
		dst = append(dst, '"')
		dst = optString(dst, "order_no", o.no)
		if o.date != 0 {
			dst = append(dst, `,"order_date":"`...)
			dst = o.date.appendTo(dst)
			dst = append(dst, '"')
		}
		dst = optString(dst, "status", x.word(o.status))
		dst = optString(dst, "currency", x.word(o.currency))
		if o.total.ok {
			dst = append(dst, `,"total":"`...)
			dst = o.total.appendTo(dst)
			dst = append(dst, '"')
		}
		dst = append(dst, '}')
	}
	return dst
}

// appendInvoices closes the orders and writes the open invoices and the
// balance due.
func (x *Index) appendInvoices(dst []byte, r *record) []byte {
	invoices, balance := x.invoices(r)
	dst = append(dst, `],"open_invoices":[`...)
	for i, in := range invoices {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = appendString(dst, in.ID)
		dst = optString(dst, "invoice_no", in.InvoiceNo)
		dst = optString(dst, "invoice_date", in.Date)
		dst = optString(dst, "due_date", in.DueDate)
		dst = optString(dst, "payment_state", in.PaymentState)
		dst = optString(dst, "currency", in.Currency)
		dst = optString(dst, "total", in.Total)
		dst = append(dst, `,"amount_due":`...)
		dst = appendString(dst, in.AmountDue)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"balance_due":[`...)
	for i, b := range balance {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"currency":`...)
		dst = appendString(dst, b.Currency)
		dst = append(dst, `,"amount":`...)
		dst = appendString(dst, b.Amount)
		dst = append(dst, '}')
	}
	return dst
}

// appendInteractions closes the balance and writes the last interactions.
func (x *Index) appendInteractions(dst []byte, r *record) []byte {
	dst = append(dst, `],"last_interactions":[`...)
	for i, it := range r.inters {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":"`...)
		dst = it.id.appendTo(dst)
		dst = append(dst, '"')
		dst = optString(dst, "channel", x.word(it.channel))
		dst = optString(dst, "direction", x.word(it.direction))
		dst = optString(dst, "started_at", timeText(it.started))
		if it.duration != 0 {
			dst = append(dst, `,"duration_seconds":`...)
			dst = strconv.AppendInt(dst, int64(it.duration), 10)
		}
		dst = optString(dst, "outcome", x.word(it.outcome))
		dst = optString(dst, "agent", it.agent)
		dst = optString(dst, "subject", it.subject)
		dst = append(dst, '}')
	}
	return dst
}

// lastSource is r's id in system w: the last recorded, as a card's map
// keeps it.
func (x *Index) lastSource(r *record, w string) string {
	id := ""
	for _, s := range r.sources {
		if x.word(s.origin) == w {
			id = s.id
		}
	}
	return id
}

// optString writes ,"key":"v" when v is not empty (omitempty).
func optString(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return appendString(dst, v)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string as encoding/json does: quotes,
// backslashes and control characters escaped, <, > and & as \u00XX,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
