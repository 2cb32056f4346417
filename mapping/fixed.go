package mapping

import (
	"math/bits"
	"strconv"

	"github.com/shopspring/decimal"
)

// fixed is a small exact decimal, m x 10^-scale, used on the hot path for
// money arithmetic without allocating. Anything that does not fit falls
// back to shopspring/decimal.
type fixed struct {
	m     int64
	scale int
}

const maxFixedScale = 18

// pow10 is 10^n for 0 <= n <= 18.
func pow10(n int) int64 {
	p := int64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// parseFixed reads plain decimal text (-?digits(.digits)?) of up to 18
// digits.
func parseFixed(s string) (fixed, bool) {
	if s == "" {
		return fixed{}, false
	}
	neg := false
	i := 0
	if s[0] == '-' {
		neg, i = true, 1
	}
	var m int64
	digits, scale := 0, 0
	seenDot := false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if seenDot {
				return fixed{}, false
			}
			seenDot = true
			continue
		}
		if c < '0' || c > '9' {
			return fixed{}, false
		}
		digits++
		if digits > 18 {
			return fixed{}, false
		}
		m = m*10 + int64(c-'0')
		if seenDot {
			scale++
		}
	}
	if digits == 0 {
		return fixed{}, false
	}
	if neg {
		m = -m
	}
	return fixed{m: m, scale: scale}, true
}

func (f fixed) mul(g fixed) (fixed, bool) {
	if f.scale+g.scale > maxFixedScale {
		return fixed{}, false
	}
	a, b := f.m, g.m
	neg := (a < 0) != (b < 0)
	ua, ub := uint64(abs64(a)), uint64(abs64(b))
	hi, lo := bits.Mul64(ua, ub)
	if hi != 0 || lo > 1<<62 {
		return fixed{}, false
	}
	m := int64(lo)
	if neg {
		m = -m
	}
	return fixed{m: m, scale: f.scale + g.scale}, true
}

func (f fixed) add(g fixed) (fixed, bool) {
	for f.scale < g.scale {
		if f.m > 1<<58 || f.m < -(1<<58) {
			return fixed{}, false
		}
		f.m *= 10
		f.scale++
	}
	for g.scale < f.scale {
		if g.m > 1<<58 || g.m < -(1<<58) {
			return fixed{}, false
		}
		g.m *= 10
		g.scale++
	}
	s := f.m + g.m
	if (f.m > 0 && g.m > 0 && s < 0) || (f.m < 0 && g.m < 0 && s >= 0) || s > 1<<62 || s < -(1<<62) {
		return fixed{}, false
	}
	return fixed{m: s, scale: f.scale}, true
}

// round rounds half away from zero to places fraction digits and keeps
// exactly that many.
func (f fixed) round(places int) (fixed, bool) {
	if places > maxFixedScale {
		return fixed{}, false
	}
	for f.scale < places {
		if f.m > 1<<58 || f.m < -(1<<58) {
			return fixed{}, false
		}
		f.m *= 10
		f.scale++
	}
	if f.scale == places {
		return f, true
	}
	p := pow10(f.scale - places)
	q, r := f.m/p, f.m%p
	if 2*abs64(r) >= p {
		if f.m < 0 {
			q--
		} else {
			q++
		}
	}
	return fixed{m: q, scale: places}, true
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// String renders f with exactly scale fraction digits.
func (f fixed) String() string {
	var buf [24]byte
	neg := f.m < 0
	u := uint64(abs64(f.m))
	b := strconv.AppendUint(buf[:0], u, 10)
	if f.scale == 0 {
		if neg && u != 0 {
			return "-" + string(b)
		}
		return string(b)
	}
	if len(b) <= f.scale {
		var z [24]byte
		pad := f.scale + 1 - len(b)
		for i := 0; i < pad; i++ {
			z[i] = '0'
		}
		b = append(z[:pad], b...)
	}
	var ob [32]byte
	out := ob[:0]
	if neg && u != 0 {
		out = append(out, '-')
	}
	out = append(out, b[:len(b)-f.scale]...)
	out = append(out, '.')
	out = append(out, b[len(b)-f.scale:]...)
	return string(out)
}

// decimalOf reads a Value as a shopspring decimal (the slow path).
func decimalOf(v Value) (decimal.Decimal, error) {
	t, err := toDecimalText(v)
	if err != nil {
		return decimal.Decimal{}, err
	}
	d, err := decimal.NewFromString(t)
	if err != nil {
		return decimal.Decimal{}, badValue(v, "not a decimal")
	}
	return d, nil
}

// mulValues multiplies decimal values exactly; the result keeps the sum
// of the scales (4 x 239.41 = 957.64).
func mulValues(vs []Value) (Value, error) {
	acc := fixed{m: 1}
	fast := true
	for _, v := range vs {
		if v.kind == Null {
			return nullValue, nil
		}
		t, err := toDecimalText(v)
		if err != nil {
			return nullValue, err
		}
		f, ok := parseFixed(t)
		if ok {
			acc, ok = acc.mul(f)
		}
		if !ok {
			fast = false
			break
		}
	}
	if fast {
		return NumberValue(acc.String()), nil
	}
	d := decimal.NewFromInt(1)
	for _, v := range vs {
		x, err := decimalOf(v)
		if err != nil {
			return nullValue, err
		}
		d = d.Mul(x)
	}
	return NumberValue(d.String()), nil
}

// sumValues adds decimal values exactly, skipping nulls; an empty sum is 0.
func sumValues(vs []Value) (Value, error) {
	acc := fixed{}
	fast := true
	for _, v := range vs {
		if v.kind == Null {
			continue
		}
		t, err := toDecimalText(v)
		if err != nil {
			return nullValue, err
		}
		f, ok := parseFixed(t)
		if ok {
			acc, ok = acc.add(f)
		}
		if !ok {
			fast = false
			break
		}
	}
	if fast {
		return NumberValue(acc.String()), nil
	}
	d := decimal.Zero
	for _, v := range vs {
		if v.kind == Null {
			continue
		}
		x, err := decimalOf(v)
		if err != nil {
			return nullValue, err
		}
		d = d.Add(x)
	}
	return NumberValue(d.String()), nil
}
