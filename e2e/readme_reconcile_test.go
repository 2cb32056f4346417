package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestReadmeReconcile runs the README's "Do CRM and ERP agree?" lines as
// written against the demo: a total changed by hand in the ERP is the one
// difference the first `hub reconcile run` reports (exit 1) and repairs;
// the ERP holds the CRM's total again and the second run exits 0.
func TestReadmeReconcile(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Fatal("the README's walkthrough uses the sqlite3 client: apt-get install sqlite3")
	}
	_, self, _, _ := runtime.Caller(0)
	repo := filepath.Dir(filepath.Dir(self))
	lines := readmeSection(t, repo, "### Do CRM and ERP agree?")
	dir := t.TempDir()
	copyDir(t, filepath.Join(repo, "configs"), filepath.Join(dir, "configs"))
	httpAddr := freeAddr(t)
	kafkaAddr := freeAddr(t)
	env := []string{"HUB_HTTP_ADDR=" + httpAddr, "HUB_KAFKA_EMBEDDED_ADDR=" + kafkaAddr}
	hub := startProc(t, "hub (demo)", dir, env, "run", "-c", "configs/demo.yaml")
	waitHTTP(t, hub, "http://"+httpAddr+"/readyz", 200, time.Minute)
	shell := []string{"hub() { " + hubBinary(t) + ` "$@"; }`}
	sh := func(line string) (string, int) {
		cmd := exec.Command("bash", "-c", strings.Join(append(shell, line), "\n"))
		cmd.Dir = dir
		cmd.Env = childEnv(env)
		b, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(b), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(b), 0
	}
	// The demo's two orders reach the ERP first.
	waitFor(t, "the demo's orders in the ERP", 30*time.Second, 300*time.Millisecond, []*proc{hub}, func() (bool, string) {
		out, _ := sh(`sqlite3 data/demo/erp.db "SELECT count(*) FROM erp_orders"`)
		return strings.TrimSpace(out) == "2", out
	})
	// What each line prints, and its exit status, in order.
	wants := []struct {
		prefix, want string
		code         int
	}{
		{"sqlite3 data/demo/erp.db \"UPDATE", "", 0},
		{"hub reconcile run", "field_mismatch: 1", 1},
		{"sqlite3 data/demo/erp.db \"SELECT", "SO-1001|1250.00", 0},
		{"hub reconcile run", "matched: 2", 0},
		{"hub reconcile list", "crm-erp-orders", 0},
	}
	if len(lines) != len(wants) {
		t.Fatalf("the README section has %d lines, the test knows %d:\n%s", len(lines), len(wants), strings.Join(lines, "\n"))
	}
	for i, line := range lines {
		w := wants[i]
		if !strings.HasPrefix(line, w.prefix) {
			t.Fatalf("line %d is %q, the test expects one starting %q", i+1, line, w.prefix)
		}
		out, code := sh(line)
		t.Logf("$ %s  (exit %d)\n%s", line, code, out)
		if code != w.code || !strings.Contains(out, w.want) {
			t.Fatalf("%s: exit %d, want %d with %q in:\n%s", line, code, w.code, w.want, out)
		}
		if i == 1 && (!strings.Contains(out, "SO-1001") && !strings.Contains(out, "repairs: 1 written")) {
			t.Errorf("the first run names no repair of SO-1001:\n%s", out)
		}
	}
	hub.stop(t)
}
