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

// TestPlainAddressAgreesWithNetMail: on 300,000 strings made of address
// parts and the characters that make addresses odd, checkEmail answers
// as it did with mail.ParseAddress alone.
func TestPlainAddressAgreesWithNetMail(t *testing.T) {
	r := rand.New(rand.NewPCG(38, 1))
	parts := []string{"a", "Z", "9", ".", "@", "-", "_", "+", "'", `"`, "(", ")", "<", ">", " ", ",", ";", ":", "[", "]", `\`,
		"é", "ü", "\u00a0", "\u2028", "\xc3", "!", "~", "example", "com", "ada.lovelace", "\t", "=?utf-8?q?x?=", "\x00", "\xff"}
	n := 300000
	if testing.Short() {
		n = 30000
	}
	for range n {
		var b strings.Builder
		for k := r.IntN(12) + 1; k > 0; k-- {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		agree(t, b.String())
		if t.Failed() {
			return
		}
	}
}

func FuzzPlainAddress(f *testing.F) {
	for _, s := range []string{"ada@example.com", "a..b@c.d", `"a b"@c.d`, "Ada <a@b.c>", "a@[1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(agree)
}
