package reconcile

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestSumAsDecimal: the fast sum gives what decimal's own addition of
// every text gives, value and exponent (so "100.50" stays "100.50"),
// through plain texts, exponents, overflow of the int64 and texts that
// are no number.
func TestSumAsDecimal(t *testing.T) {
	cases := [][]string{
		{"100.50", "0.5", "-3"},
		{"7", "8"},
		{" 12.30 ", "+1.000"},
		{"1e3", "2.5"},
		{"999999999999999999", "999999999999999999", "1"},      // overflow on adding
		{"1.23", "99999999999999999.9", "0.00000000000000001"}, // overflow on rescaling
		{"-922337203685477580.7", "-922337203685477580.7"},
		{"12345678901234567890.12", "3"}, // more digits than an int64 holds
		{"abc", "1.", ".5", "-", "", "1.2.3", "5"},
		{"-0.00", "0"},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var c []string
		for range 1 + r.IntN(20) {
			c = append(c, fmt.Sprintf("%d.%0*d", r.Int64N(2e12)-1e12, r.IntN(4), r.IntN(1000)))
		}
		cases = append(cases, c)
	}
	for _, texts := range cases {
		var s sum
		var want decimal.Decimal
		for _, x := range texts {
			d, err := decimal.NewFromString(strings.TrimSpace(x))
			if got := s.add(x); got != (err == nil) {
				t.Errorf("%v: add(%q) = %v, decimal says %v", texts, x, got, err)
			}
			if err == nil {
				want = want.Add(d)
			}
		}
		if got := s.total(); !got.Equal(want) || got.Exponent() != want.Exponent() {
			t.Errorf("%v: total %s (exponent %d), want %s (exponent %d)", texts, got, got.Exponent(), want, want.Exponent())
		}
	}
}
