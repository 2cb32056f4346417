// Package redact hides secrets in connection strings before they reach a
// log line, an error, an API response or a page. It knows the places a
// database driver reads a secret from: the userinfo of a URL
// (postgres://user:secret@host), secret query parameters
// (?password=secret&sslpassword=...), key=value DSNs (host=db
// password='s e c r e t'), and MySQL's user:secret@tcp(host)/db.
//
// It is a leaf: it imports nothing of the hub.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a secret.
const Mask = "xxxxx"

// secretKey reports whether a parameter name holds a secret.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"password", "passwd", "pwd", "pass", "secret", "token", "apikey", "api_key", "key"} {
		if k == s || strings.HasSuffix(k, s) || strings.HasSuffix(k, "_"+s) {
			return true
		}
	}
	return false
}

// kvPair matches key=value pairs of a libpq key=value DSN; a value may be
// single-quoted with backslash escapes.
var kvPair = regexp.MustCompile(`(?i)([a-z_][a-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]*)`)

// mysqlUserinfo matches MySQL's user:password@ before a protocol.
var mysqlUserinfo = regexp.MustCompile(`^([^:@/]*):([^@]*)@`)

// DSN returns dsn with every secret in it masked.
func DSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	mysql := strings.Contains(dsn, "@tcp(") || strings.Contains(dsn, "@unix(") || strings.Contains(dsn, "@(")
	if u, err := url.Parse(dsn); !mysql && err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "" || u.User != nil) {
		return redactURL(u)
	}
	if !mysql && strings.Contains(dsn, "=") && !strings.Contains(dsn, "?") {
		return kvPair.ReplaceAllStringFunc(dsn, func(pair string) string {
			m := kvPair.FindStringSubmatch(pair)
			if secretKey(m[1]) {
				return m[1] + "=" + Mask
			}
			return pair
		})
	}
	out := mysqlUserinfo.ReplaceAllString(dsn, "${1}:"+Mask+"@")
	if i := strings.Index(out, "?"); i >= 0 {
		out = out[:i+1] + redactQuery(out[i+1:])
	}
	return out
}

func redactURL(u *url.URL) string {
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Mask)
		}
	}
	u.RawQuery = redactQuery(u.RawQuery)
	return u.String()
}

// redactQuery masks secret parameters of a query string, keeping the
// others as they were written.
func redactQuery(q string) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		if name, err := url.QueryUnescape(k); err == nil && secretKey(name) {
			parts[i] = k + "=" + Mask
		}
	}
	return strings.Join(parts, "&")
}
