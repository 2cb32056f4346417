package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/store"
	"github.com/crmhub/hub/store/storetest"
)

// BenchmarkDeadLetterPage renders the dead-letter page with its first 200
// of 1,000 open dead letters, payloads included, from a SQLite state store.
func BenchmarkDeadLetterPage(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLiteDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for i := range 1000 {
		key := strconv.Itoa(i)
		if _, err := st.AddDeadLetter(ctx, store.DeadLetter{Connector: "crm-orders", Entity: "order", RecordKey: key,
			Stage: pipeline.StageSourceMap, Kind: store.KindPermanent, Error: `total: "12,50": not a decimal`, Attempts: 1,
			Payload: []byte(`{"id":` + key + `,"order_no":"SO-` + key + `","total":"12,50","lines":[{"sku":"BOOK-7","qty":"1"}]}`)}); err != nil {
			b.Fatal(err)
		}
	}
	c := &Console{Store: st, Log: slog.New(slog.DiscardHandler)}
	if err := c.parse(); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/console/deadletters", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		c.deadLetters(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
