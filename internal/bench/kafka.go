package bench

// `hub bench kafka`: Kafka -> map -> Kafka on the mapping yardstick
// (../shared/bench/README.md). The yardstick's orders are produced to an
// input topic of the embedded broker before the hub starts (a backlog);
// then a hub in this process runs a kafka source through the yardstick
// mapping and a kafka sink to an output topic, and the run is timed from
// the hub's start until every order is on the output topic. Afterwards the
// output is checked record for record: each order once, each the
// yardstick's mapped record.
//
// The hub's path is the one any Kafka -> map -> Kafka pipeline takes: the
// source maps each order in (shop order -> canonical order: the
// yardstick's mapping), gives it a hub id in the state store's crosswalk
// and publishes it to the canonical order topic; the sink consumes that
// topic and maps each order out (canonical -> the yardstick's record, a
// field-for-field copy) to the output topic. The broker is the one `hub
// run` embeds (pipeline/broker, kfake), started here before the hub so the
// input can be produced first; the hub reaches it through kafka.brokers.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/broker"
	"github.com/crmhub/hub/pipeline/node"
)

// KafkaOptions say what `hub bench kafka` measures.
type KafkaOptions struct {
	Orders     int    // orders to produce and map (with Input: at most this many of its lines)
	Partitions int    // partitions of the input, canonical and output topics
	Seed       uint64 // the generator's seed (the yardstick's is 38)
	// Input, when set, is an NDJSON file of orders (bench/gen's output)
	// read instead of generating them.
	Input string
	// Mapping is the yardstick's inbound mapping file.
	Mapping string
	// Golden, when the file exists, holds the yardstick's expected mapped
	// records of the first three orders of seed 38; they are compared
	// byte for byte with what arrived.
	Golden string
	// SourceBatch and SinkBatch are the source's and the sink's batch_size
	// (0: the hub's defaults).
	SourceBatch, SinkBatch int
	// Bar shows a progress bar (a terminal); otherwise progress is lines.
	Bar bool
	// NoTrace turns the hub's trace journal off (trace.enabled: false);
	// `hub run` keeps it on by default.
	NoTrace bool
	// NoStamps runs the sink with `stamps: false` (and `deletes: ignore`:
	// its topic is keyed by a field of the record): it writes no crosswalk
	// row per order.
	NoStamps bool
	// Persist gives the broker a data folder, as `hub run` gives its
	// embedded broker by default; without it the broker keeps the topics
	// in memory only.
	Persist bool
	// StateDSN is the hub's state store; default SQLite in the run's folder.
	StateDSN string
	// Keep keeps the run's folder (config, mappings, state) afterwards.
	Keep bool
	// CPUProfile, when set, profiles the hub phase (hub start to the last
	// order on the output topic).
	CPUProfile string
	// ExecTrace, when set, writes a Go execution trace of the same phase
	// (where the stages wait; see Profiles).
	ExecTrace string
	Kinds     *connectors.Registry
	Log       *slog.Logger
	// OnOutput, when set, is called with each record read back from the
	// output topic during the check (tests look at the values themselves).
	OnOutput func(key, value []byte)
}

// KafkaResult is what one run measured.
type KafkaResult struct {
	Records       int
	Partitions    int
	InputBytes    int64         // the orders' JSON, without keys and headers
	ProduceTime   time.Duration // producing the input backlog (not part of the measure)
	Ready         time.Duration // hub start to ready
	Elapsed       time.Duration // hub start to the last order on the output topic
	RecordsPerSec float64
	CPU           time.Duration // process CPU (user+system) during Elapsed: hub, broker, the measuring poll
	PeakRSSBytes  int64         // VmHWM at the end of the hub phase: includes the broker's copy of every topic
	PeakHeapBytes uint64        // the Go heap's objects (live, and dead ones not yet swept) at most, sampled during the hub phase
	Verified      string        // what the output check found
	Checked       int           // output records compared byte for byte with the directly mapped order
	Duplicates    int           // output records that were a second copy of an order (at-least-once delivery)
	Golden        int           // output records equal to the yardstick's golden records
	Dir           string        // the run's folder when kept
}

// CPUPerRecord is CPU microseconds per record.
func (r KafkaResult) CPUPerRecord() float64 {
	if r.Records == 0 {
		return 0
	}
	return float64(r.CPU.Microseconds()) / float64(r.Records)
}

func (r KafkaResult) String() string {
	s := fmt.Sprintf("%d records over %d partitions (%.0f MB of orders; produced in %s, before the hub started)\n"+
		"hub start -> last record on the output topic: %s (ready in %s): %.0f records/s\n"+
		"CPU %.1f s (%.0f µs/record, %.2f cores); peak RSS %d MiB (broker's copy of every topic included); Go heap objects at most %d MiB\n"+
		"output: %s",
		r.Records, r.Partitions, float64(r.InputBytes)/1e6, r.ProduceTime.Round(time.Millisecond),
		r.Elapsed.Round(time.Millisecond), r.Ready.Round(time.Millisecond), r.RecordsPerSec,
		r.CPU.Seconds(), r.CPUPerRecord(), r.CPU.Seconds()/max(r.Elapsed.Seconds(), 1e-9),
		r.PeakRSSBytes>>20, r.PeakHeapBytes>>20, r.Verified)
	if r.Dir != "" {
		s += "\nrun folder kept: " + r.Dir
	}
	return s
}

const (
	kafkaInTopic  = "bench.shop.orders"
	kafkaOutTopic = "bench.erp.orders"
)

// RunKafka runs one measurement, printing progress to progress.
func RunKafka(ctx context.Context, o KafkaOptions, progress io.Writer) (KafkaResult, error) {
	if o.Orders < 1 {
		return KafkaResult{}, errors.New("bench: --orders must be at least 1")
	}
	if o.Partitions < 1 {
		o.Partitions = 4
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Mapping == "" {
		o.Mapping = filepath.Join("configs", "mappings", "bench", "shop-order-yardstick.yaml")
	}
	inMap, err := os.ReadFile(o.Mapping)
	if err != nil {
		return KafkaResult{}, fmt.Errorf("bench: the yardstick mapping (run from the repository's root, or give --mapping): %w", err)
	}
	plan, err := mapping.Load(o.Mapping)
	if err != nil {
		return KafkaResult{}, fmt.Errorf("bench: %w", err)
	}
	dir, err := os.MkdirTemp("", "hub-bench-kafka-")
	if err != nil {
		return KafkaResult{}, err
	}
	res := KafkaResult{Partitions: o.Partitions}
	if o.Keep {
		res.Dir = dir
	} else {
		defer os.RemoveAll(dir)
	}

	bcfg := broker.Config{Addr: "127.0.0.1:0", Partitions: o.Partitions, RetentionBytes: config.Default().Kafka.Embedded.RetentionBytes}
	if o.Persist {
		bcfg.DataDir = filepath.Join(dir, "kafka")
	}
	b, err := broker.Start(ctx, bcfg, o.Log.With("component", "broker"))
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	defer b.Close()
	addr := b.Addrs()[0]

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(kafkaInTopic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(50000), kgo.ProducerBatchMaxBytes(900<<10))
	if err != nil {
		return res, fmt.Errorf("bench: kafka client: %w", err)
	}
	defer cl.Close()
	if err := createTopics(ctx, cl, o.Partitions, kafkaInTopic, kafkaOutTopic); err != nil {
		return res, err
	}

	fmt.Fprintf(progress, "producing %d orders to %s (%d partitions)\n", o.Orders, kafkaInTopic, o.Partitions)
	start := time.Now()
	n, bytesIn, err := produceOrders(ctx, cl, o)
	if err != nil {
		return res, err
	}
	res.Records, res.InputBytes, res.ProduceTime = n, bytesIn, time.Since(start)
	fmt.Fprintf(progress, "produced %d orders (%.0f MB) in %s\n", n, float64(bytesIn)/1e6, res.ProduceTime.Round(time.Millisecond))

	cfgPath, err := writeKafkaConfig(dir, addr, inMap, o)
	if err != nil {
		return res, err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return res, fmt.Errorf("bench: config: %w", err)
	}

	// The hub phase: what is measured.
	runtime.GC()
	stopProfiles, err := Profiles(o.CPUProfile, o.ExecTrace)
	if err != nil {
		return res, err
	}
	defer stopProfiles()
	hubCtx, stopHub := context.WithCancel(ctx)
	defer stopHub()
	nd := node.New(cfg, o.Log, "bench", o.Kinds)
	hubDone := make(chan error, 1)
	cpu0 := processCPU()
	start = time.Now()
	go func() { hubDone <- nd.Run(hubCtx) }()
	select {
	case <-nd.Ready():
	case err := <-hubDone:
		return res, fmt.Errorf("bench: hub stopped at start: %w", err)
	}
	res.Ready = time.Since(start)
	fmt.Fprintf(progress, "hub ready in %s\n", res.Ready.Round(time.Millisecond))

	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	sampleHeap := func() {
		metrics.Read(heap)
		if h := heap[0].Value.Uint64(); h > res.PeakHeapBytes {
			res.PeakHeapBytes = h
		}
	}
	var count int64
	arrived := newArrivals(progress, int64(n), "records on "+kafkaOutTopic, o.Bar)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for count < int64(n) {
		select {
		case err := <-hubDone:
			return res, fmt.Errorf("bench: hub stopped: %w", err)
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		if count, err = endOffsets(ctx, cl, kafkaOutTopic, o.Partitions); err != nil {
			return res, err
		}
		sampleHeap()
		arrived.seen(count)
	}
	res.Elapsed = time.Since(start)
	res.CPU = processCPU() - cpu0
	res.PeakRSSBytes = peakRSS()
	stopProfiles()
	// With records written twice (the sink delivers at least once) the
	// end offsets reach n before the last orders are out. The output is
	// read back while the hub still runs, until every order is there; the
	// run ends at the first copy of the last order to arrive (its produce
	// time), if that is later.
	fmt.Fprintf(progress, "checking the output record for record\n")
	err = verifyKafkaOutput(ctx, addr, o, plan, n, &res, start)
	res.RecordsPerSec = float64(n) / res.Elapsed.Seconds()
	stopHub()
	if herr := <-hubDone; err == nil && herr != nil {
		err = fmt.Errorf("bench: hub stop: %w", herr)
	}
	return res, err
}

// processCPU is the user and system CPU this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func createTopics(ctx context.Context, cl *kgo.Client, partitions int, topics ...string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	for _, name := range topics {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = name, int32(partitions), 1
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("bench: create topics: %w", err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("bench: create topic %s: %w", t.Topic, err)
		}
	}
	return nil
}

// endOffsets is the sum of the topic's partitions' end offsets: how many
// records it holds.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string, partitions int) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = int32(p), -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("bench: end offsets of %s: %w", topic, err)
	}
	var sum int64
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return 0, fmt.Errorf("bench: end offset of partition %d of %s: %w", p.Partition, topic, err)
			}
			sum += p.Offset
		}
	}
	return sum, nil
}

// orderSource yields the orders: generated, or read from an NDJSON file.
type orderSource struct {
	gen *OrderGen
	f   *os.File
	br  *bufio.Reader
	n   int // yielded so far
	max int
}

func openOrders(o KafkaOptions) (*orderSource, error) {
	s := &orderSource{max: o.Orders}
	if o.Input == "" {
		s.gen = NewOrderGen(o.Seed)
		return s, nil
	}
	f, err := os.Open(o.Input)
	if err != nil {
		return nil, fmt.Errorf("bench: input: %w", err)
	}
	s.f, s.br = f, bufio.NewReaderSize(f, 1<<20)
	return s, nil
}

func (s *orderSource) close() {
	if s.f != nil {
		_ = s.f.Close()
	}
}

// next is the next order's JSON (valid until the next call), or nil at
// the end.
func (s *orderSource) next() ([]byte, error) {
	if s.n >= s.max {
		return nil, nil
	}
	if s.gen != nil {
		s.n++
		b, _ := s.gen.Next()
		return b, nil
	}
	for {
		line, err := s.br.ReadBytes('\n')
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			s.n++
			return line, nil
		}
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bench: input: %w", err)
		}
	}
}

// orderID is the "id" member of an order's JSON: the message key.
func orderID(b []byte) []byte {
	i := bytes.Index(b, []byte(`"id":`))
	if i < 0 {
		return nil
	}
	rest := b[i+5:]
	j := bytes.IndexAny(rest, ",}")
	if j < 0 {
		return nil
	}
	return bytes.TrimSpace(rest[:j])
}

// produceOrders produces the orders, keyed by id, with the client's
// batching, and waits for every acknowledgement.
func produceOrders(ctx context.Context, cl *kgo.Client, o KafkaOptions) (int, int64, error) {
	src, err := openOrders(o)
	if err != nil {
		return 0, 0, err
	}
	defer src.close()
	var (
		n        int
		bytesIn  int64
		firstErr = make(chan error, 1)
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			select {
			case firstErr <- err:
			default:
			}
		}
	}
	for {
		b, err := src.next()
		if err != nil {
			return n, bytesIn, err
		}
		if b == nil {
			break
		}
		v := bytes.Clone(b)
		cl.Produce(ctx, &kgo.Record{Key: orderID(v), Value: v}, done)
		n++
		bytesIn += int64(len(v))
		if n%200000 == 0 {
			select {
			case err := <-firstErr:
				return n, bytesIn, fmt.Errorf("bench: produce: %w", err)
			default:
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return n, bytesIn, fmt.Errorf("bench: produce: %w", err)
	}
	select {
	case err := <-firstErr:
		return n, bytesIn, fmt.Errorf("bench: produce: %w", err)
	default:
	}
	if n == 0 {
		return 0, 0, errors.New("bench: no orders in the input")
	}
	return n, bytesIn, nil
}

// yardstickOut maps the canonical order out to the yardstick's record,
// field for field: the inbound mapping did the yardstick's work, this
// only leaves out what the hub adds (the hub id) and writes the amounts
// as JSON numbers as the yardstick's records have them.
const yardstickOut = `name: yardstick-order-out
description: canonical order -> the yardstick's mapped record, field for field
system: erp
entity: order
direction: out
fields:
  external_id: external_id
  order_no: order_no
  customer:
    fields:
      name: customer.name
      email: customer.email
      phone: customer.phone
  order_date: order_date
  currency: currency
  total: {from: total, type: number}
  status: status
  lines:
    each: lines
    fields:
      sku: sku
      qty: {from: qty, type: number}
      unit_price: {from: unit_price, type: number}
      amount: {from: amount, type: number}
  line_count: line_count
`

func writeKafkaConfig(dir, addr string, inMap []byte, o KafkaOptions) (string, error) {
	for name, body := range map[string][]byte{"order-in.yaml": inMap, "order-out.yaml": []byte(yardstickOut)} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			return "", err
		}
	}
	state := o.StateDSN
	if state == "" {
		state = "sqlite:" + filepath.Join(dir, "hub.db")
	}
	batch := func(n int) string {
		if n > 0 {
			return "\n    batch_size: " + strconv.Itoa(n)
		}
		return ""
	}
	sinkLine, entityOpts := unstamped(o.NoStamps)
	cfg := fmt.Sprintf(`# written by hub bench kafka
hub:
  data_dir: %[1]s
log:
  level: warn
trace:
  enabled: %[10]t
http:
  addr: %[2]s
kafka:
  brokers: [%[3]s]
  topic_prefix: bench
  partitions: %[4]d
state:
  dsn: %[5]q
connectors:
  shop:
    kind: kafka
    brokers: [%[3]s]
    entities:
      order: {topic: %[6]s, key_field: id, version_field: updated_at}
  erp:
    kind: kafka
    brokers: [%[3]s]
    entities:
      order: {topic: %[7]s, key_field: external_id}
sources:
  shop-orders:
    connector: shop
    entity: order
    mapping: order-in.yaml
    interval: 50ms%[8]s
sinks:
  erp:
    connector: erp%[9]s%[11]s
    entities:
      order: {mapping: order-out.yaml%[12]s}
`, filepath.Join(dir, "data"), freeAddr(), addr, o.Partitions, state, kafkaInTopic, kafkaOutTopic,
		batch(o.SourceBatch), batch(o.SinkBatch), !o.NoTrace, sinkLine, entityOpts)
	p := filepath.Join(dir, "hub.yaml")
	return p, os.WriteFile(p, []byte(cfg), 0o600)
}

// unstamped is what the config says of a sink without stamps when off
// is true: its `stamps: false` line, and its entity's `deletes: ignore`
// (the output topic is keyed by a field).
func unstamped(off bool) (sink, entity string) {
	if !off {
		return "", ""
	}
	return "\n    stamps: false", ", deletes: ignore"
}

// verifyKafkaOutput reads the output topic from the start and checks it
// against the input mapped by the yardstick's mapping directly (the
// mapping engine alone, no pipeline): every order exactly once under its
// external id, each value byte for byte the directly mapped record. With
// the generator's seed 38 and the golden file at hand, the first three
// are also compared with the yardstick's hand-worked records.
func verifyKafkaOutput(ctx context.Context, addr string, o KafkaOptions, plan *mapping.Plan, n int, res *KafkaResult, start time.Time) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(kafkaOutTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return fmt.Errorf("bench: kafka client: %w", err)
	}
	defer cl.Close()
	seed := maphash.MakeSeed()
	type seen struct {
		hash   uint64 // of the value
		part   int32
		offset int64
	}
	got := make(map[string]seen, n) // by external id
	var problems []string
	problem := func(format string, args ...any) {
		if len(problems) < 5 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	dups, read := 0, 0
	var dupNotes []string
	var lastFirst time.Time // produce time of the last order's first copy
	for len(got) < n {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if fs.NumRecords() == 0 {
			return fmt.Errorf("bench: read %d records of %s back, %d distinct orders of %d, then nothing for 30s", read, kafkaOutTopic, len(got), n)
		}
		for _, fe := range fs.Errors() {
			return fmt.Errorf("bench: read %s: %w", kafkaOutTopic, fe.Err)
		}
		fs.EachRecord(func(m *kgo.Record) {
			read++
			k := string(m.Key)
			if o.OnOutput != nil {
				o.OnOutput(m.Key, m.Value)
			}
			h := maphash.Bytes(seed, m.Value)
			if was, ok := got[k]; ok {
				dups++
				if len(dupNotes) < 3 {
					dupNotes = append(dupNotes, fmt.Sprintf("%s at partition %d offset %d and offset %d (%s)",
						k, was.part, was.offset, m.Offset, map[bool]string{true: "same value", false: "another value"}[was.hash == h]))
				}
				if was.hash != h {
					problem("%s arrived twice with different values", k)
				}
			} else if m.Timestamp.After(lastFirst) {
				lastFirst = m.Timestamp
			}
			got[k] = seen{h, m.Partition, m.Offset}
		})
	}

	if d := lastFirst.Sub(start); d > res.Elapsed {
		res.Elapsed = d
	}

	var golden [][]byte
	if o.Input == "" && o.Seed == 38 && o.Golden != "" {
		if b, err := os.ReadFile(o.Golden); err == nil {
			golden = bytes.Split(bytes.TrimSpace(b), []byte("\n"))
		}
	}
	src, err := openOrders(o)
	if err != nil {
		return err
	}
	defer src.close()
	dec := plan.NewDecoder()
	var out []byte
	missing, wrong, goldenOK := 0, 0, 0
	for i := 0; ; i++ {
		b, err := src.next()
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		rec, err := dec.DecodeTransient(b)
		if err == nil {
			out, err = plan.AppendApply(ctx, out[:0], rec, nil)
		}
		if err != nil {
			return fmt.Errorf("bench: map order %d directly: %w", i+1, err)
		}
		if i < len(golden) {
			if !bytes.Equal(out, golden[i]) {
				return fmt.Errorf("bench: order %d mapped directly differs from the yardstick's golden record:\n got %s\nwant %s", i+1, out, golden[i])
			}
			goldenOK++
		}
		key := mappedExternalID(out)
		h, ok := got[key]
		switch {
		case !ok:
			missing++
			problem("%s is not on the output topic", key)
		case h.hash != maphash.Bytes(seed, out):
			wrong++
			problem("%s differs from the directly mapped record %s", key, out)
		default:
			res.Checked++
		}
		delete(got, key)
	}
	extra := len(got)
	for k := range got {
		problem("%s is on the output topic but not in the input", k)
		break
	}
	if missing+wrong+extra > 0 || len(problems) > 0 {
		return fmt.Errorf("bench: output check: %d missing, %d differing, %d unexpected, %d written twice: %s",
			missing, wrong, extra, dups, strings.Join(problems, "; "))
	}
	res.Duplicates, res.Golden = dups, goldenOK
	s := fmt.Sprintf("%d records, each order exactly once, each byte for byte the yardstick mapping's record", read)
	if dups > 0 {
		s = fmt.Sprintf("%d records: each of the %d orders, each byte for byte the yardstick mapping's record, %d of them twice (at-least-once: %s)",
			read, read-dups, dups, strings.Join(dupNotes, "; "))
	}
	if goldenOK > 0 {
		s += fmt.Sprintf("; the first %d equal the yardstick's golden records", goldenOK)
	}
	res.Verified = s
	return nil
}

// mappedExternalID is the external_id of a mapped record (its first
// member, as the yardstick mapping writes it).
func mappedExternalID(b []byte) string {
	const p = `{"external_id":"`
	if !bytes.HasPrefix(b, []byte(p)) {
		return ""
	}
	rest := b[len(p):]
	if i := bytes.IndexByte(rest, '"'); i >= 0 {
		return string(rest[:i])
	}
	return ""
}
