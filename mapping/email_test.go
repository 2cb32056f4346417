package mapping

import (
	"math/rand/v2"
	"net/mail"
	"strings"
	"testing"
)

// netMailCheck is checkEmail as it was before plainAddress: every
// address through mail.ParseAddress.
func netMailCheck(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".")
}

// agree fails t where plainAddress takes an address mail.ParseAddress
// would not take as itself, or where checkEmail's answer changed.
func agree(t *testing.T, s string) {
	t.Helper()
	if plainAddress(s) && !netMailCheck(s) {
		t.Errorf("plainAddress(%q) but mail.ParseAddress does not take it as itself", s)
	}
	if got, want := checkEmail(StringValue(s)) == nil, netMailCheck(s); got != want {
		t.Errorf("checkEmail(%q) accepts: %v, before plainAddress: %v", s, got, want)
	}
}

func TestPlainAddress(t *testing.T) {
	for s, want := range map[string]bool{
		"ada@example.com": true, "Ada.Lovelace+crm@mail.example.co.uk": true, "o'brien@x-y.ie": true,
		"a!#$%&'*+/=?^_`{|}~-z@b.c": true, "1@2.3": true,
		"": false, "@b.c": false, "a@": false, "a@b": false, ".a@b.c": false, "a.@b.c": false, "a..b@c.d": false,
		"a@.b.c": false, "a@b.c.": false, "a@b..c": false, "a@b_c.d": false, "a@@b.c": false, "a b@c.d": false,
		`"a b"@c.d`: false, "Ada <a@b.c>": false, "a@[127.0.0.1]": false, "a@b.c (x)": false,
		"min.garcía602@example.com": true, "chloé@bücher.de": true, "\xff@b.c": false, "a@b.\xc3": false, "é.@b.c": false,
	} {
		if got := plainAddress(s); got != want {
			t.Errorf("plainAddress(%q) = %v, want %v", s, got, want)
		}
		agree(t, s)
	}
}

// TestPlainAddressAgreesWithNetMail: on 300,000 address-shaped strings
// (atoms joined by dots, an @, domain labels), half of them with a piece of
// what makes addresses odd put in somewhere, checkEmail answers as it did
// with mail.ParseAddress alone. Enough of them are plain, and enough
// near misses are not, for the fast path to be tried both ways.
func TestPlainAddressAgreesWithNetMail(t *testing.T) {
	r := rand.New(rand.NewPCG(38, 1))
	atoms := []string{"a", "Z", "9", "ada", "lovelace", "o'brien", "x+tag", "a_b", "-", "é", "chloé", "bücher", "!#$%&*/=?^`{|}~"}
	odd := []string{".", "..", "@", `"`, "(", ")", "<", ">", " ", ",", ";", ":", "[", "]", `\`, "\u00a0", "\u2028",
		"\xc3", "\t", "=?utf-8?q?x?=", "\x00", "\xff", "Ada <", ">"}
	labels := []string{"example", "com", "b", "x-y", "9", "bücher", "co", "uk"}
	dotted := func(pool []string, n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = pool[r.IntN(len(pool))]
		}
		return strings.Join(parts, ".")
	}
	n := 300000
	if testing.Short() {
		n = 30000
	}
	plain := 0
	for range n {
		s := dotted(atoms, r.IntN(3)+1) + "@" + dotted(labels, r.IntN(3)+1) // (a third without a dot in the domain)
		if r.IntN(2) == 0 {
			at := r.IntN(len(s) + 1)
			s = s[:at] + odd[r.IntN(len(odd))] + s[at:]
		}
		if plainAddress(s) {
			plain++
		}
		agree(t, s)
		if t.Failed() {
			return
		}
	}
	if plain < n/4 || plain > n*3/4 {
		t.Fatalf("%d of %d strings plain: the test would not try the fast path both ways", plain, n)
	}
}

func FuzzPlainAddress(f *testing.F) {
	for _, s := range []string{"ada@example.com", "a..b@c.d", `"a b"@c.d`, "Ada <a@b.c>", "a@[1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(agree)
}
