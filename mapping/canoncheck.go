package mapping

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
)

// The canonical model's types are enforced at the edge of every inbound
// mapping: a value that does not fit its canonical field is an error of
// that field, with the value, like any other. Outbound mappings write the
// target's shape and are not checked.

// canonCheck returns the check of a canonical field's type, or nil when
// the type needs none beyond its coercion.
func canonCheck(f *CanonField) func(Value) error {
	if f == nil {
		return nil
	}
	var check func(Value) error
	switch f.Type {
	case FieldEmail:
		check = checkEmail
	case FieldCountry:
		check = checkCountry
	case FieldCurrency:
		check = checkCurrency
	case FieldPhone:
		check = checkPhone
	}
	if f.NonNegative {
		inner := check
		check = func(v Value) error {
			if err := checkNonNegative(v); err != nil {
				return err
			}
			if inner != nil {
				return inner(v)
			}
			return nil
		}
	}
	return check
}

func checkEmail(v Value) error {
	s, ok := scalarText(v)
	if !ok {
		return badValue(v, "is not an e-mail address")
	}
	if plainAddress(s) {
		return nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return badValue(v, "is not an e-mail address (name@example.com)")
	}
	return nil
}

// plainAddress reports whether s is an address of the plain kind nearly
// every record holds: dot-atoms (RFC 5322, with RFC 6532's UTF-8, as
// net/mail reads them) before and after the @, a dot in the domain.
// mail.ParseAddress takes each such s as itself, so checkEmail needs no
// more; it allocates 5 times per address (BenchmarkYardstick went from
// 18 to 13 allocations a record). Anything else (quotes, comments, names, domain
// literals, invalid UTF-8) is left to it.
func plainAddress(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 {
		return false
	}
	domain := s[at+1:]
	return dotAtom(s[:at], atext) && dotAtom(domain, domainText) && strings.IndexByte(domain, '.') > 0
}

// dotAtom reports whether s is atoms joined by single dots (none first
// or last), of the ASCII bytes ok takes and of multibyte UTF-8 runes.
func dotAtom(s string, ok func(byte) bool) bool {
	dot := true // (so that a leading dot fails)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return false
			}
			i += size
			dot = false
			continue
		case c == '.' && dot:
			return false
		case c == '.':
			dot = true
		case !ok(c):
			return false
		default:
			dot = false
		}
		i++
	}
	return len(s) > 0 && !dot
}

// atext: RFC 5322's atom characters, ASCII only.
func atext(c byte) bool {
	return domainText(c) || strings.IndexByte("!#$%&'*+/=?^_`{|}~", c) >= 0
}

// domainText: letters, digits and hyphens (a subset of atext).
func domainText(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

func checkCountry(v Value) error {
	s, ok := scalarText(v)
	if ok && len(s) == 2 {
		if r, err := language.ParseRegion(s); err == nil && r.IsCountry() && r.String() == s {
			return nil
		}
		if r, err := language.ParseRegion(strings.ToUpper(s)); err == nil && r.IsCountry() {
			return &valueError{val: v, fix: r.String(),
				msg: fmt.Sprintf("is not an ISO 3166-1 alpha-2 country code in upper case (%s? add transform: [upper])", r.String())}
		}
	}
	return badValue(v, "is not an ISO 3166-1 alpha-2 country code (DE, US, CN; map country names with map: or a lookup)")
}

func checkCurrency(v Value) error {
	s, ok := scalarText(v)
	if ok && len(s) == 3 {
		if _, err := currency.ParseISO(s); err == nil && strings.ToUpper(s) == s {
			return nil
		}
		if u, err := currency.ParseISO(strings.ToUpper(s)); err == nil {
			return &valueError{val: v, fix: u.String(),
				msg: fmt.Sprintf("is not an ISO 4217 currency code in upper case (%s? add transform: [upper])", u.String())}
		}
	}
	return badValue(v, "is not an ISO 4217 currency code (EUR, USD, CNY)")
}

// checkPhone wants E.164: + and 7 to 15 digits, the first not 0 (a field
// typed phone is normalised so by its coercion).
func checkPhone(v Value) error {
	s, ok := scalarText(v)
	if ok && len(s) >= 8 && len(s) <= 16 && s[0] == '+' && s[1] >= '1' && s[1] <= '9' {
		digits := true
		for _, c := range s[1:] {
			if c < '0' || c > '9' {
				digits = false
				break
			}
		}
		if digits {
			return nil
		}
	}
	return badValue(v, "is not an E.164 phone number (+4930123456; give the field type: phone to normalise it)")
}

func checkNonNegative(v Value) error {
	s, ok := scalarText(v)
	if !ok {
		return nil // not a number: its coercion says so
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") && strings.Trim(s[1:], "0.") != "" {
		return badValue(v, "must not be negative")
	}
	return nil
}

// checkRequired refuses a blank string where a value is required.
func checkRequired(v Value) error {
	if v.kind == String && strings.TrimSpace(v.s) == "" {
		return fmt.Errorf("required, but blank")
	}
	return nil
}
