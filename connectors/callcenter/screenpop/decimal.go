package screenpop

import (
	"strconv"
	"strings"
)

// decimal is an amount of money as the canonical model writes it (a
// decimal string), kept in 9 bytes: the digits as an integer and the
// number of them after the point. "1250.00" is {125000, 2} and prints as
// "1250.00" again. ok is false for an absent or unreadable amount.
type decimal struct {
	units int64
	scale uint8
	ok    bool
}

// parseDecimal reads "-12.50", "3", "0.125"; more than 18 digits or 9
// decimals are not kept (no CRM amount has them).
func parseDecimal(s string) decimal {
	s = strings.TrimSpace(s)
	if s == "" {
		return decimal{}
	}
	neg := s[0] == '-'
	if neg || s[0] == '+' {
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if len(intPart)+len(frac) == 0 || len(intPart)+len(frac) > 18 || len(frac) > 9 {
		return decimal{}
	}
	var u int64
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return decimal{}
			}
			u = u*10 + int64(c-'0')
		}
	}
	if neg {
		u = -u
	}
	return decimal{units: u, scale: uint8(len(frac)), ok: true}
}

// String prints d with its own scale; "" when absent.
func (d decimal) String() string { return string(d.appendTo(nil)) }

// appendTo appends d with its own scale (nothing when absent).
func (d decimal) appendTo(dst []byte) []byte {
	if !d.ok {
		return dst
	}
	u := d.units
	if u < 0 {
		dst = append(dst, '-')
		u = -u
	}
	var buf [24]byte
	digits := strconv.AppendInt(buf[:0], u, 10)
	for len(digits) <= int(d.scale) {
		digits = append([]byte{'0'}, digits...)
	}
	if d.scale == 0 {
		return append(dst, digits...)
	}
	cut := len(digits) - int(d.scale)
	dst = append(dst, digits[:cut]...)
	dst = append(dst, '.')
	return append(dst, digits[cut:]...)
}

// positive reports whether d is above zero.
func (d decimal) positive() bool { return d.ok && d.units > 0 }

// add returns d + e at the larger scale of the two.
func (d decimal) add(e decimal) decimal {
	if !d.ok {
		return e
	}
	if !e.ok {
		return d
	}
	for d.scale < e.scale {
		d.units *= 10
		d.scale++
	}
	for e.scale < d.scale {
		e.units *= 10
		e.scale++
	}
	return decimal{units: d.units + e.units, scale: d.scale, ok: true}
}
