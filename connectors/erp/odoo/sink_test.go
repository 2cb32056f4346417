package odoo

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp/odoo/internal/odoofake"
)

// TestSinkIdempotent writes customers and orders, then the same batches
// again: the second time nothing is created or written (no create or write
// call at all, write_date unchanged), and the fake holds exactly one
// partner and one order per key, with the values sent.
func TestSinkIdempotent(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, proto, setup{})
			var custs []connectors.WriteRecord
			for i := range 12 {
				custs = append(custs, customer(i))
			}
			res := mustWrite(t, e.conn, EntityCustomer, custs)
			partner := make([]string, len(custs))
			for i, r := range res {
				if r.Err != nil || r.ExternalID == "" {
					t.Fatalf("customer %d: %+v", i, r)
				}
				partner[i] = r.ExternalID
			}
			if n := e.fake.Count("res.partner", "create"); n != 1 {
				t.Errorf("partner creates = %d, want 1 (one batch call)", n)
			}
			var orders []connectors.WriteRecord
			for i := range 30 {
				orders = append(orders, order(i, partner[i%12], orderLines(i)...))
			}
			res = mustWrite(t, e.conn, EntityOrder, orders)
			sale := make([]string, len(orders))
			for i, r := range res {
				if r.Err != nil || r.ExternalID == "" {
					t.Fatalf("order %d: %+v", i, r)
				}
				sale[i] = r.ExternalID
			}
			check := func(when string) {
				t.Helper()
				ps := byStr(withField(e.fake.Records("res.partner"), "ref"), "ref")
				if len(ps) != 12 {
					t.Fatalf("%s: %d partners with a ref, want 12", when, len(ps))
				}
				for i, c := range custs {
					p := ps[fmt.Sprintf("C%04d", i)]
					if strconv.FormatInt(p.ID(), 10) != partner[i] || p.Str("name") != c.Data.Get("name").Str() ||
						p.Str("email") != c.Data.Get("email").Str() || p.Str("street") != c.Data.Get("street").Str() ||
						p.Int("country_id") != 2 || !p.Bool("active") {
						t.Errorf("%s: partner %d = %v", when, i, p)
					}
				}
				sos := e.fake.Records("sale.order")
				if len(sos) != 30 {
					t.Fatalf("%s: %d sale orders, want 30", when, len(sos))
				}
				nlines := 0
				for i, o := range orders {
					so, _ := e.fake.Get("sale.order", mustID(t, sale[i]))
					ref := o.Data.Get("client_order_ref").Str()
					if so.Str("client_order_ref") != ref || strconv.FormatInt(so.Int("partner_id"), 10) != partner[i%12] ||
						so.Str("state") != "sale" || so.Str("origin") != o.Data.Get("origin").Str() {
						t.Errorf("%s: order %s = %v", when, ref, so)
					}
					ls := linesOfOrder(e.fake, so.ID())
					want := orderLines(i)
					if len(ls) != len(want) {
						t.Fatalf("%s: order %s has %d lines, want %d", when, ref, len(ls), len(want))
					}
					for k, w := range want {
						q, _ := strconv.ParseFloat(w.qty, 64)
						p, _ := strconv.ParseFloat(w.price, 64)
						if ls[k].Float("product_uom_qty") != q || ls[k].Float("price_unit") != p || ls[k].Int("product_id") != skuID(w.sku) {
							t.Errorf("%s: order %s line %d = %v, want %+v", when, ref, k, ls[k], w)
						}
					}
					nlines += len(ls)
				}
				if got := len(e.fake.Records("sale.order.line")); got != nlines || nlines != 75 {
					t.Errorf("%s: %d lines in all, want 75", when, got)
				}
			}
			check("first write")
			stamp := e.fake.Records("sale.order")[7].Time("write_date")

			// The same batches again, later: nothing is created or written.
			e.clock.Add(time.Minute)
			e.fake.ResetCalls()
			res = mustWrite(t, e.conn, EntityCustomer, custs)
			for i, r := range res {
				if r.Err != nil || r.ExternalID != partner[i] || r.Outcome != connectors.Unchanged {
					t.Fatalf("rewrite customer %d: %+v, want id %s unchanged", i, r, partner[i])
				}
			}
			res = mustWrite(t, e.conn, EntityOrder, orders)
			for i, r := range res {
				if r.Err != nil || r.ExternalID != sale[i] || r.Outcome != connectors.Unchanged {
					t.Fatalf("rewrite order %d: %+v, want id %s unchanged", i, r, sale[i])
				}
			}
			for _, m := range []string{"create", "write", "unlink", "action_confirm"} {
				if n := e.fake.Count("", m); n != 0 {
					t.Errorf("rewrite made %d %s calls, want 0", n, m)
				}
			}
			check("rewrite")
			if got := e.fake.Records("sale.order")[7].Time("write_date"); !got.Equal(stamp) {
				t.Errorf("rewrite touched an order: write_date %v -> %v", stamp, got)
			}
		})
	}
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// skuID is the fake's seeded product id of SKU-n (ids 1..5).
func skuID(sku string) int64 {
	n, _ := strconv.ParseInt(strings.TrimPrefix(sku, "SKU-"), 10, 64)
	return n
}

// TestSinkRejectedRecord: Odoo refuses one record of a batch with a
// ValidationError; the batch create is rolled back by Odoo, the sink
// sends the records one by one, and only the bad one fails, permanently,
// with Odoo's own message. A later fix of that record is written.
func TestSinkRejectedRecord(t *testing.T) {
	const msg = "Invalid Email! Please enter a valid email address."
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, proto, setup{})
			e.fake.Refuse("res.partner", func(r odoofake.Record) string {
				if r.Str("email") != "" && !strings.Contains(r.Str("email"), "@") {
					return msg
				}
				return ""
			})
			recs := []connectors.WriteRecord{customer(1), customer(2), customer(3), customer(4)}
			recs[2].Data = obj("ref", "C0003", "name", "Customer 3", "email", "not-an-address")
			res := mustWrite(t, e.conn, EntityCustomer, recs)
			for _, i := range []int{0, 1, 3} {
				if res[i].Err != nil || res[i].ExternalID == "" {
					t.Fatalf("good record %d: %+v", i, res[i])
				}
			}
			if res[2].Err == nil || kindOf(res[2].Err) != connectors.KindPermanent || !strings.Contains(res[2].Err.Error(), msg) ||
				!strings.Contains(res[2].Err.Error(), "ValidationError") || res[2].ExternalID != "" {
				t.Fatalf("bad record: %+v", res[2])
			}
			ps := byStr(withField(e.fake.Records("res.partner"), "ref"), "ref")
			if len(ps) != 3 || ps["C0003"] != nil {
				t.Fatalf("partners = %v", ps)
			}
			for _, i := range []int{0, 1, 3} {
				if p := ps[recs[i].Data.Get("ref").Str()]; strconv.FormatInt(p.ID(), 10) != res[i].ExternalID {
					t.Errorf("partner %s = %v, result %+v", recs[i].Data.Get("ref").Str(), p, res[i])
				}
			}
			// 1 batch create refused, then 4 single creates (one refused).
			if n := e.fake.Count("res.partner", "create"); n != 5 {
				t.Errorf("creates = %d, want 5", n)
			}
			recs[2].Data = obj("ref", "C0003", "name", "Customer 3", "email", "c3@example.com")
			res = mustWrite(t, e.conn, EntityCustomer, recs)
			for i, r := range res {
				if r.Err != nil {
					t.Fatalf("after the fix, record %d: %v", i, r.Err)
				}
			}
			if ps := byStr(withField(e.fake.Records("res.partner"), "ref"), "ref"); len(ps) != 4 || ps["C0003"].Str("email") != "c3@example.com" {
				t.Fatalf("after the fix: %v", ps)
			}
		})
	}
}

// TestSinkOrderUpdates changes quotations in place with x2many commands
// and refuses to change confirmed orders.
func TestSinkOrderUpdates(t *testing.T) {
	e := newEnv(t, ProtocolJSON2, setup{cfg: func(c *Config) { c.SaleState = SaleDraft }})
	res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1), customer(2)})
	p1, p2 := res[0].ExternalID, res[1].ExternalID
	o := order(1, p1, line{"SKU-1", "2", "199.00"}, line{"SKU-2", "1", "25.50"}, line{"SKU-3", "4", "10"})
	res = mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{o})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	id := mustID(t, res[0].ExternalID)
	before := linesOfOrder(e.fake, id)
	if so, _ := e.fake.Get("sale.order", id); so.Str("state") != "draft" {
		t.Fatalf("sale_state draft: %v", so)
	}

	// Change a quantity, drop the last line, add another, change the note.
	o2 := order(1, p1, line{"SKU-1", "3", "199.00"}, line{"SKU-2", "1", "25.50"}, line{"SKU-5", "7", "1.00"}, line{"SKU-4", "1", "3.99"})
	e.fake.ResetCalls()
	res = mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{o2})
	if res[0].Err != nil || res[0].ExternalID != strconv.FormatInt(id, 10) {
		t.Fatalf("update: %+v", res[0])
	}
	calls := e.fake.Calls()
	var cmds []any
	for _, c := range calls {
		if c.Method == "write" && c.Model == "sale.order" {
			vals, _ := c.Args["vals"].(map[string]any)
			cmds, _ = vals["order_line"].([]any)
		}
	}
	if got := fmt.Sprint(cmds); got != fmt.Sprintf("[[1 %d map[product_uom_qty:3]] [1 %d map[price_unit:1 product_id:5 product_uom_qty:7]] [0 0 map[price_unit:3.99 product_id:4 product_uom_qty:1]]]",
		before[0].ID(), before[2].ID()) {
		t.Errorf("commands = %s", got)
	}
	after := linesOfOrder(e.fake, id)
	if len(after) != 4 || after[0].ID() != before[0].ID() || after[0].Float("product_uom_qty") != 3 ||
		after[1].ID() != before[1].ID() || after[2].ID() != before[2].ID() || after[2].Int("product_id") != 5 ||
		after[2].Float("price_unit") != 1 || after[2].Str("name") != "[SKU-5] Product 5" || after[3].Int("product_id") != 4 {
		t.Fatalf("lines after the update: %v", after)
	}
	// Fewer lines: the extra ones are deleted ([2, id, 0]).
	o3 := order(1, p1, line{"SKU-1", "3", "199.00"})
	res = mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{o3})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if ls := linesOfOrder(e.fake, id); len(ls) != 1 || ls[0].ID() != before[0].ID() {
		t.Fatalf("lines after dropping three: %v", ls)
	}
	// A note comes back from Odoo as HTML: sending the same text again is
	// no change.
	o3.Data = obj("client_order_ref", "shop:0001", "partner_id", p1, "note", "leave at the door",
		"lines", []any{map[string]any{"product": "SKU-1", "product_uom_qty": "3", "price_unit": "199"}})
	mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{o3})
	if so, _ := e.fake.Get("sale.order", id); so.Str("note") != "<p>leave at the door</p>" {
		t.Fatalf("note = %q", so.Str("note"))
	}
	e.fake.ResetCalls()
	mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{o3})
	if n := e.fake.Count("sale.order", "write"); n != 0 {
		t.Errorf("an unchanged note was written again (%d writes)", n)
	}

	// Confirmed in Odoo (which sets date_order to now): resending the
	// same order is a no-op; a changed line or customer is permanent;
	// a changed origin is written.
	e.clock.Add(time.Hour)
	if err := e.conn.rpc.method(t.Context(), "sale.order", "action_confirm", nil, []int64{id}); err != nil {
		t.Fatal(err)
	}
	e.fake.ResetCalls()
	res = mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{o3})
	if res[0].Err != nil || e.fake.Count("", "write") != 0 {
		t.Fatalf("resend of a confirmed order: %+v, %d writes", res[0], e.fake.Count("", "write"))
	}
	changed := order(1, p2, line{"SKU-1", "3", "199.00"})
	res = mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{changed})
	if res[0].Err == nil || kindOf(res[0].Err) != connectors.KindPermanent || !strings.Contains(res[0].Err.Error(), "confirmed sales order") {
		t.Fatalf("changing a confirmed order: %+v", res[0])
	}
	hdr := o3
	hdr.Data = obj("client_order_ref", "shop:0001", "partner_id", p1, "origin", "Order 1001 (phone)",
		"lines", []any{map[string]any{"product": "SKU-1", "product_uom_qty": "3", "price_unit": "199"}})
	res = mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{hdr})
	so, _ := e.fake.Get("sale.order", id)
	if res[0].Err != nil || so.Str("origin") != "Order 1001 (phone)" || so.Int("partner_id") != mustID(t, p1) || so.Str("state") != "sale" {
		t.Fatalf("header change of a confirmed order: %+v, %v", res[0], so)
	}
}

// TestSinkRecordErrors: records the connector itself refuses fail alone,
// permanently, naming the field.
func TestSinkRecordErrors(t *testing.T) {
	e := newEnv(t, ProtocolJSONRPC, setup{})
	res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1)})
	p := res[0].ExternalID
	bad := []connectors.WriteRecord{
		order(1, p, line{"SKU-1", "1", "10"}),
		order(2, p, line{"NOPE-404", "1", "10"}, line{"SKU-2", "x", "1"}),
		order(3, "99999", line{"SKU-1", "1", "10"}),
		order(4, p, line{"OLD-1", "1", "10"}),
		order(5, p),
	}
	res = mustWrite(t, e.conn, EntityOrder, bad)
	if res[0].Err != nil {
		t.Fatalf("good order: %v", res[0].Err)
	}
	for i, want := range map[int]string{
		1: `lines[0].product: no product with internal reference "NOPE-404" in Odoo; lines[1].product_uom_qty: "x" is not a decimal`,
		2: "partner 99999 does not exist",
		3: `no product with internal reference "OLD-1"`, // archived
		4: "at least one line",
	} {
		if res[i].Err == nil || kindOf(res[i].Err) != connectors.KindPermanent || !strings.Contains(res[i].Err.Error(), want) {
			t.Errorf("order %d: %v, want permanent %q", i, res[i].Err, want)
		}
	}
	if n := len(e.fake.Records("sale.order")); n != 1 {
		t.Fatalf("sale orders = %d, want 1", n)
	}
	res = mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{{HubID: "h", Data: obj("ref", "X", "name", "X", "country", "ZZ")}})
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), `country: "ZZ"`) {
		t.Fatalf("unknown country: %v", res[0].Err)
	}
	if _, err := e.conn.Write(t.Context(), EntityInvoice, nil); err == nil || kindOf(err) != connectors.KindPermanent {
		t.Fatalf("invoices must be read-only: %v", err)
	}
}

// TestSinkDuplicateKeyInBatch: one key twice in a batch is created once
// and then updated with the later record.
func TestSinkDuplicateKeyInBatch(t *testing.T) {
	e := newEnv(t, ProtocolJSON2, setup{})
	a, b := customer(1), customer(1)
	b.Data = obj("ref", "C0001", "name", "Customer 1 GmbH", "email", "c1@example.com")
	res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{a, customer(2), b})
	if res[0].Err != nil || res[2].Err != nil || res[0].ExternalID != res[2].ExternalID {
		t.Fatalf("results %+v", res)
	}
	ps := withField(e.fake.Records("res.partner"), "ref")
	if len(ps) != 2 || byStr(ps, "ref")["C0001"].Str("name") != "Customer 1 GmbH" || byStr(ps, "ref")["C0001"].Str("street") != "Friedrichstrasse 1" {
		t.Fatalf("partners %v", ps)
	}
}

// TestSinkDeletes: a customer is archived (and found again by its key,
// archived or not); a draft order is deleted; a confirmed one is not.
func TestSinkDeletes(t *testing.T) {
	e := newEnv(t, ProtocolJSONRPC, setup{cfg: func(c *Config) { c.SaleState = SaleDraft }})
	res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1)})
	pid := res[0].ExternalID
	del := customer(1)
	del.Op = connectors.OpDelete
	if r := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{del}); r[0].Err != nil || r[0].ExternalID != pid || r[0].Outcome != connectors.Written {
		t.Fatalf("archive: %+v", r[0])
	}
	if p, _ := e.fake.Get("res.partner", mustID(t, pid)); p.Bool("active") {
		t.Fatal("the partner is still active")
	}
	if r := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{del}); r[0].Err != nil || r[0].Outcome != connectors.Unchanged {
		t.Fatalf("archive again: %+v, want unchanged", r[0])
	}
	// Writing it again re-activates the same partner.
	if r := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1)}); r[0].Err != nil || r[0].ExternalID != pid {
		t.Fatalf("reactivate: %+v", r[0])
	}
	if p, _ := e.fake.Get("res.partner", mustID(t, pid)); !p.Bool("active") {
		t.Fatal("the partner was not re-activated")
	}
	res = mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{order(1, pid, line{"SKU-1", "1", "1"}), order(2, pid, line{"SKU-1", "1", "1"})})
	if err := e.conn.rpc.method(t.Context(), "sale.order", "action_confirm", nil, []int64{mustID(t, res[1].ExternalID)}); err != nil {
		t.Fatal(err)
	}
	d1, d2, d3 := order(1, pid), order(2, pid), order(3, pid)
	d1.Op, d2.Op, d3.Op = connectors.OpDelete, connectors.OpDelete, connectors.OpDelete
	r := mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{d1, d2, d3})
	if r[0].Err != nil || r[0].Outcome != connectors.Written || r[2].Err != nil || r[2].Outcome != connectors.NotFound {
		t.Fatalf("deletes: %+v", r)
	}
	if r := mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{d1}); r[0].Outcome != connectors.NotFound {
		t.Fatalf("delete again: %+v, want not found", r[0])
	}
	// An update of a partner Odoo no longer has (deleted there), that no
	// partner carries the key of: NotFound, not created again.
	gone := customer(9)
	gone.ExternalID = "9999"
	if r := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{gone}); r[0].Err != nil || r[0].Outcome != connectors.NotFound {
		t.Fatalf("update of a partner Odoo does not have: %+v", r[0])
	}
	if n := len(withField(e.fake.Records("res.partner"), "ref")); n != 1 {
		t.Fatalf("partners = %d, want 1", n)
	}
	if r[1].Err == nil || kindOf(r[1].Err) != connectors.KindPermanent || !strings.Contains(r[1].Err.Error(), "cancel it in Odoo") {
		t.Fatalf("delete of a confirmed order: %v", r[1].Err)
	}
	sos := e.fake.Records("sale.order")
	if len(sos) != 1 || strconv.FormatInt(sos[0].ID(), 10) != res[1].ExternalID {
		t.Fatalf("orders left: %v", sos)
	}
	if n := len(e.fake.Records("sale.order.line")); n != 1 {
		t.Fatalf("lines left: %d", n)
	}
}
