package rest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// erpnextConfig is the ERPNext config of docs/connectors/rest.md, on the
// stand-in, with small pages so every listing spans several.
func erpnextConfig(f *frappeSite, pageSize int) Config {
	updated := TimeField{Field: "modified", Format: FormatFrappe, TimeZone: "Europe/Berlin"}
	since := SinceConfig{Params: map[string]string{"filters": `[["modified",">=","{since}"]]`}}
	params := map[string]string{"fields": `["*"]`, "order_by": "modified asc, name asc"}
	page := PageConfig{Type: PageOffset, OffsetParam: "limit_start", SizeParam: "limit_page_length", Size: pageSize}
	zero := time.Duration(0)
	return Config{
		HTTPConfig:   erp.HTTPConfig{URL: f.url(), RetryWait: time.Millisecond},
		Auth:         erp.AuthConfig{Type: erp.AuthAPIKey, Header: "Authorization", Prefix: "token ", Key: f.key + ":" + f.secret},
		PollInterval: 10 * time.Millisecond,
		Entities: map[string]EntityConfig{
			"customer": {
				List: "/api/resource/Customer", IDField: "name", Records: "data", Record: "data",
				UpdatedAt: updated, UpdatedSince: since, Params: params, Pagination: page,
				Match:  MatchConfig{Field: "custom_hub_id", Params: map[string]string{"filters": `[["custom_hub_id","=","{value}"]]`}},
				Delete: DeleteConfig{Mode: DeleteSoft, Field: "disabled", Value: 1},
			},
			"order": {
				List: "/api/resource/Sales Order", IDField: "name", Records: "data", Record: "data",
				UpdatedAt: updated, UpdatedSince: since, Params: params, Pagination: page,
				Match:  MatchConfig{Field: "po_no", Params: map[string]string{"filters": `[["po_no","=","{value}"],["docstatus","!=",2]]`}},
				Delete: DeleteConfig{Mode: DeleteSoft, Field: "docstatus", Value: 2},
			},
			"invoice": {
				List: "/api/resource/Sales Invoice", IDField: "name", Records: "data", Record: "data", ReadOnly: true, ReadEach: true,
				UpdatedAt: updated, Pagination: page, LookBack: &zero,
				// the since filter replaces the list's filters: keep docstatus in it
				UpdatedSince: SinceConfig{Params: map[string]string{"filters": `[["docstatus","=",1],["modified",">=","{since}"]]`}},
				Params:       map[string]string{"fields": `["name","modified"]`, "filters": `[["docstatus","=",1]]`, "order_by": "modified asc, name asc"},
			},
		},
	}
}

func erpCustomer(i int) connectors.WriteRecord {
	return connectors.WriteRecord{Entity: "customer", HubID: fmt.Sprintf("hub-c-%02d", i), Op: connectors.OpUpsert,
		Data: obj("customer_name", fmt.Sprintf("Customer %d", i), "customer_type", "Company",
			"customer_group", "Commercial", "territory", "All Territories", "email_id", fmt.Sprintf("c%d@example.com", i))}
}

func erpOrder(i int, customer string, lines ...[3]any) connectors.WriteRecord {
	items := make([]any, len(lines))
	for n, l := range lines {
		items[n] = map[string]any{"item_code": l[0], "qty": l[1], "rate": l[2], "delivery_date": "2026-03-05"}
	}
	return connectors.WriteRecord{Entity: "order", HubID: fmt.Sprintf("hub-o-%02d", i), Op: connectors.OpUpsert,
		Refs: map[string]string{"customer": customer},
		Data: obj("customer", customer, "transaction_date", "2026-03-01", "delivery_date", "2026-03-05",
			"po_no", fmt.Sprintf("shop:%04d", i), "currency", "EUR", "docstatus", 1, "items", items)}
}

// TestERPNextCustomerLifecycle creates, reads back, updates and deletes
// customers through the sink, checking the site's records after each step.
func TestERPNextCustomerLifecycle(t *testing.T) {
	f := newFrappe(t)
	c, _ := start(t, erpnextConfig(f, 3), erp.Options{})

	recs := []connectors.WriteRecord{erpCustomer(1), erpCustomer(2)}
	ids := okIDs(t, mustWrite(t, c, "customer", recs))
	if ids[0] != "CUST-2026-00001" || ids[1] != "CUST-2026-00002" {
		t.Fatalf("ids = %v, want the names the site generated", ids)
	}
	for i, id := range ids {
		d := f.doc("Customer", id)
		if d["customer_name"] != fmt.Sprintf("Customer %d", i+1) || d["custom_hub_id"] != recs[i].HubID || d["email_id"] != fmt.Sprintf("c%d@example.com", i+1) {
			t.Fatalf("stored %s: %v", id, d)
		}
	}

	// An update with the known id: PUT of the changed record.
	upd := erpCustomer(2)
	upd.ExternalID = ids[1]
	upd.Data = obj("customer_name", "Customer 2 GmbH", "customer_type", "Company", "customer_group", "Commercial",
		"territory", "All Territories", "email_id", "billing@c2.example.com")
	f.resetCalls()
	if got := okIDs(t, mustWrite(t, c, "customer", []connectors.WriteRecord{upd})); got[0] != ids[1] {
		t.Fatalf("update id = %s, want %s", got[0], ids[1])
	}
	if d := f.doc("Customer", ids[1]); d["customer_name"] != "Customer 2 GmbH" || d["email_id"] != "billing@c2.example.com" || d["custom_hub_id"] != "hub-c-02" {
		t.Fatalf("updated: %v", d)
	}
	if n := f.calledWith("PUT /api/resource/Customer/" + ids[1]); n != 1 {
		t.Fatalf("PUTs = %d, want 1", n)
	}
	if n := len(f.all("Customer")); n != 2 {
		t.Fatalf("customers = %d, want 2", n)
	}

	// Delete: soft (disabled = 1), by id and, without one, by match field.
	del := []connectors.WriteRecord{
		{Entity: "customer", HubID: "hub-c-01", ExternalID: ids[0], Op: connectors.OpDelete},
		{Entity: "customer", HubID: "hub-c-02", Op: connectors.OpDelete, Data: obj()},
		{Entity: "customer", HubID: "hub-c-99", Op: connectors.OpDelete, Data: obj()}, // never written: nothing to do
	}
	res := mustWrite(t, c, "customer", del)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("delete %d: %v", i, r.Err)
		}
	}
	if res[0].ExternalID != ids[0] || res[1].ExternalID != ids[1] || res[2].ExternalID != "" {
		t.Fatalf("delete results: %+v", res)
	}
	for _, id := range ids {
		if d := f.doc("Customer", id); d == nil || num(d["disabled"]) != 1 {
			t.Fatalf("%s after delete: %v", id, d)
		}
	}
}

// TestERPNextCustomerAddress: a new customer's address fields become its
// primary Address (ERPNext's Customer.create_primary_address) and are no
// fields of the Customer, so a read never returns them: listed under
// write_only, they do not make every rewrite a PUT. Without an address
// city and country, ERPNext refuses the customer with its message.
func TestERPNextCustomerAddress(t *testing.T) {
	f := newFrappe(t)
	withAddr := func(i int) connectors.WriteRecord {
		r := erpCustomer(i)
		for _, m := range []struct{ k, v string }{{"address_line1", "Friedrichstrasse 43"}, {"city", "Berlin"}, {"pincode", "10969"}, {"country", "Germany"}} {
			r.Data = path{m.k}.set(r.Data, mapping.StringValue(m.v))
		}
		return r
	}
	for _, writeOnly := range []bool{false, true} {
		cfg := erpnextConfig(f, 3)
		ec := cfg.Entities["customer"]
		if writeOnly {
			ec.WriteOnly = customerAddressFields()
		}
		cfg.Entities["customer"] = ec
		c, _ := start(t, cfg, erp.Options{})
		i := 1
		if writeOnly {
			i = 2
		}
		id := okIDs(t, mustWrite(t, c, "customer", []connectors.WriteRecord{withAddr(i)}))[0]
		f.mu.Lock()
		addr := f.addresses[len(f.addresses)-1]
		f.mu.Unlock()
		if addr["city"] != "Berlin" || f.doc("Customer", id)["customer_primary_address"] != addr["name"] || f.doc("Customer", id)["city"] != nil {
			t.Fatalf("address %v, customer %v", addr, f.doc("Customer", id))
		}
		f.resetCalls()
		rec := withAddr(i)
		rec.ExternalID = id
		okIDs(t, mustWrite(t, c, "customer", []connectors.WriteRecord{rec}))
		puts := f.calledWith("PUT ")
		if writeOnly && puts != 0 || !writeOnly && puts != 1 {
			t.Fatalf("write_only %v: %d PUTs for an unchanged customer", writeOnly, puts)
		}
	}
	c, _ := start(t, erpnextConfig(f, 3), erp.Options{})
	bad := erpCustomer(3)
	bad.Data = path{"address_line1"}.set(bad.Data, mapping.StringValue("Unter den Linden 1"))
	res := mustWrite(t, c, "customer", []connectors.WriteRecord{bad})
	wantPermanent(t, res[0].Err, "HTTP 417", "Following fields are mandatory to create address: City Country")
}

// TestERPNextSalesOrderWithItems writes submitted sales orders with their
// items, rewrites them unchanged (no PUT: a submitted order would refuse
// it), and shows that a real change to a submitted order is a permanent
// error with ERPNext's message; a delete cancels (docstatus 2).
func TestERPNextSalesOrderWithItems(t *testing.T) {
	f := newFrappe(t)
	c, _ := start(t, erpnextConfig(f, 3), erp.Options{})
	cust := okIDs(t, mustWrite(t, c, "customer", []connectors.WriteRecord{erpCustomer(1)}))[0]

	orders := []connectors.WriteRecord{
		erpOrder(1, cust, [3]any{"SKU-1", "2", "199.00"}, [3]any{"SKU-4", "1.5", "3.99"}),
		erpOrder(2, cust, [3]any{"SKU-2", "1", "10.00"}),
	}
	ids := okIDs(t, mustWrite(t, c, "order", orders))
	so := f.doc("Sales Order", ids[0])
	items, _ := so["items"].([]any)
	if so["customer"] != cust || so["po_no"] != "shop:0001" || num(so["docstatus"]) != 1 || len(items) != 2 {
		t.Fatalf("stored order: %v", so)
	}
	first, _ := items[0].(map[string]any)
	if first["item_code"] != "SKU-1" || num(first["qty"]) != 2 || num(first["rate"]) != 199 || first["parent"] != ids[0] {
		t.Fatalf("first item: %v", first)
	}
	if num(so["grand_total"]) != 2*199+1.5*3.99 {
		t.Fatalf("grand_total = %v", so["grand_total"])
	}

	// The same orders again, with and without the ids (the rerun after a
	// crash): nothing new, nothing written.
	f.resetCalls()
	again := slices.Clone(orders)
	again[0].ExternalID = ids[0]
	if got := okIDs(t, mustWrite(t, c, "order", again)); !slices.Equal(got, ids) {
		t.Fatalf("rewrite ids = %v, want %v", got, ids)
	}
	if n := f.calledWith("PUT ") + f.calledWith("POST "); n != 0 {
		t.Fatalf("rewriting unchanged orders wrote %d times", n)
	}
	if n := len(f.all("Sales Order")); n != 2 {
		t.Fatalf("orders = %d, want 2", n)
	}

	// A changed quantity of a submitted order: ERPNext refuses it.
	changed := erpOrder(1, cust, [3]any{"SKU-1", "3", "199.00"}, [3]any{"SKU-4", "1.5", "3.99"})
	changed.ExternalID = ids[0]
	res := mustWrite(t, c, "order", []connectors.WriteRecord{changed})
	wantPermanent(t, res[0].Err, "HTTP 417", "UpdateAfterSubmitError", "Not allowed to change items after submission")
	if res[0].ExternalID != ids[0] {
		t.Fatalf("failed update result id %q, want %q", res[0].ExternalID, ids[0])
	}
	if it, _ := f.doc("Sales Order", ids[0])["items"].([]any); num(it[0].(map[string]any)["qty"]) != 2 {
		t.Fatalf("refused update changed the order: %v", it)
	}

	// Delete = cancel.
	res = mustWrite(t, c, "order", []connectors.WriteRecord{{Entity: "order", HubID: "hub-o-02", ExternalID: ids[1], Op: connectors.OpDelete}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if d := f.doc("Sales Order", ids[1]); num(d["docstatus"]) != 2 || d["status"] != "Cancelled" {
		t.Fatalf("cancelled order: %v", d)
	}
}

// TestERPNextIdempotentRerun writes a batch twice: the second time with
// the ids (the pipeline recorded them) and a third time without (a crash
// after the POSTs, before the pipeline recorded the ids): match_field finds
// every record, nothing is created twice, nothing is written again.
func TestERPNextIdempotentRerun(t *testing.T) {
	f := newFrappe(t)
	c, _ := start(t, erpnextConfig(f, 3), erp.Options{})
	var batch []connectors.WriteRecord
	for i := range 7 { // more than two pages of match lookups' page size
		batch = append(batch, erpCustomer(i))
	}
	ids := okIDs(t, mustWrite(t, c, "customer", batch))
	withIDs := slices.Clone(batch)
	for i := range withIDs {
		withIDs[i].ExternalID = ids[i]
	}
	for round, b := range [][]connectors.WriteRecord{withIDs, batch} {
		f.resetCalls()
		got := okIDs(t, mustWrite(t, c, "customer", b))
		if !slices.Equal(got, ids) {
			t.Fatalf("round %d: ids %v, want %v", round, got, ids)
		}
		if n := f.calledWith("POST ") + f.calledWith("PUT "); n != 0 {
			t.Fatalf("round %d: %d writes, want none", round, n)
		}
	}
	all := f.all("Customer")
	if len(all) != 7 {
		t.Fatalf("customers = %d, want 7", len(all))
	}
	for i, d := range all {
		if d["name"] != ids[i] || d["custom_hub_id"] != batch[i].HubID {
			t.Fatalf("customer %d: %v", i, d)
		}
	}
}

// TestERPNextReplyLostAfterCreate: the site commits the POST but the reply
// never arrives. The write fails retryable (a POST is not retried blindly);
// the pipeline's retry finds the record by its reference instead of
// creating it again.
func TestERPNextReplyLostAfterCreate(t *testing.T) {
	f := newFrappe(t)
	c, sl := start(t, erpnextConfig(f, 3), erp.Options{})
	cust := okIDs(t, mustWrite(t, c, "customer", []connectors.WriteRecord{erpCustomer(1)}))[0]
	f.mu.Lock()
	f.dropCreates = 1
	f.mu.Unlock()
	o := erpOrder(5, cust, [3]any{"SKU-3", "4", "2.50"})
	res := mustWrite(t, c, "order", []connectors.WriteRecord{o})
	if res[0].Err == nil || kindOf(res[0].Err) != connectors.KindRetryable {
		t.Fatalf("lost reply: %+v, want a retryable error", res[0])
	}
	if n := len(f.all("Sales Order")); n != 1 {
		t.Fatalf("orders after the lost reply = %d, want 1 (the site committed it)", n)
	}
	if n := f.calledWith("POST /api/resource/Sales Order"); n != 1 {
		t.Fatalf("POSTs = %d: a POST must not be retried blindly", n)
	}
	res = mustWrite(t, c, "order", []connectors.WriteRecord{o})
	if res[0].Err != nil || res[0].ExternalID != f.all("Sales Order")[0]["name"] {
		t.Fatalf("retry: %+v", res[0])
	}
	if n := len(f.all("Sales Order")); n != 1 {
		t.Fatalf("orders after the retry = %d, want 1", n)
	}
	if len(sl.all()) != 0 {
		t.Fatalf("waits %v: nothing should have been waited for", sl.all())
	}
}

// TestERPNextRejectedAmongGood: ERPNext refuses one order (an unknown item
// code, HTTP 417 LinkValidationError) and one customer (a missing
// mandatory field); the others of the batches are written, and the
// dead-letter reason (the error text) carries ERPNext's own message.
func TestERPNextRejectedAmongGood(t *testing.T) {
	f := newFrappe(t)
	c, _ := start(t, erpnextConfig(f, 3), erp.Options{})

	custs := []connectors.WriteRecord{erpCustomer(1), erpCustomer(2), erpCustomer(3)}
	custs[1].Data = obj("customer_type", "Company", "email_id", "noname@example.com")
	res := mustWrite(t, c, "customer", custs)
	wantPermanent(t, res[1].Err, "HTTP 417", "MandatoryError", "Error: Value missing for Customer: Customer Name", "hub-c-02")
	if res[0].Err != nil || res[2].Err != nil {
		t.Fatalf("good customers: %v, %v", res[0].Err, res[2].Err)
	}
	cust := res[0].ExternalID

	orders := []connectors.WriteRecord{
		erpOrder(1, cust, [3]any{"SKU-1", "1", "10.00"}),
		erpOrder(2, cust, [3]any{"SKU-2", "1", "10.00"}, [3]any{"NOPE-404", "2", "3.00"}),
		erpOrder(3, cust, [3]any{"SKU-3", "1", "10.00"}),
		erpOrder(4, "CUST-NOPE", [3]any{"SKU-3", "1", "10.00"}),
	}
	res = mustWrite(t, c, "order", orders)
	wantPermanent(t, res[1].Err, "LinkValidationError", "Could not find Row #2: Item Code: NOPE-404")
	wantPermanent(t, res[3].Err, "Could not find Customer: CUST-NOPE")
	if strings.Contains(res[1].Err.Error(), "Traceback") {
		t.Fatalf("the reason carries the traceback: %v", res[1].Err)
	}
	var pos []string
	for _, d := range f.all("Sales Order") {
		pos = append(pos, d["po_no"].(string))
	}
	if !slices.Equal(pos, []string{"shop:0001", "shop:0003"}) {
		t.Fatalf("orders written: %v, want shop:0001 and shop:0003", pos)
	}
	t.Logf("dead-letter reason: %v", res[1].Err)
}

// TestERPNextNotFound: an id the site no longer has (deleted in ERPNext) is
// a 404 on the read before the update; the sink then looks the record up
// by its reference: with nothing there the record is NotFound and not
// created again (the runtime decides); found under another id, that one is
// written. Reading a missing doc is a 404 with Frappe's DoesNotExistError
// message.
func TestERPNextNotFound(t *testing.T) {
	f := newFrappe(t)
	c, _ := start(t, erpnextConfig(f, 3), erp.Options{})
	rec := erpCustomer(1)
	rec.ExternalID = "CUST-2025-00042" // deleted in ERPNext long ago
	res := mustWrite(t, c, "customer", []connectors.WriteRecord{rec})
	if res[0].Err != nil || res[0].Outcome != connectors.NotFound || res[0].ExternalID != "CUST-2025-00042" {
		t.Fatalf("write with a stale id: %+v", res[0])
	}
	if n := f.calledWith("GET /api/resource/Customer/CUST-2025-00042"); n != 1 {
		t.Fatalf("GETs of the stale id = %d", n)
	}
	if n := len(f.all("Customer")); n != 0 {
		t.Fatalf("customers = %d, want none", n)
	}
	fresh := erpCustomer(1)
	if res := mustWrite(t, c, "customer", []connectors.WriteRecord{fresh}); res[0].Outcome != connectors.Written || res[0].ExternalID != "CUST-2026-00001" {
		t.Fatalf("create: %+v", res[0])
	}
	if res := mustWrite(t, c, "customer", []connectors.WriteRecord{rec}); res[0].Outcome != connectors.Unchanged || res[0].ExternalID != "CUST-2026-00001" {
		t.Fatalf("a stale id of a record the match finds: %+v, want it unchanged under its new id", res[0])
	}

	cl, e, _ := c.started("customer")
	_, err := do(context.Background(), cl, requestGet(e, "CUST-2025-00042"))
	wantPermanent(t, err, "HTTP 404", "DoesNotExistError", "Customer CUST-2025-00042 not found")
	if _, found, err := getRecord(context.Background(), cl, e, "CUST-2025-00042"); err != nil || found {
		t.Fatalf("getRecord of a missing doc: found %v, err %v", found, err)
	}
}

// TestERPNextAuth: a wrong secret fails Start Unavailable, naming the
// credentials (HTTP 401 AuthenticationError); no credentials at all is
// Guest (HTTP 403 PermissionError with Frappe's message).
func TestERPNextAuth(t *testing.T) {
	f := newFrappe(t)
	cfg := erpnextConfig(f, 3)
	cfg.Auth.Key = f.key + ":wrong"
	c, err := New("erp", cfg, erp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(context.Background())
	wantKind(t, err, connectors.KindUnavailable, "refused the credentials", "HTTP 401", "AuthenticationError")

	cfg.Auth = erp.AuthConfig{}
	c, _ = New("erp", cfg, erp.Options{})
	err = c.Start(context.Background())
	wantKind(t, err, connectors.KindUnavailable, "HTTP 403", "PermissionError", "Insufficient Permission for Customer")
}

// TestERPNextRateLimited: the site answers 429 with Retry-After: 1 twice;
// the core waits exactly what the site asked and the record is created
// once. When the 429s outlast the retries, the batch fails retryable with
// the wait, and the rest of it is not sent.
func TestERPNextRateLimited(t *testing.T) {
	f := newFrappe(t)
	c, sl := start(t, erpnextConfig(f, 3), erp.Options{})
	f.mu.Lock()
	f.throttle = 2
	f.mu.Unlock()
	ids := okIDs(t, mustWrite(t, c, "customer", []connectors.WriteRecord{erpCustomer(1)}))
	if got := sl.all(); !slices.Equal(got, []time.Duration{time.Second, time.Second}) {
		t.Fatalf("waits = %v, want [1s 1s] (Retry-After)", got)
	}
	if n := len(f.all("Customer")); n != 1 || f.all("Customer")[0]["name"] != ids[0] {
		t.Fatalf("customers = %d", n)
	}

	f.mu.Lock()
	f.throttle = 100
	f.mu.Unlock()
	f.resetCalls()
	res, err := c.Write(context.Background(), "customer", []connectors.WriteRecord{erpCustomer(2), erpCustomer(3), erpCustomer(4)})
	if res != nil || err == nil || kindOf(err) != connectors.KindRetryable || retryWait(err) != time.Second {
		t.Fatalf("results %v, err %v (kind %v, wait %v), want the batch retryable after 1s", res, err, kindOf(err), retryWait(err))
	}
	if n := f.calledWith(""); n != 4 { // the first record's lookup: 1 attempt + 3 retries; the others none
		t.Fatalf("calls = %d, want 4", n)
	}
	if n := len(f.all("Customer")); n != 1 {
		t.Fatalf("customers = %d, want 1", n)
	}
}

func retryWait(err error) time.Duration { _, d := connectors.Classify(err); return d }

// TestERPNextSourceEqualTimestamps: eight customers saved in the same
// microsecond (one transaction), listed three per page, read two per
// batch: every one comes exactly once, in (modified, name) order, across
// page and batch boundaries; a later change comes next, once.
func TestERPNextSourceEqualTimestamps(t *testing.T) {
	f := newFrappe(t)
	c, _ := start(t, erpnextConfig(f, 3), erp.Options{})
	f.mu.Lock()
	f.tick = 0 // frozen clock: equal modified times
	f.mu.Unlock()
	for i := range 8 {
		f.insert("Customer", frappeDoc{"customer_name": fmt.Sprintf("C%d", i)})
	}
	f.mu.Lock()
	f.tick = time.Millisecond
	f.mu.Unlock()
	f.insert("Customer", frappeDoc{"customer_name": "later"})

	recs, cur := readAll(t, c, "customer", "", 2)
	want := []string{"CUST-2026-00001", "CUST-2026-00002", "CUST-2026-00003", "CUST-2026-00004", "CUST-2026-00005",
		"CUST-2026-00006", "CUST-2026-00007", "CUST-2026-00008", "CUST-2026-00009"}
	if got := keys(recs); !slices.Equal(got, want) {
		t.Fatalf("read %v\nwant %v", got, want)
	}
	for _, r := range recs[:8] {
		if !r.Version.Equal(recs[0].Version) || r.Data.Get("customer_name").Str() == "" {
			t.Fatalf("record %s: version %v, data %s", r.Key, r.Version, mapping.AppendJSON(nil, r.Data))
		}
	}
	if want := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC); !recs[0].Version.Equal(want) {
		t.Fatalf("version = %v, want %v (site time Europe/Berlin read as UTC)", recs[0].Version, want)
	}
	// A change to one of them: exactly it comes next.
	f.mu.Lock()
	d := f.find("Customer", "CUST-2026-00004")
	d["customer_name"], d["modified"] = "C3 renamed", f.stamp()
	f.mu.Unlock()
	next, _ := readAll(t, c, "customer", cur, 2)
	if got := keys(next); !slices.Equal(got, []string{"CUST-2026-00004"}) || next[0].Data.Get("customer_name").Str() != "C3 renamed" {
		t.Fatalf("after one change: %v", got)
	}
}

// TestERPNextSourceShiftBetweenPages: while the source pages through the
// list (offset pagination, ordered by modified), a record of the first
// page is changed, so it moves to the end and every later record moves
// up one place: a plain offset walk would skip the record that slid
// across the page boundary. The overlap check notices and nothing is
// lost.
func TestERPNextSourceShiftBetweenPages(t *testing.T) {
	f := newFrappe(t)
	cfg := erpnextConfig(f, 4)
	lb := time.Duration(0) // no look-back to rescue a skipped record
	ec := cfg.Entities["customer"]
	ec.LookBack = &lb
	cfg.Entities["customer"] = ec
	c, _ := start(t, cfg, erp.Options{})
	for i := range 10 {
		f.insert("Customer", frappeDoc{"customer_name": fmt.Sprintf("C%d", i)})
	}
	var changed atomic.Bool
	f.onList = func(doctype string, start int) {
		if start > 0 && changed.CompareAndSwap(false, true) {
			f.mu.Lock()
			d := f.find("Customer", "CUST-2026-00002")
			d["customer_name"], d["modified"] = "C1 renamed", f.stamp()
			f.mu.Unlock()
		}
	}
	recs, _ := readAll(t, c, "customer", "", 8)
	if !changed.Load() {
		t.Fatal("the list was never paged")
	}
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.Key]++
	}
	for i := 1; i <= 10; i++ {
		if id := fmt.Sprintf("CUST-2026-%05d", i); seen[id] == 0 {
			t.Fatalf("%s was skipped; read %v", id, keys(recs))
		}
	}
	last := recs[len(recs)-1]
	if last.Key != "CUST-2026-00002" || last.Data.Get("customer_name").Str() != "C1 renamed" {
		t.Fatalf("the changed record should come last, changed: %v", keys(recs))
	}
}

// TestERPNextSourceLookBack: a record that commits late, with a modified
// time behind the cursor but inside the look-back window, is still read;
// records already read are not repeated by the window.
func TestERPNextSourceLookBack(t *testing.T) {
	f := newFrappe(t)
	c, _ := start(t, erpnextConfig(f, 3), erp.Options{})
	for i := range 4 {
		f.insert("Customer", frappeDoc{"customer_name": fmt.Sprintf("C%d", i)})
	}
	recs, cur := readAll(t, c, "customer", "", 10)
	if len(recs) != 4 {
		t.Fatalf("read %d, want 4", len(recs))
	}
	// Committed now, stamped 2 ms before the last record read.
	f.mu.Lock()
	late := f.insertLocked("Customer", frappeDoc{"customer_name": "late"})
	late["modified"] = f.pyTime(recs[3].Version.Add(-2 * time.Millisecond))
	f.mu.Unlock()
	next, _ := readAll(t, c, "customer", cur, 10)
	if got := keys(next); !slices.Equal(got, []string{late["name"].(string)}) {
		t.Fatalf("after a late commit: %v, want only %s", got, late["name"])
	}
	// The since filter asks from the cursor less the look-back (10 s).
	var lastList string
	f.mu.Lock()
	for _, call := range f.calls {
		if strings.HasPrefix(call, "GET /api/resource/Customer?") {
			lastList = call
		}
	}
	f.mu.Unlock()
	want := `[["modified",">=","` + f.pyTime(recs[3].Version.Add(-10*time.Second)) + `"]]`
	if got := listQuery(lastList).Get("filters"); got != want {
		t.Fatalf("filters = %s, want %s", got, want)
	}
}

// TestERPNextInvoices reads submitted sales invoices through the source
// (read_each: the list gives names, each is read whole with its items),
// maps one with configs/mappings/erpnext-sales-invoice-in.yaml and scans
// them all.
func TestERPNextInvoices(t *testing.T) {
	f := newFrappe(t)
	c, _ := start(t, erpnextConfig(f, 2), erp.Options{})
	for i := range 5 {
		status, outstanding := "Unpaid", 119.0
		switch i {
		case 1:
			status, outstanding = "Paid", 0
		case 2:
			status, outstanding = "Partly Paid", 19.0
		}
		f.insert("Sales Invoice", frappeDoc{"customer": "CUST-2026-00001", "customer_name": "Jon Snow", "posting_date": "2026-03-02",
			"due_date": "2026-04-01", "currency": "EUR", "po_no": fmt.Sprintf("shop:%04d", i), "docstatus": 1.0, "status": status,
			"grand_total": 119.0, "total_taxes_and_charges": 19.0, "outstanding_amount": outstanding,
			"items": []any{map[string]any{"item_code": "SKU-1", "item_name": "Product 1", "qty": 1.0, "uom": "Nos", "rate": 100.0,
				"sales_order": fmt.Sprintf("SAL-ORD-2026-%05d", i+1)}}})
	}
	f.insert("Sales Invoice", frappeDoc{"customer": "CUST-2026-00001", "docstatus": 0.0, "status": "Draft", "items": []any{}}) // draft: filtered out

	recs, _ := readAll(t, c, "invoice", "", 10)
	if len(recs) != 5 {
		t.Fatalf("read %d invoices, want 5 (the draft is filtered out)", len(recs))
	}
	for i, r := range recs {
		d := r.Data
		if d.Get("items").Len() != 1 || d.Get("status").Str() == "" || d.Get("grand_total").IsNull() || d.Get("po_no").Str() != fmt.Sprintf("shop:%04d", i) {
			t.Fatalf("invoice %s: %s", r.Key, mapping.AppendJSON(nil, d))
		}
	}
	if n := f.calledWith("GET /api/resource/Sales Invoice/"); n != 5 {
		t.Fatalf("gets = %d, want 5", n)
	}

	plan, err := mapping.Load(filepath.Join("..", "..", "..", "configs", "mappings", "erpnext-sales-invoice-in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	canon, err := plan.Apply(context.Background(), recs[2].Data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if canon.Get("payment_state").Str() != "PARTIAL" || canon.Get("total").Str() != "119" || canon.Get("amount_due").Str() != "19" ||
		canon.Get("order_external_id").Str() != "shop:0002" || canon.Get("lines").Index(0).Get("sku").Str() != "SKU-1" {
		t.Fatalf("canonical invoice: %s", mapping.AppendJSON(nil, canon))
	}

	scanned, err := scanAll(c, "invoice", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range scanned {
		if r.Data.Get("items").Len() != 1 {
			t.Fatalf("scanned %s without items (read_each)", r.Key)
		}
	}
	if len(scanned) != 5 {
		t.Fatalf("scanned %v", keys(scanned))
	}
	// invoices are read only
	if _, err := c.Write(context.Background(), "invoice", []connectors.WriteRecord{{HubID: "x", Data: obj()}}); kindOf(err) != connectors.KindPermanent {
		t.Fatalf("write of an invoice: %v", err)
	}
}

func requestGet(e *entity, id string) erp.Request {
	return erp.Request{Op: "get " + e.name, Method: "GET", Path: pathOf(e.cfg.Get, id), Idempotent: true}
}
