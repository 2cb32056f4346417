package mapping

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzApply maps arbitrary bytes with the yardstick mapping and with a
// spec that uses every kind of source and most transforms (including
// expressions, so the whole record is decoded). Whatever the input: no
// panic, and either a result that encodes as valid JSON or an error.
//
//	go test -run XXX -fuzz FuzzApply -fuzztime 60s ./mapping/
func FuzzApply(f *testing.F) {
	for _, name := range []string{"input-3.ndjson", "expected-3.ndjson"} {
		if data, err := os.ReadFile(filepath.Join(benchDir(), "golden", name)); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"id":42,"source":"web","customer":{"id":77,"first":"Ada","last":"L","phone":"030 1234567"},"created_at":"2026-02-28T23:30:00Z","total":"12.50","state":"paid","currency":"eur","items":[{"sku":"A","qty":2,"price":"1.005"}]}`))
	f.Add([]byte(`{"items":[{"qty":"1e400","price":"-0"}],"total":1e-7,"created_at":1e300}`))
	f.Add([]byte(`{"v":"\ud800","w":[[[[]]]],"x":{"y":null}}`))
	f.Add([]byte(`[{"a":1},2,"3"]`))
	f.Add([]byte(`{"phone":"+999999999999999999999999999999","customer":{"phone":"++"}}`))

	plans := []*Plan{yardstickPlan(f), mustPlan(f, orderSpec), mustPlan(f, fuzzSpec)}
	lk := MapLookup{"xref.customer": {"77": "C"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range plans {
			out, err := p.ApplyJSON(context.Background(), data, lk)
			// The Value-building path must agree with the streaming one.
			rec, derr := ParseJSON(data)
			if derr == nil {
				v, verr := p.Apply(context.Background(), rec, lk)
				if (verr == nil) != (err == nil) || (err != nil && verr.Error() != err.Error()) {
					t.Fatalf("%s: Apply error %v, ApplyJSON error %v", p.Name, verr, err)
				}
				if err == nil && string(AppendJSON(nil, v)) != string(out) {
					t.Fatalf("%s: Apply gives %s, ApplyJSON %s", p.Name, AppendJSON(nil, v), out)
				}
			}
			if err != nil {
				continue
			}
			if _, err := ParseJSON(out); err != nil {
				t.Fatalf("%s produced invalid JSON %q: %v", p.Name, out, err)
			}
		}
	})
}

const fuzzSpec = `name: fuzz
entity: customer
direction: in
options: {default_region: CN, timezone: Asia/Shanghai}
fields:
  external_id: {from: [id, uuid, "$.key"], type: string}
  name:
    concat: [first, {value: " "}, last]
    transform: [trim, upper, {substring: [0, 40]}, {replace: {pattern: '\s+', with: ' '}}]
  first_name: {from: tags, transform: [{split: ","}, first]}
  last_name: {from: tags, transform: [{split: ","}, {join: "+"}, lower]}
  email: {from: email, transform: [trim, lower, {trim_suffix: "."}, {default: none}]}
  phone: {from: phone, type: phone}
  mobile:
    from: phone
    transform: [{digits: keep_leading_plus}, {rewrite: [{match: '^\+(\d+)$', to: '+$1'}, {match: '^(1\d{10})$', to: '+86$1'}]}]
  credit_limit: {from: limit, transform: [{round: 2}], type: decimal}
  marketing_opt_in: {from: opt_in, type: bool}
  created_at: {from: created, type: datetime}
  updated_at: {from: updated, transform: [{timezone: Europe/Berlin}]}
  status:
    from: state
    map: {values: {a: ACTIVE, b: BLOCKED}}
  customer_no: {expr: 'string(len(string(id ?? "")))', when: 'id != nil'}
  language: {from: lang, transform: [{expr: 'value == nil ? "en" : lower(string(value))'}]}
  attributes:
    fields:
      n: {count: items}
      s: {sum: "items[*].price"}
      p: {multiply: [qty, price, 2]}
      d: {from: day, type: date}
      i: {from: n, type: int}
      f: {from: d, transform: [{format_time: "2006-01-02 15:04"}]}
      l:
        each: items
        where: 'price != nil'
        fields:
          x: {from: price, type: number}
          y: "$.id"
          z: {from: "tags[0]", transform: [{parse_time: "2006-01-02"}]}
`
