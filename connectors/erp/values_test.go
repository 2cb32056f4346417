package erp

import "testing"

// TestHTMLText: HTML compares and reads as its text: tags gone, character
// references decoded, white space folded (an Odoo note the hub wrote as
// plain text comes back as "<p>...</p>"; error pages and Frappe messages
// carry markup).
func TestHTMLText(t *testing.T) {
	for in, want := range map[string]string{
		"<p>leave at the door</p>":                                      "leave at the door",
		"<p>ring <b>twice</b></p><p>then wait</p>":                      "ring twice then wait",
		"<p>Tom &amp; Jerry&nbsp;&lt;3 &#39;x&#39; &quot;y&quot;</p>":   `Tom & Jerry <3 'x' "y"`,
		"<html><body><h1>502 Bad Gateway</h1>\n<hr>nginx</body></html>": "502 Bad Gateway nginx",
		"a > b": "a > b",
	} {
		if got := HTMLText(in); got != want {
			t.Errorf("HTMLText(%q) = %q, want %q", in, got, want)
		}
	}
}
