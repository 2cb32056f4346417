package fxiaoketest

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// known are the predefined objects the stand-in has.
var known = map[string]bool{"AccountObj": true, "ContactObj": true, "SalesOrderObj": true, "SalesOrderProductObj": true,
	"InvoiceApplicationObj": true, "PaymentObj": true, "ProductObj": true}

func intOf(v any) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.Atoi(x.String())
		return n, err == nil
	case float64:
		return int(x), true
	}
	return 0, false
}

// isNum reports whether s looks like a number (digits first).
func isNum(s string) bool {
	return s != "" && (s[0] >= '0' && s[0] <= '9' || s[0] == '-') && !strings.ContainsAny(s, "abcdfABCDF")
}

// cmp orders two field values: as numbers when both are, else as text.
func cmp(a, b any) int {
	sa, sb := fmt.Sprint(a), fmt.Sprint(b)
	if sa == sb {
		return 0
	}
	if isNum(sa) != isNum(sb) {
		return strings.Compare(sa, sb)
	}
	x, okA := new(big.Rat).SetString(fmt.Sprint(a))
	y, okB := new(big.Rat).SetString(fmt.Sprint(b))
	if okA && okB {
		return x.Cmp(y)
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

type filter struct {
	field  string
	op     string
	values []any
	set    map[string]bool // the values' text, for IN and NIN
}

func (f filter) match(rec map[string]any) bool {
	v, ok := rec[f.field]
	if f.field == "is_deleted" && !ok {
		v, ok = false, true
	}
	in := func() bool {
		if !ok {
			return false
		}
		if sv := fmt.Sprint(v); f.set[sv] {
			return true
		} else if !isNum(sv) {
			return false
		}
		for _, w := range f.values {
			if ok && cmp(v, w) == 0 {
				return true
			}
		}
		return false
	}
	if len(f.values) == 0 {
		return f.op == "IS" && !ok
	}
	d := 0
	if ok {
		d = cmp(v, f.values[0])
	}
	switch f.op {
	case "EQ":
		return ok && d == 0
	case "N":
		return !ok || d != 0
	case "GT":
		return ok && d > 0
	case "GTE":
		return ok && d >= 0
	case "LT":
		return ok && d < 0
	case "LTE":
		return ok && d <= 0
	case "IN":
		return in()
	case "NIN":
		return !in()
	case "LIKE":
		return ok && strings.Contains(fmt.Sprint(v), fmt.Sprint(f.values[0]))
	}
	return false
}

// query answers /data/query.
func (s *Server) query(req request, c *Call) map[string]any {
	object, _ := req.Data["dataObjectApiName"].(string)
	info, _ := req.Data["search_query_info"].(map[string]any)
	if !known[object] && !strings.HasSuffix(object, "__c") {
		return failure(CodeValidation, "对象 "+object+" 不存在")
	}
	limit, okL := intOf(info["limit"])
	offset, okO := intOf(info["offset"])
	switch {
	case !okL || limit < 1 || limit > 100:
		return failure(CodeValidation, "limit 必须在 1 到 100 之间")
	case !okO || offset < 0 || offset%limit != 0:
		return failure(CodeValidation, "offset 必须是 limit 的整数倍")
	}
	c.Offset = offset
	var fs []filter
	deleted := false
	raw, _ := info["filters"].([]any)
	for _, x := range raw {
		m, _ := x.(map[string]any)
		f := filter{op: strings.ToUpper(fmt.Sprint(m["operator"]))}
		f.field, _ = m["field_name"].(string)
		f.values, _ = m["field_values"].([]any)
		switch f.op {
		case "EQ", "N", "GT", "GTE", "LT", "LTE", "IN", "NIN", "LIKE", "IS":
		default:
			return failure(CodeValidation, "不支持的操作符 "+f.op)
		}
		if f.field == "is_deleted" {
			deleted = true
		}
		f.set = map[string]bool{}
		for _, v := range f.values {
			f.set[fmt.Sprint(v)] = true
		}
		fs = append(fs, f)
	}
	type order struct {
		field string
		asc   bool
	}
	var orders []order
	rawOrders, _ := info["orders"].([]any)
	for _, x := range rawOrders {
		m, _ := x.(map[string]any)
		f, _ := m["fieldName"].(string)
		asc := fmt.Sprint(m["isAsc"]) == "true"
		orders = append(orders, order{f, asc})
	}
	s.mu.Lock()
	var rows []map[string]any
	for _, r := range s.table(object) {
		if r["is_deleted"] == true && !deleted {
			continue
		}
		ok := true
		for _, f := range fs {
			if !f.match(r) {
				ok = false
				break
			}
		}
		if ok {
			rows = append(rows, r)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, o := range orders {
			if d := cmp(rows[i][o.field], rows[j][o.field]); d != 0 {
				return (d < 0) == o.asc
			}
		}
		return false
	})
	total := len(rows)
	var list []any
	for i := offset; i < len(rows) && i < offset+limit; i++ {
		list = append(list, clone(rows[i]))
	}
	s.mu.Unlock()
	if list == nil {
		list = []any{}
	}
	return map[string]any{"errorCode": 0, "errorMessage": "OK", "data": map[string]any{"dataList": list, "total": total}}
}

// objectData is a write's object_data and details.
func objectData(req request) (string, map[string]any, []any, bool) {
	od, _ := req.Data["object_data"].(map[string]any)
	object, _ := od["dataObjectApiName"].(string)
	var lines []any
	_, hasDetails := req.Data["details"]
	if d, ok := req.Data["details"].(map[string]any); ok {
		lines, _ = d["SalesOrderProductObj"].([]any)
	}
	return object, od, lines, hasDetails
}

// create answers /data/create.
func (s *Server) create(req request) map[string]any {
	object, od, lines, _ := objectData(req)
	if !known[object] && !strings.HasSuffix(object, "__c") {
		return failure(CodeValidation, "对象 "+object+" 不存在")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := clone(od).(map[string]any)
	delete(rec, "_id")
	id, msg := s.createLocked(object, rec, lines)
	if msg != "" {
		return failure(CodeValidation, msg)
	}
	return map[string]any{"errorCode": 0, "errorMessage": "OK", "dataId": id}
}

// update answers /data/update: the fields given change; details given
// replace the lines.
func (s *Server) update(req request) map[string]any {
	object, od, lines, hasDetails := objectData(req)
	id := fmt.Sprint(od["_id"])
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.table(object)[id]
	if !ok || rec["is_deleted"] == true {
		return failure(CodeNotFound, "数据不存在或已作废")
	}
	fields := clone(od).(map[string]any)
	for _, k := range []string{"_id", "dataObjectApiName", "last_modified_time", "create_time", "version", "is_deleted"} {
		delete(fields, k)
	}
	if msg := s.validate(object, fields, false); msg != "" {
		return failure(CodeValidation, msg)
	}
	if object == "SalesOrderObj" && hasDetails {
		if msg := s.putLines("SalesOrderProductObj", id, lines); msg != "" {
			return failure(CodeValidation, msg)
		}
	}
	for k, v := range fields {
		rec[k] = v
	}
	s.stamp(rec, false)
	return map[string]any{"errorCode": 0, "errorMessage": "OK"}
}

// get answers /data/get.
func (s *Server) get(req request) map[string]any {
	object, _ := req.Data["dataObjectApiName"].(string)
	id := fmt.Sprint(req.Data["objectDataId"])
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.table(object)[id]
	if !ok {
		return failure(CodeNotFound, "数据不存在")
	}
	return map[string]any{"errorCode": 0, "errorMessage": "OK", "data": clone(rec)}
}

// invalid answers /data/invalid: the record goes to the recycle bin.
func (s *Server) invalid(req request) map[string]any {
	object, _ := req.Data["dataObjectApiName"].(string)
	id := fmt.Sprint(req.Data["object_data_id"])
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.invalidLocked(object, id) {
		return failure(CodeNotFound, "数据不存在或已作废")
	}
	return map[string]any{"errorCode": 0, "errorMessage": "OK"}
}
