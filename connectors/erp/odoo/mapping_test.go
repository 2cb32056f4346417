package odoo

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/mapping/mappingtest"
)

var mappingRoot = filepath.Join("..", "..", "..", "configs", "mappings")

// golden is what the shipped mapping name makes of its sample (checked
// against its expected output).
func golden(t *testing.T, name string) mapping.Value {
	t.Helper()
	return mappingtest.Golden(t, mappingRoot, name)
}

// TestMappingsThroughConnector writes what the outbound mappings make of
// their samples to the stand-in Odoo through the sink, and checks the
// partner and the sale order Odoo then holds, field by field. It then
// bills that order and reads the invoice back through the source: the
// record is exactly the inbound mapping's sample input, so the golden
// test above maps a real source record.
func TestMappingsThroughConnector(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, proto, setup{cfg: func(c *Config) { c.PollInterval = 5 * time.Millisecond }})
			e.clock.Set(time.Date(2026, 3, 1, 8, 15, 0, 0, time.UTC))

			pdata := golden(t, "odoo-partner-out")
			res := mustWrite(t, e.conn, EntityCustomer, []connectors.WriteRecord{{Entity: EntityCustomer,
				HubID: "6d1f4e4a-1c8e-4a52-8b59-0a7c7b3f9e01", Op: connectors.OpUpsert, Data: pdata}})
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			// The lookups sample maps the customer to Odoo id 4: the first
			// partner a fresh database creates.
			if res[0].ExternalID != "4" {
				t.Fatalf("partner id %s, want 4", res[0].ExternalID)
			}
			p, _ := e.fake.Get("res.partner", 4)
			for f, want := range map[string]string{"ref": "D10042", "name": "Snow Logistics GmbH", "email": "billing@snow-logistics.example",
				"phone": "+4930901820", "vat": "DE123456789", "street": "Friedrichstrasse 43", "street2": "3. OG", "zip": "10969", "city": "Berlin"} {
				if p.Str(f) != want {
					t.Errorf("partner %s = %q, want %q", f, p.Str(f), want)
				}
			}
			if !p.Bool("is_company") || p.Int("country_id") != 2 || !p.Bool("active") {
				t.Errorf("partner %v", p)
			}

			e.clock.Add(time.Minute)
			sdata := golden(t, "odoo-sale-out")
			res = mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{{Entity: EntityOrder,
				HubID: "0f8c1c3e-6f0a-4bb1-9a51-5b7b1d7f2a10", Op: connectors.OpUpsert, Data: sdata}})
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			so, _ := e.fake.Get("sale.order", mustID(t, res[0].ExternalID))
			if so.Str("client_order_ref") != "shop:820982911946154508" || so.Int("partner_id") != 4 || so.Str("origin") != "Order 1001" ||
				so.Str("note") != "<p>leave at the door</p>" || so.Str("state") != "sale" {
				t.Errorf("sale order %v", so)
			}
			ls := linesOfOrder(e.fake, so.ID())
			if len(ls) != 2 || ls[0].Int("product_id") != 1 || ls[0].Float("product_uom_qty") != 2 || ls[0].Float("price_unit") != 199 ||
				ls[0].Str("name") != "Product 1, silver" || ls[1].Int("product_id") != 4 || ls[1].Float("product_uom_qty") != 1.5 ||
				ls[1].Float("price_unit") != 3.99 || ls[1].Str("name") != "[SKU-4] Product 4" {
				t.Errorf("lines %v", ls)
			}
			// Sending the mapped order again changes nothing.
			e.fake.ResetCalls()
			mustWrite(t, e.conn, EntityOrder, []connectors.WriteRecord{{Entity: EntityOrder, HubID: "x", Op: connectors.OpUpsert, Data: sdata}})
			if e.fake.Count("", "write")+e.fake.Count("", "create")+e.fake.Count("", "action_confirm") != 0 {
				t.Errorf("the unchanged order was written again: %+v", e.fake.Calls())
			}

			// Odoo invoices the order (the sale.advance.payment.inv wizard,
			// here done directly) and the customer pays part of it.
			e.clock.Set(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
			inv := e.fake.Put("account.move", map[string]any{"name": "INV/2026/00007", "move_type": "out_invoice", "state": "posted",
				"payment_state": "partial", "invoice_date": "2026-03-02", "invoice_date_due": "2026-04-01", "partner_id": 4,
				"amount_untaxed": 403.99, "amount_tax": 0.0, "amount_total": 403.99, "amount_residual": 203.99,
				"invoice_origin": so.Str("name"), "ref": "shop:820982911946154508"})
			for _, l := range ls {
				e.fake.Put("account.move.line", map[string]any{"move_id": inv, "product_id": l.Int("product_id"), "name": l.Str("name"),
					"quantity": l.Float("product_uom_qty"), "price_unit": l.Float("price_unit"), "sale_line_ids": []int64{l.ID()}})
			}
			e.clock.Add(90 * time.Second)
			e.fake.Set("account.move", inv, map[string]any{"amount_residual": 203.99})
			b := read(t, e.conn, EntityInvoice, "", 10)
			if len(b.Records) != 1 {
				t.Fatalf("invoices read: %d", len(b.Records))
			}
			got := mapping.AppendJSON(nil, b.Records[0].Data)
			td := filepath.Join(mappingRoot, "testdata", "odoo-invoice-in.input.json")
			if os.Getenv("HUB_UPDATE_GOLDEN") == "1" && proto == ProtocolJSON2 {
				mappingtest.WriteIndented(t, td, got)
			}
			raw, err := os.ReadFile(td)
			if err != nil {
				t.Fatal(err)
			}
			want, err := mapping.ParseJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			if w := mapping.AppendJSON(nil, want); string(got) != string(w) {
				t.Fatalf("the source's invoice record\n%s\ndiffers from the mapping's sample input\n%s", got, w)
			}
		})
	}
}
