package e2e

// The records of the tests, as the CRM holds them and as the ERP must hold
// them after the hub's mappings (testdata/mappings), and the record-by-record
// comparison of the two.

import (
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

type customer struct {
	ID                          int64
	Name, Email, Phone, Country string
	UpdatedAt                   time.Time
}

type line struct {
	LineNo                      int
	SKU, Qty, UnitPrice, Amount string // Amount: ERP side only
}

type order struct {
	ID, CustomerID                              int64
	OrderNo, OrderDate, Currency, Total, Status string
	UpdatedAt                                   time.Time
	Lines                                       []line
	CustomerRef, ExtRef                         string // ERP side only
	deleted                                     bool   // CRM side: hard-deleted, ERP keeps it CANCELLED
}

// cents formats hundredths as a decimal with two places.
func cents(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	return fmt.Sprintf("%s%d.%02d", sign, n/100, n%100)
}

// parseCents reads a decimal with at most two places.
func parseCents(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	return n, err == nil
}

// amount is round(qty * price, 2), half away from zero, exact.
func amount(qty, price string) string {
	q, ok1 := parseCents(qty)
	p, ok2 := parseCents(price)
	if !ok1 || !ok2 {
		return "?"
	}
	prod := q * p // in 1/10000
	r := (prod + 50) / 100
	if prod < 0 {
		r = (prod - 50) / 100
	}
	return cents(r)
}

var countries = []string{"de", "FR", " gb ", "Us", "at"}

// genCustomer is the i-th test customer as inserted into the CRM: names
// with stray blanks, mixed-case e-mails and spaced phone numbers, which the
// inbound mapping trims, lowers and normalizes.
func genCustomer(i int) customer {
	return customer{
		ID:      int64(i),
		Name:    fmt.Sprintf("  Kunde %04d GmbH ", i),
		Email:   fmt.Sprintf("Einkauf.%04d@Example.COM", i),
		Phone:   fmt.Sprintf("+49 30 %03d %04d", 100+i%900, i%10000),
		Country: countries[i%len(countries)],
	}
}

var currencies = []string{"EUR", "usd", "GBP"}

// genOrder is the j-th test order with three lines; its total is the exact
// sum of the line amounts.
func genOrder(j, nCustomers int) order {
	o := order{
		ID:         int64(j),
		CustomerID: int64(1 + (j*7)%nCustomers),
		OrderNo:    fmt.Sprintf("SO-%06d", j),
		OrderDate:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, j%365).Format(time.DateOnly),
		Currency:   currencies[j%len(currencies)],
		Status:     []string{"open", "paid", "Open"}[j%3],
	}
	var total int64
	for k := 1; k <= 3; k++ {
		qty := int64(25 * (1 + (j+k)%40))       // 0.25 .. 10.00
		price := int64(99 + (j*31+k*17)%100000) // 0.99 .. 1000.98
		l := line{LineNo: k, SKU: fmt.Sprintf("SKU-%05d", (j*3+k)%50000), Qty: cents(qty), UnitPrice: cents(price)}
		a, _ := parseCents(amount(l.Qty, l.UnitPrice))
		total += a
		o.Lines = append(o.Lines, l)
	}
	o.Total = cents(total)
	return o
}

// insertCustomers inserts customers in one transaction.
func insertCustomers(t testing.TB, d *database, cs []customer) {
	t.Helper()
	tx, err := d.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]any, len(cs))
	for i, c := range cs {
		rows[i] = []any{c.ID, c.Name, c.Email, c.Phone, c.Country}
	}
	d.insertRows(t, tx, "customers", []string{"id", "name", "email", "phone", "country"}, rows)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// insertOrders inserts orders with their lines, in transactions of at most
// perTx orders (an order and its lines always commit together).
func insertOrders(t testing.TB, d *database, os []order, perTx int) {
	t.Helper()
	for start := 0; start < len(os); start += perTx {
		tx, err := d.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		insertOrdersTx(t, d, tx, os[start:min(start+perTx, len(os))])
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

func insertOrdersTx(t testing.TB, d *database, tx *sql.Tx, os []order) {
	t.Helper()
	var orows, lrows [][]any
	for _, o := range os {
		orows = append(orows, []any{o.ID, o.CustomerID, o.OrderNo, o.OrderDate, o.Currency, o.Total, o.Status})
		for _, l := range o.Lines {
			lrows = append(lrows, []any{o.ID, l.LineNo, l.SKU, l.Qty, l.UnitPrice})
		}
	}
	d.insertRows(t, tx, "orders", []string{"id", "customer_id", "order_no", "order_date", "currency", "total", "status"}, orows)
	d.insertRows(t, tx, "order_lines", []string{"order_id", "line_no", "sku", "qty", "unit_price"}, lrows)
}

func mustTx(t testing.TB, tx *sql.Tx, q string, args ...any) {
	t.Helper()
	if _, err := tx.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (d *database) mustExec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := d.db.Exec(d.rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// crmState is what the CRM holds, read back from its database.
type crmState struct {
	customers map[int64]customer
	orders    map[int64]order
}

func readCRM(t testing.TB, d *database) crmState {
	t.Helper()
	st := crmState{customers: map[int64]customer{}, orders: map[int64]order{}}
	rows, err := d.db.Query("SELECT id, name, email, phone, country, updated_at FROM customers")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c customer
		var email, phone, country sql.NullString
		var ts any
		if err := rows.Scan(&c.ID, &c.Name, &email, &phone, &country, &ts); err != nil {
			t.Fatal(err)
		}
		c.Email, c.Phone, c.Country = email.String, phone.String, country.String
		if c.UpdatedAt, err = asTime(ts); err != nil {
			t.Fatal(err)
		}
		st.customers[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	x := func(c string) string { return text(d.dialect, c) }
	rows, err = d.db.Query("SELECT id, customer_id, order_no, " + x("order_date") + ", currency, " + x("total") + ", status, updated_at FROM orders")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o order
		var cur sql.NullString
		var ts any
		if err := rows.Scan(&o.ID, &o.CustomerID, &o.OrderNo, &o.OrderDate, &cur, &o.Total, &o.Status, &ts); err != nil {
			t.Fatal(err)
		}
		o.Currency = cur.String
		if o.UpdatedAt, err = asTime(ts); err != nil {
			t.Fatal(err)
		}
		st.orders[o.ID] = o
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	rows, err = d.db.Query("SELECT order_id, line_no, sku, " + x("qty") + ", " + x("unit_price") + " FROM order_lines ORDER BY order_id, line_no")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var l line
		if err := rows.Scan(&id, &l.LineNo, &l.SKU, &l.Qty, &l.UnitPrice); err != nil {
			t.Fatal(err)
		}
		o := st.orders[id]
		o.Lines = append(o.Lines, l)
		st.orders[id] = o
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return st
}

// erpState is what the ERP's interface tables hold.
type erpState struct {
	customers []customer // ID unused; Name.. as stored; ext_ref in extRef
	custRefs  []string
	orders    []order
}

func readERP(t testing.TB, d *database) erpState {
	t.Helper()
	var st erpState
	x := func(c string) string { return text(d.dialect, c) }
	rows, err := d.db.Query("SELECT ext_ref, name, email, phone, country, updated_at FROM erp_customers ORDER BY ext_ref")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c customer
		var ref string
		var email, phone, country sql.NullString
		var ts any
		if err := rows.Scan(&ref, &c.Name, &email, &phone, &country, &ts); err != nil {
			t.Fatal(err)
		}
		c.Email, c.Phone, c.Country = email.String, phone.String, country.String
		if c.UpdatedAt, err = asTime(ts); err != nil {
			t.Fatal(err)
		}
		st.customers = append(st.customers, c)
		st.custRefs = append(st.custRefs, ref)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	byRef := map[string]int{}
	rows, err = d.db.Query("SELECT ext_ref, customer_ref, order_no, " + x("order_date") + ", currency, " + x("total") + ", status, updated_at FROM erp_orders ORDER BY ext_ref")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o order
		var ts any
		if err := rows.Scan(&o.ExtRef, &o.CustomerRef, &o.OrderNo, &o.OrderDate, &o.Currency, &o.Total, &o.Status, &ts); err != nil {
			t.Fatal(err)
		}
		if o.UpdatedAt, err = asTime(ts); err != nil {
			t.Fatal(err)
		}
		byRef[o.ExtRef] = len(st.orders)
		st.orders = append(st.orders, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	rows, err = d.db.Query("SELECT order_ref, line_no, sku, " + x("qty") + ", " + x("unit_price") + ", " + x("amount") + " FROM erp_order_lines ORDER BY order_ref, line_no")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var ref string
		var l line
		if err := rows.Scan(&ref, &l.LineNo, &l.SKU, &l.Qty, &l.UnitPrice, &l.Amount); err != nil {
			t.Fatal(err)
		}
		i, ok := byRef[ref]
		if !ok {
			// An orphan line: keep it visible as an order of its own.
			byRef[ref] = len(st.orders)
			st.orders = append(st.orders, order{ExtRef: ref, OrderNo: "(orphan lines of " + ref + ")"})
			i = byRef[ref]
		}
		st.orders[i].Lines = append(st.orders[i].Lines, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return st
}

// The outbound view of a CRM record: what testdata/mappings make of it.

func wantCustomer(c customer) customer {
	return customer{
		Name:      strings.TrimSpace(c.Name),
		Email:     strings.ToLower(strings.TrimSpace(c.Email)),
		Phone:     strings.ReplaceAll(c.Phone, " ", ""),
		Country:   strings.ToUpper(strings.TrimSpace(c.Country)),
		UpdatedAt: c.UpdatedAt,
	}
}

func wantStatus(s string) string {
	switch strings.ToLower(s) {
	case "open":
		return "OPEN"
	case "paid":
		return "PAID"
	case "cancelled":
		return "CANCELLED"
	}
	return "UNKNOWN"
}

func wantOrder(o order) order {
	w := order{
		OrderNo: o.OrderNo, OrderDate: o.OrderDate, Currency: strings.ToUpper(o.Currency),
		Total: o.Total, Status: wantStatus(o.Status), UpdatedAt: o.UpdatedAt,
	}
	if o.deleted {
		w.Status = "CANCELLED"
	}
	for _, l := range o.Lines {
		w.Lines = append(w.Lines, line{LineNo: l.LineNo, SKU: l.SKU, Qty: l.Qty, UnitPrice: l.UnitPrice, Amount: amount(l.Qty, l.UnitPrice)})
	}
	return w
}

// expectation is the CRM state plus what the ERP must keep of records the
// CRM no longer has (hard-deleted orders: kept, CANCELLED).
type expectation struct {
	crm     crmState
	deleted map[int64]order // CRM orders as they were before their delete
	// skipVersion: orders whose ERP updated_at is not the CRM's (a delete
	// or a replay sets its own).
	skipVersion map[string]bool // by order_no
}

// diffERP compares the ERP with the CRM record by record and returns every
// difference: missing, doubled, extra or differing records and fields,
// incomplete lines, orders whose customer is not in the ERP.
func diffERP(exp expectation, erp erpState) []string {
	var diffs []string
	add := func(f string, a ...any) { diffs = append(diffs, fmt.Sprintf(f, a...)) }

	// Customers, matched by e-mail (unique in the test data).
	custByEmail := map[string]int{}
	refOfCust := map[string]string{}
	for i, c := range erp.customers {
		if _, dup := custByEmail[c.Email]; dup {
			add("ERP customer %q doubled (ext_refs %s and %s)", c.Email, erp.custRefs[custByEmail[c.Email]], erp.custRefs[i])
		}
		custByEmail[c.Email] = i
		refOfCust[erp.custRefs[i]] = c.Email
	}
	ids := make([]int64, 0, len(exp.crm.customers))
	for id := range exp.crm.customers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	matched := map[string]bool{}
	for _, id := range ids {
		w := wantCustomer(exp.crm.customers[id])
		i, ok := custByEmail[w.Email]
		if !ok {
			add("customer %d (%s) missing in the ERP", id, w.Email)
			continue
		}
		matched[w.Email] = true
		g := erp.customers[i]
		if g.Name != w.Name || g.Phone != w.Phone || g.Country != w.Country {
			add("customer %d: ERP has name=%q phone=%q country=%q, want %q %q %q", id, g.Name, g.Phone, g.Country, w.Name, w.Phone, w.Country)
		}
		if !g.UpdatedAt.Equal(w.UpdatedAt) {
			add("customer %d: ERP updated_at %s, CRM %s", id, g.UpdatedAt.Format(time.RFC3339Nano), w.UpdatedAt.Format(time.RFC3339Nano))
		}
	}
	for i, c := range erp.customers {
		if !matched[c.Email] {
			add("extra ERP customer %s (%q)", erp.custRefs[i], c.Email)
		}
	}

	// Orders, matched by order number.
	byNo := map[string][]int{}
	for i, o := range erp.orders {
		byNo[o.OrderNo] = append(byNo[o.OrderNo], i)
		if _, ok := refOfCust[o.CustomerRef]; !ok && !strings.HasPrefix(o.OrderNo, "(orphan") {
			add("ERP order %s (%s): customer_ref %q is not an ERP customer", o.ExtRef, o.OrderNo, o.CustomerRef)
		}
	}
	var all []order
	for _, o := range exp.crm.orders {
		all = append(all, o)
	}
	for _, o := range exp.deleted {
		o.deleted = true
		all = append(all, o)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	seen := map[string]bool{}
	for _, o := range all {
		w := wantOrder(o)
		seen[o.OrderNo] = true
		is := byNo[o.OrderNo]
		switch {
		case len(is) == 0:
			add("order %d (%s) missing in the ERP", o.ID, o.OrderNo)
			continue
		case len(is) > 1:
			add("order %d (%s) is %d times in the ERP", o.ID, o.OrderNo, len(is))
		}
		g := erp.orders[is[0]]
		wantCust := wantCustomer(exp.crm.customers[o.CustomerID]).Email
		if refOfCust[g.CustomerRef] != wantCust {
			add("order %s: ERP customer_ref %q is customer %q, want %q", o.OrderNo, g.CustomerRef, refOfCust[g.CustomerRef], wantCust)
		}
		if g.OrderDate != w.OrderDate || g.Currency != w.Currency || g.Total != w.Total || g.Status != w.Status {
			add("order %s: ERP has date=%s currency=%s total=%s status=%s, want %s %s %s %s", o.OrderNo,
				g.OrderDate, g.Currency, g.Total, g.Status, w.OrderDate, w.Currency, w.Total, w.Status)
		}
		if !o.deleted && !exp.skipVersion[o.OrderNo] && !g.UpdatedAt.Equal(w.UpdatedAt) {
			add("order %s: ERP updated_at %s, CRM %s", o.OrderNo, g.UpdatedAt.Format(time.RFC3339Nano), w.UpdatedAt.Format(time.RFC3339Nano))
		}
		if fmt.Sprint(g.Lines) != fmt.Sprint(w.Lines) {
			add("order %s: ERP lines %v, want %v", o.OrderNo, g.Lines, w.Lines)
		}
	}
	for no, is := range byNo {
		if !seen[no] {
			for _, i := range is {
				add("extra ERP order %s (%s)", erp.orders[i].ExtRef, no)
			}
		}
	}
	return diffs
}

func summarize(diffs []string) string {
	if len(diffs) == 0 {
		return "in step"
	}
	n := min(len(diffs), 8)
	return fmt.Sprintf("%d difference(s), first %d:\n  %s", len(diffs), n, strings.Join(diffs[:n], "\n  "))
}
