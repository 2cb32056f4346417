package main

// These tests build the real hub binary and drive it as an operator would:
// start, probe /readyz, list topics with an independent Kafka client, stop
// with SIGINT, start again.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"
)

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// hubBinary builds the hub once per test run.
func hubBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hubbin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "hub")
		out, err := exec.Command("go", "build", "-race", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running hub process with its combined output.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(hubBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGINT and returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(40 * time.Second):
		t.Fatalf("hub did not stop within 40s after SIGINT; output:\n%s", p.out)
		return -1
	}
}

// waitStatus polls url until it answers want, or fails after d.
func waitStatus(t *testing.T, p *proc, url string, want int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if p != nil {
			select {
			case err := <-p.done:
				t.Fatalf("hub exited (%v) before %s answered %d; output:\n%s", err, url, want, p.out)
			default:
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := ""
	if p != nil {
		out = p.out.String()
	}
	t.Fatalf("%s did not answer %d within %s (last: %s); output:\n%s", url, want, d, last, out)
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// topics lists topic names, with kcat when it is installed (an independent
// client), else with kafka-go.
func topics(t *testing.T, addr string) []string {
	t.Helper()
	if kcat, err := exec.LookPath("kcat"); err == nil {
		out, err := exec.Command(kcat, "-b", addr, "-L", "-m", "10").CombinedOutput()
		if err != nil {
			t.Fatalf("kcat -L: %v\n%s", err, out)
		}
		var names []string
		for _, line := range strings.Split(string(out), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "topic \"") {
				names = append(names, strings.SplitN(line, "\"", 3)[1])
			}
		}
		sort.Strings(names)
		return names
	} else if os.Getenv("HUB_REQUIRE_SERVICES") == "1" {
		t.Fatal("kcat is not installed (HUB_REQUIRE_SERVICES=1): apt-get install kcat")
	}
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var names []string
	for _, p := range parts {
		if !seen[p.Topic] {
			seen[p.Topic] = true
			names = append(names, p.Topic)
		}
	}
	sort.Strings(names)
	return names
}

func TestRunDemoLifecycle(t *testing.T) {
	dir := t.TempDir()
	httpAddr, kafkaAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
hub:
  data_dir: %s
  shutdown_timeout: 20s
http:
  addr: %s
kafka:
  topic_prefix: demo
  partitions: 3
  embedded:
    addr: %s
`, filepath.Join(dir, "data"), httpAddr, kafkaAddr))

	want := []string{"demo.customer", "demo.dlq", "demo.interaction", "demo.invoice", "demo.order"}
	for round := 1; round <= 2; round++ {
		p := start(t, nil, "run", "-c", cfg)
		waitStatus(t, p, "http://"+httpAddr+"/readyz", 200, 30*time.Second)
		waitStatus(t, p, "http://"+httpAddr+"/healthz", 200, time.Second)

		got := topics(t, kafkaAddr)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("round %d: topics = %v, want %v", round, got, want)
		}
		if round == 1 {
			// Leave a record behind: the second start must still have it.
			w := &kafka.Writer{Addr: kafka.TCP(kafkaAddr), Topic: "demo.customer", RequiredAcks: kafka.RequireAll}
			if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte("k1"), Value: []byte(`{"id":"k1"}`)}); err != nil {
				t.Fatalf("write: %v", err)
			}
			w.Close()
		} else {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{kafkaAddr}, Topic: "demo.customer", Partition: partitionOf(t, kafkaAddr, "demo.customer", "k1"), MaxWait: 100 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			m, err := r.ReadMessage(ctx)
			cancel()
			r.Close()
			if err != nil || string(m.Key) != "k1" {
				t.Errorf("record written before the restart: %v %q", err, m.Key)
			}
		}

		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		for _, m := range []string{"go_goroutines", "hub_build_info", "process_resident_memory_bytes"} {
			if !strings.Contains(body.String(), m) {
				t.Errorf("/metrics lacks %s", m)
			}
		}

		if code := p.stop(t); code != 0 {
			t.Fatalf("round %d: exit code %d after SIGINT, want 0; output:\n%s", round, code, p.out)
		}
		if !strings.Contains(p.out.String(), "stopped cleanly") {
			t.Errorf("round %d: no clean-stop line in output:\n%s", round, p.out)
		}
	}
}

// partitionOf finds the partition holding key by reading every partition.
func partitionOf(t *testing.T, addr, topic, key string) int {
	t.Helper()
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		c, err := kafka.DialLeader(context.Background(), "tcp", addr, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := c.ReadLastOffset()
		c.Close()
		if err == nil && last > 0 {
			return p.ID
		}
	}
	t.Fatalf("no partition of %s holds a record", topic)
	return -1
}

func TestReadyzFollowsExternalBroker(t *testing.T) {
	dir := t.TempDir()
	kafkaAddr, httpAddr := freeAddr(t), freeAddr(t)
	brokerArgs := []string{"broker", "--addr", kafkaAddr, "--data-dir", filepath.Join(dir, "kafka")}
	b := start(t, nil, brokerArgs...)
	waitKafka(t, b, kafkaAddr)

	cfg := writeConfig(t, dir, fmt.Sprintf(`
hub:
  data_dir: %s
  shutdown_timeout: 10s
http:
  addr: %s
kafka:
  brokers: [%s]
`, filepath.Join(dir, "data"), httpAddr, kafkaAddr))
	h := start(t, nil, "run", "-c", cfg)
	readyz := "http://" + httpAddr + "/readyz"
	waitStatus(t, h, readyz, 200, 30*time.Second)

	if code := b.stop(t); code != 0 {
		t.Fatalf("broker exit %d; output:\n%s", code, b.out)
	}
	waitStatus(t, h, readyz, 503, 15*time.Second)

	b = start(t, nil, brokerArgs...)
	waitKafka(t, b, kafkaAddr)
	waitStatus(t, h, readyz, 200, 30*time.Second)

	if code := h.stop(t); code != 0 {
		t.Fatalf("hub exit %d; output:\n%s", code, h.out)
	}
}

func waitKafka(t *testing.T, p *proc, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("broker did not listen on %s; output:\n%s", addr, p.out)
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		yaml     string
		wantCode int
		want     []string
	}{
		{"good", "http:\n  addr: 127.0.0.1:8081\n", 0, []string{"ok"}},
		{"three mistakes", "http:\n  addr: nowhere\nkafka:\n  partitions: -2\n  embedded:\n    retention: forever\n", 1, []string{
			"3 problem(s)",
			"hub.yaml:2: http.addr",
			"hub.yaml:4: kafka.partitions",
			"hub.yaml:6: kafka.embedded.retention",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, dir, tt.yaml)
			out, err := exec.Command(hubBinary(t), "validate", "-c", cfg).CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// wantCommands is every subcommand the binary has, by parent. A command
// added or removed without updating this list (and the README's list)
// fails TestHelpListsCommands.
var wantCommands = map[string][]string{
	"":           {"audit", "backfill", "bench", "broker", "connectors", "cursor", "dlq", "map", "pause", "reconcile", "reload", "resume", "run", "sql", "status", "trace", "users", "validate", "version"},
	"reconcile":  {"list", "run", "show"},
	"bench":      {"kafka", "reconcile", "screenpop", "sync"},
	"connectors": {"doc", "list"},
	"cursor":     {"set", "show"},
	"dlq":        {"discard", "link", "list", "replay", "show"},
	"map":        {"bench", "explain", "test"},
	"sql":        {"install-capture"},
	"users":      {"code", "enroll", "hash-password", "hash-token"},
}

// TestHelpListsCommands checks the command tree against wantCommands and
// that `hub [PARENT] --help` lists every command registered on it.
func TestHelpListsCommands(t *testing.T) {
	got := map[string][]string{}
	var walk func(c *cobra.Command, path string)
	walk = func(c *cobra.Command, path string) {
		for _, sub := range c.Commands() {
			got[path] = append(got[path], sub.Name())
			if sub.HasSubCommands() {
				walk(sub, strings.TrimSpace(path+" "+sub.Name()))
			}
		}
		sort.Strings(got[path])
	}
	walk(newRootCmd(), "")
	if !reflect.DeepEqual(got, wantCommands) {
		t.Errorf("command tree = %v\nwant %v", got, wantCommands)
	}

	for parent, subs := range got {
		args := append(strings.Fields(parent), "--help")
		out, err := exec.Command(hubBinary(t), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("hub %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		for _, c := range subs {
			// cobra lists "  NAME   Short" under Available Commands.
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c) + ` +\S`).Match(out) {
				t.Errorf("hub %s does not list %q:\n%s", strings.Join(args, " "), c, out)
			}
		}
	}
}

// TestSecondHubOnOneDataFolderRefused: a second `hub run` on the data
// folder of a running hub (other ports) is refused with a clear message,
// before it touches the broker's files or the state.
func TestSecondHubOnOneDataFolderRefused(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := func(name string) string {
		return writeConfigNamed(t, dir, name, fmt.Sprintf("hub:\n  data_dir: %s\nhttp:\n  addr: %s\nkafka:\n  embedded:\n    addr: %s\n",
			data, freeAddr(t), freeAddr(t)))
	}
	first, second := config("first.yaml"), config("second.yaml")
	p := start(t, nil, "run", "-c", first)
	waitOutput(t, p, "hub ready", 30*time.Second)
	stdout, stderr, code := runHubIO(t, nil, "run", "-c", second)
	if code == 0 || !strings.Contains(stderr+stdout, "another hub process (pid ") || !strings.Contains(stderr+stdout, data) {
		t.Errorf("second hub: exit %d\n%s%s", code, stdout, stderr)
	}
	if c := p.stop(t); c != 0 {
		t.Errorf("first hub exit %d\n%s", c, p.out)
	}
}

func writeConfigNamed(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitOutput(t *testing.T, p *proc, what string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.out.String(), what) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s; output:\n%s", what, d, p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
