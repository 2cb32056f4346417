package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/crmhub/hub/pipeline/broker"
)

func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startBroker starts the embedded broker on a free loopback port.
func startBroker(t testing.TB) *broker.Broker {
	t.Helper()
	b, err := broker.Start(testCtx(t, 10*time.Second), broker.Config{Addr: "127.0.0.1:0", Partitions: 3}, testLogger(t))
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newBus(t testing.TB, cfg Config) *Bus {
	t.Helper()
	bs, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("new bus: %v", err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	return bs
}

func ensure(t testing.TB, ctx context.Context, bs *Bus, specs ...TopicSpec) {
	t.Helper()
	if err := bs.EnsureTopics(ctx, specs...); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
}

// fastReader keeps group tests quick: short fetch waits make Close fast.
var fastReader = ReaderOptions{MaxWait: 100 * time.Millisecond}

func TestNewValidates(t *testing.T) {
	ok := []string{"127.0.0.1:9092"}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" = valid
		mech    string // expected SASL mechanism name when valid
	}{
		{name: "minimal", cfg: Config{Brokers: ok}},
		{name: "no brokers", cfg: Config{}, wantErr: "no brokers"},
		{name: "bad address", cfg: Config{Brokers: []string{"localhost"}}, wantErr: `broker address "localhost"`},
		{name: "batch too big", cfg: Config{Brokers: ok, BatchBytes: 2 << 20}, wantErr: "message.max.bytes"},
		{name: "plain", cfg: Config{Brokers: ok, SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p"}}, mech: "PLAIN"},
		{name: "scram-256 lower case", cfg: Config{Brokers: ok, SASL: SASLConfig{Mechanism: "scram-sha-256", Username: "u", Password: "p"}}, mech: "SCRAM-SHA-256"},
		{name: "scram-512", cfg: Config{Brokers: ok, SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}}, mech: "SCRAM-SHA-512"},
		{name: "unknown mechanism", cfg: Config{Brokers: ok, SASL: SASLConfig{Mechanism: "GSSAPI", Username: "u"}}, wantErr: `unknown mechanism "GSSAPI"`},
		{name: "no username", cfg: Config{Brokers: ok, SASL: SASLConfig{Mechanism: "PLAIN"}}, wantErr: "needs a username"},
		{name: "cert without key", cfg: Config{Brokers: ok, TLS: TLSConfig{Enabled: true, CertFile: "c.pem"}}, wantErr: "set together"},
		{name: "files without tls", cfg: Config{Brokers: ok, TLS: TLSConfig{CAFile: "ca.pem"}}, wantErr: "not enabled"},
		{name: "missing CA file", cfg: Config{Brokers: ok, TLS: TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}}, wantErr: "read CA file"},
		{name: "tls", cfg: Config{Brokers: ok, TLS: TLSConfig{Enabled: true, ServerName: "kafka"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs, err := New(tt.cfg, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			defer bs.Close()
			if tt.mech != "" {
				if bs.dialer.SASLMechanism == nil || bs.dialer.SASLMechanism.Name() != tt.mech ||
					bs.transport.SASL == nil || bs.transport.SASL.Name() != tt.mech {
					t.Fatalf("SASL mechanism not built as %s", tt.mech)
				}
			}
			if tt.cfg.TLS.Enabled && (bs.dialer.TLS == nil || bs.transport.TLS == nil) {
				t.Fatal("TLS not set on dialer and transport")
			}
		})
	}
}

func TestEnsureTopicsCreatesAndIsIdempotent(t *testing.T) {
	br := startBroker(t)
	bs := newBus(t, Config{Brokers: br.Addrs()})
	ctx := testCtx(t, 10*time.Second)
	specs := []TopicSpec{
		{Name: "hub.customer", Partitions: 5, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "3600000"}},
		{Name: "hub.order", Partitions: 2},
		{Name: "hub.state", Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: "hub.default"}, // broker's default partitions (3)
	}
	for round := range 3 {
		ensure(t, ctx, bs, specs...)
		for _, want := range []struct {
			topic string
			parts int
		}{{"hub.customer", 5}, {"hub.order", 2}, {"hub.state", 1}, {"hub.default", 3}} {
			if got := len(br.Cluster().PartitionInfos(want.topic)); got != want.parts {
				t.Fatalf("round %d: %s has %d partitions, want %d", round, want.topic, got, want.parts)
			}
		}
	}
	cfgs := br.Cluster().TopicInfo("hub.customer").Configs
	if v := cfgs["retention.ms"]; v == nil || *v != "3600000" {
		t.Fatalf("hub.customer configs = %v, want retention.ms=3600000", cfgs)
	}
	cfgs = br.Cluster().TopicInfo("hub.state").Configs
	if v := cfgs["retention.ms"]; v == nil || *v != "-1" {
		t.Fatalf("compacted topic configs = %v, want retention.ms=-1", cfgs)
	}
	if err := bs.EnsureTopics(ctx, TopicSpec{Name: "bad", Partitions: 1, ReplicationFactor: 3}); err == nil ||
		!strings.Contains(err.Error(), "bus: create topics [bad]") {
		t.Fatalf("replication factor 3 on one broker: err = %v, want a create topics error", err)
	}
}

func TestProduceConsumeKeyOrder(t *testing.T) {
	br := startBroker(t)
	bs := newBus(t, Config{Brokers: br.Addrs(), BatchSize: 16})
	ctx := testCtx(t, 20*time.Second)
	ensure(t, ctx, bs, TopicSpec{Name: "orders", Partitions: 3})

	const keys, perKey = 12, 25
	w := bs.NewWriter("orders")
	// Several Write calls, keys interleaved, each carrying a per-key sequence.
	for seq := range perKey {
		var msgs []Message
		for k := range keys {
			msgs = append(msgs, Message{
				Key:     fmt.Appendf(nil, "customer-%d", k),
				Value:   fmt.Appendf(nil, "%d", seq),
				Headers: []Header{{Key: "trace", Value: []byte("t1")}},
			})
		}
		if err := w.Write(ctx, msgs...); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r := bs.NewReader("sink-erp", []string{"orders"}, fastReader)
	defer r.Close()
	lastSeq := map[string]int{}
	partOf := map[string]int{}
	for n := 0; n < keys*perKey; {
		batch, err := r.FetchBatch(ctx, 50, 20*time.Millisecond)
		if err != nil {
			t.Fatalf("fetch after %d records: %v", n, err)
		}
		for _, m := range batch {
			k := string(m.Key)
			var seq int
			fmt.Sscanf(string(m.Value), "%d", &seq)
			if prev, ok := lastSeq[k]; ok && seq != prev+1 {
				t.Fatalf("key %s: seq %d after %d (out of order or duplicate)", k, seq, prev)
			} else if !ok && seq != 0 {
				t.Fatalf("key %s: first seq %d, want 0", k, seq)
			}
			lastSeq[k] = seq
			if p, ok := partOf[k]; ok && p != m.Partition {
				t.Fatalf("key %s on partitions %d and %d", k, p, m.Partition)
			}
			partOf[k] = m.Partition
			if len(m.Headers) != 1 || m.Headers[0].Key != "trace" || m.Topic != "orders" || m.Time.IsZero() {
				t.Fatalf("record fields not carried: %+v", m)
			}
			n++
		}
		if err := r.Commit(ctx, batch...); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	if len(lastSeq) != keys {
		t.Fatalf("saw %d keys, want %d", len(lastSeq), keys)
	}
	parts := map[int]bool{}
	for _, p := range partOf {
		parts[p] = true
	}
	if len(parts) < 2 {
		t.Fatalf("12 keys all hashed to partitions %v; the balancer does not spread keys", parts)
	}
	if lag := r.Lag(); lag != 0 {
		t.Fatalf("lag after reading everything = %d, want 0", lag)
	}
	total := float64(keys * perKey)
	if got := metricValue(t, bs.metrics.written.WithLabelValues("orders")); got != total {
		t.Fatalf("records written metric = %v, want %v", got, total)
	}
	if got := metricValue(t, bs.metrics.read.WithLabelValues("orders")); got != total {
		t.Fatalf("records read metric = %v, want %v", got, total)
	}
	var h dto.Metric
	if err := bs.metrics.writeLatency.WithLabelValues("orders").(prometheus.Metric).Write(&h); err != nil {
		t.Fatal(err)
	}
	if got := h.GetHistogram().GetSampleCount(); got != perKey {
		t.Fatalf("write latency observations = %d, want one per Write call (%d)", got, perKey)
	}
}

// A group that committed some records and restarts gets exactly the rest.
func TestGroupRestartResumesFromCommittedOffset(t *testing.T) {
	br := startBroker(t)
	bs := newBus(t, Config{Brokers: br.Addrs()})
	ctx := testCtx(t, 20*time.Second)
	ensure(t, ctx, bs, TopicSpec{Name: "invoices", Partitions: 3})

	const total = 30
	all := produce(t, ctx, bs, "invoices", total)

	start := time.Now()
	r1 := bs.NewReader("sink-crm", []string{"invoices"}, fastReader)
	committed := map[string]bool{}
	var fetched []Message
	for len(fetched) < 12 {
		m, err := r1.Fetch(ctx)
		if err != nil {
			t.Fatalf("first reader fetch: %v", err)
		}
		fetched = append(fetched, m)
	}
	firstFetch := time.Since(start)
	// Commit per partition only the records before the last one fetched
	// there, so each partition has a fetched-but-uncommitted record.
	last := map[int]int64{}
	for _, m := range fetched {
		last[m.Partition] = max(last[m.Partition], m.Offset)
	}
	var toCommit []Message
	for _, m := range fetched {
		if m.Offset < last[m.Partition] {
			toCommit = append(toCommit, m)
			committed[string(m.Key)] = true
		}
	}
	if err := r1.Commit(ctx, toCommit...); err != nil {
		t.Fatalf("commit: %v", err)
	}
	closeStart := time.Now()
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	closeTook := time.Since(closeStart)

	var want []string
	for _, k := range all {
		if !committed[k] {
			want = append(want, k)
		}
	}
	start = time.Now()
	r2 := bs.NewReader("sink-crm", []string{"invoices"}, fastReader)
	defer r2.Close()
	var got []string
	for len(got) < len(want) {
		m, err := r2.Fetch(ctx)
		if err != nil {
			t.Fatalf("second reader fetch after %d of %d: %v", len(got), len(want), err)
		}
		got = append(got, string(m.Key))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("after restart got %v\nwant exactly the uncommitted %v", got, want)
	}
	if lag := r2.Lag(); lag != 0 {
		t.Fatalf("lag = %d after reading the rest, want 0", lag)
	}
	t.Logf("committed %d, re-read %d; first join+fetch %v, close %v, rejoin+fetch %v",
		len(committed), len(got), firstFetch.Round(time.Millisecond), closeTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

func TestPingFailsQuicklyWhenBrokerStopped(t *testing.T) {
	br := startBroker(t)
	bs := newBus(t, Config{Brokers: br.Addrs(), DialTimeout: time.Second})
	ctx := testCtx(t, 5*time.Second)
	if err := bs.Ping(ctx); err != nil {
		t.Fatalf("ping running broker: %v", err)
	}
	// Warm the transport's metadata cache, which would otherwise answer.
	w := bs.NewWriter("warm")
	ensure(t, ctx, bs, TopicSpec{Name: "warm", Partitions: 1})
	if err := w.Write(ctx, Message{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}

	pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := bs.Ping(pctx)
	took := time.Since(start)
	if err == nil {
		t.Fatal("ping succeeded with the broker stopped")
	}
	if !strings.Contains(err.Error(), br.Addrs()[0]) || !strings.HasPrefix(err.Error(), "bus: ping kafka") {
		t.Fatalf("ping error %q does not say what failed where", err)
	}
	if took > 2*time.Second {
		t.Fatalf("ping took %v, beyond its context deadline", took)
	}
	t.Logf("ping failed after %v: %v", took, err)
}

func TestPingRespectsContextDeadline(t *testing.T) {
	// A listener that accepts and never answers: the metadata request hangs.
	addr := silentServer(t)
	bs := newBus(t, Config{Brokers: []string{addr}, DialTimeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := bs.Ping(ctx)
	if err == nil {
		t.Fatal("ping of a silent server succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("ping took %v with a 300ms deadline", took)
	}
}

// produceErrors makes the next n produce requests fail with code (n < 0:
// all of them) and counts every produce request.
func produceErrors(c *kfake.Cluster, n int, e *kerr.Error) *atomic.Int64 {
	var seen atomic.Int64
	c.ControlKey(kmsg.Produce.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		i := seen.Add(1)
		if n >= 0 && i > int64(n) {
			return nil, nil, false // let the broker handle it
		}
		preq := req.(*kmsg.ProduceRequest)
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range preq.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = e.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return &seen
}

// A retriable produce error (leader moved) is retried inside Write, which
// then succeeds without duplicating records.
func TestWriteRetriesNotLeader(t *testing.T) {
	br := startBroker(t)
	bs := newBus(t, Config{Brokers: br.Addrs()})
	ctx := testCtx(t, 10*time.Second)
	ensure(t, ctx, bs, TopicSpec{Name: "retry", Partitions: 1})
	w := bs.NewWriter("retry")

	seen := produceErrors(br.Cluster(), 3, kerr.NotLeaderForPartition)
	var msgs []Message
	for i := range 10 {
		msgs = append(msgs, Message{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")})
	}
	if err := w.Write(ctx, msgs...); err != nil {
		t.Fatalf("write with 3 NOT_LEADER answers: %v", err)
	}
	if got := seen.Load(); got != 4 {
		t.Fatalf("produce requests = %d, want 3 failed + 1 accepted", got)
	}
	if p := br.Cluster().PartitionInfo("retry", 0); p.HighWatermark != 10 {
		t.Fatalf("stored %d records, want 10 (no loss, no duplicates)", p.HighWatermark)
	}
	if got := metricValue(t, bs.metrics.writeErrors.WithLabelValues("retry")); got != 0 {
		t.Fatalf("write errors metric = %v after a retried success, want 0", got)
	}
}

// When the broker keeps failing, Write gives up after WriteAttempts with the
// broker's error; a non-retriable error is returned after one attempt.
func TestWriteReturnsPersistentErrors(t *testing.T) {
	tests := []struct {
		err      *kerr.Error
		attempts int64
	}{
		{kerr.NotLeaderForPartition, 3},
		{kerr.TopicAuthorizationFailed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.err.Message, func(t *testing.T) {
			br := startBroker(t)
			bs := newBus(t, Config{Brokers: br.Addrs(), WriteAttempts: 3})
			ctx := testCtx(t, 10*time.Second)
			ensure(t, ctx, bs, TopicSpec{Name: "fail", Partitions: 1})
			w := bs.NewWriter("fail")
			seen := produceErrors(br.Cluster(), -1, tt.err)

			err := w.Write(ctx, Message{Value: []byte("a")}, Message{Value: []byte("b")})
			if err == nil {
				t.Fatal("write succeeded although every produce failed")
			}
			var kerrCode kafka.Error
			if !errors.As(err, &kerrCode) || int16(kerrCode) != tt.err.Code {
				t.Fatalf("write error %v does not carry %s", err, tt.err.Message)
			}
			if !strings.HasPrefix(err.Error(), "bus: write 2 of 2 records to fail") {
				t.Fatalf("write error %q does not say what failed", err)
			}
			if got := seen.Load(); got != tt.attempts {
				t.Fatalf("produce attempts = %d, want %d", got, tt.attempts)
			}
			if got := metricValue(t, bs.metrics.writeErrors.WithLabelValues("fail")); got != 2 {
				t.Fatalf("write errors metric = %v, want 2", got)
			}
		})
	}
}

func TestCloseClosesWritersAndReaders(t *testing.T) {
	br := startBroker(t)
	bs := newBus(t, Config{Brokers: br.Addrs()})
	ctx := testCtx(t, 10*time.Second)
	ensure(t, ctx, bs, TopicSpec{Name: "c", Partitions: 1})
	w := bs.NewWriter("c")
	r := bs.NewReader("g", []string{"c"}, fastReader)
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, Message{Value: []byte("x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after bus close: err = %v, want ErrClosed", err)
	}
	if _, err := r.Fetch(ctx); err == nil {
		t.Fatal("fetch after bus close succeeded")
	}
	if err := bs.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	w2 := bs.NewWriter("c")
	if err := w2.Write(ctx, Message{Value: []byte("x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write on a writer made after close: err = %v, want ErrClosed", err)
	}
}

func TestSASL(t *testing.T) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plainuser", "plainpass"),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "pass256"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "pass512"),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		mech, user, pass string
	}{
		{MechanismPlain, "plainuser", "plainpass"},
		{MechanismSCRAMSHA256, "scram256", "pass256"},
		{MechanismSCRAMSHA512, "scram512", "pass512"},
	}
	for _, tt := range tests {
		t.Run(tt.mech, func(t *testing.T) {
			ctx := testCtx(t, 15*time.Second)
			bs := newBus(t, Config{Brokers: c.ListenAddrs(), SASL: SASLConfig{Mechanism: tt.mech, Username: tt.user, Password: tt.pass}})
			if err := bs.Ping(ctx); err != nil {
				t.Fatalf("ping with %s: %v", tt.mech, err)
			}
			topic := "sasl-" + strings.ToLower(tt.mech)
			ensure(t, ctx, bs, TopicSpec{Name: topic, Partitions: 1})
			w := bs.NewWriter(topic)
			if err := w.Write(ctx, Message{Key: []byte("k"), Value: []byte(tt.mech)}); err != nil {
				t.Fatalf("write with %s: %v", tt.mech, err)
			}
			r := bs.NewReader("g-"+topic, []string{topic}, fastReader)
			defer r.Close()
			m, err := r.Fetch(ctx)
			if err != nil || string(m.Value) != tt.mech {
				t.Fatalf("fetch with %s: %q, %v", tt.mech, m.Value, err)
			}

			bad := newBus(t, Config{Brokers: c.ListenAddrs(), SASL: SASLConfig{Mechanism: tt.mech, Username: tt.user, Password: "wrong"}})
			if err := bad.Ping(ctx); err == nil {
				t.Fatalf("ping with a wrong %s password succeeded", tt.mech)
			}
		})
	}
}

// silentServer accepts connections and never answers them.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
			close(done)
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

func metricValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestGroupLag(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	b := startBroker(t)
	bs := newBus(t, Config{Brokers: b.Addrs()})
	ensure(t, ctx, bs, TopicSpec{Name: "lagged", Partitions: 2})
	w := bs.NewWriter("lagged")
	for i := range 5 {
		if err := w.Write(ctx, Message{Key: []byte(fmt.Sprint(i)), Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	lag, err := bs.GroupLag(ctx, "g-lag", "lagged")
	if err != nil || lag != 5 {
		t.Fatalf("lag of a group that read nothing = %d (%v), want 5", lag, err)
	}
	r := bs.NewReader("g-lag", []string{"lagged"}, fastReader)
	defer r.Close()
	m, err := r.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx, m); err != nil {
		t.Fatal(err)
	}
	if lag, err := bs.GroupLag(ctx, "g-lag", "lagged"); err != nil || lag != 4 {
		t.Errorf("lag after one commit = %d (%v), want 4", lag, err)
	}
}

// fetchBytesSeen records the largest partition max bytes the broker is
// asked for in fetch requests of topic.
func fetchBytesSeen(c *kfake.Cluster, topic string) func() (int32, int) {
	var mu sync.Mutex
	var most int32
	var n int
	c.ControlKey(kmsg.Fetch.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		for _, t := range req.(*kmsg.FetchRequest).Topics {
			if t.Topic != topic {
				continue
			}
			for _, p := range t.Partitions {
				n++
				most = max(most, p.PartitionMaxBytes)
			}
		}
		return nil, nil, false // the broker answers
	})
	return func() (int32, int) {
		mu.Lock()
		defer mu.Unlock()
		return most, n
	}
}

// A reader asks for at most ReaderOptions.MaxBytes per partition (the
// sinks' kafka.consumer.fetch_bytes), DefaultFetchBytes when unset, and
// still reads a record larger than that (the broker returns a partition's
// first batch whole).
func TestReaderFetchBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
		want int32
	}{{"default", 0, DefaultFetchBytes}, {"set", 64 << 10, 64 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			b := startBroker(t)
			seen := fetchBytesSeen(b.Cluster(), "fetched")
			bs := newBus(t, Config{Brokers: b.Addrs()})
			ensure(t, ctx, bs, TopicSpec{Name: "fetched", Partitions: 1})
			big := bytes.Repeat([]byte("x"), 100<<10) // over the 64 KiB fetch
			if err := bs.NewWriter("fetched").Write(ctx, Message{Key: []byte("k"), Value: big}); err != nil {
				t.Fatal(err)
			}
			opts := fastReader
			opts.MaxBytes = tc.max
			r := bs.NewReader("g-fetch-"+tc.name, []string{"fetched"}, opts)
			defer r.Close()
			m, err := r.Fetch(ctx)
			if err != nil || !bytes.Equal(m.Value, big) {
				t.Fatalf("fetch: %d bytes, %v; want the %d-byte record", len(m.Value), err, len(big))
			}
			// kafka-go adds a record batch's header (65 bytes) to what it asks.
			if most, n := seen(); n == 0 || most < tc.want || most > tc.want+1024 {
				t.Fatalf("partition max bytes asked for: at most %d in %d fetches, want %d and a batch header", most, n, tc.want)
			}
		})
	}
}
