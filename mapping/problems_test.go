package mapping

import (
	"errors"
	"strings"
	"testing"
)

// TestFiveMistakes: a spec with five different mistakes gives five
// problems, each with file:line and the field.
func TestFiveMistakes(t *testing.T) {
	spec := `name: broken
system: shop
entity: order
direction: in
fields:
  external_id:
    from: id
    transform: [shout]
  order_date:
    from: created_at
    type: decimal
  currency: currency
  currency: presentment_currency
  total:
    expr: 'total_price +* 2'
  delivery_window: shipping_lines
`
	_, err := Compile("configs/mappings/broken.yaml", []byte(spec))
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []string{
		`configs/mappings/broken.yaml:8: external_id: unknown transform "shout"`,
		`configs/mappings/broken.yaml:11: order_date: type decimal does not fit: the canonical order model has a date here`,
		`configs/mappings/broken.yaml:13: currency: duplicate target (first defined at line 12)`,
		`configs/mappings/broken.yaml:15: total: expr does not compile`,
		`configs/mappings/broken.yaml:16: delivery_window: the canonical order model has no field "delivery_window"`,
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(probs[i].String(), w) {
			t.Errorf("problem %d:\n got %s\nwant prefix %s", i, probs[i], w)
		}
		if probs[i].File == "" || probs[i].Line == 0 || probs[i].Field == "" {
			t.Errorf("problem %d lacks file, line or field: %+v", i, probs[i])
		}
	}
}

func TestSpecProblems(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want []string // substrings, one problem each, in line order
	}{
		{"unknown entity and direction", "entity: ticket\ndirection: sideways\nfields: {}\n",
			[]string{`:1: entity: unknown entity "ticket"`, `:2: direction: must be in`}},
		{"missing keys", "name: x\n", []string{`entity: missing`, `direction: missing`, `fields: missing`}},
		{"not yaml", "fields: [\n", []string{`not valid YAML`}},
		{"unknown top key", "entity: order\ndirection: in\nfeilds: {}\nfields: {}\n", []string{`:3: feilds: unknown key`}},
		{"unknown field key", "entity: order\ndirection: in\nfields:\n  total:\n    from: x\n    tpye: decimal\n", []string{`:6: total: unknown key "tpye"`}},
		{"two sources", "entity: order\ndirection: in\nfields:\n  total:\n    from: x\n    value: 1\n", []string{`:5: total: give one source, not from and value`}},
		{"no source", "entity: order\ndirection: in\nfields:\n  total:\n    type: decimal\n", []string{`total: needs a source`}},
		{"unknown type", "entity: order\ndirection: in\nfields:\n  total:\n    from: x\n    type: money\n", []string{`:6: total: unknown type "money"`}},
		{"bad constant for its type", "entity: order\ndirection: in\nfields:\n  line_count:\n    value: many\n    type: int\n", []string{`:5: line_count: value "many": not a whole number`}},
		{"bad default for its type", "entity: order\ndirection: in\nfields:\n  order_date:\n    from: d\n    type: date\n    default: soon\n", []string{`:7: order_date: default "soon": not a date or time`}},
		{"default the canonical model refuses", "entity: customer\ndirection: in\nfields:\n  email:\n    from: e\n    default: nobody\n  phone:\n    from: p\n    type: phone\n    default: '+1 555 0100 999 999 999'\n  currency:\n    from: c\n    default: euro\n  mobile:\n    from: m\n    type: phone\n    region: DE\n    default: '030 1234567'\n", []string{`:6: email: default "nobody": is not an e-mail address`, `:10: phone: default`, `:13: currency: default "euro"`}},
		{"constant the canonical model refuses", "entity: order\ndirection: in\nfields:\n  currency:\n    value: euro\n  line_count:\n    value: '-1'\n    type: int\n  notes:\n    value: x\n", []string{`:5: currency: value "euro": is not an ISO 4217 currency code`, `:7: line_count: value -1: must not be negative`}},
		{"default in the wrong case", "entity: order\ndirection: in\nfields:\n  currency:\n    from: c\n    transform: [upper]\n    default: eur\n", []string{`:7: currency: default "eur": is not as the canonical model takes it: write "EUR"`}},
		{"constant made canonical by a transform", "entity: order\ndirection: in\nfields:\n  currency:\n    value: eur\n    transform: [upper]\n", nil},
		{"array into a scalar", "entity: order\ndirection: in\nfields:\n  notes:\n    from: tags\n    transform: [{split: \",\"}, upper]\n", []string{`:6: notes: upper needs a single value, but gets an array here`}},
		{"array typed", "entity: order\ndirection: in\nfields:\n  notes:\n    from: items[*].sku\n    type: string\n", []string{`notes: type string needs a single value, but the field gives an array`}},
		{"scalar into canonical object", "entity: order\ndirection: in\nfields:\n  customer: buyer\n", []string{`:4: customer: is an object in the canonical order model`}},
		{"each into canonical scalar", "entity: order\ndirection: in\nfields:\n  total:\n    each: items\n    fields: {sku: sku}\n", []string{`total: is a single decimal in the canonical order model, but the spec gives an array`}},
		{"nested unknown", "entity: order\ndirection: in\nfields:\n  lines:\n    each: items\n    fields:\n      colour: c\n", []string{`:7: lines[].colour: the canonical order model has no field "colour"`}},
		{"attributes always allowed", "entity: order\ndirection: in\nfields:\n  attributes.anything.deep: x\n  lines:\n    each: items\n    fields:\n      attributes.colour: c\n", nil},
		{"out checks sources", "entity: customer\ndirection: out\nfields:\n  NAME1: name\n  MAIL: e_mail\n  X: attributes.whatever\n", []string{`:5: MAIL: source e_mail: the canonical customer model has no such field`}},
		{"out each checks element sources", "entity: order\ndirection: out\nfields:\n  ROWS:\n    each: lines\n    fields:\n      ART: sku\n      QTY: quantity\n", []string{`:8: ROWS[].QTY: source quantity`}},
		{"bad path", "entity: order\ndirection: in\nfields:\n  total: 'a[x]'\n", []string{`:4: total: path "a[x]": index "x"`}},
		{"bad regex", "entity: order\ndirection: in\nfields:\n  notes:\n    from: n\n    transform: [{replace: {pattern: '(', with: ''}}]\n", []string{`:6: notes: replace pattern`}},
		{"bad template group", "entity: order\ndirection: in\nfields:\n  notes:\n    from: n\n    transform: [{rewrite: [{match: '(a)', to: '$2'}]}]\n", []string{`notes: rewrite to`}},
		{"unknown lookup table", "entity: order\ndirection: in\nfields:\n  payment_terms:\n    from: t\n    transform: [{lookup: terms}]\n", []string{`:6: payment_terms: lookup: no table "terms"`}},
		{"missing lookup file", "entity: order\ndirection: in\nlookups:\n  terms: {file: nowhere.yaml}\nfields: {}\n", []string{`:4: lookups.terms: read lookup table`}},
		{"xref unknown entity", "entity: order\ndirection: in\nfields:\n  customer.id:\n    from: c\n    transform: [{xref: shopper}]\n", []string{`xref: unknown entity "shopper"`}},
		{"when does not compile", "entity: order\ndirection: in\nfields:\n  notes:\n    from: n\n    when: 'a =='\n", []string{`:6: notes: when: expression does not compile`}},
		{"concat literal hint", "entity: order\ndirection: in\nfields:\n  notes:\n    concat: [a, ' ', b]\n", []string{`concat item " " is not a path; write literal text as {value: " "}`}},
		{"bad timezone", "entity: order\ndirection: in\noptions: {timezone: Mars/Olympus}\nfields: {}\n", []string{`:3: options.timezone: unknown time zone`}},
		{"dotted target clashes", "entity: order\ndirection: in\nfields:\n  customer: {fields: {name: n}}\n  customer.name: m\n", []string{`:5: customer.name: duplicate target`}},
		{"merge dotted and nested", "entity: order\ndirection: in\nfields:\n  customer.email: e\n  customer:\n    fields: {name: n}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile("s.yaml", []byte(tt.spec))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected problems:\n%v", err)
				}
				return
			}
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("want problems, got %v", err)
			}
			if len(probs) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(probs[i].String(), w) {
					t.Errorf("problem %d = %s\nwant it to contain %s", i, probs[i], w)
				}
			}
		})
	}
}
