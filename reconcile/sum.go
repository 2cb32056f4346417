package reconcile

import (
	"math"
	"strings"

	"github.com/shopspring/decimal"
)

// sum adds the decimal texts of one currency's amounts. A plain text
// ("-1234.50": sign, digits, a point) of up to 18 digits is added as an
// int64 of units at the largest scale seen so far, with no allocation;
// any other text, and what would overflow, goes through decimal. The
// total is what adding every text with decimal gives, exponent included.
type sum struct {
	units int64 // at scale digits after the point
	scale int32
	slow  decimal.Decimal
}

// add adds text and reports whether it is a number.
func (s *sum) add(text string) bool {
	text = strings.TrimSpace(text)
	if v, scale, ok := plainDecimal(text); ok && s.addUnits(v, scale) {
		return true
	}
	d, err := decimal.NewFromString(text)
	if err != nil {
		return false
	}
	s.slow = s.slow.Add(d)
	return true
}

// addUnits adds v at scale, unless the int64 would overflow.
func (s *sum) addUnits(v int64, scale int32) bool {
	if scale > s.scale {
		units, ok := rescale(s.units, scale-s.scale)
		if !ok {
			s.flush()
			units = 0
		}
		s.units, s.scale = units, scale
	}
	v, ok := rescale(v, s.scale-scale)
	if !ok {
		return false
	}
	if (v > 0 && s.units > math.MaxInt64-v) || (v < 0 && s.units < math.MinInt64-v) {
		s.flush()
	}
	s.units += v
	return true
}

// flush moves the units to the decimal sum.
func (s *sum) flush() {
	s.slow = s.slow.Add(decimal.New(s.units, -s.scale))
	s.units = 0
}

// total is the sum of every text added.
func (s *sum) total() decimal.Decimal {
	return s.slow.Add(decimal.New(s.units, -s.scale))
}

// rescale multiplies v by 10^by, unless that overflows.
func rescale(v int64, by int32) (int64, bool) {
	for ; by > 0; by-- {
		if v > math.MaxInt64/10 || v < math.MinInt64/10 {
			return 0, false
		}
		v *= 10
	}
	return v, true
}

// plainDecimal reads "[-+]digits[.digits]" of at most 18 digits as units
// and the number of digits after the point.
func plainDecimal(s string) (int64, int32, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var v int64
	digits, scale, point := 0, int32(0), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits++; digits > 18 {
				return 0, 0, false
			}
			v = v*10 + int64(c-'0')
			if point {
				scale++
			}
		case c == '.' && !point:
			point = true
		default:
			return 0, 0, false
		}
	}
	if digits == 0 || (point && scale == 0) {
		return 0, 0, false // "", "-", "1.": decimal decides
	}
	if neg {
		v = -v
	}
	return v, scale, true
}
