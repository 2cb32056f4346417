package mapping

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestExpressionBudget: an expression that would build a huge string or
// loop for ever is a field error of that record, found quickly, not a
// crash; ordinary expressions are untouched.
func TestExpressionBudget(t *testing.T) {
	const spec = `name: budget-test
system: crm
entity: customer
direction: in
fields:
  external_id: {from: id, type: string}
  name: {expr: %q}
`
	tests := []struct {
		name, expr, in string
		want           string // the name, or "" for a field error
		errPart        string
	}{
		{"concatenation", `first + " " + last`, `{"id":1,"first":"Ada","last":"Lovelace"}`, "Ada Lovelace", ""},
		{"numbers still add", `string(n + 2)`, `{"id":1,"n":40}`, "42", ""},
		{"a small repeat", `repeat("ab", 3)`, `{"id":1}`, "ababab", ""},
		{"doubling a string", `let a = repeat("x", 900000); let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; f`,
			`{"id":1}`, "", "over budget"},
		{"doubling a field", `let a = s + s; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; let h = g + g; let i = h + h; let j = i + i; let k = j + j; let l = k + k; let m = l + l; let o = m + m; let p = o + o; let q = p + p; let r = q + q; let u = r + r; let v = u + u; let w = v + v; w`,
			`{"id":1,"s":"0123456789"}`, "", "over budget"},
		{"a huge repeat", `repeat("x", 1000000000)`, `{"id":1}`, "", "over budget"},
		{"nested loops over a long split", `all(split(s, ","), {all(split(s, ","), {all(split(s, ","), {# != "z"})})}) ? "y" : "n"`,
			`{"id":1,"s":"` + strings.Repeat("a,", 5000) + `a"}`, "", "over budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, strings.Replace(spec, "%q", quoteYAML(tt.expr), 1))
			start := time.Now()
			got, err := applyJSON(t, p, tt.in, nil)
			took := time.Since(start)
			if took > 3*time.Second {
				t.Errorf("took %s: the budget did not stop it", took)
			}
			if tt.want != "" {
				if err != nil || !strings.Contains(got, `"name":"`+tt.want+`"`) {
					t.Errorf("got %s, %v; want name %q", got, err, tt.want)
				}
				return
			}
			var re *RecordError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), "name") || !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("err = %v, want a field error of name saying %q", err, tt.errPart)
			}
		})
	}
}

// quoteYAML quotes s as a YAML double-quoted scalar.
func quoteYAML(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
