package agents

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseClient reads a real HTTP event stream line by line.
type sseClient struct {
	resp   *http.Response
	lines  chan string
	cancel context.CancelFunc
}

func connect(t *testing.T, url, lastID string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("stream answer %d %s", resp.StatusCode, ct)
	}
	c := &sseClient{resp: resp, lines: make(chan string, 100), cancel: cancel}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() { c.cancel(); c.resp.Body.Close() }

// next reads until a line with prefix comes (or the stream ends).
func (c *sseClient) next(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		case <-timeout:
			t.Fatalf("no %q within 5s", prefix)
		}
	}
}

func serve(t *testing.T, b *Broker) (string, *http.Server) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agents/{id}/events", func(w http.ResponseWriter, r *http.Request) { b.Serve(w, r, r.PathValue("id")) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, WriteTimeout: 500 * time.Millisecond}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), srv
}

// waitConnected waits until n browsers are connected.
func waitConnected(t *testing.T, b *Broker, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if b.Connected() == n {
			return
		}
	}
	t.Fatalf("connected = %d, want %d", b.Connected(), n)
}

// TestPushAndResume: an agent's browser gets its events and no one
// else's; one that reconnects with Last-Event-ID gets what it missed,
// and the stream outlives the server's write timeout with heartbeats.
func TestPushAndResume(t *testing.T) {
	b := New(Options{Heartbeat: 100 * time.Millisecond})
	url, _ := serve(t, b)
	alice := connect(t, url+"/agents/1001/events", "")
	bob := connect(t, url+"/agents/1002/events", "")
	waitConnected(t, b, 2)
	id, n := b.Publish("1001", "ringing", []byte(`{"from":"+49301234567"}`))
	if n != 1 {
		t.Errorf("reached %d browsers, want 1", n)
	}
	if got := alice.next(t, "id: "); got == "" || got != itoa(id) {
		t.Errorf("id = %q, want %d", got, id)
	}
	if got := alice.next(t, "event: "); got != "ringing" {
		t.Errorf("event = %q", got)
	}
	if got := alice.next(t, "data: "); got != `{"from":"+49301234567"}` {
		t.Errorf("data = %q", got)
	}
	// Past the server's 500 ms write timeout, heartbeats still arrive.
	time.Sleep(700 * time.Millisecond)
	alice.next(t, ": heartbeat")
	select {
	case l := <-bob.lines:
		if strings.HasPrefix(l, "event:") || strings.HasPrefix(l, "data:") {
			t.Errorf("agent 1002 got %q", l)
		}
	default:
	}

	alice.close()
	waitConnected(t, b, 1)
	id2, _ := b.Publish("1001", "answered", []byte(`{"n":2}`))
	id3, _ := b.Publish("1001", "ended", []byte("{\"n\":\n3}"))
	if id2 <= id || id3 <= id2 {
		t.Errorf("ids do not grow: %d %d %d", id, id2, id3)
	}
	again := connect(t, url+"/agents/1001/events", itoa(id))
	if got := again.next(t, "id: "); got != itoa(id2) {
		t.Errorf("resumed at %s, want %d", got, id2)
	}
	again.next(t, "id: ")
	if got := again.next(t, "data: "); got != `{"n": 3}` {
		t.Errorf("a multi-line payload = %q, want one line", got)
	}
}

// TestShutdownEndsStreams: a server's graceful shutdown does not wait for
// the streams: they end at once.
func TestShutdownEndsStreams(t *testing.T) {
	b := New(Options{})
	url, srv := serve(t, b)
	c := connect(t, url+"/agents/1/events", "")
	waitConnected(t, b, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	for range c.lines {
	}
}

// TestBounded: only the last events of an agent are kept, and idle agents
// are forgotten when there are too many.
func TestBounded(t *testing.T) {
	now := time.Unix(1700000000, 0)
	b := New(Options{Keep: 2, MaxAgents: 2, Idle: time.Minute, Now: func() time.Time { return now }})
	for i := 0; i < 5; i++ {
		b.Publish("a", "ringing", []byte("{}"))
	}
	if n := len(b.agents["a"].events); n != 2 {
		t.Errorf("kept %d events, want 2", n)
	}
	now = now.Add(2 * time.Minute)
	b.Publish("b", "ringing", []byte("{}"))
	b.Publish("c", "ringing", []byte("{}"))
	if len(b.agents) != 2 || b.agents["a"] != nil {
		t.Errorf("agents = %v, want b and c", b.agents)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
