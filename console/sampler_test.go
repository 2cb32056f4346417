package console

import (
	"context"
	"strings"
	"testing"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/store"
	"github.com/crmhub/hub/store/storetest"
)

// TestSamplerCountsPerConnector: records in (sources) and out (sinks) and
// dead letters filed are counted per connector from how the totals move
// between samples; the first sample only sets the base.
func TestSamplerCountsPerConnector(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, out := int64(100), int64(90)
	status := func(context.Context) (pipeline.NodeStatus, error) {
		return pipeline.NodeStatus{Runners: []pipeline.RunnerStatus{
			{Runner: "source crm-orders", Kind: "source", Name: "crm-orders", Connector: "crm", Records: in},
			{Runner: "sink erp/order", Kind: "sink", Name: "erp", Connector: "erp", Records: out},
		}}, nil
	}
	s := &Sampler{Status: status, Store: st}
	s.sample(ctx) // the base
	in, out = 130, 110
	for _, key := range []string{"7", "8"} {
		if _, err := st.AddDeadLetter(ctx, store.DeadLetter{Connector: "crm-orders", Entity: "order", RecordKey: key,
			Stage: pipeline.StageSourceMap, Kind: store.KindPermanent, Error: "bad", Attempts: 1}); err != nil {
			t.Fatal(err)
		}
	}
	s.sample(ctx)
	_, gotIn, gotOut, fails := s.series()
	if sum(gotIn["crm"]) != 30 || sum(gotOut["erp"]) != 20 || sum(gotIn["erp"]) != 0 || sum(gotOut["crm"]) != 0 {
		t.Errorf("in %v out %v, want crm 30 in and erp 20 out", gotIn, gotOut)
	}
	// The first sample saw no dead letters, so both count.
	if sum(fails["crm"]) != 2 {
		t.Errorf("dead letters per connector %v, want crm 2", fails)
	}
	if svg := string(chart([]int64{0, 30}, []int64{0, 20}, []int64{0, 2})); !strings.Contains(svg, "<svg") || !strings.Contains(svg, "peak 30/min") {
		t.Errorf("chart: %s", svg)
	}
}
