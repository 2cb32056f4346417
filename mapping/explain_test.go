package mapping

import (
	"strings"
	"testing"
)

func TestExplainYardstick(t *testing.T) {
	p := yardstickPlan(t)
	got := p.Explain()
	for _, want := range []string{
		"mapping shop-order-yardstick: shop order, in (system -> canonical)",
		`external_id: from id, then prefix "shop:"`,
		"  email: from the first present of customer.email, email, then lower-case",
		"lines: each element of line_items",
		"  amount: the exact product quantity x price, then round half away from zero to 2 places, then as number",
		"line_count: the number of elements of line_items",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("explain lacks %q:\n%s", want, got)
		}
	}
}
