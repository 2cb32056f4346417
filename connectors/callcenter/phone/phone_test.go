package phone

import (
	"errors"
	"testing"
)

// TestE164Formats: the notations people and PBXs write, in several
// default regions, all become the same E.164 number.
func TestE164Formats(t *testing.T) {
	tests := []struct {
		region, raw, want string
	}{
		{"DE", "030 1234567", "+49301234567"},
		{"DE", "0049 30 1234567", "+49301234567"},
		{"DE", "+49 (0)30 1234567", "+49301234567"},
		{"DE", "+49-30-1234567", "+49301234567"},
		{"DE", "030/1234567", "+49301234567"},
		{"CN", "138 0013 8000", "+8613800138000"},
		{"CN", "+86-138-0013-8000", "+8613800138000"},
		{"DE", "+86-138-0013-8000", "+8613800138000"},
		{"US", "(415) 555-0100", "+14155550100"},
		{"US", "1 415 555 0100", "+14155550100"},
		{"US", "011 49 30 1234567", "+49301234567"},
		{"GB", "020 7946 0000", "+442079460000"},
		{"DE", "+442079460000", "+442079460000"},
	}
	for _, tt := range tests {
		n, err := New(tt.region)
		if err != nil {
			t.Fatal(err)
		}
		got, err := n.E164(tt.raw, "")
		if err != nil || got != tt.want {
			t.Errorf("%s %q = %q, %v; want %q", tt.region, tt.raw, got, err, tt.want)
		}
	}
}

// TestE164Region: a number without a country code is read in the region
// asked for, else the default one.
func TestE164Region(t *testing.T) {
	n, _ := New("DE")
	if got, _ := n.E164("(415) 555-0100", "US"); got != "+14155550100" {
		t.Errorf("US number with region US = %q", got)
	}
	if got, _ := n.E164("030 1234567", ""); got != "+49301234567" {
		t.Errorf("DE number with the default region = %q", got)
	}
}

// TestNotANumber: words, an empty string and an anonymous caller are no
// numbers; the error says so.
func TestNotANumber(t *testing.T) {
	n, _ := New("DE")
	for _, raw := range []string{"", "anonymous", "abc", "+"} {
		if got, err := n.E164(raw, ""); !errors.Is(err, ErrNotANumber) {
			t.Errorf("%q = %q, %v; want ErrNotANumber", raw, got, err)
		}
		if q := n.Quick(raw); q != "" {
			t.Errorf("Quick(%q) = %q, want nothing", raw, q)
		}
	}
}

// TestUnknownRegion: a region libphonenumber does not know is refused.
func TestUnknownRegion(t *testing.T) {
	if _, err := New("XX"); err == nil {
		t.Error("region XX accepted")
	}
}

// TestQuickAgreesOnCommonNotations: the cheap reading gives the exact
// answer for the common notations; where it cannot be sure it says
// nothing, and the caller asks libphonenumber.
func TestQuickAgreesOnCommonNotations(t *testing.T) {
	tests := []struct{ region, raw string }{
		{"DE", "030 1234567"},
		{"DE", "0049 30 1234567"},
		{"DE", "+49-30-1234567"},
		{"DE", "+49301234567"},
		{"DE", "030/1234567"},
		{"CN", "138 0013 8000"},
		{"CN", "+86-138-0013-8000"},
		{"US", "(415) 555-0100"},
		{"US", "1 415 555 0100"},
		{"US", "011 49 30 1234567"},
		{"GB", "020 7946 0000"},
		{"IT", "+39 06 1234 5678"},
	}
	for _, tt := range tests {
		n, _ := New(tt.region)
		exact, err := n.E164(tt.raw, "")
		if err != nil {
			t.Fatal(err)
		}
		if q := n.Quick(tt.raw); q != exact {
			t.Errorf("%s Quick(%q) = %q, E164 %q", tt.region, tt.raw, q, exact)
		}
	}
	n, _ := New("DE")
	for _, raw := range []string{"+49 (0)30 1234567", "030 1234567 x12", "tel:+4930", "12"} {
		if q := n.Quick(raw); q != "" {
			t.Errorf("Quick(%q) = %q, want nothing (libphonenumber decides)", raw, q)
		}
	}
}

func TestKey(t *testing.T) {
	k, ok := Key("+8613800138000")
	if !ok || FromKey(k) != "+8613800138000" {
		t.Errorf("Key round trip: %d %v -> %q", k, ok, FromKey(k))
	}
	for _, bad := range []string{"", "+0123456789", "4930123456", "+49 30"} {
		if _, ok := Key(bad); ok {
			t.Errorf("Key(%q) accepted", bad)
		}
	}
}

func BenchmarkQuick(b *testing.B) {
	n, _ := New("DE")
	for i := 0; i < b.N; i++ {
		_ = n.Quick("030 1234567")
	}
}

func BenchmarkE164(b *testing.B) {
	n, _ := New("DE")
	for i := 0; i < b.N; i++ {
		_, _ = n.E164("030 1234567", "")
	}
}
