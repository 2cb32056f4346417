package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/crmhub/hub/pipeline/broker"
)

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func start(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// produce writes one batch per call to msgs (sync, acks=all), auto-creating
// the topic.
func produce(t *testing.T, ctx context.Context, b *broker.Broker, topic string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{
		Addr:                   kafka.TCP(b.Addrs()...),
		Topic:                  topic,
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           time.Millisecond,
		AllowAutoTopicCreation: true,
		Balancer:               &kafka.Hash{},
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// readAll reads partition 0 of topic from its first available offset up to
// its high watermark.
func readAll(t *testing.T, ctx context.Context, b *broker.Broker, topic string) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(ctx, "tcp", b.Addrs()[0], topic, 0)
	if err != nil {
		t.Fatalf("dial leader %s/0: %v", topic, err)
	}
	defer conn.Close()
	first, last, err := conn.ReadOffsets()
	if err != nil {
		t.Fatalf("read offsets %s/0: %v", topic, err)
	}
	var out []kafka.Message
	if first == last {
		return out
	}
	if _, err := conn.Seek(first, kafka.SeekAbsolute); err != nil {
		t.Fatalf("seek %s/0 to %d: %v", topic, first, err)
	}
	for int64(len(out)) < last-first {
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetReadDeadline(dl)
		}
		m, err := conn.ReadMessage(10 << 20)
		if err != nil {
			t.Fatalf("read %s/0 after %d records (offsets %d..%d): %v", topic, len(out), first, last, err)
		}
		out = append(out, m)
	}
	return out
}

func records(n int, prefix string, ts time.Time, size int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{
			Key:   fmt.Appendf(nil, "%s-%d", prefix, i),
			Value: []byte(fmt.Sprintf("%s-%d-", prefix, i) + strings.Repeat("x", size)),
			Time:  ts,
		}
	}
	return msgs
}

func TestStartAutoCreatesTopicsWithDefaultPartitions(t *testing.T) {
	b := start(t, broker.Config{Partitions: 4})
	ctx := testCtx(t)
	produce(t, ctx, b, "auto.created", records(3, "k", time.Now(), 10)...)
	parts := b.Cluster().PartitionInfos("auto.created")
	if len(parts) != 4 {
		t.Fatalf("auto-created topic has %d partitions, want 4", len(parts))
	}
	var total int64
	for _, p := range parts {
		total += p.HighWatermark
	}
	if total != 3 {
		t.Fatalf("records stored = %d, want 3", total)
	}
	if addrs := b.Addrs(); len(addrs) != 1 || strings.HasSuffix(addrs[0], ":0") {
		t.Fatalf("Addrs() = %v, want one address with the chosen port", addrs)
	}
}

func TestStartAddressInUse(t *testing.T) {
	b := start(t, broker.Config{})
	addr := b.Addrs()[0]
	_, err := broker.Start(testCtx(t), broker.Config{Addr: addr}, testLogger(t))
	if err == nil {
		t.Fatal("second broker on the same address started")
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("error %q does not name the address %s as in use", err, addr)
	}
}

func TestCloseIdempotent(t *testing.T) {
	b := start(t, broker.Config{})
	for i := range 3 {
		if err := b.Close(); err != nil {
			t.Fatalf("close #%d: %v", i+1, err)
		}
	}
}

// Records older than the retention disappear from every kind of topic:
// auto-created, created by a client without configs, and on restart.
func TestRetentionByTimeAppliesToEveryTopic(t *testing.T) {
	b := start(t, broker.Config{Partitions: 1, Retention: time.Hour, CleanupInterval: time.Hour})
	ctx := testCtx(t)

	// A topic a client creates without any configs.
	conn, err := kafka.Dial("tcp", b.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	err = conn.CreateTopics(kafka.TopicConfig{Topic: "client.created", NumPartitions: 1, ReplicationFactor: 1})
	_ = conn.Close()
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}

	old := time.Now().Add(-2 * time.Hour)
	for _, topic := range []string{"auto.created", "client.created"} {
		produce(t, ctx, b, topic, records(5, "old", old, 100)...)
		produce(t, ctx, b, topic, records(3, "new", time.Now(), 100)...)
		if got := len(readAll(t, ctx, b, topic)); got != 8 {
			t.Fatalf("%s: %d records before retention, want 8", topic, got)
		}
	}

	b.ApplyRetention()

	for _, topic := range []string{"auto.created", "client.created"} {
		p := b.Cluster().PartitionInfo(topic, 0)
		if p.LogStartOffset != 5 || p.HighWatermark != 8 {
			t.Fatalf("%s: log start %d, high watermark %d; want 5 and 8", topic, p.LogStartOffset, p.HighWatermark)
		}
		got := readAll(t, ctx, b, topic)
		if len(got) != 3 {
			t.Fatalf("%s: %d records after retention, want the 3 new ones", topic, len(got))
		}
		for _, m := range got {
			if !strings.HasPrefix(string(m.Key), "new-") {
				t.Fatalf("%s: old record %q survived retention", topic, m.Key)
			}
		}
		// An expired offset is no longer fetchable.
		conn, err := kafka.DialLeader(ctx, "tcp", b.Addrs()[0], topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Seek(0, kafka.SeekAbsolute)
		if err == nil {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.ReadMessage(1 << 20)
		}
		_ = conn.Close()
		if !errors.Is(err, kafka.OffsetOutOfRange) {
			t.Fatalf("%s: fetch of expired offset 0: err = %v, want OFFSET_OUT_OF_RANGE", topic, err)
		}
	}
}

// The broker's own cleaner applies retention without anyone calling
// ApplyRetention (kfake's cleaner would not run: no topic has explicit
// retention configs).
func TestRetentionCleanerRunsPeriodically(t *testing.T) {
	b := start(t, broker.Config{Partitions: 1, Retention: time.Hour, CleanupInterval: 20 * time.Millisecond})
	ctx := testCtx(t)
	produce(t, ctx, b, "events", records(4, "old", time.Now().Add(-3*time.Hour), 50)...)
	produce(t, ctx, b, "events", records(1, "new", time.Now(), 50)...)
	for {
		if p := b.Cluster().PartitionInfo("events", 0); p.LogStartOffset == 4 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cleaner never advanced the log start offset: %+v", b.Cluster().PartitionInfo("events", 0))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// retention.bytes bounds each partition, and with a DataDir whole segment
// files are deleted from disk.
func TestRetentionBytesBoundsDisk(t *testing.T) {
	dir := t.TempDir()
	const (
		retBytes = 16 << 10
		segBytes = 4 << 10
	)
	b := start(t, broker.Config{
		Partitions: 1, DataDir: dir, RetentionBytes: retBytes, SegmentBytes: segBytes,
		CleanupInterval: time.Hour,
	})
	ctx := testCtx(t)
	// One record per batch so retention can drop them one by one.
	for i := range 100 {
		produce(t, ctx, b, "big", records(1, fmt.Sprintf("r%03d", i), time.Now(), 1000)...)
	}
	before := dataBytes(t, dir)
	b.ApplyRetention()
	after := dataBytes(t, dir)

	p := b.Cluster().PartitionInfo("big", 0)
	if p.HighWatermark != 100 || p.LogStartOffset == 0 || p.NumBytes > retBytes {
		t.Fatalf("after retention: %+v; want high watermark 100, log start > 0, bytes <= %d", p, retBytes)
	}
	got := readAll(t, ctx, b, "big")
	if int64(len(got)) != 100-p.LogStartOffset || string(got[len(got)-1].Key) != "r099-0" {
		t.Fatalf("read %d records ending %q; want the newest %d", len(got), got[len(got)-1].Key, 100-p.LogStartOffset)
	}
	if before < 100*1000 || after > retBytes+2*segBytes {
		t.Fatalf("segment files: %d bytes before, %d after retention; want >= 100000 then <= %d", before, after, retBytes+2*segBytes)
	}
	t.Logf("segment bytes on disk: %d before, %d after retention (log start %d)", before, after, p.LogStartOffset)
}

// dataBytes adds up the sizes of the partition segment files under dir.
func dataBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || filepath.Ext(path) != ".dat" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	cfg := broker.Config{Addr: "127.0.0.1:0", DataDir: dir, Partitions: 2}

	b1 := start(t, cfg)
	produce(t, ctx, b1, "persist", records(20, "k", time.Now(), 100)...)
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := start(t, cfg)
	parts := b2.Cluster().PartitionInfos("persist")
	if len(parts) != 2 {
		t.Fatalf("after restart topic has %d partitions, want 2", len(parts))
	}
	seen := map[string]bool{}
	for _, p := range parts {
		conn, err := kafka.DialLeader(ctx, "tcp", b2.Addrs()[0], "persist", int(p.Partition))
		if err != nil {
			t.Fatal(err)
		}
		batch := conn.ReadBatch(1, 10<<20)
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			seen[string(m.Key)] = true
		}
		_ = batch.Close()
		_ = conn.Close()
	}
	if len(seen) != 20 {
		t.Fatalf("after restart read %d distinct records, want 20", len(seen))
	}
}

// TestSASLRequiresCredentials: with SASL configured, a client without
// credentials or with a wrong password is refused; with the user's
// credentials it produces.
func TestSASLRequiresCredentials(t *testing.T) {
	b := start(t, broker.Config{SASL: broker.SASL{Mechanism: "PLAIN", User: "hub", Password: "s3cret-pass"}})
	try := func(mech sasl.Mechanism) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w := &kafka.Writer{
			Addr: kafka.TCP(b.Addrs()...), Topic: "guarded", AllowAutoTopicCreation: true, BatchTimeout: time.Millisecond,
			Transport:   &kafka.Transport{SASL: mech, DialTimeout: 2 * time.Second},
			MaxAttempts: 2,
		}
		defer w.Close()
		return w.WriteMessages(ctx, kafka.Message{Value: []byte("x")})
	}
	if err := try(nil); err == nil {
		t.Error("a client without credentials produced")
	}
	if err := try(plain.Mechanism{Username: "hub", Password: "wrong"}); err == nil {
		t.Error("a client with a wrong password produced")
	}
	if err := try(plain.Mechanism{Username: "hub", Password: "s3cret-pass"}); err != nil {
		t.Errorf("the user could not produce: %v", err)
	}
}
