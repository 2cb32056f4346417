package pipeline

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"testing"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/store"
	"github.com/crmhub/hub/store/storetest"
)

func stampsOf(hubs ...string) []publishedPart {
	var ws []store.Written
	for _, h := range hubs {
		ws = append(ws, store.Written{HubID: h, ExternalID: "X" + h, Hash: "h" + h})
	}
	return []publishedPart{{stamps: ws}}
}

// Batches settled together are split where a hub id comes again, in order,
// so that each group's stamps name every hub id once.
func TestSettleGroups(t *testing.T) {
	items := []settleItem{
		{pubs: stampsOf("a", "b"), cursor: "1"},
		{pubs: stampsOf("c"), cursor: "2"},
		{pubs: stampsOf("b", "d"), cursor: "3"},
		{pubs: nil, cursor: "4"},
		{pubs: stampsOf("e"), cursor: "5"},
		{pubs: stampsOf("e"), cursor: "6"},
	}
	var got [][]string
	for _, g := range settleGroups(items) {
		var cs []string
		for _, it := range g {
			cs = append(cs, it.cursor)
		}
		got = append(got, cs)
	}
	want := [][]string{{"1", "2"}, {"3", "4", "5"}, {"6"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("groups by cursor = %v, want %v", got, want)
	}
}

// durableReader records what the settle stage tells the connector.
type durableReader struct {
	mu      sync.Mutex
	durable []string
}

func (r *durableReader) Reads() []connectors.ReadSpec { return nil }
func (r *durableReader) Read(context.Context, string, string, int) (connectors.Batch, error) {
	return connectors.Batch{}, nil
}
func (r *durableReader) Durable(_ context.Context, _, cursor string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.durable = append(r.durable, cursor)
	return nil
}

func settleSource(t *testing.T) (*Source, *store.Store, *durableReader) {
	t.Helper()
	st, err := store.Open(context.Background(), storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	conn := &durableReader{}
	src := &Source{Intake: Intake{Name: "crm-orders", System: "crm", Entity: "order", Store: st,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, Conn: conn}
	return src, st, conn
}

// The settle stage records every queued batch's stamps, the later stamp of
// a hub id last, and stores the newest cursor; a batch without a cursor
// keeps the one before.
func TestSettleStageRecordsStampsThenCursor(t *testing.T) {
	ctx := context.Background()
	src, st, conn := settleSource(t)
	in := make(chan settleItem, 8)
	done := make(chan string, 1)
	second := stampsOf("a")
	second[0].stamps[0].Hash = "h-a-2"
	in <- settleItem{pubs: stampsOf("a", "b"), cursor: "c1"}
	in <- settleItem{pubs: second, cursor: "c2"}
	in <- settleItem{pubs: stampsOf("c"), cursor: ""}
	close(in)
	src.settleStage(ctx, nil, "c0", in, done)
	if got := <-done; got != "c2" {
		t.Errorf("last cursor stored = %q, want c2", got)
	}
	if c, _, err := st.GetCursor(ctx, "crm-orders", "order"); err != nil || c != "c2" {
		t.Errorf("stored cursor = %q (%v), want c2", c, err)
	}
	links, err := st.LookupLinks(ctx, "order", "crm", []string{"Xa", "Xb", "Xc"})
	if err != nil {
		t.Fatal(err)
	}
	for ext, hash := range map[string]string{"Xa": "h-a-2", "Xb": "hb", "Xc": "hc"} {
		if links[ext].LastHash != hash {
			t.Errorf("%s: last hash %q, want %q", ext, links[ext].LastHash, hash)
		}
	}
	if last := conn.durable[len(conn.durable)-1]; last != "c2" {
		t.Errorf("connector told %v durable, want c2 last", conn.durable)
	}
}

// A source that stops before its batches are settled leaves its cursor
// where it was: the batches are read and published again after a restart.
func TestSettleStageStoppingKeepsCursor(t *testing.T) {
	src, st, conn := settleSource(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := make(chan settleItem, 2)
	done := make(chan string, 1)
	in <- settleItem{pubs: stampsOf("a"), cursor: "c1"}
	close(in)
	src.settleStage(ctx, nil, "c0", in, done)
	if got := <-done; got != "c0" {
		t.Errorf("last cursor = %q, want c0 (where it was)", got)
	}
	if c, ok, err := st.GetCursor(context.Background(), "crm-orders", "order"); err != nil || ok {
		t.Errorf("a cursor was stored: %q %v %v", c, ok, err)
	}
	if len(conn.durable) != 0 {
		t.Errorf("connector told %v durable", conn.durable)
	}
}
