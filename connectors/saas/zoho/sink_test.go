package zoho

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/internal/zohotest"
)

func line(sku string, qty int, price string) map[string]any {
	return map[string]any{"Product_Name": map[string]any{"Product_Code": sku}, "Quantity": qty, "List_Price": price}
}

// TestWriteLineItems: a sales order's update keeps its line ids, drops
// the lines no longer sent, and a write of what Zoho holds is Unchanged
// without a write call; products are named by code and come back with
// it on a read.
func TestWriteLineItems(t *testing.T) {
	t.Parallel()
	f := newFixture(t, zohotest.Options{}, nil)
	contact := f.fake.Put("Contacts", map[string]any{"Last_Name": "Lovelace", "Email": "ada@example.com"})
	so := func(lines ...any) connectors.WriteRecord {
		return connectors.WriteRecord{HubID: "hub-so-1", Data: obj("Subject", "SO-1", "Contact_Name", map[string]any{"id": contact}, "Ordered_Items", lines)}
	}
	write := func(rec connectors.WriteRecord) connectors.Result {
		t.Helper()
		res, err := f.conn.Write(t.Context(), "order", []connectors.WriteRecord{rec})
		if err != nil || len(res) != 1 || res[0].Err != nil {
			t.Fatalf("write: %+v %v", res, err)
		}
		return res[0]
	}
	r := write(so(line("SKU-1", 2, "10.00"), line("SKU-2", 1, "5.50")))
	stored, _ := f.fake.Get("Sales_Orders", r.ExternalID)
	first := stored["Ordered_Items"].([]any)[0].(map[string]any)["id"]
	if fmt.Sprint(stored["Grand_Total"]) != "25.50" {
		t.Fatalf("Grand_Total %v, want 25.50", stored["Grand_Total"])
	}
	rec := so(line("SKU-1", 3, "10.00"))
	rec.ExternalID = r.ExternalID
	if u := write(rec); u.Outcome != connectors.Written {
		t.Fatalf("update: %v", u.Outcome)
	}
	stored, _ = f.fake.Get("Sales_Orders", r.ExternalID)
	ls := stored["Ordered_Items"].([]any)
	if len(ls) != 1 || ls[0].(map[string]any)["id"] != first || fmt.Sprint(ls[0].(map[string]any)["Quantity"]) != "3" {
		t.Fatalf("line items after the update: %v, want the first line (id %v) with quantity 3 alone", ls, first)
	}
	calls := len(f.fake.Calls())
	if u := write(rec); u.Outcome != connectors.Unchanged {
		t.Fatalf("the same again: %v, want unchanged", u.Outcome)
	}
	for _, c := range f.fake.Calls()[calls:] {
		if c.Method == "PUT" || strings.HasSuffix(c.Path, "/upsert") {
			t.Fatalf("an unchanged record was written: %+v", c)
		}
	}
	// A rerun without the id finds the order by its Subject: no second one.
	rec.ExternalID = ""
	if u := write(rec); u.Outcome != connectors.Unchanged || u.ExternalID != r.ExternalID {
		t.Fatalf("a rerun without the id: %+v, want unchanged %s", u, r.ExternalID)
	}
	if n := len(f.fake.Records("Sales_Orders")); n != 1 {
		t.Fatalf("%d sales orders, want 1", n)
	}
	b, err := f.conn.Scan(t.Context(), "order", "", 10)
	if err != nil || len(b.Records) != 1 {
		t.Fatalf("scan: %v %v", b, err)
	}
	if code := b.Records[0].Data.Get("Ordered_Items").Index(0).Get("Product_Name").Get("Product_Code").Str(); code != "SKU-1" {
		t.Errorf("the line's product code read back: %q", code)
	}
}

// TestSecretsNotLogged: with debug logging, the client secret, the
// refresh token and the access tokens appear in no log line.
func TestSecretsNotLogged(t *testing.T) {
	t.Parallel()
	fake, _ := newFake(t, zohotest.Options{})
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := testConfig(fake)
	cfg.Debug = true
	c, err := New("zoho-debug", cfg, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fake.ExpireTokens()
	if _, err := c.Write(t.Context(), "customer", []connectors.WriteRecord{{HubID: "x", Data: obj("Last_Name", "Logged", "Email", "l@example.com")}}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "erp request") {
		t.Fatalf("no debug log at all:\n%s", out)
	}
	for _, secret := range []string{testSecret, testRefresh, "Zoho-oauthtoken 1000."} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds a secret (%q):\n%s", secret, out)
		}
	}
}

// TestConfigErrors: every bad key is named.
func TestConfigErrors(t *testing.T) {
	_, err := New("bad", Config{DataCenter: "mars", Concurrency: 99, Entities: map[string]EntityConfig{
		"interaction": {Module: "Calls"}, "customer": {Module: "Con tacts"}},
		Notifications: &NotifyConfig{URL: "ftp://x", Token: strings.Repeat("t", 60), ChannelID: "abc"}}, Options{})
	for _, key := range []string{"data_center", "client_id", "client_secret", "refresh_token", "concurrency", "entities.interaction",
		"entities.customer.module", "notifications.url", "notifications.token", "notifications.channel_id"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("the error does not name %s: %v", key, err)
		}
	}
}
