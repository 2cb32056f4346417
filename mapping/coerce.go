package mapping

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/shopspring/decimal"
)

// valueError is a problem with one value; FieldError adds the field.
type valueError struct {
	val Value
	msg string
	fix string // the value as it is wanted, where the check knows it ("EUR" for "eur")
}

func (e *valueError) Error() string { return snippet(e.val) + ": " + e.msg }

func badValue(v Value, format string, args ...any) error {
	return &valueError{val: v, msg: fmt.Sprintf(format, args...)}
}

// snippet is a short JSON rendering of v for error messages.
func snippet(v Value) string {
	b := AppendJSON(nil, v)
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}

// scalarText is the text of a string, number or bool; ok is false for
// arrays and objects.
func scalarText(v Value) (string, bool) {
	switch v.kind {
	case String, Number, Bool:
		return v.s, true
	case Null:
		return "", true
	}
	return "", false
}

// CoerceType names a type coercion (the type: key of a field).
type CoerceType string

// The coercions a field can ask for.
const (
	TypeString   CoerceType = "string"
	TypeInt      CoerceType = "int"
	TypeDecimal  CoerceType = "decimal" // exact, written as a JSON string
	TypeNumber   CoerceType = "number"  // exact decimal, written as a JSON number
	TypeBool     CoerceType = "bool"
	TypeDate     CoerceType = "date"
	TypeDateTime CoerceType = "datetime"
	TypePhone    CoerceType = "phone"
)

func coerceTypes() []CoerceType {
	return []CoerceType{TypeString, TypeInt, TypeDecimal, TypeNumber, TypeBool, TypeDate, TypeDateTime, TypePhone}
}

// coercer builds the coercion to t. loc is the zone for datetimes that
// carry none; region the default phone region.
func coercer(t CoerceType, loc *time.Location, region string) (func(Value) (Value, error), bool) {
	switch t {
	case TypeString:
		return toString, true
	case TypeInt:
		return toInt, true
	case TypeDecimal:
		return func(v Value) (Value, error) {
			d, err := toDecimalText(v)
			if err != nil || v.kind == Null {
				return nullValue, err
			}
			return StringValue(d), nil
		}, true
	case TypeNumber:
		return func(v Value) (Value, error) {
			d, err := toDecimalText(v)
			if err != nil || v.kind == Null {
				return nullValue, err
			}
			return NumberValue(d), nil
		}, true
	case TypeBool:
		return toBool, true
	case TypeDate:
		return func(v Value) (Value, error) { return toDate(v, loc) }, true
	case TypeDateTime:
		return func(v Value) (Value, error) { return toDateTime(v, loc) }, true
	case TypePhone:
		return newPhoneCache(region).normalize, true
	}
	return nil, false
}

func toString(v Value) (Value, error) {
	switch v.kind {
	case Null, String:
		return v, nil
	case Number, Bool:
		return StringValue(v.s), nil
	}
	return nullValue, badValue(v, "not a string")
}

func toInt(v Value) (Value, error) {
	switch v.kind {
	case Null:
		return v, nil
	case Number, String:
		s := v.s
		if v.kind == String {
			s = strings.TrimSpace(s)
		}
		if isIntText(s) {
			if v.kind == Number && s[0] != '+' {
				return v, nil
			}
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nullValue, badValue(v, "not a whole number in range")
			}
			return IntValue(i), nil
		}
		d, err := decimal.NewFromString(s)
		if err != nil || !isDecimalSyntax(s) {
			return nullValue, badValue(v, "not a whole number")
		}
		if !d.IsInteger() {
			return nullValue, badValue(v, "not a whole number")
		}
		if !d.BigInt().IsInt64() {
			return nullValue, badValue(v, "not a whole number in range")
		}
		return IntValue(d.IntPart()), nil
	}
	return nullValue, badValue(v, "not a whole number")
}

func isIntText(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	if s[0] == '-' || s[0] == '+' {
		i = 1
	}
	if i >= len(s) || len(s)-i > 18 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isDecimalSyntax accepts [+-]digits[.digits][e[+-]digits] and
// [+-].digits, nothing else (no thousands separators, no NaN).
func isDecimalSyntax(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 || exp > 4 {
			return false
		}
	}
	return i == len(s)
}

// toDecimalText returns the canonical decimal text of v: plain digits,
// an optional "-", an optional fraction with its scale kept ("1015.10"
// stays "1015.10"), no exponent.
func toDecimalText(v Value) (string, error) {
	switch v.kind {
	case Null:
		return "", nil
	case Number, String:
		s := v.s
		if v.kind == String {
			s = strings.TrimSpace(s)
		}
		if t, ok := plainDecimal(s); ok {
			return t, nil
		}
		if !isDecimalSyntax(s) {
			return "", badValue(v, "not a decimal")
		}
		d, err := decimal.NewFromString(s)
		if err != nil {
			return "", badValue(v, "not a decimal")
		}
		return d.String(), nil
	}
	return "", badValue(v, "not a decimal")
}

// plainDecimal accepts -?digits(.digits)? and returns it without a "+"
// and without superfluous leading zeros; ok is false for anything else
// (exponents, signs on their own), which the slow path handles.
func plainDecimal(s string) (string, bool) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start {
		return "", false
	}
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == fs {
			return "", false
		}
	}
	if i != len(s) {
		return "", false
	}
	if s[0] == '+' || (s[start] == '0' && start+1 < len(s) && s[start+1] != '.') {
		return "", false // let the slow path normalise
	}
	if s[0] == '-' && strings.Trim(s[1:], "0.") == "" {
		return s[1:], true // -0.00 is 0.00
	}
	return s, true
}

func toBool(v Value) (Value, error) {
	switch v.kind {
	case Null, Bool:
		return v, nil
	case Number:
		switch v.s {
		case "0":
			return BoolValue(false), nil
		case "1":
			return BoolValue(true), nil
		}
	case String:
		switch strings.ToLower(strings.TrimSpace(v.s)) {
		case "true", "yes", "y", "1", "on", "t":
			return BoolValue(true), nil
		case "false", "no", "n", "0", "off", "f":
			return BoolValue(false), nil
		}
	}
	return nullValue, badValue(v, "not a boolean")
}

// dateLayouts are the formats dates and datetimes are accepted in, in the
// order tried. Layouts without a zone are read in the spec's time zone.
func dateLayouts() []string {
	return []string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05Z0700",
		"2006-01-02 15:04:05Z07:00",
		"2006-01-02 15:04:05 -0700",
		"2006-01-02 15:04:05 -07:00",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02 15:04",
		"2006-01-02",
		"2006/01/02 15:04:05",
		"2006/01/02",
		"20060102",
		"02.01.2006 15:04:05",
		"02.01.2006 15:04",
		"02.01.2006",
		time.RFC1123Z,
		time.RFC1123,
		time.RFC850,
		time.ANSIC,
		"Jan 2, 2006",
		"2 Jan 2006",
		"January 2, 2006",
		"2 January 2006",
	}
}

// parseTime reads s in one of the common formats (or, when layout is set,
// in that layout only); dateOnly reports a format without a time of day.
func parseTime(v Value, layout string, loc *time.Location) (t time.Time, dateOnly bool, err error) {
	switch v.kind {
	case Number:
		// Unix time: seconds, or milliseconds when it is that large.
		f, perr := strconv.ParseFloat(v.s, 64)
		if perr != nil || f != f || f > 1e15 || f < -1e15 {
			return t, false, badValue(v, "not a date or time")
		}
		if f > 1e11 || f < -1e11 {
			return time.UnixMilli(int64(f)).UTC(), false, nil
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), false, nil
	case String:
	default:
		return t, false, badValue(v, "not a date or time")
	}
	s := strings.TrimSpace(v.s)
	if layout != "" {
		t, err := time.ParseInLocation(layout, s, loc)
		if err != nil {
			return t, false, badValue(v, "not a date or time in the layout %q", layout)
		}
		return t, false, nil
	}
	// Fast paths for the canonical forms.
	if t, ok := parseRFC3339(s); ok {
		return t, false, nil
	}
	if len(s) == 10 && s[4] == '-' {
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return t, true, nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, nil
	}
	for _, l := range dateLayouts() {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, !strings.Contains(l, "15"), nil
		}
	}
	return t, false, badValue(v, "not a date or time")
}

func toDate(v Value, loc *time.Location) (Value, error) {
	if v.kind == Null {
		return v, nil
	}
	t, dateOnly, err := parseTime(v, "", loc)
	if err != nil {
		return nullValue, err
	}
	if !dateOnly {
		t = t.UTC()
	}
	if t.Year() < 0 || t.Year() > 9999 {
		return nullValue, badValue(v, "year out of range")
	}
	var buf [16]byte
	return StringValue(string(t.AppendFormat(buf[:0], "2006-01-02"))), nil
}

func toDateTime(v Value, loc *time.Location) (Value, error) {
	if v.kind == Null {
		return v, nil
	}
	t, _, err := parseTime(v, "", loc)
	if err != nil {
		return nullValue, err
	}
	t = t.UTC()
	if t.Year() < 0 || t.Year() > 9999 {
		return nullValue, badValue(v, "year out of range")
	}
	return StringValue(t.Format(time.RFC3339Nano)), nil
}

func toPhone(v Value, region string) (out Value, err error) {
	switch v.kind {
	case Null:
		return v, nil
	case String, Number:
	default:
		return nullValue, badValue(v, "not a phone number")
	}
	s := strings.TrimSpace(v.s)
	if s == "" {
		return nullValue, nil
	}
	if len(s) > 64 {
		return nullValue, badValue(v, "not a phone number (too long)")
	}
	defer func() {
		// libphonenumber is a large port; never let an odd input take the
		// process down.
		if r := recover(); r != nil {
			out, err = nullValue, badValue(v, "not a phone number")
		}
	}()
	n, perr := phonenumbers.Parse(s, region)
	if perr != nil {
		return nullValue, badValue(v, "not a phone number (%v)", perr)
	}
	if !phonenumbers.IsValidNumber(n) {
		return nullValue, badValue(v, "not a valid phone number (default region %s)", region)
	}
	return StringValue(phonenumbers.Format(n, phonenumbers.E164)), nil
}

// parseRFC3339 reads YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) without
// allocating (time.Parse allocates a zone for every offset). It returns
// the instant in UTC; ok is false for anything else.
func parseRFC3339(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(a, b int) (int, bool) {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 7)
	d, ok3 := num(8, 10)
	h, ok4 := num(11, 13)
	mi, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	if d > daysIn(time.Month(mo), y) {
		return time.Time{}, false
	}
	i := 19
	nsec := 0
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i+1 || j-i-1 > 9 {
			return time.Time{}, false
		}
		f, _ := num(i+1, j)
		for k := j - i - 1; k < 9; k++ {
			f *= 10
		}
		nsec, i = f, j
	}
	off := 0
	switch {
	case i == len(s)-1 && (s[i] == 'Z' || s[i] == 'z'):
	case i == len(s)-6 && (s[i] == '+' || s[i] == '-') && s[i+3] == ':':
		oh, ok1 := num(i+1, i+3)
		om, ok2 := num(i+4, i+6)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		off = oh*3600 + om*60
		if s[i] == '-' {
			off = -off
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, nsec, time.UTC)
	return t.Add(-time.Duration(off) * time.Second), true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
