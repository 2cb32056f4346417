package odoo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp/odoo/internal/odoofake"
	"github.com/crmhub/hub/mapping"
)

// read reads one batch as Read does, without waiting for changes when
// there are none (TestReadPolls covers the waiting).
func read(t *testing.T, c *Conn, entity, cur string, max int) connectors.Batch {
	t.Helper()
	r, octx, err := c.started(entity)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.readOnce(context.Background(), r, octx, entity, cur, max)
	if err != nil {
		t.Fatalf("read %s: %v", entity, err)
	}
	return b
}

// TestReadPolls: with nothing new Read polls until a change arrives, and
// returns an empty batch with its cursor when ctx ends first.
func TestReadPolls(t *testing.T) {
	e := newEnv(t, ProtocolJSON2, setup{cfg: func(c *Config) { c.PollInterval = 5 * time.Millisecond }})
	_, cur := drain(t, e.conn, EntityCustomer, "", 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	b, err := e.conn.Read(ctx, EntityCustomer, cur, 10)
	cancel()
	if err != nil || len(b.Records) != 0 || b.Cursor == "" {
		t.Fatalf("idle read: %v, %d records, cursor %q", err, len(b.Records), b.Cursor)
	}
	polls := e.fake.Count("res.partner", "search_read")
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		e.clock.Add(time.Minute)
		e.fake.Put("res.partner", map[string]any{"name": "Arrives later", "ref": "LATER"})
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err = e.conn.Read(ctx, EntityCustomer, b.Cursor, 10)
	<-done
	if err != nil || len(b.Records) != 1 || b.Records[0].Data.Get("ref").Str() != "LATER" {
		t.Fatalf("read while waiting: %v, %v", err, keys(b.Records))
	}
	if n := e.fake.Count("res.partner", "search_read"); n <= polls+1 {
		t.Fatalf("Read did not poll (%d calls before, %d after)", polls, n)
	}
}

// drain reads batches of at most max until one comes back empty.
func drain(t *testing.T, c *Conn, entity, cur string, max int) ([]connectors.Record, string) {
	t.Helper()
	var all []connectors.Record
	for range 100 {
		b := read(t, c, entity, cur, max)
		if len(b.Records) > max {
			t.Fatalf("batch of %d records, max %d", len(b.Records), max)
		}
		cur = b.Cursor
		if len(b.Records) == 0 {
			return all, cur
		}
		all = append(all, b.Records...)
	}
	t.Fatal("the source never ran dry")
	return nil, ""
}

func keys(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key
	}
	return out
}

// TestSourceNeverSkips puts many partners in the same second of
// write_date, in an order of microseconds unlike their ids, and reads
// them in batches smaller than the tie: every record comes exactly once.
// Then it changes one partner again within the same second (found by
// content), commits one late with an older write_date inside the
// look-back window, and later changes one after its version settled:
// each arrives once, and nothing else does. It runs on both protocols and
// both of Odoo's datetime comparisons (microseconds before 18.4, whole
// seconds after).
func TestSourceNeverSkips(t *testing.T) {
	for _, proto := range protocols {
		for _, whole := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/whole_seconds=%v", proto, whole), func(t *testing.T) {
				e := newEnv(t, proto, setup{
					fake: func(o *odoofake.Options) { o.WholeSeconds = whole },
					cfg:  func(c *Config) { c.PollInterval = 5 * time.Millisecond; c.BatchSize = 50 },
				})
				t0 := e.clock.Now().Add(time.Minute)
				ids := map[int64]string{}
				for i := range 25 {
					us := time.Duration((i*7)%25) * 31 * time.Microsecond
					id := e.fake.Put("res.partner", map[string]any{"name": fmt.Sprintf("Tie %d", i), "ref": fmt.Sprintf("T%02d", i),
						"create_date": t0, "write_date": t0.Add(us)})
					ids[id] = fmt.Sprintf("T%02d", i)
				}
				for i := range 5 {
					id := e.fake.Put("res.partner", map[string]any{"name": fmt.Sprintf("Next %d", i), "ref": fmt.Sprintf("N%d", i),
						"create_date": t0, "write_date": t0.Add(time.Second + time.Duration(5-i)*time.Millisecond)})
					ids[id] = fmt.Sprintf("N%d", i)
				}
				all, cur := drain(t, e.conn, EntityCustomer, "", 7)
				seen := map[string]int{}
				for _, r := range all {
					seen[r.Key]++
				}
				if len(all) != 32 || len(seen) != 32 { // with the 2 seeded partners
					t.Fatalf("read %d records, %d distinct, want 32: %v", len(all), len(seen), keys(all))
				}
				for id := range ids {
					if seen[idString(id)] != 1 {
						t.Errorf("partner %d (%s) read %d times", id, ids[id], seen[idString(id)])
					}
				}
				for i := 1; i < len(all); i++ {
					if all[i].Version.Truncate(time.Second).Before(all[i-1].Version.Truncate(time.Second)) {
						t.Errorf("record %d goes back in time: %v after %v", i, all[i].Version, all[i-1].Version)
					}
				}

				// A second write in the same (shown) second as the first.
				var tied int64
				for id, ref := range ids {
					if ref == "T07" {
						tied = id
					}
				}
				e.fake.Set("res.partner", tied, map[string]any{"name": "Tie 7 renamed", "write_date": t0.Add(999999 * time.Microsecond)})
				b := read(t, e.conn, EntityCustomer, cur, 7)
				if len(b.Records) != 1 || b.Records[0].Key != idString(tied) || b.Records[0].Data.Get("name").Str() != "Tie 7 renamed" {
					t.Fatalf("same-second change: %v", keys(b.Records))
				}
				cur = b.Cursor
				if again := read(t, e.conn, EntityCustomer, cur, 7); len(again.Records) != 0 {
					t.Fatalf("re-read returned %v", keys(again.Records))
				}

				// A transaction that committed late: write_date 4 s before
				// the newest one read, inside the 10 s look-back.
				late := e.fake.Put("res.partner", map[string]any{"name": "Late", "ref": "L1", "create_date": t0.Add(-3 * time.Second),
					"write_date": t0.Add(-3 * time.Second)})
				b = read(t, e.conn, EntityCustomer, cur, 7)
				if len(b.Records) != 1 || b.Records[0].Key != idString(late) {
					t.Fatalf("late commit: %v", keys(b.Records))
				}
				cur = b.Cursor

				// Much later (every version settled): a change of a record
				// read long ago, and a new record, both come once.
				e.clock.Add(time.Minute)
				e.fake.SetNow(func() time.Time { return t0.Add(3 * time.Second) })
				e.fake.Set("res.partner", tied, map[string]any{"email": "tie7@example.com"})
				fresh := e.fake.Put("res.partner", map[string]any{"name": "Fresh", "ref": "F1"})
				got, cur := drain(t, e.conn, EntityCustomer, cur, 7)
				if fmt.Sprint(keys(got)) != fmt.Sprint([]string{idString(tied), idString(fresh)}) ||
					got[0].Data.Get("email").Str() != "tie7@example.com" {
					t.Fatalf("after settling: %v", keys(got))
				}
				if again := read(t, e.conn, EntityCustomer, cur, 7); len(again.Records) != 0 {
					t.Fatalf("final re-read returned %v", keys(again.Records))
				}
			})
		}
	}
}

// TestSourceNoLookBack: with look_back 0 ties at the cursor's second are
// still neither skipped nor repeated.
func TestSourceNoLookBack(t *testing.T) {
	zero := time.Duration(0)
	e := newEnv(t, ProtocolJSON2, setup{cfg: func(c *Config) { c.LookBack = &zero; c.PollInterval = 5 * time.Millisecond }})
	t0 := e.clock.Now().Add(time.Minute)
	for i := range 9 {
		e.fake.Put("res.partner", map[string]any{"name": fmt.Sprint(i), "ref": fmt.Sprint(i), "write_date": t0.Add(time.Duration(9-i) * time.Microsecond)})
	}
	all, _ := drain(t, e.conn, EntityCustomer, "", 4)
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.Key] {
			t.Fatalf("%s read twice", r.Key)
		}
		seen[r.Key] = true
	}
	if len(seen) != 11 {
		t.Fatalf("read %d, want 11", len(seen))
	}
}

// TestSourceInvoices reads customer invoices with their product lines and
// the sale order they bill (through sale_line_ids, or invoice_origin),
// leaves vendor bills out, and sees a payment arrive.
func TestSourceInvoices(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, proto, setup{cfg: func(c *Config) { c.PollInterval = 5 * time.Millisecond }})
			res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{customer(1)})
			pid := mustID(t, res[0].ExternalID)
			ores := mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{
				order(1, res[0].ExternalID, line{"SKU-1", "2", "199.00"}, line{"SKU-4", "1.5", "3.99"}),
				order(2, res[0].ExternalID, line{"SKU-2", "1", "25.50"}),
			})
			so1, so2 := mustID(t, ores[0].ExternalID), mustID(t, ores[1].ExternalID)
			sl := linesOfOrder(e.fake, so1)
			so2rec, _ := e.fake.Get("sale.order", so2)

			e.clock.Add(time.Hour)
			inv := e.fake.Put("account.move", map[string]any{"name": "INV/2026/00001", "move_type": "out_invoice", "state": "posted",
				"payment_state": "not_paid", "invoice_date": "2026-03-02", "invoice_date_due": "2026-04-01", "partner_id": pid,
				"amount_untaxed": 403.99, "amount_tax": 0.0, "amount_total": 403.99, "amount_residual": 403.99, "invoice_origin": "S99999"})
			e.fake.Put("account.move.line", map[string]any{"move_id": inv, "product_id": 1, "name": "[SKU-1] Product 1", "quantity": 2.0,
				"price_unit": 199.0, "sale_line_ids": []int64{sl[0].ID()}})
			e.fake.Put("account.move.line", map[string]any{"move_id": inv, "product_id": 4, "name": "[SKU-4] Product 4", "quantity": 1.5,
				"price_unit": 3.99, "sale_line_ids": []int64{sl[1].ID()}})
			e.fake.Put("account.move.line", map[string]any{"move_id": inv, "name": "", "display_type": "payment_term", "price_unit": -403.99})
			inv2 := e.fake.Put("account.move", map[string]any{"name": "INV/2026/00002", "move_type": "out_invoice", "state": "draft",
				"partner_id": pid, "amount_total": 25.5, "amount_residual": 25.5, "invoice_origin": so2rec.Str("name")})
			e.fake.Put("account.move", map[string]any{"name": "BILL/2026/00001", "move_type": "in_invoice", "state": "posted", "partner_id": pid})

			all, cur := drain(t, e.conn, EntityInvoice, "", 10)
			if len(all) != 2 || all[0].Key != idString(inv) || all[1].Key != idString(inv2) {
				t.Fatalf("invoices %v", keys(all))
			}
			d := all[0].Data
			for k, want := range map[string]string{"name": "INV/2026/00001", "move_type": "out_invoice", "state": "posted",
				"payment_state": "not_paid", "invoice_date": "2026-03-02", "invoice_date_due": "2026-04-01", "amount_total": "403.99",
				"amount_residual": "403.99", "amount_tax": "0.0", "currency": "EUR", "partner_name": "Customer 1",
				"sale_client_order_ref": "shop:0001", "sale_order_name": fmt.Sprintf("S%05d", so1)} {
				if got := d.Get(k).Str(); got != want {
					t.Errorf("invoice %s = %q, want %q", k, got, want)
				}
			}
			if d.Get("partner_id").Str() != idString(pid) || d.Get("sale_order_id").Str() != idString(so1) {
				t.Errorf("invoice ids: %s", mapping.AppendJSON(nil, d))
			}
			ls := d.Get("lines").Elems()
			if len(ls) != 2 || ls[0].Get("product").Str() != "SKU-1" || ls[0].Get("quantity").Str() != "2.0" ||
				ls[0].Get("price_subtotal").Str() != "398.0" || ls[1].Get("product").Str() != "SKU-4" {
				t.Errorf("invoice lines: %s", mapping.AppendJSON(nil, d.Get("lines")))
			}
			if d2 := all[1].Data; d2.Get("sale_client_order_ref").Str() != "shop:0002" || d2.Get("name").Str() != "INV/2026/00002" ||
				d2.Get("invoice_date").Kind() != mapping.Null {
				t.Errorf("invoice linked by origin: %s", mapping.AppendJSON(nil, d2))
			}
			t.Logf("an invoice record: %s", mapping.AppendJSON(nil, d))

			// The customer pays.
			e.clock.Add(time.Hour)
			e.fake.Set("account.move", inv, map[string]any{"payment_state": "paid", "amount_residual": 0.0})
			b := read(t, e.conn, EntityInvoice, cur, 10)
			if len(b.Records) != 1 || b.Records[0].Key != idString(inv) || b.Records[0].Data.Get("payment_state").Str() != "paid" ||
				b.Records[0].Data.Get("amount_residual").Str() != "0.0" {
				t.Fatalf("after the payment: %v", keys(b.Records))
			}
		})
	}
}

// TestScanPages lists every record in pages of batch_size, archived
// partners included, each once, in id order.
func TestScanPages(t *testing.T) {
	e := newEnv(t, ProtocolJSONRPC, setup{cfg: func(c *Config) { c.BatchSize = 4 }})
	for i := range 13 {
		vals := map[string]any{"name": fmt.Sprintf("P%d", i), "ref": fmt.Sprintf("P%d", i)}
		if i == 5 {
			vals["active"] = false
		}
		e.fake.Put("res.partner", vals)
	}
	e.fake.ResetCalls()
	if got := e.conn.Scans(); !slices.Equal(got, []string{EntityCustomer, EntityInvoice, EntityOrder}) {
		t.Fatalf("Scans = %v", got)
	}
	var got []string
	for _, r := range scanAll(t, e.conn, EntityCustomer, 100) {
		got = append(got, r.Key)
	}
	var want []string
	for _, p := range e.fake.Records("res.partner") {
		want = append(want, idString(p.ID()))
	}
	if !slices.Equal(got, want) || len(want) != 15 {
		t.Fatalf("scan %v, want %v", got, want)
	}
	if n := e.fake.Count("res.partner", "search_read"); n != 4 { // 4+4+4+3: max is capped by batch_size
		t.Fatalf("pages = %d, want 4", n)
	}
	// A position resumes after its record, whatever came and went before it.
	p, err := e.conn.Scan(context.Background(), EntityCustomer, "", 4)
	if err != nil || p.Next != "id:"+want[3] {
		t.Fatalf("first page: next %q, %v", p.Next, err)
	}
	e.fake.Delete("res.partner", keyID(want[1]))
	rest := scanAll(t, e.conn, EntityCustomer, 4, p.Next)
	if len(rest) != len(want)-4 || rest[0].Key != want[4] {
		t.Fatalf("resumed scan: %v, want %v", keys(rest), want[4:])
	}
	// The stand-in pages by offset and limit as Odoo does.
	page, err := e.conn.rpc.searchRead(context.Background(), "res.partner", map[string]any{"active_test": false}, nil, []string{"ref"}, 4, 4, "id desc")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range page {
		ids = append(ids, idString(r.ID()))
	}
	if fmt.Sprint(ids) != fmt.Sprint([]string{want[10], want[9], want[8], want[7]}) {
		t.Fatalf("offset 4 limit 4 by id desc: %v (of %v)", ids, want)
	}
	// Orders come with their lines.
	res := mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{order(1, want[2], orderLines(1)...)})
	var o connectors.Record
	for _, r := range scanAll(t, e.conn, EntityOrder, 4) {
		o = r
	}
	if o.Key != res[0].ExternalID || o.Data.Get("lines").Len() != len(orderLines(1)) || o.Data.Get("state").Str() != "sale" ||
		!strings.HasPrefix(o.Data.Get("lines").Index(0).Get("product").Str(), "SKU-") {
		t.Fatalf("scanned order %s", mapping.AppendJSON(nil, o.Data))
	}
	if _, err := e.conn.Read(context.Background(), "ledger", "", 1); err == nil || kindOf(err) != connectors.KindPermanent {
		t.Fatalf("unknown entity: %v", err)
	}
	if _, err := e.conn.Read(context.Background(), EntityCustomer, "garbage", 1); err == nil || kindOf(err) != connectors.KindPermanent {
		t.Fatalf("bad cursor: %v", err)
	}
}
