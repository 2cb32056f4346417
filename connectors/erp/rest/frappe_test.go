package rest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// frappeSite stands in for a Frappe/ERPNext site's REST API v1, following
// Frappe's source (frappe/api/v1.py, frappe/api/__init__.py,
// frappe/utils/response.py, frappe/exceptions.py, frappe/rate_limiter.py,
// frappe/auth.py) and its documentation (REST API, Listing Documents):
//
//   - GET /api/resource/<DocType>: {"data": [...]}, 20 rows and only
//     "name" unless fields is given (["*"]: every column, no child tables);
//     filters ([[field, op, value]], [[doctype, field, op, value]] or
//     {field: value}), order_by ("modified asc, name asc"), limit_start,
//     limit_page_length (0: all; limit is an alias);
//   - GET/PUT/DELETE /api/resource/<DocType>/<name>: {"data": doc} with
//     child tables; DELETE answers 202 {"data": "ok"};
//   - POST /api/resource/<DocType>: body = the doc; {"data": doc} with the
//     generated name (naming series);
//   - "Authorization: token <key>:<secret>": none is Guest (403
//     PermissionError), a wrong one 401 AuthenticationError;
//   - errors as report_error builds them for API v1: exc_type, exception
//     (the last traceback line), exc (the traceback list, JSON-encoded),
//     _server_messages (a JSON list of JSON-encoded {"message": ...});
//     ValidationError and its kin 417, DoesNotExistError 404;
//   - the rate limiter: 429 "Too Many Requests" with Retry-After.
type frappeSite struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	key    string
	secret string
	loc    *time.Location
	now    time.Time     // the site's clock (UTC)
	tick   time.Duration // added per write; 0 freezes the clock
	docs   map[string][]frappeDoc
	seq    map[string]int
	items  map[string]bool // Item codes that exist
	// addresses made from a new Customer's address fields (make_address)
	addresses []frappeDoc
	calls     []string
	// throttle answers the next requests 429 with Retry-After: 1.
	throttle int
	// dropCreates commits the next creates and then drops the connection
	// before the reply (a crash or a network failure after the POST).
	dropCreates int
	// onList runs before a list request is answered (outside the lock).
	onList func(doctype string, start int)
}

type frappeDoc map[string]any

// frappeTables returns the child tables of a doctype and their row doctype.
func frappeTables(doctype string) map[string]string {
	switch doctype {
	case "Sales Order":
		return map[string]string{"items": "Sales Order Item"}
	case "Sales Invoice":
		return map[string]string{"items": "Sales Invoice Item"}
	}
	return nil
}

func newFrappe(t *testing.T) *frappeSite {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	f := &frappeSite{t: t, key: "0a1b2c3d4e5f6a7", secret: "9f8e7d6c5b4a3f2", loc: loc,
		now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), tick: 1500 * time.Microsecond,
		docs: map[string][]frappeDoc{}, seq: map[string]int{},
		items: map[string]bool{"SKU-1": true, "SKU-2": true, "SKU-3": true, "SKU-4": true, "SKU-5": true}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// pyTime is str(datetime) of a naive site-local datetime, as Frappe
// stores and returns it: microseconds only when not zero.
func (f *frappeSite) pyTime(t time.Time) string {
	lt := t.In(f.loc)
	if lt.Nanosecond()/1000 == 0 {
		return lt.Format("2006-01-02 15:04:05")
	}
	return lt.Format("2006-01-02 15:04:05.000000")
}

func (f *frappeSite) parsePy(s string) (time.Time, bool) {
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, f.loc)
	if err != nil {
		t, err = time.ParseInLocation("2006-01-02", s, f.loc)
	}
	return t, err == nil
}

// stamp advances the clock and returns the new modified value.
func (f *frappeSite) stamp() string {
	f.now = f.now.Add(f.tick)
	return f.pyTime(f.now)
}

func (f *frappeSite) calledWith(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *frappeSite) resetCalls() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

// all returns copies of the docs of a doctype, in insertion order.
func (f *frappeSite) all(doctype string) []frappeDoc {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]frappeDoc, 0, len(f.docs[doctype]))
	for _, d := range f.docs[doctype] {
		out = append(out, cloneDoc(d))
	}
	return out
}

func (f *frappeSite) doc(doctype, name string) frappeDoc {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := f.find(doctype, name); d != nil {
		return cloneDoc(d)
	}
	return nil
}

func cloneDoc(d frappeDoc) frappeDoc {
	raw, _ := json.Marshal(d)
	var out frappeDoc
	_ = json.Unmarshal(raw, &out)
	return out
}

func (f *frappeSite) find(doctype, name string) frappeDoc {
	for _, d := range f.docs[doctype] {
		if d["name"] == name {
			return d
		}
	}
	return nil
}

// insert stores doc as the site would after validation (tests seed with it).
func (f *frappeSite) insert(doctype string, doc frappeDoc) frappeDoc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.insertLocked(doctype, doc)
}

func (f *frappeSite) insertLocked(doctype string, doc frappeDoc) frappeDoc {
	series := map[string]string{"Customer": "CUST", "Sales Order": "SAL-ORD", "Sales Invoice": "ACC-SINV"}[doctype]
	f.seq[doctype]++
	now := f.stamp()
	if _, ok := doc["name"]; !ok {
		doc["name"] = fmt.Sprintf("%s-%d-%05d", series, f.now.In(f.loc).Year(), f.seq[doctype])
	}
	doc["doctype"] = doctype
	doc["owner"] = "integration@example.com"
	doc["creation"], doc["modified"] = now, now
	doc["modified_by"] = "integration@example.com"
	if _, ok := doc["docstatus"]; !ok {
		doc["docstatus"] = 0.0
	}
	doc["idx"] = 0.0
	f.fillRows(doctype, doc)
	f.compute(doctype, doc)
	if doctype == "Customer" {
		// Customer.create_primary_address: the address fields are no
		// columns of Customer; a new customer with address_line1 gets an
		// Address of its own.
		addr := frappeDoc{}
		for _, k := range customerAddressFields() {
			if v, ok := doc[k]; ok {
				addr[k] = v
				delete(doc, k)
			}
		}
		if addr["address_line1"] != nil {
			addr["name"] = fmt.Sprint(doc["customer_name"], "-Billing")
			doc["customer_primary_address"] = addr["name"]
			f.addresses = append(f.addresses, addr)
		}
	}
	f.docs[doctype] = append(f.docs[doctype], doc)
	return doc
}

func customerAddressFields() []string {
	return []string{"address_line1", "address_line2", "city", "state", "pincode", "country"}
}

// fillRows gives child rows their name, parent and idx.
func (f *frappeSite) fillRows(doctype string, doc frappeDoc) {
	for field, rowType := range frappeTables(doctype) {
		rows, _ := doc[field].([]any)
		for i, r := range rows {
			row, _ := r.(map[string]any)
			if row == nil {
				continue
			}
			if _, ok := row["name"]; !ok {
				row["name"] = fmt.Sprintf("%010x", f.now.UnixNano()+int64(i))
			}
			row["parent"], row["parentfield"], row["parenttype"] = doc["name"], field, doctype
			row["idx"], row["doctype"], row["docstatus"] = float64(i+1), rowType, doc["docstatus"]
		}
	}
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

// compute sets the totals ERPNext computes on save.
func (f *frappeSite) compute(doctype string, doc frappeDoc) {
	if doctype != "Sales Order" && doctype != "Sales Invoice" {
		return
	}
	total := 0.0
	rows, _ := doc["items"].([]any)
	for _, r := range rows {
		row, _ := r.(map[string]any)
		if row == nil {
			continue
		}
		row["qty"], row["rate"] = num(row["qty"]), num(row["rate"])
		amt := num(row["qty"]) * num(row["rate"])
		row["amount"] = amt
		total += amt
	}
	doc["net_total"], doc["total"] = total, total
	if _, ok := doc["grand_total"]; !ok || doctype == "Sales Order" {
		doc["grand_total"] = total
	}
	if doctype == "Sales Order" {
		switch num(doc["docstatus"]) {
		case 0:
			doc["status"] = "Draft"
		case 1:
			doc["status"] = "To Deliver and Bill"
		case 2:
			doc["status"] = "Cancelled"
		}
	}
}

// ---- HTTP ----

func (f *frappeSite) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	if f.throttle > 0 {
		f.throttle--
		f.mu.Unlock()
		// frappe.rate_limiter: Response(_("Too Many Requests"), status=429)
		// with X-RateLimit-* and Retry-After headers.
		w.Header().Set("Retry-After", "1")
		w.Header().Set("X-RateLimit-Limit", "500000")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "Too Many Requests")
		return
	}
	f.mu.Unlock()

	if !strings.HasPrefix(r.URL.Path, "/api/resource/") {
		f.fail(w, 404, "DoesNotExistError", "", "")
		return
	}
	auth := r.Header.Get("Authorization")
	rest := strings.TrimPrefix(r.URL.Path, "/api/resource/")
	doctype, name, _ := strings.Cut(rest, "/")
	name = strings.TrimSuffix(name, "/")
	switch {
	case auth == "":
		// Guest: frappe.client.get_list / get_doc raise PermissionError.
		f.fail(w, 403, "PermissionError", "", "Insufficient Permission for "+doctype)
		return
	case auth != "token "+f.key+":"+f.secret:
		// frappe.auth.validate_api_key_secret: raise frappe.AuthenticationError
		// (no message; no traceback for a guest).
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		io.WriteString(w, `{"exc_type":"AuthenticationError"}`)
		return
	}
	if _, known := map[string]bool{"Customer": true, "Sales Order": true, "Sales Invoice": true}[doctype]; !known {
		f.fail(w, 404, "DoesNotExistError", "DocType "+doctype+" not found", "DocType "+doctype+" not found")
		return
	}
	switch {
	case name == "" && r.Method == http.MethodGet:
		f.list(w, r, doctype)
	case name == "" && r.Method == http.MethodPost:
		f.create(w, r, doctype)
	case name != "" && r.Method == http.MethodGet:
		f.mu.Lock()
		d := f.find(doctype, name)
		var out frappeDoc
		if d != nil {
			out = cloneDoc(d)
		}
		f.mu.Unlock()
		if out == nil {
			f.notFound(w, doctype, name)
			return
		}
		f.reply(w, 200, out)
	case name != "" && r.Method == http.MethodPut:
		f.update(w, r, doctype, name)
	case name != "" && r.Method == http.MethodDelete:
		f.mu.Lock()
		docs := f.docs[doctype]
		idx := -1
		for i, d := range docs {
			if d["name"] == name {
				idx = i
			}
		}
		if idx >= 0 {
			f.docs[doctype] = append(docs[:idx:idx], docs[idx+1:]...)
		}
		f.mu.Unlock()
		if idx < 0 {
			f.notFound(w, doctype, name)
			return
		}
		f.reply(w, 202, "ok")
	default:
		f.fail(w, 404, "DoesNotExistError", "", "")
	}
}

func (f *frappeSite) reply(w http.ResponseWriter, status int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

// fail answers like frappe.utils.response.report_error for API v1 (a
// system user, tracebacks allowed): exc_type, exception, exc,
// _server_messages, in that order.
func (f *frappeSite) fail(w http.ResponseWriter, status int, excType, exception, message string) {
	var b strings.Builder
	b.WriteString(`{"exc_type":`)
	writeJSON(&b, excType)
	if exception != "" {
		b.WriteString(`,"exception":`)
		writeJSON(&b, "frappe.exceptions."+excType+": "+exception)
		tb := "Traceback (most recent call last):\n" +
			strings.Repeat("  File \"apps/frappe/frappe/app.py\", line 114, in application\n    response = frappe.api.handle(request)\n", 8) +
			"frappe.exceptions." + excType + ": " + exception + "\n"
		list, _ := json.Marshal([]string{tb})
		b.WriteString(`,"exc":`)
		writeJSON(&b, string(list))
	}
	if message != "" {
		msg, _ := json.Marshal(map[string]any{"message": message, "title": "Message", "indicator": "red", "raise_exception": 1,
			"__frappe_exc_id": "6f2c0a6b1f"})
		list, _ := json.Marshal([]string{string(msg)})
		b.WriteString(`,"_server_messages":`)
		writeJSON(&b, string(list))
	}
	b.WriteString("}")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, b.String())
}

func writeJSON(b *strings.Builder, s string) {
	raw, _ := json.Marshal(s)
	b.Write(raw)
}

func (f *frappeSite) notFound(w http.ResponseWriter, doctype, name string) {
	msg := doctype + " " + name + " not found"
	f.fail(w, 404, "DoesNotExistError", msg, msg)
}

func (f *frappeSite) validation(w http.ResponseWriter, excType, msg string) {
	f.fail(w, 417, excType, msg, msg)
}

func (f *frappeSite) list(w http.ResponseWriter, r *http.Request, doctype string) {
	q := r.URL.Query()
	start, _ := strconv.Atoi(q.Get("limit_start"))
	if f.onList != nil {
		f.onList(doctype, start)
	}
	fields := []string{"name"}
	if s := q.Get("fields"); s != "" {
		if err := json.Unmarshal([]byte(s), &fields); err != nil {
			f.validation(w, "ValidationError", "Invalid fields: "+s)
			return
		}
	}
	type cond struct {
		field, op string
		value     any
	}
	var conds []cond
	if s := q.Get("filters"); s != "" {
		var raw any
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			f.validation(w, "ValidationError", "Invalid filters: "+s)
			return
		}
		switch x := raw.(type) {
		case []any:
			for _, c := range x {
				l, _ := c.([]any)
				if len(l) == 4 {
					l = l[1:]
				}
				if len(l) != 3 {
					f.validation(w, "ValidationError", "Invalid filter: "+fmt.Sprint(c))
					return
				}
				field, _ := l[0].(string)
				op, _ := l[1].(string)
				conds = append(conds, cond{field, strings.ToLower(op), l[2]})
			}
		case map[string]any:
			for k, v := range x {
				if l, ok := v.([]any); ok && len(l) == 2 {
					op, _ := l[0].(string)
					conds = append(conds, cond{k, strings.ToLower(op), l[1]})
				} else {
					conds = append(conds, cond{k, "=", v})
				}
			}
		}
	}
	length := 20
	if s := q.Get("limit_page_length"); s != "" {
		length, _ = strconv.Atoi(s)
	} else if s := q.Get("limit"); s != "" {
		length, _ = strconv.Atoi(s)
	}
	orderBy := q.Get("order_by")
	if orderBy == "" {
		orderBy = "modified desc"
	}

	f.mu.Lock()
	var rows []frappeDoc
	for _, d := range f.docs[doctype] {
		ok := true
		for _, c := range conds {
			ok = ok && f.match(d[c.field], c.op, c.value)
		}
		if ok {
			rows = append(rows, d)
		}
	}
	var keys [][2]string
	for _, part := range strings.Split(orderBy, ",") {
		fs := strings.Fields(part)
		if len(fs) == 0 {
			continue
		}
		dir := "asc"
		if len(fs) > 1 {
			dir = strings.ToLower(fs[1])
		}
		keys = append(keys, [2]string{fs[0], dir})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, k := range keys {
			c := f.compare(rows[i][k[0]], rows[j][k[0]])
			if c == 0 {
				continue
			}
			if k[1] == "desc" {
				return c > 0
			}
			return c < 0
		}
		return false
	})
	if start < len(rows) {
		rows = rows[start:]
	} else {
		rows = nil
	}
	if length > 0 && len(rows) > length {
		rows = rows[:length]
	}
	out := make([]frappeDoc, 0, len(rows))
	for _, d := range rows {
		o := frappeDoc{}
		for _, fl := range fields {
			if fl == "*" {
				for k, v := range d {
					if _, table := frappeTables(doctype)[k]; !table {
						o[k] = v
					}
				}
				continue
			}
			o[fl] = d[fl]
		}
		out = append(out, cloneDoc(o))
	}
	f.mu.Unlock()
	f.reply(w, 200, out)
}

// compare orders two column values as the database would: numbers as
// numbers, datetimes as datetimes, else text.
func (f *frappeSite) compare(a, b any) int {
	if x, ok := a.(float64); ok {
		y := num(b)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	as, bs := fmt.Sprint(a), fmt.Sprint(b)
	if a == nil {
		as = ""
	}
	if b == nil {
		bs = ""
	}
	if ta, ok := f.parsePy(as); ok {
		if tb, ok := f.parsePy(bs); ok {
			return ta.Compare(tb)
		}
	}
	return strings.Compare(as, bs)
}

func (f *frappeSite) match(have any, op string, want any) bool {
	switch op {
	case "=":
		return f.compare(have, want) == 0
	case "!=":
		return f.compare(have, want) != 0
	case ">":
		return f.compare(have, want) > 0
	case ">=":
		return f.compare(have, want) >= 0
	case "<":
		return f.compare(have, want) < 0
	case "<=":
		return f.compare(have, want) <= 0
	case "in":
		l, _ := want.([]any)
		for _, x := range l {
			if f.compare(have, x) == 0 {
				return true
			}
		}
		return false
	case "like":
		p := strings.Trim(fmt.Sprint(want), "%")
		return strings.Contains(strings.ToLower(fmt.Sprint(have)), strings.ToLower(p))
	}
	f.t.Errorf("frappe stand-in: filter operator %q not implemented", op)
	return false
}

func readDoc(r *http.Request) (frappeDoc, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var d frappeDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	return d, nil
}

// validate checks what Frappe's insert/save checks for these doctypes:
// mandatory fields (MandatoryError) and links (LinkValidationError).
func (f *frappeSite) validate(doctype string, d frappeDoc) (string, string) {
	missing := func(field string) bool {
		v, ok := d[field]
		return !ok || v == nil || v == ""
	}
	label := map[string]string{"customer_name": "Customer Name", "customer": "Customer", "transaction_date": "Date",
		"delivery_date": "Delivery Date", "items": "Items"}
	var need []string
	switch doctype {
	case "Customer":
		need = []string{"customer_name"}
	case "Sales Order":
		need = []string{"customer", "transaction_date", "delivery_date", "items"}
	}
	for _, fl := range need {
		if missing(fl) {
			return "MandatoryError", fmt.Sprintf("Error: Value missing for %s: %s", doctype, label[fl])
		}
	}
	if doctype == "Customer" && !missing("address_line1") && (missing("city") || missing("country")) {
		// erpnext.selling.doctype.customer.customer.make_address
		return "ValidationError", "Following fields are mandatory to create address: <br><br> <ul><li>City</li>\n<li>Country</li></ul>"
	}
	if doctype == "Sales Order" {
		if f.find("Customer", fmt.Sprint(d["customer"])) == nil {
			return "LinkValidationError", fmt.Sprintf("Could not find Customer: %v", d["customer"])
		}
		rows, _ := d["items"].([]any)
		if len(rows) == 0 {
			return "MandatoryError", "Error: Value missing for Sales Order: Items"
		}
		for i, r := range rows {
			row, _ := r.(map[string]any)
			code := fmt.Sprint(row["item_code"])
			if !f.items[code] {
				return "LinkValidationError", fmt.Sprintf("Could not find Row #%d: Item Code: %s", i+1, code)
			}
			if num(row["qty"]) <= 0 {
				return "ValidationError", fmt.Sprintf("Row #%d: Quantity for Item %s must be greater than zero", i+1, code)
			}
		}
	}
	return "", ""
}

func (f *frappeSite) create(w http.ResponseWriter, r *http.Request, doctype string) {
	d, err := readDoc(r)
	if err != nil {
		f.validation(w, "ValidationError", "Invalid request arguments")
		return
	}
	delete(d, "doctype")
	f.mu.Lock()
	if exc, msg := f.validate(doctype, d); exc != "" {
		f.mu.Unlock()
		f.validation(w, exc, msg)
		return
	}
	doc := cloneDoc(f.insertLocked(doctype, d))
	drop := f.dropCreates > 0
	if drop {
		f.dropCreates--
	}
	f.mu.Unlock()
	if drop {
		// The doc is committed; the reply never arrives.
		hj, ok := w.(http.Hijacker)
		if !ok {
			f.t.Fatal("frappe stand-in: cannot hijack the connection")
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	f.reply(w, 200, doc)
}

func (f *frappeSite) update(w http.ResponseWriter, r *http.Request, doctype, name string) {
	d, err := readDoc(r)
	if err != nil {
		f.validation(w, "ValidationError", "Invalid request arguments")
		return
	}
	delete(d, "doctype")
	delete(d, "flags")
	f.mu.Lock()
	cur := f.find(doctype, name)
	if cur == nil {
		f.mu.Unlock()
		f.notFound(w, doctype, name)
		return
	}
	if doctype == "Customer" {
		for _, k := range customerAddressFields() {
			delete(d, k) // no columns: doc.update sets them, save ignores them
		}
	}
	merged := cloneDoc(cur)
	for k, v := range d {
		merged[k] = v
	}
	if num(cur["docstatus"]) == 1 {
		// A submitted document changes only in fields allowed on submit.
		for k, v := range d {
			if k == "docstatus" && (num(v) == 1 || num(v) == 2) {
				continue // unchanged, or a cancel
			}
			before, _ := json.Marshal(cur[k])
			after, _ := json.Marshal(v)
			if _, table := frappeTables(doctype)[k]; table || string(before) != string(after) {
				if table && sameRows(cur[k], v) {
					continue
				}
				f.mu.Unlock()
				f.validation(w, "UpdateAfterSubmitError", fmt.Sprintf("Not allowed to change %s after submission from %s to %s", k, before, after))
				return
			}
		}
	}
	if exc, msg := f.validate(doctype, merged); exc != "" {
		f.mu.Unlock()
		f.validation(w, exc, msg)
		return
	}
	merged["modified"] = f.stamp()
	f.fillRows(doctype, merged)
	f.compute(doctype, merged)
	for i, x := range f.docs[doctype] {
		if x["name"] == name {
			f.docs[doctype][i] = merged
		}
	}
	out := cloneDoc(merged)
	f.mu.Unlock()
	f.reply(w, 200, out)
}

// sameRows reports whether new child rows carry the same item, qty and
// rate as the stored ones.
func sameRows(have, want any) bool {
	h, _ := have.([]any)
	wl, _ := want.([]any)
	if len(h) != len(wl) {
		return false
	}
	for i := range h {
		a, _ := h[i].(map[string]any)
		b, _ := wl[i].(map[string]any)
		if fmt.Sprint(a["item_code"]) != fmt.Sprint(b["item_code"]) || num(a["qty"]) != num(b["qty"]) || num(a["rate"]) != num(b["rate"]) {
			return false
		}
	}
	return true
}

// frappeURL is the stand-in's base URL.
func (f *frappeSite) url() string { return f.srv.URL }

// listQuery decodes a logged call's query.
func listQuery(call string) url.Values {
	_, q, _ := strings.Cut(call, "?")
	v, _ := url.ParseQuery(q)
	return v
}
