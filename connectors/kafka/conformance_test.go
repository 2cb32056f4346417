package kafka

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/connectortest"
	"github.com/crmhub/hub/mapping"
)

// TestConformance runs the connector suite against an in-process
// Kafka-protocol cluster (kfake): each entity a topic of 3 partitions,
// keyed by the value's id. What the target holds of a key is its newest
// message, as a compacted topic keeps it; a broken system is the cluster
// gone (it comes back on the same port, empty).
func TestConformance(t *testing.T) {
	f := &kafkaFixture{}
	connectortest.Run(t, connectortest.Harness{
		New: f.start, Sample: f.sample, Lookup: f.lookup, Count: f.count, Refused: f.refused, Remove: f.remove,
		Insert: f.insert, Update: f.update, Delete: f.delete,
		Break: f.stop,
	})
}

var topics = map[string]string{"customer": "crm.customers", "order": "crm.orders"}

type kafkaFixture struct {
	mu      sync.Mutex
	cluster *kfake.Cluster
	port    int
	seq     int
}

func newCluster(t *testing.T, port int) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, topics["customer"], topics["order"])}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *kafkaFixture) start(t *testing.T) connectors.Connector {
	f.cluster = newCluster(t, 0)
	t.Cleanup(func() { f.current().Close() })
	addr := f.cluster.ListenAddrs()[0]
	_, port, _ := net.SplitHostPort(addr)
	f.port, _ = strconv.Atoi(port)
	cfg := Config{Brokers: []string{addr}, Timeout: 5 * time.Second, Entities: map[string]EntityConfig{}}
	for e, topic := range topics {
		cfg.Entities[e] = EntityConfig{Topic: topic, Start: "earliest", KeyField: "id"}
	}
	c, err := New("events", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (f *kafkaFixture) current() *kfake.Cluster {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cluster
}

func doc(id string, v int) mapping.Value {
	return mapping.ObjectValue(
		mapping.Member{Key: "id", Value: mapping.StringValue(id)},
		mapping.Member{Key: "name", Value: mapping.StringValue(fmt.Sprintf("v%d", v))})
}

func (f *kafkaFixture) sample(_ *testing.T, entity string, i, v int) connectortest.Sample {
	id := fmt.Sprintf("%s-%d", entity, i)
	return connectortest.Sample{Mark: fmt.Sprintf("v%d", v),
		Rec: connectors.WriteRecord{Entity: entity, HubID: "hub-" + id, Data: doc(id, v)}}
}

func (f *kafkaFixture) refused(_ *testing.T, entity string) connectors.WriteRecord {
	return connectors.WriteRecord{Entity: entity, HubID: "hub-refused", Op: connectors.OpUpsert,
		Data: mapping.ObjectValue(mapping.Member{Key: "name", Value: mapping.StringValue("no id")})}
}

// newest reads the whole topic and returns the newest message of each key.
func (f *kafkaFixture) newest(t *testing.T, entity string) map[string]*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.current().ListenAddrs()...),
		kgo.ConsumeTopics(topics[entity]), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends := endOffsets(ctx, t, cl, topics[entity])
	out := map[string]*kgo.Record{}
	got := offsets{}
	for !reached(got, ends) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s back: %v (at %v of %v)", topics[entity], ctx.Err(), got, ends)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[string(r.Key)] = r
			got[r.Partition] = r.Offset + 1
		})
	}
	return out
}

func endOffsets(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) offsets {
	t.Helper()
	c := &Conn{name: "fixture", cfg: Config{Timeout: 5 * time.Second}, admin: cl}
	parts, err := c.partitions(ctx, EntityConfig{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	ends, err := listOffsets(ctx, cl, topic, parts, latest)
	if err != nil {
		t.Fatal(err)
	}
	return ends
}

func reached(got, ends offsets) bool {
	for p, end := range ends {
		if end > 0 && got[p] < end {
			return false
		}
	}
	return true
}

func (f *kafkaFixture) lookup(t *testing.T, entity, ext string) connectortest.State {
	r, ok := f.newest(t, entity)[ext]
	if !ok || r.Value == nil {
		return connectortest.State{}
	}
	v, err := mapping.ParseJSON(r.Value)
	if err != nil {
		t.Fatalf("message %s: %v", ext, err)
	}
	return connectortest.State{Found: true, Mark: v.Get("name").Str()}
}

// count is the keys the topic holds, deleted ones included: a second
// message of one key is a new version, not a duplicate.
func (f *kafkaFixture) count(t *testing.T, entity string) int { return len(f.newest(t, entity)) }

func (f *kafkaFixture) produce(t *testing.T, entity, key string, value []byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.current().ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topics[entity], Key: []byte(key), Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func (f *kafkaFixture) remove(t *testing.T, entity, ext string) { f.produce(t, entity, ext, nil) }

func (f *kafkaFixture) insert(t *testing.T, entity string, i int) string {
	id := fmt.Sprintf("ins-%s-%d", entity, i)
	f.produce(t, entity, id, mapping.AppendJSON(nil, doc(id, 1)))
	return id
}

func (f *kafkaFixture) update(t *testing.T, entity, key string) bool {
	f.mu.Lock()
	f.seq++
	v := f.seq + 1
	f.mu.Unlock()
	f.produce(t, entity, key, mapping.AppendJSON(nil, doc(key, v)))
	return true
}

func (f *kafkaFixture) delete(t *testing.T, entity, key string) bool {
	f.produce(t, entity, key, nil)
	return true
}

// stop closes the cluster; the restore starts an empty one on its port.
func (f *kafkaFixture) stop(t *testing.T) func() {
	f.current().Close()
	return func() {
		c := newCluster(t, f.port)
		f.mu.Lock()
		f.cluster = c
		f.mu.Unlock()
	}
}
