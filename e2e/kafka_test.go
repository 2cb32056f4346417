package e2e

// Kafka to a mapping to Kafka: a shop's orders and customers arrive on
// topics of a Kafka cluster (here the hub's own embedded broker, reached
// as any cluster is), go through the shop mappings into the hub's
// canonical topics and out through the analytics mapping to a third
// topic. The cluster is the hub's broker run as a process of its own, as
// an existing Kafka would be. A malformed message is dead-lettered alone,
// and a kill -9 of the hub half way loses nothing.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/crmhub/hub/internal/shoptest"
)

var kafkaConfig = template.Must(template.New("hub.yaml").Parse(`# written by the e2e kafka test
hub: {data_dir: {{.Dir}}/data, shutdown_timeout: 20s}
log: {level: info, format: text}
http: {addr: {{.HTTPAddr}}}
kafka:
  topic_prefix: kx
  partitions: 3
  brokers: [{{.KafkaAddr}}]
state: {dsn: 'sqlite:{{.Dir}}/data/hub.db'}
connectors:
  events:
    kind: kafka
    brokers: [{{.KafkaAddr}}]
    entities:
      customer: {topic: shop.customers, key_field: id, version_field: updated_at, create: true}
      order: {topic: shop.orders, key_field: id, version_field: updated_at, create: true, group: e2e-hub}
  analytics:
    kind: kafka
    brokers: [{{.KafkaAddr}}]
    entities:
      order: {topic: analytics.orders, key_field: order_no, create: true, headers: {source: e2e}}
sources:
  shop-customers: {connector: events, entity: customer, interval: 100ms, mapping: mappings/shop-customer-in.yaml}
  shop-orders:
    connector: events
    entity: order
    interval: 100ms
    mapping: mappings/shop-order-in.yaml
    refs: {customer: customer.id}
sinks:
  analytics:
    connector: analytics
    entities:
      order: {mapping: mappings/analytics-order-out.yaml}
`))

type kafkaRig struct {
	t                             *testing.T
	dir, cfg, httpAddr, kafkaAddr string
	hub                           *proc
}

func newKafkaRig(t *testing.T) *kafkaRig {
	r := &kafkaRig{t: t, dir: t.TempDir(), httpAddr: freeAddr(t)}
	r.kafkaAddr = freeAddr(t)
	broker := startProc(t, "broker", "", nil, "broker", "--addr", r.kafkaAddr, "--data-dir", filepath.Join(r.dir, "kafka"))
	waitListen(t, broker, r.kafkaAddr, 30*time.Second)
	if err := os.MkdirAll(filepath.Join(r.dir, "mappings"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"shop-order-in.yaml", "shop-customer-in.yaml", "analytics-order-out.yaml"} {
		copyFile(t, filepath.Join("..", "configs", "mappings", m), filepath.Join(r.dir, "mappings", m))
	}
	var b bytes.Buffer
	if err := kafkaConfig.Execute(&b, map[string]any{"Dir": r.dir, "HTTPAddr": r.httpAddr, "KafkaAddr": r.kafkaAddr}); err != nil {
		t.Fatal(err)
	}
	r.cfg = filepath.Join(r.dir, "hub.yaml")
	if err := os.WriteFile(r.cfg, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *kafkaRig) start() {
	r.t.Helper()
	r.hub = startProc(r.t, "hub", r.dir, nil, "run", "-c", r.cfg)
	waitHTTP(r.t, r.hub, "http://"+r.httpAddr+"/readyz", 200, time.Minute)
}

func (r *kafkaRig) client() *kgo.Client {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.kafkaAddr))
	if err != nil {
		r.t.Fatal(err)
	}
	return cl
}

func (r *kafkaRig) produce(topic string, key string, value []byte) {
	r.t.Helper()
	cl := r.client()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value}).FirstErr(); err != nil {
		r.t.Fatalf("produce to %s: %v", topic, err)
	}
}

// analytics reads analytics.orders from the start and returns the newest
// value of each key and how many messages it holds.
func (r *kafkaRig) analytics() (map[string]map[string]any, int) {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.kafkaAddr), kgo.ConsumeTopics("analytics.orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	out, n := map[string]map[string]any{}, 0
	quiet := 0
	for quiet < 3 { // three empty polls in a row: the end
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 {
			quiet++
			continue
		}
		quiet = 0
		fs.EachRecord(func(m *kgo.Record) {
			n++
			var v map[string]any
			if err := json.Unmarshal(m.Value, &v); err != nil {
				r.t.Errorf("analytics message %s: %v", m.Key, err)
				return
			}
			if h := headerOf(m, "source"); h != "e2e" {
				r.t.Errorf("analytics message %s: header source %q", m.Key, h)
			}
			out[string(m.Key)] = v
		})
	}
	return out, n
}

func headerOf(m *kgo.Record, k string) string {
	for _, h := range m.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// TestKafkaMapKafka: 300 orders of 50 buyers on a shop's topics reach the
// analytics topic mapped, each order once as its newest version, across a
// kill -9 of the hub half way; a message that is not JSON is dead-lettered
// with its partition and offset and stops nothing.
func TestKafkaMapKafka(t *testing.T) {
	t.Parallel()
	shop := shoptest.NewShopify()
	defer shop.Close()
	r := newKafkaRig(t)
	r.start()
	const orders, buyers = 300, 50
	want := map[string]string{} // order_no -> total
	ids := make([]int64, 0, orders)
	for i := range orders {
		b := shoptest.Buyer{First: "Buyer", Last: strconv.Itoa(i % buyers), Email: fmt.Sprintf("buyer%d@example.com", i%buyers)}
		ids = append(ids, shop.CreateOrder(b, shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1 + i%3, Price: "10.00"}))
	}
	send := func(from, to int) {
		for _, id := range ids[from:to] {
			var o struct {
				Name     string `json:"name"`
				Total    string `json:"total_price"`
				Customer struct {
					ID int64 `json:"id"`
				} `json:"customer"`
			}
			body := shop.OrderJSON(id)
			if err := json.Unmarshal(body, &o); err != nil {
				t.Fatal(err)
			}
			r.produce("shop.customers", strconv.FormatInt(o.Customer.ID, 10), shop.CustomerJSON(o.Customer.ID))
			r.produce("shop.orders", strconv.FormatInt(id, 10), body)
			want[strings.TrimPrefix(o.Name, "#")] = o.Total
		}
	}
	send(0, orders/2)
	r.produce("shop.orders", "broken", []byte(`{"id": 1, "name": "#1" truncated`))
	waitFor(t, "half the orders in analytics", 2*time.Minute, 500*time.Millisecond, []*proc{r.hub}, func() (bool, string) {
		got, _ := r.analytics()
		return len(got) >= orders/4, fmt.Sprintf("%d orders", len(got))
	})
	send(orders/2, orders*3/4)
	r.hub.kill(t) // as kill -9 would
	send(orders*3/4, orders)
	r.start()
	shop.UpdateOrder(ids[0], func(o map[string]any) { o["total_price"] = "99.90" })
	r.produce("shop.orders", strconv.FormatInt(ids[0], 10), shop.OrderJSON(ids[0]))
	want["1001"] = "99.90"

	var got map[string]map[string]any
	var msgs int
	waitFor(t, "every order in analytics", 3*time.Minute, time.Second, []*proc{r.hub}, func() (bool, string) {
		got, msgs = r.analytics()
		return len(got) == orders && got["1001"]["total"] == "99.90", fmt.Sprintf("%d orders of %d; 1001: %v", len(got), orders, got["1001"])
	})
	for no, total := range want {
		v, ok := got[no]
		if !ok {
			t.Errorf("order %s is not in analytics.orders", no)
			continue
		}
		if v["total"] != total || !strings.HasPrefix(fmt.Sprint(v["customer_email"]), "buyer") || v["line_count"] != float64(1) {
			t.Errorf("order %s: %v, want total %s", no, v, total)
		}
	}
	t.Logf("%d messages for %d orders (a re-sent batch after the kill is a second message of a key)", msgs, len(got))

	dl := listDeadLetters(t, r.dir, r.cfg, "open")
	if dl.Total != 1 || !strings.Contains(dl.Items[0].Error, "offset") || !strings.Contains(dl.Items[0].Error, "not a JSON object") {
		t.Fatalf("dead letters: %+v, want the one malformed message", dl)
	}
}
