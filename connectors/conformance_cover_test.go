package connectors_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// suiteless are the packages declaring kinds the conformance suite has
// no checks for yet, with the reason; their own tests stand in.
var suiteless = map[string]string{
	"callcenter": "screenpop is a View and calls a push source with a call log: the suite checks readers, writers and scanners (TestScreenpopRoute, TestJSONCallFlow, TestTwilioWebhooks, TestAMIStream)",
}

// TestEveryKindRunsTheSuite: every package under connectors/ that declares
// a kind runs connectortest.Run from its tests, so a new kind cannot land
// without the conformance suite.
func TestEveryKindRunsTheSuite(t *testing.T) {
	declares, runs := map[string]bool{}, map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir, src := filepath.Dir(path), string(b)
		if strings.HasSuffix(path, "_test.go") {
			if strings.Contains(src, "connectortest.Run(") {
				runs[dir] = true
			}
		} else if strings.Contains(src, "connectors.Declare(") {
			declares[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(declares) < 5 {
		t.Fatalf("found kinds in only %d packages: %v", len(declares), declares)
	}
	for dir := range declares {
		if why, ok := suiteless[dir]; ok {
			t.Logf("%s: no suite: %s", dir, why)
			continue
		}
		if !runs[dir] {
			t.Errorf("connectors/%s declares a kind but no test of it runs connectortest.Run", dir)
		}
	}
}
