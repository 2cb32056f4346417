package main

import (
	"strings"
	"testing"
)

// TestDLQLinkFlags: `hub dlq link` needs exactly one of --to and --new,
// and says so before it opens anything.
func TestDLQLinkFlags(t *testing.T) {
	for _, args := range [][]string{
		{"dlq", "link", "1"},
		{"dlq", "link", "1", "--to", "h1", "--new"},
	} {
		_, stderr, code := runHubIO(t, nil, args...)
		if code != 2 || !strings.Contains(stderr, "give either --to HUB_ID or --new") {
			t.Errorf("hub %v: exit %d, stderr %q", args, code, stderr)
		}
	}
	if _, stderr, code := runHubIO(t, nil, "dlq", "link", "x", "--new"); code != 2 || !strings.Contains(stderr, "not a dead-letter id") {
		t.Errorf("hub dlq link x: exit %d, stderr %q", code, stderr)
	}
}
