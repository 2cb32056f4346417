package main

import (
	"strings"
	"testing"
)

// TestDSNSecretsNeverPrinted: a state DSN with its password in the query
// string (as libpq and pgx accept it), a key=value DSN and a URL password
// never reach the output of `hub dlq list` or `hub validate`, whatever
// fails.
func TestDSNSecretsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	const secret = "S3cr3tPw0rd"
	for _, dsn := range []string{
		"postgres://hub@127.0.0.1:1/hub?sslmode=disable&password=" + secret,
		"postgres://hub:" + secret + "@127.0.0.1:1/hub?sslmode=disable",
		"host=127.0.0.1 port=1 user=hub password=" + secret,
	} {
		cfg := writeConfig(t, dir, "state:\n  dsn: '"+dsn+"'\n")
		for _, args := range [][]string{{"dlq", "list", "-c", cfg}, {"validate", "-c", cfg}} {
			stdout, stderr, code := runHubIO(t, nil, args...)
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("hub %s with state.dsn %q printed the password (exit %d):\n%s%s", strings.Join(args, " "), dsn, code, stdout, stderr)
			}
		}
	}
}
