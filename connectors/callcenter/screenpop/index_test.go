package screenpop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter/phone"
	"github.com/crmhub/hub/mapping"
)

// The tests feed the index canonical changes as the view runner would
// and assert what a lookup answers.

func newIndex(t testing.TB, o Options) *Index {
	t.Helper()
	if o.Phones == nil {
		n, err := phone.New("DE")
		if err != nil {
			t.Fatal(err)
		}
		o.Phones = n
	}
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// obj builds a canonical object from key/value pairs; values are strings,
// Values or []mapping.Value (arrays).
func obj(kv ...any) mapping.Value {
	var ms []mapping.Member
	for i := 0; i+1 < len(kv); i += 2 {
		var v mapping.Value
		switch x := kv[i+1].(type) {
		case string:
			v = mapping.StringValue(x)
		case mapping.Value:
			v = x
		case []mapping.Value:
			v = mapping.ArrayValue(x)
		default:
			panic(fmt.Sprintf("obj: %T", x))
		}
		ms = append(ms, mapping.Member{Key: kv[i].(string), Value: v})
	}
	return mapping.ObjectValue(ms...)
}

// uid is a hub id (a UUID) made from n.
func uid(n int) string { return fmt.Sprintf("0190a5f0-0000-7000-8000-%012d", n) }

func cust(n int, origin, srcID string, kv ...any) connectors.Change {
	return connectors.Change{Entity: "customer", HubID: uid(n), Op: connectors.OpUpsert, Origin: origin, SourceID: srcID,
		Version: time.Unix(1700000000, 0), Data: obj(kv...)}
}

func ord(n, customer int, no, date, total, status string) connectors.Change {
	return connectors.Change{Entity: "order", HubID: uid(n), Op: connectors.OpUpsert, Origin: "crm", SourceID: no,
		Refs: map[string]string{"customer": uid(customer)},
		Data: obj("order_no", no, "order_date", date, "total", total, "currency", "EUR", "status", status)}
}

func inv(n, customer int, no, due, amountDue, state, currency string) connectors.Change {
	return connectors.Change{Entity: "invoice", HubID: uid(n), Op: connectors.OpUpsert, Origin: "erp", SourceID: no,
		Refs: map[string]string{"customer": uid(customer)},
		Data: obj("invoice_no", no, "due_date", due, "total", amountDue, "amount_due", amountDue, "payment_state", state, "currency", currency)}
}

func del(entity string, n int) connectors.Change {
	return connectors.Change{Entity: entity, HubID: uid(n), Op: connectors.OpDelete}
}

func names(a Answer) string {
	var out []string
	for _, c := range a.Customers {
		out = append(out, c.Name)
	}
	return strings.Join(out, ",")
}

// TestLookupFormats: a customer is found by its numbers written any
// common way, in the default region and in others.
func TestLookupFormats(t *testing.T) {
	x := newIndex(t, Options{})
	x.Apply([]connectors.Change{
		cust(1, "crm", "1", "name", "Acme Maschinenbau GmbH", "phone", "+49301234567"),
		// A number not yet in E.164 is read in the customer's country.
		cust(2, "crm", "2", "name", "Li Wei", "mobile", "138 0013 8000", "billing_address", obj("country", "CN")),
		cust(3, "crm", "3", "name", "Grace Hopper", "phone", "+14155550100"),
	}, nil)
	tests := []struct{ raw, region, want, e164 string }{
		{"030 1234567", "", "Acme Maschinenbau GmbH", "+49301234567"},
		{"0049 30 1234567", "", "Acme Maschinenbau GmbH", "+49301234567"},
		{"+49 (0)30 1234567", "", "Acme Maschinenbau GmbH", "+49301234567"},
		{"+49301234567", "", "Acme Maschinenbau GmbH", "+49301234567"},
		{"+86-138-0013-8000", "", "Li Wei", "+8613800138000"},
		{"138 0013 8000", "CN", "Li Wei", "+8613800138000"},
		{"(415) 555-0100", "US", "Grace Hopper", "+14155550100"},
		{"+1 415 555 0100", "", "Grace Hopper", "+14155550100"},
	}
	for _, tt := range tests {
		a := x.Lookup(tt.raw, tt.region)
		if names(a) != tt.want || a.Phone != tt.e164 {
			t.Errorf("Lookup(%q, %q) = %q %q, want %q %q", tt.raw, tt.region, a.Phone, names(a), tt.e164, tt.want)
		}
	}
}

// TestUnknownCaller: an unknown number, an anonymous caller and text that
// is no number get an empty list, never an error.
func TestUnknownCaller(t *testing.T) {
	x := newIndex(t, Options{})
	x.Apply([]connectors.Change{cust(1, "crm", "1", "name", "Acme", "phone", "+49301234567")}, nil)
	for _, raw := range []string{"030 7654321", "anonymous", "", "+"} {
		a := x.Lookup(raw, "")
		if a.Customers == nil || len(a.Customers) != 0 {
			t.Errorf("Lookup(%q) = %+v, want an empty list", raw, a)
		}
		b, _ := json.Marshal(a)
		if !strings.Contains(string(b), `"customers":[]`) {
			t.Errorf("Lookup(%q) as JSON = %s, want an empty customers list", raw, b)
		}
	}
	if a := x.Lookup("030 7654321", ""); a.Phone != "+49307654321" {
		t.Errorf("an unknown number is still normalised: %q", a.Phone)
	}
}

// TestSharedNumber: several customers on one number (a company's
// switchboard, a family) all come, ranked: the customer's own number
// before a contact person's, active before blocked, the one with the most
// recent activity first.
func TestSharedNumber(t *testing.T) {
	x := newIndex(t, Options{})
	const switchboard = "+49301234567"
	x.Apply([]connectors.Change{
		cust(1, "crm", "1", "name", "Old Branch", "phone", switchboard, "status", "ACTIVE", "updated_at", "2020-01-01T00:00:00Z"),
		cust(2, "crm", "2", "name", "New Branch", "phone", switchboard, "status", "ACTIVE", "updated_at", "2026-01-01T00:00:00Z"),
		cust(3, "crm", "3", "name", "Blocked Branch", "phone", switchboard, "status", "BLOCKED", "updated_at", "2026-06-01T00:00:00Z"),
		cust(4, "crm", "4", "name", "Supplier GmbH", "phone", "+49309999999",
			"contacts", []mapping.Value{obj("name", "Erika Muster", "role", "buyer", "phone", "030 1234567")}),
	}, nil)
	a := x.Lookup("030 1234567", "")
	if got := names(a); got != "New Branch,Old Branch,Blocked Branch,Supplier GmbH" {
		t.Fatalf("ranking = %s", got)
	}
	if m := a.Customers[3].Matched; m == nil || m.Field != "contact" || m.Contact != "Erika Muster" {
		t.Errorf("the contact's match = %+v", m)
	}
	if got := a.CallerName(); got != "New Branch" {
		t.Errorf("caller name = %q", got)
	}
	if got, ok := x.CallerName("030 1234567", ""); got != "New Branch" || !ok {
		t.Errorf("CallerName = %q %v, want the first card's", got, ok)
	}
	if got, ok := x.CallerName("anonymous", ""); got != "" || ok {
		t.Errorf("CallerName of no number = %q %v", got, ok)
	}
	// A contact's own line names the person and the customer.
	x.Apply([]connectors.Change{cust(4, "crm", "4", "name", "Supplier GmbH",
		"contacts", []mapping.Value{obj("name", "Erika Muster", "mobile", "+491701234567")})}, nil)
	if got := x.Lookup("0170 1234567", "").CallerName(); got != "Erika Muster (Supplier GmbH)" {
		t.Errorf("caller name of a contact = %q", got)
	}
	if got, _ := x.CallerName("0170 1234567", ""); got != "Erika Muster (Supplier GmbH)" {
		t.Errorf("CallerName of a contact = %q", got)
	}
	// Leaving the shared number leaves the others on it.
	x.Apply([]connectors.Change{del("customer", 2), cust(3, "crm", "3", "name", "Blocked Branch", "phone", "+49305555555")}, nil)
	if got := names(x.Lookup(switchboard, "")); got != "Old Branch" {
		t.Errorf("after a delete and a move: %s", got)
	}
}

// TestNumberChange: a changed number is found at once under the new one,
// never under the old.
func TestNumberChange(t *testing.T) {
	x := newIndex(t, Options{})
	x.Apply([]connectors.Change{cust(1, "crm", "1", "name", "Acme", "phone", "+49301234567")}, nil)
	x.Apply([]connectors.Change{cust(1, "crm", "1", "name", "Acme", "phone", "+49307777777")}, nil)
	if got := names(x.Lookup("030 1234567", "")); got != "" {
		t.Errorf("old number still finds %s", got)
	}
	if got := names(x.Lookup("030 7777777", "")); got != "Acme" {
		t.Errorf("new number finds %q", got)
	}
	if st := x.Stats(); st.Numbers != 1 || st.Customers != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// TestOrdersInvoicesInteractions: a card carries the recent orders (at
// most the bound, newest first), the open invoices with the balance due
// by currency, and the last interactions; records that arrive before
// their customer wait for it, and a deleted customer takes them along.
func TestOrdersInvoicesInteractions(t *testing.T) {
	x := newIndex(t, Options{Orders: 2, Interactions: 2})
	x.Apply([]connectors.Change{
		ord(101, 1, "SO-1", "2026-01-01", "10.00", "PAID"), // before its customer
		ord(102, 1, "SO-2", "2026-02-01", "20.00", "OPEN"),
		ord(103, 1, "SO-3", "2026-03-01", "30.50", "OPEN"),
		inv(201, 1, "INV-1", "2026-03-15", "100.00", "UNPAID", "EUR"),
		inv(202, 1, "INV-2", "2026-03-01", "20.50", "PARTIAL", "EUR"),
		inv(203, 1, "INV-3", "2026-04-01", "5.00", "UNPAID", "USD"),
		inv(204, 1, "INV-4", "2026-01-01", "0.00", "PAID", "EUR"),
	}, nil)
	if st := x.Stats(); st.Customers != 0 || st.Placeholders != 1 {
		t.Errorf("before the customer: %+v", st)
	}
	if a := x.ByID(uid(1), ""); len(a.Customers) != 0 {
		t.Errorf("a placeholder is no customer yet: %+v", a)
	}
	x.Apply([]connectors.Change{cust(1, "crm", "42", "name", "Acme", "phone", "+49301234567")}, nil)
	c := x.Lookup("+49301234567", "").Customers[0]
	var orders []string
	for _, o := range c.RecentOrders {
		orders = append(orders, o.OrderNo+" "+o.Total+" "+o.Status)
	}
	if got := strings.Join(orders, ", "); got != "SO-3 30.50 OPEN, SO-2 20.00 OPEN" {
		t.Errorf("recent orders = %s", got)
	}
	var invs []string
	for _, in := range c.OpenInvoices {
		invs = append(invs, in.InvoiceNo+" "+in.AmountDue)
	}
	if got := strings.Join(invs, ", "); got != "INV-2 20.50, INV-1 100.00, INV-3 5.00" {
		t.Errorf("open invoices = %s", got)
	}
	if b, _ := json.Marshal(c.BalanceDue); string(b) != `[{"currency":"EUR","amount":"120.50"},{"currency":"USD","amount":"5.00"}]` {
		t.Errorf("balance due = %s", b)
	}
	// Paid, an order changed, an order deleted.
	x.Apply([]connectors.Change{
		inv(201, 1, "INV-1", "2026-03-15", "0.00", "PAID", "EUR"),
		ord(102, 1, "SO-2", "2026-02-01", "20.00", "CANCELLED"),
		del("order", 103),
	}, nil)
	c = x.Lookup("+49301234567", "").Customers[0]
	if len(c.OpenInvoices) != 2 || c.BalanceDue[0].Amount != "20.50" {
		t.Errorf("after a payment: %+v %+v", c.OpenInvoices, c.BalanceDue)
	}
	if len(c.RecentOrders) != 1 || c.RecentOrders[0].Status != "CANCELLED" {
		t.Errorf("after an update and a delete: %+v", c.RecentOrders)
	}
	// Interactions: the last two, newest first.
	for i, at := range []string{"2026-05-01T10:00:00Z", "2026-05-03T10:00:00Z", "2026-05-02T10:00:00Z"} {
		x.Apply([]connectors.Change{{Entity: "interaction", HubID: uid(300 + i), Op: connectors.OpUpsert,
			Refs: map[string]string{"customer": uid(1)},
			Data: obj("channel", "CALL", "direction", "INBOUND", "started_at", at, "agent", "1001", "duration_seconds", mapping.NumberValue("65"))}}, nil)
	}
	c = x.ByID("42", "crm").Customers[0]
	if len(c.Last) != 2 || c.Last[0].StartedAt != "2026-05-03T10:00:00Z" || c.Last[1].StartedAt != "2026-05-02T10:00:00Z" || c.Last[0].Duration != 65 {
		t.Errorf("last interactions = %+v", c.Last)
	}
	if st := x.Stats(); st.Orders != 1 || st.Invoices != 2 || st.Interactions != 2 {
		t.Errorf("stats = %+v", st)
	}
	x.Apply([]connectors.Change{del("customer", 1)}, nil)
	if st := x.Stats(); st != (Stats{Bytes: customerSize}) {
		t.Errorf("after the customer's delete the index holds %+v, want nothing but the free slot", st)
	}
}

// TestByID: a customer is found by its hub id and by its id in each system
// its records came from.
func TestByID(t *testing.T) {
	x := newIndex(t, Options{})
	x.Apply([]connectors.Change{
		cust(1, "crm", "42", "name", "Acme", "phone", "+49301234567"),
		cust(1, "erp", "C-1001", "name", "Acme", "phone", "+49301234567"),
	}, nil)
	for _, q := range [][2]string{{uid(1), ""}, {"42", "crm"}, {"C-1001", "erp"}, {"C-1001", ""}} {
		a := x.ByID(q[0], q[1])
		if names(a) != "Acme" || a.Customers[0].IDs["crm"] != "42" || a.Customers[0].IDs["erp"] != "C-1001" {
			t.Errorf("ByID(%q, %q) = %+v", q[0], q[1], a)
		}
	}
	if a := x.ByID("42", "erp"); len(a.Customers) != 0 {
		t.Errorf("crm's id in erp found %+v", a)
	}
}

// TestCallerNameSafe: a display name for a PBX has at most 60 characters
// and nothing that would break the quotes around it.
func TestCallerNameSafe(t *testing.T) {
	long := strings.Repeat("Ä", 70)
	for in, want := range map[string]string{
		`Acme "Best" GmbH`:      "Acme Best GmbH",
		"Back\\slash\nNew line": "Backslash New line",
		long:                    strings.Repeat("Ä", 60),
		"  padded  ":            "padded",
	} {
		got := SafeName(in)
		if got != want || utf8.RuneCountInString(got) > 60 {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMaxCustomers: the index holds at most its bound and counts the
// customers it turned away.
func TestMaxCustomers(t *testing.T) {
	x := newIndex(t, Options{MaxCustomers: 2})
	for i := 1; i <= 3; i++ {
		x.Apply([]connectors.Change{cust(i, "crm", fmt.Sprint(i), "name", fmt.Sprint("C", i), "phone", fmt.Sprintf("+4930100000%d", i))}, nil)
	}
	if st := x.Stats(); st.Customers != 2 || st.Dropped != 1 || st.Bytes <= 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestSnapshotRoundTrip: a snapshot brings back the same answers and
// positions; a damaged one is refused and leaves the index as it was.
func TestSnapshotRoundTrip(t *testing.T) {
	x := newIndex(t, Options{})
	x.Apply([]connectors.Change{
		cust(1, "crm", "1", "name", "Acme", "phone", "+49301234567", "contacts", []mapping.Value{obj("name", "Erika", "phone", "+491701234567")}),
		cust(2, "crm", "2", "name", "Beta", "phone", "+49301234567"),
		ord(101, 1, "SO-1", "2026-01-01", "10.00", "OPEN"),
		inv(201, 1, "INV-1", "2026-03-15", "100.00", "UNPAID", "EUR"),
		ord(102, 9, "SO-9", "2026-01-01", "1.00", "OPEN"), // a placeholder
		{Entity: "customer", HubID: "not-a-uuid", Op: connectors.OpUpsert, Origin: "shop", SourceID: "77", Data: obj("name", "Raw Id", "phone", "+4930555")},
	}, connectors.Positions{"crm.customer": {0: 17, 3: 4}, "crm.order": {1: 2}})
	path := filepath.Join(t.TempDir(), "screenpop.snap")
	if _, err := x.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	y := newIndex(t, Options{})
	if found, err := y.LoadFile(path); err != nil || !found {
		t.Fatalf("load: %v %v", found, err)
	}
	for _, q := range []string{"030 1234567", "0170 1234567", "+4930555"} {
		a, b := x.Lookup(q, ""), y.Lookup(q, "")
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) || len(a.Customers) == 0 {
			t.Errorf("%s: before %s\nafter %s", q, ja, jb)
		}
	}
	if got := y.Positions(); got["crm.customer"][0] != 17 || got["crm.customer"][3] != 4 || got["crm.order"][1] != 2 {
		t.Errorf("positions = %v", got)
	}
	if x.Stats() != y.Stats() {
		t.Errorf("stats before %+v, after %+v", x.Stats(), y.Stats())
	}
	// The restored index goes on taking changes.
	y.Apply([]connectors.Change{ord(103, 1, "SO-3", "2026-05-01", "3.00", "OPEN"), del("customer", 2)}, nil)
	if a := y.Lookup("030 1234567", ""); names(a) != "Acme" || len(a.Customers[0].RecentOrders) != 2 {
		t.Errorf("after changes: %+v", a)
	}

	// Damaged files: refused, and the index keeps what it had.
	good, _ := os.ReadFile(path)
	for name, b := range map[string][]byte{
		"truncated": good[:len(good)/2],
		"flipped":   flip(good, len(good)/2),
		"empty":     nil,
		"foreign":   []byte("hello"),
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := y.LoadFile(path); err == nil {
			t.Errorf("%s snapshot accepted", name)
		}
		if names(y.Lookup("030 1234567", "")) != "Acme" {
			t.Errorf("%s snapshot changed the index", name)
		}
	}
	if found, err := y.LoadFile(filepath.Join(t.TempDir(), "none")); found || err != nil {
		t.Errorf("a missing snapshot: %v %v", found, err)
	}
}

func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x40
	return out
}

// TestReset: a rebuild starts from nothing, positions included.
func TestReset(t *testing.T) {
	x := newIndex(t, Options{})
	x.Apply([]connectors.Change{cust(1, "crm", "1", "name", "Acme", "phone", "+49301234567")}, connectors.Positions{"t": {0: 5}})
	x.Reset()
	if st := x.Stats(); st.Customers != 0 || len(x.Positions()) != 0 {
		t.Errorf("after reset: %+v %v", st, x.Positions())
	}
}

// TestAppendLookupIsTheAnswer: the screen-pop written straight from the
// index is byte for byte the JSON of Lookup's answer, whatever the card
// holds (contacts, several systems, text that needs escaping).
func TestAppendLookupIsTheAnswer(t *testing.T) {
	x := newIndex(t, Options{})
	x.Apply([]connectors.Change{
		cust(1, "crm", "1", "name", "Acme <\"Best\"> & Söhne\u2028\x01", "phone", "+49301234567", "status", "ACTIVE", "kind", "company",
			"email", "a@example.com", "customer_no", "K-1", "billing_address", obj("city", "Berlin", "country", "de"),
			"contacts", []mapping.Value{obj("name", "Erika", "role", "buyer", "mobile", "+491701234567"), obj("email", "x@example.com")}),
		cust(1, "erp", "E-1", "name", "Acme <\"Best\"> & Söhne\u2028\x01", "phone", "+49301234567"),
		cust(2, "shop", "9", "name", "Beta", "phone", "+49301234567", "mobile", "+491709999999"),
		ord(101, 1, "SO-1", "2026-01-01", "10.00", "OPEN"),
		inv(201, 1, "INV-1", "2026-03-15", "100.00", "UNPAID", "EUR"),
		inv(202, 1, "INV-2", "2026-03-16", "1.50", "PARTIAL", "USD"),
		{Entity: "interaction", HubID: uid(301), Op: connectors.OpUpsert, Refs: map[string]string{"customer": uid(1)},
			Data: obj("channel", "CALL", "started_at", "2026-05-01T10:00:00Z", "agent", "1001", "subject", "Rückruf", "duration_seconds", mapping.NumberValue("42"))},
		{Entity: "customer", HubID: "raw id", Op: connectors.OpUpsert, Data: obj("name", "Raw", "phone", "+4930555")},
	}, nil)
	for _, q := range []string{"030 1234567", "0170 1234567", "+4930555", "030 9999999", "anonymous", "+49 170 9999999"} {
		want, _ := json.Marshal(x.Lookup(q, ""))
		got, _ := x.AppendLookup(nil, q, "")
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", q, got, want)
		}
	}
	if _, res := x.AppendLookup(nil, "anonymous", ""); res != "invalid" {
		t.Errorf("result of no number = %s", res)
	}
}

func TestDecimalText(t *testing.T) {
	for _, s := range []string{"0", "0.05", "-0.50", "1250.00", "-12", "0.125", "999999999999.99"} {
		if got := parseDecimal(s).String(); got != s {
			t.Errorf("%s prints as %s", s, got)
		}
	}
	for _, bad := range []string{"", "1e5", "12,50", "1.2.3", "12345678901234567890"} {
		if d := parseDecimal(bad); d.ok {
			t.Errorf("%q read as %s", bad, d)
		}
	}
	if got := parseDecimal("0.05").add(parseDecimal("1.5")).String(); got != "1.55" {
		t.Errorf("0.05 + 1.5 = %s", got)
	}
}
