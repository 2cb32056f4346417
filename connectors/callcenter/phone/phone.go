// Package phone owns how the call center reads telephone numbers: every
// number it indexes and every number it is asked about becomes E.164
// (+49301234567) by libphonenumber (github.com/nyaruka/phonenumbers), with
// a default region for numbers written without a country code, and a Key
// (the number's digits as an integer) for compact indexes.
//
// libphonenumber is exact but dear (about 13 us a number here), too dear
// for a lookup that must answer in well under a millisecond under load. So
// a lookup first tries Quick, a cheap reading of the common notations
// (+49 30 1234567, 030 1234567, 0049 30 1234567, (415) 555-0100) that is
// only a hint: it counts when the index holds that very number, and the
// caller falls back to E164 otherwise.
//
// It imports nothing of the hub.
package phone

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Normalizer reads numbers of one default region. It is safe for
// concurrent use.
type Normalizer struct {
	region   string
	cc       string // the region's calling code, e.g. "49"
	national string // its national (trunk) prefix, e.g. "0"; "" when none
	idds     []string
}

// New returns a normalizer for region, an ISO 3166-1 alpha-2 code (DE, US,
// CN) whose numbers may be written without a country code.
func New(region string) (*Normalizer, error) {
	region = strings.ToUpper(strings.TrimSpace(region))
	if !phonenumbers.GetSupportedRegions()[region] {
		return nil, fmt.Errorf("phone: unknown region %q (an ISO 3166-1 alpha-2 code such as DE, US or CN)", region)
	}
	n := &Normalizer{
		region:   region,
		cc:       strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region)),
		national: phonenumbers.GetNddPrefixForRegion(region, true),
	}
	// The international dialling prefixes Quick may take as a '+': only
	// those libphonenumber itself reads as one in this region.
	for _, idd := range []string{"00", "011", "010", "001", "0011"} {
		if num, err := phonenumbers.Parse(idd+"4930901820", region); err == nil && num.GetCountryCode() == 49 &&
			phonenumbers.GetNationalSignificantNumber(num) == "30901820" {
			n.idds = append(n.idds, idd)
		}
	}
	return n, nil
}

// Region is the default region.
func (n *Normalizer) Region() string { return n.region }

// ErrNotANumber is returned for text that is no telephone number at all.
var ErrNotANumber = errors.New("not a telephone number")

// E164 normalises raw exactly, with libphonenumber: numbers without a
// country code are read in region ("" for the default). A number that
// parses but is not valid for its country is returned all the same (a
// lookup of it simply finds nothing); ErrNotANumber means there is no
// number in raw at all.
func (n *Normalizer) E164(raw, region string) (string, error) {
	raw = strings.TrimSpace(raw)
	if IsE164(raw) {
		return raw, nil
	}
	if region == "" {
		region = n.region
	}
	num, err := phonenumbers.Parse(raw, strings.ToUpper(region))
	if err != nil {
		return "", fmt.Errorf("phone %q: %w: %v", raw, ErrNotANumber, err)
	}
	out := phonenumbers.Format(num, phonenumbers.E164)
	if !IsE164(out) {
		return "", fmt.Errorf("phone %q: %w", raw, ErrNotANumber)
	}
	return out, nil
}

// Valid reports whether e164 is a valid number of its country (an
// index takes only those).
func Valid(e164 string) bool {
	num, err := phonenumbers.Parse(e164, "")
	return err == nil && phonenumbers.IsValidNumber(num)
}

// IsE164 reports whether s is written as E.164: a '+', a digit 1-9, and 6
// to 14 more digits.
func IsE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Quick reads the common notations of a number cheaply, without
// libphonenumber: digits with spaces, dashes, dots, slashes and
// parentheses, written internationally (a '+' or an international
// dialling prefix of the default region) or nationally (with or without
// the region's trunk prefix). It returns "" when raw is anything else.
// Its answer is a hint for an index lookup, not a normalisation: it may
// differ from E164 where the country's rules are subtler (a trunk prefix
// kept in an international number, carrier codes); see the package doc.
func (n *Normalizer) Quick(raw string) string {
	var buf [24]byte
	digits := buf[:0]
	plus := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			if len(digits) == cap(buf) {
				return ""
			}
			digits = append(digits, c)
		case c == '+' && len(digits) == 0 && !plus:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '/':
		case (c == '(' || c == ')') && !plus:
		default:
			return ""
		}
	}
	s := string(digits)
	if !plus {
		for _, idd := range n.idds {
			if strings.HasPrefix(s, idd) {
				s, plus = s[len(idd):], true
				break
			}
		}
	}
	if !plus {
		if n.national != "" && strings.HasPrefix(s, n.national) {
			s = s[len(n.national):]
		}
		if len(s) < 4 {
			return ""
		}
		s = n.cc + s
	}
	out := "+" + s
	if !IsE164(out) {
		return ""
	}
	return out
}

// Key is an E.164 number as an integer (its digits): compact index keys.
// It returns false for anything that is not E.164.
func Key(e164 string) (uint64, bool) {
	if !IsE164(e164) {
		return 0, false
	}
	k, err := strconv.ParseUint(e164[1:], 10, 64)
	return k, err == nil
}

// FromKey is the E.164 text of a Key.
func FromKey(k uint64) string {
	var buf [17]byte
	b := append(buf[:0], '+')
	return string(strconv.AppendUint(b, k, 10))
}
