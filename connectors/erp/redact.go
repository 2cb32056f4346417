package erp

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/crmhub/hub/mapping"
)

// redacted replaces a secret in logs and error texts.
const redacted = "[redacted]"

// redactor hides secrets in headers and bodies.
type redactor struct {
	words   []string        // lower-case substrings of secret names
	headers map[string]bool // lower-case header names always hidden
}

func newRedactor(extra []string) redactor {
	r := redactor{
		words: []string{"password", "passwd", "secret", "token", "session", "authorization",
			"api_key", "apikey", "api-key", "cookie", "credential"},
		headers: map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true},
	}
	for _, w := range extra {
		if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
			r.words = append(r.words, w)
		}
	}
	return r
}

// secret reports whether a member, field or header called name holds a
// secret.
func (r redactor) secret(name string) bool {
	n := strings.ToLower(name)
	if r.headers[n] {
		return true
	}
	for _, w := range r.words {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// headerString renders headers for a log line, secrets hidden.
func (r redactor) headerString(h http.Header) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k)
		b.WriteString(": ")
		if r.secret(k) {
			b.WriteString(redacted)
		} else {
			b.WriteString(strings.Join(h[k], ", "))
		}
	}
	return b.String()
}

// snippet renders at most limit bytes of a body for a log line or an error
// text: JSON with the values of secret members hidden, forms with secret
// fields hidden, anything else as text.
func (r redactor) snippet(body []byte, contentType string, limit int) string {
	if len(body) == 0 {
		return ""
	}
	var s string
	if v, err := mapping.ParseJSON(body); err == nil {
		s = string(mapping.AppendJSON(nil, r.value(v)))
	} else if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return "[form, not logged]"
		}
		for k := range q {
			if r.secret(k) {
				q[k] = []string{redacted}
			}
		}
		s = q.Encode()
	} else {
		s = string(body)
		if strings.HasPrefix(contentType, "text/html") || strings.HasPrefix(strings.TrimSpace(s), "<") {
			s = HTMLText(s)
		}
	}
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// value hides the values of secret members, at any depth.
func (r redactor) value(v mapping.Value) mapping.Value {
	switch v.Kind() {
	case mapping.Object:
		ms := v.Members()
		for i, m := range ms {
			if r.secret(m.Key) && !m.Value.IsNull() {
				ms[i].Value = mapping.StringValue(redacted)
			} else {
				ms[i].Value = r.value(m.Value)
			}
		}
		return mapping.ObjectValue(ms...)
	case mapping.Array:
		es := v.Elems()
		out := make([]mapping.Value, len(es))
		for i, e := range es {
			out[i] = r.value(e)
		}
		return mapping.ArrayValue(out)
	}
	return v
}
