package zoho

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/internal/zohotest"
)

// ingest is a hub's Ingest that keeps what it is handed.
type ingest struct {
	mu   sync.Mutex
	recs []connectors.Record
}

func (in *ingest) Ingest(_ context.Context, _ string, recs []connectors.Record) ([]connectors.IngestResult, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.recs = append(in.recs, recs...)
	out := make([]connectors.IngestResult, len(recs))
	for i := range out {
		out[i] = connectors.IngestResult{Outcome: connectors.IngestPublished, HubID: "hub-" + recs[i].Key}
	}
	return out, nil
}

func (in *ingest) taken() []connectors.Record {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]connectors.Record(nil), in.recs...)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNotifications: the connector subscribes its channel at start and
// renews it before it expires; a change in Zoho is posted with the
// channel's token, the connector reads the record by id and hands it to
// the hub; a delete comes as a delete; a notification with a wrong token
// is refused.
func TestNotifications(t *testing.T) {
	t.Parallel()
	fake, _ := newFake(t, zohotest.Options{})
	mux := http.NewServeMux()
	hub := httptest.NewServer(mux)
	t.Cleanup(hub.Close)
	const channel = "1000000068001"
	cfg := testConfig(fake)
	cfg.Notifications = &NotifyConfig{URL: hub.URL + "/webhooks/zoho/zoho-test", Token: "channel-token-1", ChannelID: channel,
		Expiry: 3 * time.Second, RenewBefore: 2 * time.Second}
	c, err := New("zoho-test", cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := &ingest{}
	for _, r := range c.Routes(in) {
		mux.Handle(r.Pattern, r.Handler)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	waitUntil(t, "the channel's subscription", func() bool { return !fake.ChannelExpiry(channel).IsZero() })
	first := fake.ChannelExpiry(channel)

	id := fake.Put("Contacts", map[string]any{"Last_Name": "Hopper", "Email": "grace@example.com"})
	waitUntil(t, "the insert taken", func() bool { return len(in.taken()) == 1 })
	fake.Update("Contacts", id, map[string]any{"Phone": "+1 202 555 0100"})
	waitUntil(t, "the update taken", func() bool { return len(in.taken()) == 2 })
	fake.Delete("Contacts", id)
	defer func() {
		if !t.Failed() {
			return
		}
		for _, d := range fake.Delivered() {
			t.Logf("delivered %s: %d %v", d.Body, d.Status, d.Err)
		}
	}()
	waitUntil(t, "three notifications taken", func() bool { return len(in.taken()) == 3 })
	got := in.taken()
	if got[0].Key != id || got[0].Op != connectors.OpUpsert || got[2].Op != connectors.OpDelete || got[2].Key != id {
		t.Fatalf("taken: %+v", got)
	}
	// The second notification read the record again: the phone is there.
	if got[1].Data.Get("Phone").Str() != "+1 202 555 0100" || got[0].Data.Get("Email").Str() != "grace@example.com" {
		t.Errorf("the records read for the notifications: %v / %v", got[0].Data, got[1].Data)
	}

	req, _ := http.NewRequest(http.MethodPost, cfg.Notifications.URL, strings.NewReader(`{"module":"Contacts","ids":["1"],"operation":"insert","channel_id":"`+channel+`","token":"guess"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong token: HTTP %d, want 401", resp.StatusCode)
	}
	waitUntil(t, "the channel's renewal", func() bool { return fake.ChannelExpiry(channel).After(first) })
	if p := c.Pushes(); len(p) != 3 || !p[0].Deletes {
		t.Errorf("Pushes: %+v", p)
	}
}
