package bench

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/sqlstore"
	"github.com/crmhub/hub/pipeline/node"
)

// TestSyncBenchSmall runs `hub bench sync` small, once on a backlog and
// once at a steady rate. RunSync itself fails unless every order's lines
// reached the ERP; here the figures it reports must be consistent: the
// steady latency covers the orders after the warm-up only, and none of
// them is slower than the slowest order of the run.
func TestSyncBenchSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a hub")
	}
	dsn := postgresDSN(t)
	reg := connectors.NewRegistry()
	if err := sqlstore.Register(reg); err != nil {
		t.Fatal(err)
	}
	t.Run("backlog", func(t *testing.T) {
		res, err := RunSync(context.Background(), Options{PostgresDSN: dsn, Orders: 1000, Kinds: reg, SourceBatch: 500, SinkBatch: 500}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(res)
		if res.Orders != 1000 || res.OrdersPerSec <= 0 || res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
			t.Errorf("inconsistent result: %+v", res)
		}
		if res.Steady.Orders != 0 {
			t.Errorf("a backlog run reported a steady latency: %+v", res.Steady)
		}
	})
	t.Run("rate", func(t *testing.T) {
		const orders, rate = 900, 300 // 3 s of inserts
		res, err := RunSync(context.Background(), Options{PostgresDSN: dsn, Orders: orders, Rate: rate, Warmup: time.Second, Kinds: reg}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(res)
		// About the last two seconds' orders; the inserts run on a 50 ms tick.
		if s := res.Steady; s.Orders < orders/2 || s.Orders > orders*5/6 {
			t.Errorf("steady latency over %d orders, want those after the first second of %d at %d/s", s.Orders, orders, rate)
		}
		if s := res.Steady; s.P50 <= 0 || s.P99 < s.P50 || s.Max < s.P99 || s.Max > res.Max {
			t.Errorf("inconsistent steady latency %+v (all orders: max %s)", s, res.Max)
		}
	})
}

// The bench's config is one `hub validate` passes without a warning, with
// either capture: a cursor sees no deletes, and the sink says so.
func TestSyncBenchConfigWithoutWarnings(t *testing.T) {
	reg := connectors.NewRegistry()
	if err := sqlstore.Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, capture := range []string{"cursor", "outbox"} {
		t.Run(capture, func(t *testing.T) {
			o := Options{PostgresDSN: "postgres://bench@127.0.0.1:5432/bench", Capture: capture}
			path, err := writeConfig(t.TempDir(), o, "bench_crm", "bench_erp")
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := node.Build(cfg, reg)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Warnings) > 0 {
				t.Errorf("capture %s: %d warning(s):\n%v", capture, len(plan.Warnings), plan.Warnings.Error())
			}
		})
	}
}
