package e2e

// The harness: build the hub binary once, start it (and the stand-alone
// broker) as child processes, stop them with SIGINT or kill them with
// SIGKILL, poll with bounded waits that print the processes' output tails.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// hubBinary builds the hub once per test run, with the race detector unless
// HUB_E2E_RACE=0.
func hubBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "hube2e")
		if err != nil {
			build.err = err
			return
		}
		build.dir = dir
		build.path = filepath.Join(dir, "hub")
		args := []string{"build"}
		if os.Getenv("HUB_E2E_RACE") != "0" {
			args = append(args, "-race")
		}
		args = append(args, "-o", build.path, "github.com/crmhub/hub/cmd/hub")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// ports hands out the loopback ports of freeAddr, each once per test run.
// A port the kernel picks for "127.0.0.1:0" is free only until the
// listener closes: until the hub binds it, the kernel may give it to any
// outgoing connection of the tests running in parallel, or to a second
// ":0" listener (a hub's HTTP server and broker were once both told
// 127.0.0.1:36019). So the ports come from below the kernel's ephemeral
// range, which it gives out to no one on its own, and none is handed out
// twice.
var ports struct {
	once  sync.Once
	lo, n int // the range below the ephemeral one; n 0: no room, take ":0"
	mu    sync.Mutex
	next  int
	given map[string]bool
}

// portSpan is how many ports below the ephemeral range freeAddr uses.
const portSpan = 10000

func initPorts() {
	lo := 32768 // Linux's default, when the setting cannot be read
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				lo = v
			}
		}
	}
	ports.given = map[string]bool{}
	if lo-portSpan >= 1024 {
		ports.lo, ports.n = lo-portSpan, portSpan
		// Two test runs on one machine start at different places.
		ports.next = os.Getpid() % portSpan
	}
}

// freeAddr returns a loopback address with a port nobody listens on now
// and that no other caller of this test run was given.
func freeAddr(t testing.TB) string {
	t.Helper()
	ports.once.Do(initPorts)
	ports.mu.Lock()
	defer ports.mu.Unlock()
	for range 200 {
		addr := "127.0.0.1:0"
		if ports.n > 0 {
			ports.next++
			addr = fmt.Sprintf("127.0.0.1:%d", ports.lo+ports.next%ports.n)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken by some other process
		}
		addr = ln.Addr().String()
		ln.Close()
		if !ports.given[addr] {
			ports.given[addr] = true
			return addr
		}
	}
	t.Fatal("no free loopback port left")
	return ""
}

// tailBuffer keeps the last few MiB of a process's combined output.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailKeep = 4 << 20

func (s *tailBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	if len(s.b) > 2*tailKeep {
		s.b = append([]byte(nil), s.b[len(s.b)-tailKeep:]...)
	}
	return len(p), nil
}

func (s *tailBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// proc is a running child process (the hub or the broker).
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error // valid after done
}

// childEnv is the test's environment without HUB_* variables (the hub
// would read them as config overrides), plus extra.
func childEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HUB_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startProc starts the hub binary with args in dir (cwd; "" for the test's).
func startProc(t testing.TB, name, dir string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(hubBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = childEnv(env)
	out := &tailBuffer{}
	var w io.Writer = out
	if logDir := os.Getenv("HUB_E2E_LOG_DIR"); logDir != "" {
		// Keep the whole output for a post-mortem.
		f, err := os.Create(filepath.Join(logDir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()+"-"+name)+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		w = io.MultiWriter(out, f)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", p.name, p.tail(80))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail is the last n lines of the output.
func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.out.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stop sends SIGINT and waits for a clean exit (code 0).
func (p *proc) stop(t testing.TB) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s had already exited (%v) before it was stopped; output:\n%s", p.name, p.err, p.tail(60))
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(45 * time.Second):
		t.Fatalf("%s did not stop within 45s after SIGINT; output:\n%s", p.name, p.tail(60))
	}
	if p.err != nil {
		t.Fatalf("%s exited with %v after SIGINT, want 0; output:\n%s", p.name, p.err, p.tail(60))
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not die within 15s of SIGKILL", p.name)
	}
}

// waitFor polls cond every interval until it is true or d passes. cond
// returns a progress note for the failure message. A watched process that
// exits fails the wait at once.
func waitFor(t testing.TB, what string, d, interval time.Duration, watch []*proc, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, note := cond()
		if ok {
			return
		}
		for _, p := range watch {
			if p.exited() {
				t.Fatalf("waiting for %s: %s exited (%v); last state: %s; output:\n%s", what, p.name, p.err, note, p.tail(60))
			}
		}
		if time.Now().After(deadline) {
			var tails strings.Builder
			for _, p := range watch {
				fmt.Fprintf(&tails, "\n--- %s output (tail):\n%s", p.name, p.tail(60))
			}
			t.Fatalf("timed out after %s waiting for %s; last state: %s%s", d, what, note, tails.String())
		}
		time.Sleep(interval)
	}
}

// waitHTTP waits until url answers status want.
func waitHTTP(t testing.TB, p *proc, url string, want int, d time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, url+" to answer "+strconv.Itoa(want), d, 100*time.Millisecond, []*proc{p}, func() (bool, string) {
		resp, err := client.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == want, resp.Status
	})
}

// waitListen waits until something accepts connections on addr.
func waitListen(t testing.TB, p *proc, addr string, d time.Duration) {
	t.Helper()
	waitFor(t, "a listener on "+addr, d, 50*time.Millisecond, []*proc{p}, func() (bool, string) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

// runHub runs a one-shot hub command (dlq, sql, validate) and returns its
// stdout; it fails the test on a non-zero exit.
func runHub(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, errOut, err := runHubCode(t, dir, args...)
	if err != nil {
		t.Fatalf("hub %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func runHubCode(t testing.TB, dir string, args ...string) (string, string, error) {
	t.Helper()
	return runHubEnv(t, dir, nil, args...)
}

// runHubEnv is runHubCode with more environment variables.
func runHubEnv(t testing.TB, dir string, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(hubBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = childEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return stdout.String(), stderr.String(), err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("hub %s did not finish within 2m; output:\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
		return "", "", errors.New("timeout")
	}
}

// deadLetter is one item of `hub dlq list --json`.
type deadLetter struct {
	ID        int64  `json:"id"`
	Connector string `json:"connector"`
	Entity    string `json:"entity"`
	Key       string `json:"record_key"`
	HubID     string `json:"hub_id"`
	Stage     string `json:"stage"`
	Kind      string `json:"kind"`
	Error     string `json:"error"`
	Attempts  int    `json:"attempts"`
	Status    string `json:"status"`
}

type dlqList struct {
	Total int          `json:"total"`
	Items []deadLetter `json:"items"`
}

// listDeadLetters runs `hub dlq list --json --status STATUS`.
func listDeadLetters(t testing.TB, dir, cfg, status string) dlqList {
	t.Helper()
	out := runHub(t, dir, "dlq", "list", "-c", cfg, "--json", "--status", status, "--limit", "1000")
	var l dlqList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("hub dlq list --json: %v\n%s", err, out)
	}
	return l
}

// metrics scrapes /metrics and returns the sum of every sample of family
// name whose labels contain all of the given label="value" pairs.
func metricSum(t testing.TB, httpAddr, name string, labels ...string) float64 {
	t.Helper()
	v, err := scrapeSum(httpAddr, name, labels...)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return v
}

// metricValue is the sum of the series of name that carry all labels, and
// whether there is any: a series at zero is not a missing one.
func metricValue(t testing.TB, httpAddr, name string, labels ...string) (float64, bool) {
	t.Helper()
	v, n, err := scrape(httpAddr, name, labels...)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return v, n > 0
}

func scrapeSum(httpAddr, name string, labels ...string) (float64, error) {
	v, _, err := scrape(httpAddr, name, labels...)
	return v, err
}

// scrape sums the series of name that carry all labels, and counts them.
func scrape(httpAddr, name string, labels ...string) (float64, int, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	var n int
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
			n++
		}
	}
	return sum, n, sc.Err()
}
