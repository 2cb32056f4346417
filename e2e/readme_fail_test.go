package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// readmeSection returns the shell lines of the README's code blocks under
// the heading, comments and blank lines dropped, in order.
func readmeSection(t *testing.T, repo, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q", heading)
	}
	text = text[i+len(heading)+2:]
	if j := strings.Index(text, "\n#"); j >= 0 {
		text = text[:j]
	}
	var out []string
	in := false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in:
			if k := strings.Index(line, "  # "); k >= 0 {
				line = line[:k]
			}
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, line)
			}
		}
	}
	return out
}

// TestReadmeWhenSomethingFails runs the README's "When something fails"
// walkthrough line by line, as written, against the demo: a bad phone
// dead-lettered and closed by the fix at the source; a mapping fixed,
// reloaded and its dead letter replayed by filter; a sink paused for
// maintenance and resumed; a source read again from the beginning with
// nothing doubled; the audit log. A line that reads state is retried until
// it shows what the walkthrough says it shows.
func TestReadmeWhenSomethingFails(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Fatal("the README's walkthrough uses the sqlite3 client: apt-get install sqlite3")
	}
	_, self, _, _ := runtime.Caller(0)
	repo := filepath.Dir(filepath.Dir(self))
	lines := readmeSection(t, repo, "### When something fails")
	dir := t.TempDir()
	copyDir(t, filepath.Join(repo, "configs"), filepath.Join(dir, "configs"))
	httpAddr := freeAddr(t)
	kafkaAddr := freeAddr(t)
	env := []string{"HUB_HTTP_ADDR=" + httpAddr, "HUB_KAFKA_EMBEDDED_ADDR=" + kafkaAddr}
	hub := startProc(t, "hub (demo)", dir, env, "run", "-c", "configs/demo.yaml")
	waitHTTP(t, hub, "http://"+httpAddr+"/readyz", 200, time.Minute)
	erpOrders := "sqlite3 data/demo/erp.db \"SELECT count(*) FROM erp_orders\""

	// What a line shows once the hub has done its part, by the line's start.
	wants := []struct{ prefix, want string }{
		{"hub status -c", "sink erp/customer"},
		{"hub dlq list -c configs/demo.yaml", ""}, // by occurrence, below
		{"hub dlq list --status superseded", `"call me maybe"`},
		{"hub dlq replay --connector crm-orders --error \"not a decimal\" --dry-run", "1 open dead letter(s) match"},
		{"hub dlq replay --connector crm-orders --error \"not a decimal\" -c", "1 replayed"},
		{"sqlite3 data/demo/erp.db \"SELECT order_no, total", "SO-1003|12.50"},
		{"hub cursor show crm-orders", "after outbox entry"},
		{"hub cursor set crm-orders --beginning", "the beginning"},
		{"hub audit", "cursor.set"},
		{"HUB_API_TOKEN=demo-admin-token hub reload", "applied  sources.crm-orders.mapping file changed"},
	}
	dlqLists := []string{`phone: "call me maybe": not a phone number`, `total: "12,50": not a decimal`}
	statuses := 0
	shell := []string{"hub() { " + hubBinary(t) + ` "$@"; }`}
	for _, line := range lines {
		if strings.HasPrefix(line, "export ") {
			shell = append(shell, line)
			continue
		}
		want := ""
		for _, w := range wants {
			if strings.HasPrefix(line, w.prefix) {
				want = w.want
			}
		}
		if strings.HasPrefix(line, "hub dlq list -c") {
			want, dlqLists = dlqLists[0], dlqLists[1:]
		}
		if strings.HasPrefix(line, "hub status -c") {
			statuses++
			if statuses == 2 { // the paused sink holds the paid order
				want = "paused by cli"
			}
		}
		script := strings.Join(append(shell, line), "\n")
		var out string
		waitFor(t, line, 30*time.Second, 300*time.Millisecond, []*proc{hub}, func() (bool, string) {
			cmd := exec.Command("bash", "-c", script)
			cmd.Dir = dir
			cmd.Env = childEnv(env)
			b, err := cmd.CombinedOutput()
			out = string(b)
			return err == nil && strings.Contains(out, want), "exit " + errText(err) + ", output:\n" + out
		})
		t.Logf("$ %s\n%s", line, out)
		if strings.HasPrefix(line, "hub status -c") && statuses == 2 && !strings.Contains(out, "paused") {
			t.Errorf("status while the sink is paused:\n%s", out)
		}
	}
	// The order read again was found unchanged: three orders (and the
	// Shopify order is not in this walkthrough), none doubled.
	cmd := exec.Command("bash", "-c", erpOrders)
	cmd.Dir = dir
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "3" {
		t.Errorf("the ERP holds %q orders (%v), want 3", out, err)
	}
	hub.stop(t)
}

func errText(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}
