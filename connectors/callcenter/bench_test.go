package callcenter

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/server"
)

// BenchmarkScreenpopHandler: one GET /api/v1/screenpop through the hub's
// server (metrics, token check, mux) on 100,000 customers with 3 orders,
// without the network: the hub's own time per lookup. The loopback
// figures with wrk come from `hub bench screenpop` (docs/benchmarks.md).
func BenchmarkScreenpopHandler(b *testing.B) {
	for _, route := range []string{"/api/v1/screenpop?phone=", "/api/v1/callerid?number="} {
		b.Run(route[8:17], func(b *testing.B) { benchHandler(b, route) })
	}
}

func benchHandler(b *testing.B, route string) {
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		b.Fatal(err)
	}
	conn, err := reg.New(KindScreenpop, connectors.Params{Name: "screenpop", Decode: func(into any) error {
		into.(*ScreenpopConfig).DefaultRegion = "DE"
		return nil
	}})
	if err != nil {
		b.Fatal(err)
	}
	v := conn.(*View)
	const customers = 100000
	batch := make([]connectors.Change, 0, 4000)
	s := mapping.StringValue
	for i := 0; i < customers; i++ {
		hub := fmt.Sprintf("01934f2e-0001-7000-8000-%012x", i)
		batch = append(batch, connectors.Change{Entity: "customer", HubID: hub, Op: connectors.OpUpsert, Origin: "crm", SourceID: fmt.Sprint(i),
			Data: mapping.ObjectValue(mapping.Member{Key: "name", Value: s(fmt.Sprint("Kunde ", i, " GmbH"))},
				mapping.Member{Key: "email", Value: s(fmt.Sprintf("kunde%d@example.com", i))},
				mapping.Member{Key: "phone", Value: s(fmt.Sprintf("+4930%d", 20000000+i))})})
		for j := 0; j < 3; j++ {
			batch = append(batch, connectors.Change{Entity: "order", HubID: fmt.Sprintf("01934f2e-0002-7000-8000-%012x", i*8+j), Op: connectors.OpUpsert,
				Refs: map[string]string{"customer": hub}, Data: mapping.ObjectValue(
					mapping.Member{Key: "order_no", Value: s(fmt.Sprintf("SO-%d-%d", i, j))},
					mapping.Member{Key: "order_date", Value: s(fmt.Sprintf("2026-0%d-15", j+1))},
					mapping.Member{Key: "total", Value: s("149.90")}, mapping.Member{Key: "currency", Value: s("EUR")},
					mapping.Member{Key: "status", Value: s("OPEN")})})
		}
		if len(batch) >= 4000 {
			v.index.Apply(batch, nil)
			batch = batch[:0]
		}
	}
	v.index.Apply(batch, nil)
	srv := server.New(server.Config{Tokens: []server.Token{{Name: "pbx", Role: server.RoleCallCenter, Secret: ccKey}}},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	for _, rt := range v.Routes() {
		if !rt.Public {
			srv.HandleAccess(rt.Pattern, server.Access{Role: server.RoleViewer, Also: []string{server.RoleCallCenter}, Plain: rt.PlainErrors}, rt.Handler)
		}
	}
	h := srv.Handler()
	reqs := make([]*http.Request, 1024)
	for i := range reqs {
		p := fmt.Sprint(20000000 + i*97%customers)
		reqs[i] = httptest.NewRequest("GET", route+"030%20"+p[:4]+"%20"+p[4:], nil)
		reqs[i].Header.Set("Authorization", "Bearer "+ccKey)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, reqs[i%len(reqs)])
			if w.Code != 200 || w.Body.Len() < 10 {
				b.Errorf("%d %s", w.Code, w.Body)
				return
			}
			i++
		}
	})
}
