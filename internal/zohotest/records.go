package zohotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// orgZone is the organisation's time zone: Zoho writes date-times in it.
var orgZone = time.FixedZone("IST", 5*3600+1800)

// zohoTime formats t as Zoho does: whole seconds with the zone's offset.
func zohoTime(t time.Time) string { return t.In(orgZone).Format("2006-01-02T15:04:05-07:00") }

// module is one module's records.
type module struct {
	name    string
	records map[string]map[string]any
	order   []string // ids in creation order
	deleted []map[string]any
}

func newModule(name string) *module {
	return &module{name: name, records: map[string]map[string]any{}}
}

// lineItems is the subform of a module with line items.
func lineItems(module string) string {
	switch module {
	case "Sales_Orders":
		return "Ordered_Items"
	case "Invoices":
		return "Invoiced_Items"
	case "Quotes":
		return "Quoted_Items"
	}
	return ""
}

// mandatory are the fields a module requires.
func mandatory(module string) []string {
	switch module {
	case "Contacts":
		return []string{"Last_Name"}
	case "Accounts":
		return []string{"Account_Name"}
	case "Products":
		return []string{"Product_Name"}
	case "Sales_Orders", "Invoices":
		return []string{"Subject"}
	}
	return nil
}

// displayName is what the deleted-records list calls a record.
func displayName(module string, rec map[string]any) string {
	switch module {
	case "Contacts":
		return strings.TrimSpace(fmt.Sprint(orEmpty(rec["First_Name"]), " ", orEmpty(rec["Last_Name"])))
	case "Accounts":
		return fmt.Sprint(orEmpty(rec["Account_Name"]))
	case "Products":
		return fmt.Sprint(orEmpty(rec["Product_Name"]))
	}
	return fmt.Sprint(orEmpty(rec["Subject"]))
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

func (s *Server) mod(name string) (*module, bool) {
	m, ok := s.modules[name]
	return m, ok
}

func (s *Server) newID() string {
	s.nextID += 1000 + s.nextID%7
	return strconv.FormatInt(s.nextID, 10)
}

// decodeJSON decodes with numbers as json.Number.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

// Put creates a record directly in the CRM, as a user would, and returns
// its id. Line items name their product by id ({"Product_Name": {"id":
// ...}}). It panics on a record the CRM would refuse (a test's mistake).
func (s *Server) Put(module string, fields map[string]any) string {
	s.mu.Lock()
	rec := normalize(fields)
	id, _, err := s.createLocked(module, rec)
	s.mu.Unlock()
	if err != nil {
		panic(fmt.Sprintf("zohotest: put %s: %v", module, err))
	}
	return id
}

// Update changes fields of a record directly in the CRM; false when
// there is no such record.
func (s *Server) Update(module, id string, fields map[string]any) bool {
	s.mu.Lock()
	err := s.updateLocked(module, id, normalize(fields))
	s.mu.Unlock()
	return err == nil
}

// Delete deletes a record directly in the CRM (to the recycle bin).
func (s *Server) Delete(module, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteLocked(module, id)
}

// Get returns a copy of a record, with its line items and lookups as
// the API shows them.
func (s *Server) Get(module, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mod(module)
	if !ok {
		return nil, false
	}
	rec, ok := m.records[id]
	if !ok {
		return nil, false
	}
	return s.viewLocked(module, rec), true
}

// Records lists the ids of a module's records, oldest first.
func (s *Server) Records(module string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mod(module)
	if !ok {
		return nil
	}
	return append([]string(nil), m.order...)
}

// Find returns the ids of the records whose field equals value.
func (s *Server) Find(module, field, value string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if m, ok := s.mod(module); ok {
		for _, id := range m.order {
			if v, ok := fieldText(m.records[id], field); ok && v == value {
				out = append(out, id)
			}
		}
	}
	return out
}

// normalize turns a test's Go values into the stored form.
func normalize(fields map[string]any) map[string]any {
	b, _ := json.Marshal(fields)
	var out map[string]any
	_ = decodeJSON(b, &out)
	return out
}

// viewLocked is the record as the API answers it: lookups with their
// names.
func (s *Server) viewLocked(module string, rec map[string]any) map[string]any {
	out := clone(rec).(map[string]any)
	if li := lineItems(module); li != "" {
		items, _ := out[li].([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			if p, ok := m["Product_Name"].(map[string]any); ok {
				if pr, ok := s.modules["Products"].records[fmt.Sprint(p["id"])]; ok {
					p["name"] = pr["Product_Name"]
				}
			}
		}
	}
	for _, lk := range []struct{ field, module string }{{"Contact_Name", "Contacts"}, {"Account_Name", "Accounts"}, {"Sales_Order", "Sales_Orders"}} {
		if module == "Accounts" && lk.field == "Account_Name" {
			continue
		}
		if p, ok := out[lk.field].(map[string]any); ok {
			if r, ok := s.modules[lk.module].records[fmt.Sprint(p["id"])]; ok {
				p["name"] = displayName(lk.module, r)
			}
		}
	}
	return out
}

// fieldError is a per-record refusal.
type fieldError struct {
	code, message string
	details       map[string]any
}

func (e *fieldError) Error() string { return e.code + ": " + e.message }

func mandatoryMissing(field string) *fieldError {
	return &fieldError{code: "MANDATORY_NOT_FOUND", message: "required field not found",
		details: map[string]any{"api_name": field, "json_path": "$.data[0]." + field}}
}

func invalid(field, message string) *fieldError {
	return &fieldError{code: "INVALID_DATA", message: message, details: map[string]any{"api_name": field, "json_path": "$.data[0]." + field}}
}

// check validates a record's fields as the CRM does on a write.
func (s *Server) checkLocked(module string, rec map[string]any, creating bool) *fieldError {
	for _, f := range mandatory(module) {
		v, present := rec[f]
		if (creating || present) && (v == nil || strings.TrimSpace(fmt.Sprint(v)) == "") {
			return mandatoryMissing(f)
		}
	}
	if e, ok := rec["Email"].(string); ok && e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			return invalid("Email", "invalid data")
		}
	}
	for _, lk := range []struct{ field, module string }{{"Contact_Name", "Contacts"}, {"Sales_Order", "Sales_Orders"}} {
		if p, ok := rec[lk.field].(map[string]any); ok {
			if _, ok := s.modules[lk.module].records[fmt.Sprint(p["id"])]; !ok {
				return invalid(lk.field, "invalid data")
			}
		}
	}
	if module != "Accounts" {
		if p, ok := rec["Account_Name"].(map[string]any); ok {
			if _, ok := s.modules["Accounts"].records[fmt.Sprint(p["id"])]; !ok {
				return invalid("Account_Name", "invalid data")
			}
		}
	}
	return nil
}

// applyItemsLocked applies a write's line items to the stored ones, as
// Zoho does: with an id it changes that line, without one it adds one,
// with "_delete" it removes it.
func (s *Server) applyItemsLocked(module string, stored []any, sent []any) ([]any, *fieldError) {
	li := lineItems(module)
	byID := map[string]int{}
	out := make([]any, 0, len(stored)+len(sent))
	for _, it := range stored {
		m := it.(map[string]any)
		byID[fmt.Sprint(m["id"])] = len(out)
		out = append(out, m)
	}
	drop := map[int]bool{}
	for _, it := range sent {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, invalid(li, "invalid data")
		}
		if id, ok := m["id"]; ok && id != nil {
			i, found := byID[fmt.Sprint(id)]
			if !found {
				return nil, invalid(li, "the line item id given seems to be invalid")
			}
			if _, del := m["_delete"]; del {
				drop[i] = true
				continue
			}
			cur := out[i].(map[string]any)
			for k, v := range m {
				cur[k] = v
			}
			continue
		}
		line := map[string]any{}
		for k, v := range m {
			if k != "_delete" {
				line[k] = v
			}
		}
		line["id"] = s.newID()
		out = append(out, line)
	}
	kept := out[:0]
	for i, it := range out {
		if !drop[i] {
			kept = append(kept, it)
		}
	}
	for _, it := range kept {
		m := it.(map[string]any)
		p, ok := m["Product_Name"].(map[string]any)
		if !ok {
			return nil, mandatoryMissing(li + ".Product_Name")
		}
		pr, ok := s.modules["Products"].records[fmt.Sprint(p["id"])]
		if !ok {
			return nil, invalid(li+".Product_Name", "invalid data")
		}
		m["Product_Name"] = map[string]any{"id": fmt.Sprint(p["id"])}
		if _, ok := m["List_Price"]; !ok {
			m["List_Price"] = orEmpty(pr["Unit_Price"])
		}
		q, err1 := decimal.NewFromString(fmt.Sprint(m["Quantity"]))
		p2, err2 := decimal.NewFromString(fmt.Sprint(m["List_Price"]))
		if err1 != nil || err2 != nil || q.IsNegative() {
			return nil, invalid(li+".Quantity", "invalid data")
		}
		total := q.Mul(p2).Round(2)
		m["Total"] = json.Number(total.StringFixed(2))
		m["Net_Total"] = json.Number(total.StringFixed(2))
	}
	return kept, nil
}

// totalsLocked computes a record's totals from its lines.
func totals(rec map[string]any, li string) {
	items, _ := rec[li].([]any)
	sum := decimal.Zero
	for _, it := range items {
		d, _ := decimal.NewFromString(fmt.Sprint(it.(map[string]any)["Total"]))
		sum = sum.Add(d)
	}
	rec["Sub_Total"] = json.Number(sum.StringFixed(2))
	rec["Grand_Total"] = json.Number(sum.StringFixed(2))
}

func (s *Server) createLocked(module string, rec map[string]any) (string, map[string]any, *fieldError) {
	m, ok := s.mod(module)
	if !ok {
		return "", nil, &fieldError{code: "INVALID_MODULE", message: "the module name given seems to be invalid"}
	}
	if err := s.checkLocked(module, rec, true); err != nil {
		return "", nil, err
	}
	stored := map[string]any{}
	for k, v := range rec {
		if k != "id" && !strings.HasPrefix(k, "$") {
			stored[k] = v
		}
	}
	if li := lineItems(module); li != "" {
		sent, _ := rec[li].([]any)
		if len(sent) == 0 {
			return "", nil, mandatoryMissing(li)
		}
		items, err := s.applyItemsLocked(module, nil, sent)
		if err != nil {
			return "", nil, err
		}
		stored[li] = items
		totals(stored, li)
	}
	id := s.newID()
	now := zohoTime(s.now())
	stored["id"], stored["Created_Time"], stored["Modified_Time"] = id, now, now
	m.records[id] = stored
	m.order = append(m.order, id)
	s.notifyLocked(module, "insert", []string{id})
	return id, stored, nil
}

func (s *Server) updateLocked(module, id string, rec map[string]any) *fieldError {
	m, ok := s.mod(module)
	if !ok {
		return &fieldError{code: "INVALID_MODULE", message: "the module name given seems to be invalid"}
	}
	cur, ok := m.records[id]
	if !ok {
		return &fieldError{code: "INVALID_DATA", message: "the id given seems to be invalid", details: map[string]any{"id": id}}
	}
	if err := s.checkLocked(module, rec, false); err != nil {
		return err
	}
	next := clone(cur).(map[string]any)
	li := lineItems(module)
	for k, v := range rec {
		if k == "id" || k == li || strings.HasPrefix(k, "$") || k == "Modified_Time" || k == "Created_Time" {
			continue
		}
		next[k] = v
	}
	if sent, ok := rec[li].([]any); ok && li != "" {
		stored, _ := next[li].([]any)
		items, err := s.applyItemsLocked(module, stored, sent)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return mandatoryMissing(li)
		}
		next[li] = items
		totals(next, li)
	}
	next["Modified_Time"] = zohoTime(s.now())
	m.records[id] = next
	s.notifyLocked(module, "update", []string{id})
	return nil
}

func (s *Server) deleteLocked(module, id string) bool {
	m, ok := s.mod(module)
	if !ok {
		return false
	}
	rec, ok := m.records[id]
	if !ok {
		return false
	}
	delete(m.records, id)
	for i, o := range m.order {
		if o == id {
			m.order = append(m.order[:i], m.order[i+1:]...)
			break
		}
	}
	m.deleted = append(m.deleted, map[string]any{"id": id, "display_name": displayName(module, rec), "type": "recycle",
		"deleted_time": zohoTime(s.now()), "deleted_by": map[string]any{"name": "Hub Admin", "id": "4150868000000100001"},
		"created_by": map[string]any{"name": "Hub Admin", "id": "4150868000000100001"}})
	s.notifyLocked(module, "delete", []string{id})
	return true
}

// coql answers a COQL query.
func (s *Server) coql(w http.ResponseWriter, q query, perr error) (int, string) {
	fail := func(code, msg string, details map[string]any) (int, string) {
		writeJSON(w, http.StatusBadRequest, apiError(code, msg, details))
		return http.StatusBadRequest, code
	}
	if perr != nil {
		return fail("SYNTAX_ERROR", perr.Error(), nil)
	}
	switch {
	case q.limit < 1 || q.limit > 2000:
		return fail("INVALID_QUERY", "limit must be between 1 and 2000", map[string]any{"limit": "2000"})
	case q.offset < 0 || q.offset+q.limit > 100000:
		return fail("LIMIT_EXCEEDED", "offset and limit exceed 100000 rows", nil)
	case q.where.criteria() > 25:
		return fail("LIMIT_EXCEEDED", "at most 25 criteria", nil)
	}
	s.mu.Lock()
	m, ok := s.mod(q.module)
	if !ok {
		s.mu.Unlock()
		return fail("INVALID_MODULE", "the module name given seems to be invalid", map[string]any{"module": q.module})
	}
	li := lineItems(q.module)
	for _, c := range q.cols {
		if li != "" && c == li {
			s.mu.Unlock()
			return fail("INVALID_QUERY", "subform fields are not supported", map[string]any{"column_name": c})
		}
	}
	var rows []map[string]any
	for _, id := range m.order {
		if q.where.match(m.records[id]) {
			rows = append(rows, m.records[id])
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, o := range q.order {
			a, _ := fieldText(rows[i], o.col)
			b, _ := fieldText(rows[j], o.col)
			if d := compare(a, b); d != 0 {
				return (d < 0) != o.desc
			}
		}
		return false
	})
	total := len(rows)
	if q.offset >= len(rows) {
		rows = nil
	} else {
		rows = rows[q.offset:min(len(rows), q.offset+q.limit)]
	}
	out := make([]any, 0, len(rows))
	for _, r := range rows {
		row := map[string]any{}
		for _, c := range q.cols {
			v := r[c]
			if lk, ok := v.(map[string]any); ok {
				v = map[string]any{"id": lk["id"]}
			}
			row[c] = clone(v)
		}
		if _, ok := row["id"]; !ok {
			row["id"] = r["id"]
		}
		out = append(out, row)
	}
	s.mu.Unlock()
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent, ""
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "info": map[string]any{"count": len(out), "more_records": q.offset+len(out) < total}})
	return http.StatusOK, ""
}

// get answers GET /crm/v8/{module}?ids=&fields=.
func (s *Server) get(w http.ResponseWriter, r *http.Request, module string) (int, string) {
	q := r.URL.Query()
	fields := q.Get("fields")
	if fields == "" {
		writeJSON(w, http.StatusBadRequest, apiError("REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]any{"param_name": "fields"}))
		return http.StatusBadRequest, "REQUIRED_PARAM_MISSING"
	}
	ids := strings.Split(q.Get("ids"), ",")
	if q.Get("ids") == "" {
		ids = nil
	}
	if len(ids) > 100 {
		writeJSON(w, http.StatusBadRequest, apiError("LIMIT_EXCEEDED", "at most 100 ids", map[string]any{"limit": 100, "param_name": "ids"}))
		return http.StatusBadRequest, "LIMIT_EXCEEDED"
	}
	s.mu.Lock()
	m, ok := s.mod(module)
	if !ok {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, apiError("INVALID_MODULE", "the module name given seems to be invalid", nil))
		return http.StatusBadRequest, "INVALID_MODULE"
	}
	if ids == nil {
		n, _ := strconv.Atoi(q.Get("per_page"))
		ids = m.order[:min(len(m.order), max(1, min(n, 200)))]
	}
	want := map[string]bool{"id": true}
	for _, f := range strings.Split(fields, ",") {
		want[strings.TrimSpace(f)] = true
	}
	var out []any
	for _, id := range ids {
		rec, ok := m.records[id]
		if !ok {
			continue
		}
		v := s.viewLocked(module, rec)
		row := map[string]any{}
		for k, x := range v {
			if want[k] {
				row[k] = x
			}
		}
		out = append(out, row)
	}
	s.mu.Unlock()
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent, ""
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "info": map[string]any{"per_page": len(out), "count": len(out), "page": 1,
		"more_records": false, "sort_by": "id", "sort_order": "desc", "next_page_token": nil, "previous_page_token": nil, "page_token_expiry": nil}})
	return http.StatusOK, ""
}

// write answers an upsert (POST .../upsert) or an update (PUT).
func (s *Server) write(w http.ResponseWriter, module string, body []byte, upsert bool) (int, string) {
	var req struct {
		Data                 []map[string]any `json:"data"`
		DuplicateCheckFields []string         `json:"duplicate_check_fields"`
	}
	if err := decodeJSON(body, &req); err != nil || len(req.Data) == 0 {
		writeJSON(w, http.StatusBadRequest, apiError("INVALID_DATA", "body is not a data array", nil))
		return http.StatusBadRequest, "INVALID_DATA"
	}
	if len(req.Data) > 100 {
		writeJSON(w, http.StatusBadRequest, apiError("LIMIT_EXCEEDED", "at most 100 records", map[string]any{"limit": 100}))
		return http.StatusBadRequest, "LIMIT_EXCEEDED"
	}
	s.mu.Lock()
	if _, ok := s.mod(module); !ok {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, apiError("INVALID_MODULE", "the module name given seems to be invalid", nil))
		return http.StatusBadRequest, "INVALID_MODULE"
	}
	dup := req.DuplicateCheckFields
	if len(dup) == 0 {
		dup = map[string][]string{"Contacts": {"Email"}, "Accounts": {"Account_Name"}, "Products": {"Product_Name"},
			"Sales_Orders": {"Subject"}, "Invoices": {"Subject"}}[module]
	}
	results := make([]any, len(req.Data))
	ok := 0
	for i, rec := range req.Data {
		res, ferr := s.writeOneLocked(module, rec, upsert, dup)
		if ferr != nil {
			d := ferr.details
			if d == nil {
				d = map[string]any{}
			}
			results[i] = map[string]any{"code": ferr.code, "details": d, "message": ferr.message, "status": "error"}
			continue
		}
		ok++
		results[i] = res
	}
	s.mu.Unlock()
	status := http.StatusOK
	switch {
	case ok == 0:
		status = http.StatusBadRequest
	case ok < len(req.Data):
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, map[string]any{"data": results})
	return status, ""
}

func (s *Server) writeOneLocked(module string, rec map[string]any, upsert bool, dup []string) (map[string]any, *fieldError) {
	m := s.modules[module]
	id := ""
	if v, ok := rec["id"]; ok && v != nil {
		id = fmt.Sprint(v)
	}
	action, dupField := "update", any(nil)
	if upsert && id == "" {
		for _, f := range dup {
			v, ok := fieldText(rec, f)
			if !ok || v == "" {
				continue
			}
			for _, oid := range m.order {
				if ov, ok := fieldText(m.records[oid], f); ok && ov == v {
					id, dupField = oid, f
					break
				}
			}
			if id != "" {
				break
			}
		}
		if id == "" {
			action = "insert"
		}
	}
	if !upsert && id == "" {
		return nil, mandatoryMissing("id")
	}
	var err *fieldError
	if action == "insert" {
		id, _, err = s.createLocked(module, rec)
	} else {
		err = s.updateLocked(module, id, rec)
	}
	if err != nil {
		return nil, err
	}
	cur := m.records[id]
	msg := "record updated"
	if action == "insert" {
		msg = "record added"
	}
	res := map[string]any{"code": "SUCCESS", "message": msg, "status": "success",
		"details": map[string]any{"id": id, "Modified_Time": cur["Modified_Time"], "Created_Time": cur["Created_Time"],
			"Modified_By": map[string]any{"name": "Hub", "id": "4150868000000100001"}, "Created_By": map[string]any{"name": "Hub", "id": "4150868000000100001"}}}
	if upsert {
		res["action"], res["duplicate_field"] = action, dupField
	}
	return res, nil
}

// remove answers DELETE /crm/v8/{module}?ids=.
func (s *Server) remove(w http.ResponseWriter, r *http.Request, module string) (int, string) {
	ids := strings.Split(r.URL.Query().Get("ids"), ",")
	if r.URL.Query().Get("ids") == "" {
		writeJSON(w, http.StatusBadRequest, apiError("MISSING_PARAM", "please specify ids", map[string]any{"param": "ids"}))
		return http.StatusBadRequest, "MISSING_PARAM"
	}
	s.mu.Lock()
	var out []any
	ok := 0
	for _, id := range ids {
		if s.deleteLocked(module, id) {
			ok++
			out = append(out, map[string]any{"code": "SUCCESS", "details": map[string]any{"id": id}, "message": "record deleted", "status": "success"})
		} else {
			out = append(out, map[string]any{"code": "INVALID_DATA", "details": map[string]any{"id": id}, "message": "the id given seems to be invalid", "status": "error"})
		}
	}
	s.mu.Unlock()
	status := http.StatusOK
	switch {
	case ok == 0:
		status = http.StatusBadRequest
	case ok < len(ids):
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, map[string]any{"data": out})
	return status, ""
}

// deleted answers GET /crm/v8/{module}/deleted.
func (s *Server) deleted(w http.ResponseWriter, r *http.Request, module string) (int, string) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	per, _ := strconv.Atoi(q.Get("per_page"))
	if page < 1 {
		page = 1
	}
	if per < 1 || per > 200 {
		per = 200
	}
	var since time.Time
	if h := r.Header.Get("If-Modified-Since"); h != "" {
		t, err := time.Parse(time.RFC3339, h)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError("PATTERN_NOT_MATCHED", "If-Modified-Since is not an ISO 8601 date-time", map[string]any{"param_name": "If-Modified-Since"}))
			return http.StatusBadRequest, "PATTERN_NOT_MATCHED"
		}
		since = t
	}
	s.mu.Lock()
	m, ok := s.mod(module)
	if !ok {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, apiError("INVALID_MODULE", "the module name given seems to be invalid", nil))
		return http.StatusBadRequest, "INVALID_MODULE"
	}
	var rows []map[string]any
	for i := len(m.deleted) - 1; i >= 0; i-- { // newest first
		d := m.deleted[i]
		t, _ := time.Parse(time.RFC3339, d["deleted_time"].(string))
		if since.IsZero() || t.After(since) {
			rows = append(rows, d)
		}
	}
	s.mu.Unlock()
	start := (page - 1) * per
	if start >= len(rows) {
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent, ""
	}
	end := min(len(rows), start+per)
	out := make([]any, 0, end-start)
	for _, d := range rows[start:end] {
		out = append(out, clone(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "info": map[string]any{"per_page": per, "count": len(out), "page": page, "more_records": end < len(rows)}})
	return http.StatusOK, ""
}
