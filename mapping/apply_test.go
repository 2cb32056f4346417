package mapping

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

const orderSpec = `name: order-test
system: shop
entity: order
direction: in
options: {default_region: DE, timezone: Europe/Berlin}
fields:
  external_id:
    from: id
    required: true
    transform: [{prefix: "shop:"}]
  customer:
    fields:
      id:
        from: customer.id
        transform: [{xref: customer}]
      name:
        concat: [customer.first, {value: " "}, customer.last]
        transform: [trim]
      phone:
        from: [customer.phone, phone]
        type: phone
  order_date: {from: created_at, type: date}
  total: {from: total, type: decimal, required: true}
  notes:
    from: note
    omit_null: true
  status:
    from: state
    map: {values: {paid: PAID}, default: UNKNOWN}
  channel:
    value: shop
    when: 'source == "web"'
  currency:
    from: currency
    transform: [upper, {default: EUR}]
  lines:
    each: items
    where: 'qty > 0'
    fields:
      line_no: {expr: 'sku == "GIFT" ? 0 : 1', type: int}
      sku: sku
      qty: {from: qty, type: decimal}
      unit_price: {from: price, type: decimal}
      amount:
        multiply: [qty, price]
        transform: [{round: 2}]
        type: decimal
      attributes.currency: $.currency
  subtotal:
    sum: items[*].price
    type: decimal
  line_count:
    count: items
`

func mustPlan(t testing.TB, spec string) *Plan {
	t.Helper()
	p, err := Compile("test.yaml", []byte(spec))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func applyJSON(t *testing.T, p *Plan, in string, lk Lookup) (string, error) {
	t.Helper()
	out, err := p.ApplyJSON(context.Background(), []byte(in), lk)
	return string(out), err
}

func TestApplyOrder(t *testing.T) {
	p := mustPlan(t, orderSpec)
	lk := MapLookup{"xref.customer": {"77": "ERP-C-9"}}
	in := `{"id":42,"source":"web","customer":{"id":77,"first":"Ada","last":"Lovelace","phone":"030 1234567"},
		"created_at":"2026-02-28T23:30:00Z","total":"12.50","state":"paid","currency":"eur",
		"items":[{"sku":"A","qty":2,"price":"1.005"},{"sku":"B","qty":0,"price":"9"},{"sku":"GIFT","qty":1,"price":"0"}]}`
	got, err := applyJSON(t, p, in, lk)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"external_id":"shop:42","customer":{"id":"ERP-C-9","name":"Ada Lovelace","phone":"+49301234567"},` +
		`"order_date":"2026-02-28","total":"12.50","status":"PAID","channel":"shop","currency":"EUR",` +
		`"lines":[{"line_no":1,"sku":"A","qty":"2","unit_price":"1.005","amount":"2.01","attributes":{"currency":"eur"}},` +
		`{"line_no":0,"sku":"GIFT","qty":"1","unit_price":"0","amount":"0.00","attributes":{"currency":"eur"}}],` +
		`"subtotal":"10.005","line_count":3}`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestApplyDefaultsAndConditions(t *testing.T) {
	p := mustPlan(t, orderSpec)
	got, err := applyJSON(t, p, `{"id":"x1","total":1,"source":"pos","customer":{"id":null},"phone":"+1 650 253 0000"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"external_id":"shop:x1","customer":{"id":null,"name":"","phone":"+16502530000"},"order_date":null,` +
		`"total":"1","status":"UNKNOWN","currency":"EUR","lines":null,"subtotal":"0","line_count":0}`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestApplyCollectsFieldErrors: every failing field is reported, by path,
// with the value and the reason; the record is not half-accepted.
func TestApplyCollectsFieldErrors(t *testing.T) {
	p := mustPlan(t, orderSpec)
	in := `{"total":"12,50","created_at":"31/02/2026","customer":{"phone":"12"},
		"items":[{"sku":"A","qty":1,"price":"1"},{"sku":"B","qty":1,"price":"abc"}]}`
	_, err := applyJSON(t, p, in, nil)
	var re *RecordError
	if !errors.As(err, &re) {
		t.Fatalf("want *RecordError, got %v", err)
	}
	want := []string{
		`external_id: required, but missing (null)`,
		`customer.phone: "12": not`,
		`order_date: "31/02/2026": not a date or time`,
		`total: "12,50": not a decimal`,
		`lines[1].amount: "abc": not a decimal`,
		`lines[1].unit_price: "abc": not a decimal`,
		`subtotal: "abc": not a decimal`,
	}
	if len(re.Errors) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(re.Errors), len(want), err)
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("errors lack %q:\n%s", w, msg)
		}
	}
}

func TestApplyXrefMissingAndHookFailure(t *testing.T) {
	p := mustPlan(t, orderSpec)
	in := `{"id":1,"total":1,"customer":{"id":5}}`
	_, err := applyJSON(t, p, in, MapLookup{})
	var re *RecordError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), `customer.id: 5: xref.customer: not found`) {
		t.Fatalf("missing xref: %v", err)
	}
	_, err = applyJSON(t, p, in, nil)
	if err == nil || !strings.Contains(err.Error(), "no lookup hook") {
		t.Fatalf("nil lookup: %v", err)
	}
	boom := errors.New("connection refused")
	_, err = applyJSON(t, p, in, LookupFunc(func(context.Context, string, string) (string, bool, error) {
		return "", false, boom
	}))
	var le *LookupError
	if !errors.As(err, &le) || !errors.Is(err, boom) || le.Field != "customer.id" || le.Key != "5" {
		t.Fatalf("hook failure: want *LookupError wrapping boom, got %#v", err)
	}
	if errors.As(err, &re) {
		t.Fatal("a hook failure must not look permanent")
	}
}

func TestLookupsNamesWhatThePlanAsks(t *testing.T) {
	if got := mustPlan(t, orderSpec).Lookups(); !slices.Equal(got, []string{"xref.customer"}) {
		t.Fatalf("orderSpec's lookups: %q, want [xref.customer]", got)
	}
	p := mustPlan(t, `entity: order
direction: out
fields:
  a: {from: external_id, transform: [{hook: {name: price_list}}]}
  b: {from: external_id, transform: [{xref: customer}]}
  c: {from: external_id, transform: [{xref: order}]}
  d: {from: external_id, transform: [{xref: customer}]}
  e: {from: total}
`)
	if got, want := p.Lookups(), []string{"price_list", "xref.customer", "xref.order"}; !slices.Equal(got, want) {
		t.Fatalf("lookups %q, want %q", got, want)
	}
	if !p.LooksUp("xref.order") || !p.LooksUp("price_list") || p.LooksUp("xref.invoice") {
		t.Fatal("LooksUp disagrees with Lookups")
	}
	if got := mustPlan(t, "entity: order\ndirection: out\nfields:\n  e: {from: total}\n").Lookups(); len(got) != 0 {
		t.Fatalf("a plan without lookups lists %q", got)
	}
	if got, want := p.RequiredLookups(), []string{"price_list", "xref.customer", "xref.order"}; !slices.Equal(got, want) {
		t.Fatalf("required lookups %q, want %q", got, want)
	}
	opt := mustPlan(t, `entity: order
direction: out
fields:
  a: {from: external_id, transform: [{hook: {name: xref.invoice, optional: true}}]}
  b: {from: external_id, transform: [{hook: {name: xref.customer, optional: true}}]}
  c: {from: external_id, transform: [{xref: customer}]}
`)
	if got, want := opt.Lookups(), []string{"xref.customer", "xref.invoice"}; !slices.Equal(got, want) {
		t.Fatalf("lookups %q, want %q", got, want)
	}
	if got, want := opt.RequiredLookups(), []string{"xref.customer"}; !slices.Equal(got, want) {
		t.Fatalf("required lookups %q, want %q: an optional lookup gives null, one asked for without it fails", got, want)
	}
}

func TestApplyInvalidJSON(t *testing.T) {
	p := mustPlan(t, orderSpec)
	_, err := applyJSON(t, p, `{"id":`, nil)
	var re *RecordError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("got %v", err)
	}
}

func TestApplyNonObjectRecord(t *testing.T) {
	p := mustPlan(t, orderSpec)
	for _, in := range []string{`[]`, `"x"`, `null`, `12`} {
		_, err := applyJSON(t, p, in, nil)
		if err == nil || !strings.Contains(err.Error(), "external_id: required") {
			t.Fatalf("%s: %v", in, err)
		}
	}
}

// TestApplyConcurrent runs one plan from many goroutines (go test -race).
func TestApplyConcurrent(t *testing.T) {
	p := yardstickPlan(t)
	in := []byte(`{"id":1,"name":"#7","customer":{"first_name":"A","last_name":"B","email":"X@Y.Z","phone":"13800138000"},"created_at":"2026-03-01T00:00:00Z","currency":"eur","total_price":"1.00","financial_status":"paid","line_items":[{"sku":"S","quantity":2,"price":"0.50"}]}`)
	want := `{"external_id":"shop:1","order_no":"7","customer":{"name":"A B","email":"x@y.z","phone":"+8613800138000"},"order_date":"2026-03-01","currency":"EUR","total":1.00,"status":"PAID","lines":[{"sku":"S","qty":2,"unit_price":0.50,"amount":1.00}],"line_count":1}`
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				out, err := p.ApplyJSON(context.Background(), in, nil)
				if err != nil || string(out) != want {
					errs <- string(out) + " " + errString(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestJSONRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":"\u00e9\n\"\\\/","b":[1,-2.5e3,true,false,null],"c":{}}`, `{"a":"é\n\"\\/","b":[1,-2.5e3,true,false,null],"c":{}}`},
		{`"\ud83d\ude00"`, `"😀"`},
		{`"\ud83d"`, `"` + "\uFFFD" + `"`},
		{` [ ] `, `[]`},
		{"\"\x01\"", ``},
		{`{"a" 1}`, ``},
		{`[1,]`, ``},
		{`01`, ``},
		{`1.`, ``},
		{`-`, ``},
		{`tru`, ``},
		{`{"a":1}x`, ``},
		{`"abc`, ``},
		{`"\x"`, ``},
	}
	for _, tt := range tests {
		v, err := ParseJSON([]byte(tt.in))
		if tt.want == "" {
			if err == nil {
				t.Errorf("%q: want an error, got %s", tt.in, AppendJSON(nil, v))
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got := string(AppendJSON(nil, v)); got != tt.want {
			t.Errorf("%q: got %s want %s", tt.in, got, tt.want)
		}
	}
	deep := strings.Repeat("[", 10000)
	if _, err := ParseJSON([]byte(deep)); err == nil {
		t.Error("deep nesting accepted")
	}
	// Invalid UTF-8 and control characters are escaped on output.
	if got := string(AppendJSON(nil, StringValue("a\xffb\x01"))); got != `"a\ufffdb\u0001"` {
		t.Errorf("escaping: %s", got)
	}
}

// TestProjectedDecodeStillChecksSyntax: members a plan does not read are
// skipped, but a broken document is still rejected.
func TestProjectedDecodeStillChecksSyntax(t *testing.T) {
	p := yardstickPlan(t)
	d := p.NewDecoder()
	if _, err := d.Decode([]byte(`{"billing_address":{"a":[1,2,{"b":"\u00zz"}]},"id":1}`)); err == nil {
		t.Fatal("bad escape inside a skipped member accepted")
	}
	if _, err := d.Decode([]byte(`{"billing_address":{"a":[1,2,}},"id":1}`)); err == nil {
		t.Fatal("bad array inside a skipped member accepted")
	}
	v, err := d.Decode([]byte(`{"billing_address":{"a":[1,"x\"y",{"b":null}]},"id":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendJSON(nil, v)); got != `{"id":1}` {
		t.Fatalf("projected: %s", got)
	}
}

// TestDecoderForExtraPaths: a decoder for named paths keeps those members
// whole (a dotted path into an object, or a member named with dots), and
// NewDecoderAlso keeps what the plan reads besides; the plan's own decoder
// is not changed by it.
func TestDecoderForExtraPaths(t *testing.T) {
	doc := []byte(`{"id":7,"updated_at":"2026-12-01T00:00:00Z","customer":{"id":"C1","name":"x"},"a.b":"dots","junk":[1,{"k":2}],"billing_address":{"city":"Bonn"}}`)
	v, err := NewDecoderFor("id", "customer.id", "a.b").Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendJSON(nil, v)); got != `{"id":7,"customer":{"id":"C1"},"a.b":"dots"}` {
		t.Errorf("NewDecoderFor: %s", got)
	}
	if v, err := NewDecoderFor().Decode(doc); err != nil || string(AppendJSON(nil, v)) != `{}` {
		t.Errorf("NewDecoderFor(): %v, %v; want {}", AppendJSON(nil, v), err)
	}
	if _, err := NewDecoderFor().Decode([]byte(`{"a":[1,}`)); err == nil {
		t.Error("NewDecoderFor(): a broken document accepted")
	}
	p := yardstickPlan(t)
	v, err = p.NewDecoderAlso("updated_at", "customer.id").Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendJSON(nil, v)); got != `{"id":7,"updated_at":"2026-12-01T00:00:00Z","customer":{"id":"C1"}}` {
		t.Errorf("NewDecoderAlso: %s", got)
	}
	v, _ = p.NewDecoder().Decode(doc)
	if got := string(AppendJSON(nil, v)); got != `{"id":7,"customer":{}}` {
		t.Errorf("the plan's decoder after NewDecoderAlso: %s", got)
	}
}

// TestDecodeTransientMatchesDecode: reusing the decoder's memory gives the
// same records, through arena growth (a long array) and shrinkage.
func TestDecodeTransientMatchesDecode(t *testing.T) {
	p := yardstickPlan(t)
	var docs []string
	docs = append(docs, `{"id":1,"line_items":[{"sku":"a","price":"1","quantity":1}]}`)
	var big strings.Builder
	big.WriteString(`{"id":2,"line_items":[`)
	for i := 0; i < 300; i++ {
		if i > 0 {
			big.WriteString(",")
		}
		big.WriteString(`{"sku":"s","price":"2.50","quantity":3,"junk":{"x":[1,2]}}`)
	}
	big.WriteString(`]}`)
	docs = append(docs, big.String(), `{"id":3}`, `{"id":4,"customer":{"email":"A@B"}}`, `{"id":`, `{"id":5}`)
	full, transient := p.NewDecoder(), p.NewDecoder()
	for round := 0; round < 3; round++ {
		for _, doc := range docs {
			want, werr := full.Decode([]byte(doc))
			got, gerr := transient.DecodeTransient([]byte(doc))
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("%.40s: errors differ: %v vs %v", doc, werr, gerr)
			}
			if w, g := string(AppendJSON(nil, want)), string(AppendJSON(nil, got)); w != g {
				t.Fatalf("%.40s: transient %s, want %s", doc, g, w)
			}
		}
	}
}

// TestReads: what each top-level output member is made from, known at
// compile time; an expression makes it unknown.
func TestReads(t *testing.T) {
	p, err := Compile("reads.yaml", []byte(`name: reads
entity: customer
direction: out
fields:
  A: {from: email}
  B: {concat: [name, {value: " "}, phone]}
  C: {expr: 'name + "!"'}
  D: {from: [customer_no, external_id]}
  E.F: {from: billing_address.city}
  G: {value: constant}
  L:
    each: attributes.lines
    fields:
      Q: {from: qty}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		target, source string
		reads, known   bool
	}{
		{"A", "email", true, true}, {"A", "name", false, true},
		{"B", "name", true, true}, {"B", "phone", true, true}, {"B", "email", false, true},
		{"C", "name", false, false}, {"C", "email", false, false},
		{"D", "customer_no", true, true}, {"D", "external_id", true, true},
		{"E", "billing_address", true, true}, {"E", "email", false, true},
		{"G", "email", false, true},
		{"L", "attributes", true, true}, {"L", "qty", false, true},
		{"nope", "email", false, true},
	} {
		if r, k := p.Reads(c.target, c.source); r != c.reads || k != c.known {
			t.Errorf("Reads(%s, %s) = %v, %v; want %v, %v", c.target, c.source, r, k, c.reads, c.known)
		}
	}
}

// TestDuplicateNamesFirstCounts: of an object's members of one name (a
// kafka source's metadata put before the value's own), paths and
// expressions both read the first.
func TestDuplicateNamesFirstCounts(t *testing.T) {
	p := mustPlan(t, `entity: order
direction: in
fields:
  order_no: {from: meta.key}
  notes: {expr: 'meta.key'}
  channel: {when: 'meta.key == "first"', value: yes}
`)
	got, err := applyJSON(t, p, `{"meta":{"key":"first"},"x":1,"meta":{"key":"second"}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"order_no":"first","notes":"first","channel":"yes"}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	lines := mustPlan(t, `entity: order
direction: in
fields:
  lines:
    each: items
    fields:
      sku: {from: meta.key}
      name: {expr: 'meta.key'}
`)
	got, err = applyJSON(t, lines, `{"items":[{"meta":{"key":"first"},"meta":{"key":"second"}}]}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"lines":[{"sku":"first","name":"first"}]}`; got != want {
		t.Fatalf("in a line: got %s, want %s", got, want)
	}
}

// TestOptionalLookupWithoutHook: where no lookup is given (a mapping in,
// a reconcile scan), an optional hook gives null and a required one
// fails the field.
func TestOptionalLookupWithoutHook(t *testing.T) {
	p := mustPlan(t, `entity: order
direction: in
fields:
  order_no: {from: no}
  notes: {from: ref, transform: [{hook: {name: xref.customer, optional: true}}]}
`)
	got, err := applyJSON(t, p, `{"no":"A-1","ref":"77"}`, nil)
	if err != nil || got != `{"order_no":"A-1","notes":null}` {
		t.Fatalf("optional: got %s, %v; want the order number and null notes", got, err)
	}
	req := mustPlan(t, `entity: order
direction: in
fields:
  notes: {from: ref, transform: [{hook: {name: xref.customer}}]}
`)
	if _, err := applyJSON(t, req, `{"ref":"77"}`, nil); err == nil || !strings.Contains(err.Error(), "no lookup hook is configured") {
		t.Fatalf("required: %v, want no lookup hook is configured", err)
	}
}

// TestPhoneDefaultInTheFieldsRegion: a phone field's default is
// normalised with the field's region, as its values are, not the
// mapping's default region.
func TestPhoneDefaultInTheFieldsRegion(t *testing.T) {
	p := mustPlan(t, `entity: customer
direction: in
options: {default_region: DE}
fields:
  phone: {from: tel, type: phone, region: US, default: "202-555-0143"}
  mobile: {from: mobile, type: phone, region: US}
`)
	got, err := applyJSON(t, p, `{"mobile":"202-555-0143"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"phone":"+12025550143","mobile":"+12025550143"}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
