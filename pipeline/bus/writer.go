package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// Message is one Kafka record. Writers use Key, Value, Headers and Time (a
// zero Time is set by the client); readers fill every field.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	// HighWaterMark is the partition's end offset when the record was
	// fetched.
	HighWaterMark int64
	Key           []byte
	Value         []byte
	Headers       []Header
	Time          time.Time

	gen *generation // the group generation it was fetched in; nil for a partition reader's
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Writer writes records to one topic. Records are partitioned by a murmur2
// hash of the key, the same function as the Java client's default
// partitioner, so a key maps to the same partition whichever client wrote
// it, and records with the same key keep their order. Safe for concurrent
// use; concurrent Writes share batches.
//
// A write of at most smallWrite records (a webhook's, a trickle's) goes
// through a second client whose batches hold at most that many: kafka-go
// allocates every batch at its full BatchSize, which for a few records
// at a time made most of a webhook's garbage. Each Write goes whole to
// one of the two and waits for its acknowledgement, so a key's records
// keep their order.
type Writer struct {
	bus   *Bus
	topic string
	w     *kafka.Writer
	small *kafka.Writer
}

// smallWrite is the most records a Write sends through the small client.
const smallWrite = 32

// NewWriter returns a writer for topic. It needs RequiredAcks all (every
// in-sync replica), retries retriable errors WriteAttempts times and is
// closed by Bus.Close if not before.
func (b *Bus) NewWriter(topic string) *Writer {
	w := &Writer{bus: b, topic: topic, w: b.kafkaWriter(topic, b.cfg.BatchSize)}
	w.small = b.kafkaWriter(topic, min(smallWrite, b.cfg.BatchSize))
	if !b.track(w, nil) {
		_ = w.w.Close() // bus closed: every Write fails
		_ = w.small.Close()
	}
	return w
}

// kafkaWriter is a kafka-go client for topic whose batches hold at most
// batchSize records.
func (b *Bus) kafkaWriter(topic string, batchSize int) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   b.addr,
		Topic:                  topic,
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		MaxAttempts:            b.cfg.WriteAttempts,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		BatchSize:              batchSize,
		BatchBytes:             b.cfg.BatchBytes,
		BatchTimeout:           b.cfg.BatchTimeout,
		Transport:              b.transport,
		AllowAutoTopicCreation: b.cfg.AllowAutoTopicCreation,
		ErrorLogger:            b.kafkaLogger("kafka write", "topic", topic),
	}
}

// Topic is the topic the writer writes to.
func (w *Writer) Topic() string { return w.topic }

// Write sends msgs and blocks until Kafka acknowledged all of them or an
// error ends the attempt. On error some records may have been written
// (possibly before ctx ended): the caller retries the whole call, and
// consumers must tolerate the duplicates (at-least-once).
func (w *Writer) Write(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	kmsgs := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		kmsgs[i] = kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time}
		if len(m.Headers) > 0 {
			hs := make([]kafka.Header, len(m.Headers))
			for j, h := range m.Headers {
				hs[j] = kafka.Header{Key: h.Key, Value: h.Value}
			}
			kmsgs[i].Headers = hs
		}
	}
	kw := w.w
	if len(kmsgs) <= smallWrite {
		kw = w.small
	}
	start := time.Now()
	err := kw.WriteMessages(ctx, kmsgs...)
	mt := w.bus.metrics
	mt.writeLatency.WithLabelValues(w.topic).Observe(time.Since(start).Seconds())
	if err == nil {
		mt.written.WithLabelValues(w.topic).Add(float64(len(msgs)))
		return nil
	}
	failed := len(msgs)
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		failed = werrs.Count()
		for _, e := range werrs {
			if e != nil {
				err = e
				break
			}
		}
	}
	if ok := len(msgs) - failed; ok > 0 {
		mt.written.WithLabelValues(w.topic).Add(float64(ok))
	}
	mt.writeErrors.WithLabelValues(w.topic).Add(float64(failed))
	if errors.Is(err, io.ErrClosedPipe) {
		err = ErrClosed
	}
	return fmt.Errorf("bus: write %d of %d records to %s: %w", failed, len(msgs), w.topic, err)
}

// ErrClosed is returned by a Writer used after Close.
var ErrClosed = errors.New("writer closed")

// Close flushes pending batches and closes the writer. It is idempotent.
func (w *Writer) Close() error {
	w.bus.untrack(w, nil)
	err := errors.Join(w.w.Close(), w.small.Close())
	if err != nil {
		return fmt.Errorf("bus: close writer %s: %w", w.topic, err)
	}
	return nil
}
