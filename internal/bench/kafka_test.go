package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/kafka"
	"github.com/crmhub/hub/store"
)

// TestKafkaBenchMapsEveryOrderOnce runs `hub bench kafka` small: every
// order must arrive on the output topic exactly once, byte for byte the
// yardstick mapping's record (the bench's own check), and, checked here
// independently of the mapping engine, with the values the yardstick
// prescribes: its external id and order number, its line count and total,
// each line's amount; the first three equal the golden records.
func TestKafkaBenchMapsEveryOrderOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a hub")
	}
	t.Run("stamps", func(t *testing.T) { kafkaBenchMapsEveryOrderOnce(t, false) })
	// stamps: false: the same orders on the output topic, with no
	// crosswalk row of them in the output's system.
	t.Run("no stamps", func(t *testing.T) { kafkaBenchMapsEveryOrderOnce(t, true) })
}

func kafkaBenchMapsEveryOrderOnce(t *testing.T, noStamps bool) {
	reg := connectors.NewRegistry()
	if err := kafka.Register(reg); err != nil {
		t.Fatal(err)
	}
	const orders = 2000
	type out struct {
		ExternalID string `json:"external_id"`
		OrderNo    string `json:"order_no"`
		Total      json.Number
		Lines      []struct {
			Qty       json.Number `json:"qty"`
			UnitPrice json.Number `json:"unit_price"`
			Amount    json.Number `json:"amount"`
		} `json:"lines"`
		LineCount int `json:"line_count"`
	}
	var mu sync.Mutex
	got := map[string][][]byte{}
	o := KafkaOptions{
		Orders: orders, Partitions: 4, Seed: 38, Kinds: reg, NoStamps: noStamps,
		StateDSN: "sqlite:" + filepath.Join(t.TempDir(), "hub.db"),
		Mapping:  filepath.Join("..", "..", "configs", "mappings", "bench", "shop-order-yardstick.yaml"),
		Golden:   filepath.Join("..", "..", "mapping", "testdata", "yardstick", "expected-3.ndjson"),
		OnOutput: func(key, value []byte) {
			mu.Lock()
			got[string(key)] = append(got[string(key)], bytes.Clone(value))
			mu.Unlock()
		},
	}
	res, err := RunKafka(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + res.String())
	if res.Records != orders || res.Checked != orders || res.Golden != 3 {
		t.Errorf("records %d, checked %d, golden %d; want %d, %d, 3", res.Records, res.Checked, res.Golden, orders, orders)
	}
	// The sink delivers at least once: a batch delivered again after a
	// consumer-group rebalance (the sink's workers join one by one at
	// the start) is a second, identical message of its keys. The bench
	// reports them; here they must be identical copies.
	dups := 0

	golden, err := os.ReadFile(o.Golden)
	if err != nil {
		t.Fatal(err)
	}
	g := NewOrderGen(38)
	for i := range orders {
		b, id := g.Next()
		var in struct {
			Name       string `json:"name"`
			TotalPrice string `json:"total_price"`
			Items      []struct {
				Quantity int    `json:"quantity"`
				Price    string `json:"price"`
			} `json:"line_items"`
		}
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatal(err)
		}
		key := "shop:" + strconv.FormatInt(id, 10)
		vs := got[key]
		if len(vs) == 0 {
			t.Errorf("order %s is not on the output topic", key)
			continue
		}
		for _, v := range vs[1:] {
			dups++
			if !bytes.Equal(v, vs[0]) {
				t.Errorf("order %s arrived twice, with different values:\n%s\n%s", key, vs[0], v)
			}
		}
		if i < 3 {
			if want := bytes.Split(golden, []byte("\n"))[i]; !bytes.Equal(vs[0], want) {
				t.Errorf("order %s:\n got %s\nwant %s", key, vs[0], want)
			}
		}
		var v out
		d := json.NewDecoder(bytes.NewReader(vs[0]))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			t.Fatalf("order %s: %v", key, err)
		}
		if v.ExternalID != key || v.OrderNo != strings.TrimPrefix(in.Name, "#") || v.Total.String() != in.TotalPrice ||
			v.LineCount != len(in.Items) || len(v.Lines) != len(in.Items) {
			t.Errorf("order %s: %s", key, vs[0])
			continue
		}
		for k, l := range v.Lines {
			cents := func(s string) int64 {
				f := strings.SplitN(s+".00", ".", 3)
				w, _ := strconv.ParseInt(f[0], 10, 64)
				c, _ := strconv.ParseInt((f[1] + "00")[:2], 10, 64)
				return w*100 + c
			}
			price := cents(in.Items[k].Price)
			if l.Qty.String() != strconv.Itoa(in.Items[k].Quantity) || cents(l.UnitPrice.String()) != price ||
				cents(l.Amount.String()) != price*int64(in.Items[k].Quantity) {
				t.Errorf("order %s line %d: %+v, input %+v", key, k, l, in.Items[k])
			}
		}
	}
	if len(got) != orders {
		t.Errorf("%d keys on the output topic, want %d", len(got), orders)
	}
	stampedOrders(t, o.StateDSN, orders, !noStamps)
	if dups != res.Duplicates {
		t.Errorf("%d second copies seen here, the bench counted %d", dups, res.Duplicates)
	}
	if dups > 0 {
		t.Logf("%d orders arrived twice (identical copies; at-least-once delivery)", dups)
	}
}

// stampedOrders checks the crosswalk after a run: every order has its hub
// id from the shop, and its id on the output topic (system erp) is
// recorded exactly when the sink has stamps.
func stampedOrders(t *testing.T, dsn string, orders int, stamped bool) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := NewOrderGen(38)
	for range orders {
		_, id := g.Next()
		hub, ok, err := st.LookupHubID(ctx, "order", "shop", strconv.FormatInt(id, 10))
		if err != nil || !ok {
			t.Fatalf("order %d has no hub id (%v)", id, err)
		}
		ext, _, ok, err := st.LookupExternal(ctx, "order", hub, "erp")
		if err != nil || ok != stamped || (ok && ext != "shop:"+strconv.FormatInt(id, 10)) {
			t.Fatalf("order %d: erp id %q recorded %v (err %v), want recorded %v", id, ext, ok, err, stamped)
		}
	}
}
