package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// apiCall calls the hub's API with a token and returns the status and body.
func apiCall(t testing.TB, httpAddr, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+httpAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReloadConfig changes a running hub's config (issue 15): a fixed
// mapping, an interval, the log level take effect without a restart; a
// Kafka setting is refused with its reason and leaves the rest applied; a
// broken config is refused whole; SIGHUP does what `hub reload` does; and
// the dead letter of the old mapping, replayed by the running hub, goes
// through the new one.
func TestReloadConfig(t *testing.T) {
	t.Parallel()
	crm, erp := pgPair(t)
	crm.execScript(t, `ALTER TABLE orders ALTER COLUMN currency DROP NOT NULL
--
ALTER TABLE orders ALTER COLUMN currency DROP DEFAULT`)
	r := newRig(t, rigOpts{crm: crm, erp: erp})
	r.allowDeadLetters = true
	cs, os := genData(5, 6)
	insertCustomers(t, crm, cs)
	insertOrders(t, crm, os[:4], 10)
	crm.mustExec(t, "UPDATE orders SET currency = NULL WHERE id = 4")
	r.start()
	r.waitCount("erp_orders", 3, time.Minute)
	waitFor(t, "order 4 dead-lettered", 30*time.Second, 200*time.Millisecond, r.watching(), func() (bool, string) {
		l := listDeadLetters(t, r.dir, r.cfg, "open")
		return l.Total == 1, fmt.Sprintf("%+v", l.Items)
	})

	// The fix, and two more changes that can be applied, and one that
	// cannot.
	rewrite(t, filepath.Join(r.dir, "mappings", "crm-order-in.yaml"),
		"  currency: {from: currency, transform: [upper], required: true}",
		"  currency: {from: currency, transform: [upper, {default: EUR}], required: true}")
	rewrite(t, r.cfg,
		"  level: info", "  level: debug",
		"    mapping: mappings/crm-order-in.yaml\n    interval: 100ms", "    mapping: mappings/crm-order-in.yaml\n    interval: 150ms",
		"  partitions: 6", "  partitions: 3")

	// Only an admin may reload.
	if code, body := apiCall(t, r.httpAddr, "POST", "/api/v1/reload", "e2e-operator-token", ""); code != http.StatusForbidden {
		t.Errorf("POST /api/v1/reload as an operator: %d %s, want 403", code, body)
	}
	out, stderr, err := runHubEnv(t, r.dir, []string{"HUB_API_TOKEN=e2e-admin-token-0001"}, "reload", "-c", r.cfg)
	if err == nil {
		t.Errorf("hub reload with a refused change exited 0:\n%s", out)
	}
	for _, want := range []string{
		"applied  log.level changed",
		"applied  sources.crm-orders.interval changed",
		"applied  sources.crm-orders.mapping file changed",
		"refused  kafka.partitions changed: the Kafka connection and topics are set up at start; restart the hub to apply it",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("hub reload output lacks %q:\n%s\n%s", want, out, stderr)
		}
	}

	// The new mapping is in effect: an order without a currency now
	// arrives with EUR, and no new dead letter is made.
	o := os[4]
	o.Currency = ""
	insertOrders(t, crm, []order{o}, 1)
	crm.mustExec(t, fmt.Sprintf("UPDATE orders SET currency = NULL WHERE id = %d", o.ID))
	waitFor(t, "the new order with the default currency", 30*time.Second, 200*time.Millisecond, r.watching(), func() (bool, string) {
		cur := erpCurrency(t, erp, o.OrderNo)
		return cur == "EUR", "currency " + cur
	})
	if l := listDeadLetters(t, r.dir, r.cfg, "open"); l.Total != 1 {
		t.Errorf("%d open dead letters after the reload, want still 1 (order 4): %+v", l.Total, l.Items)
	}
	// The debug level is on.
	waitFor(t, "a debug line", 10*time.Second, 200*time.Millisecond, r.watching(), func() (bool, string) {
		return strings.Contains(r.hub.out.String(), "level=DEBUG"), ""
	})

	// The running hub replays the old dead letter through the new mapping.
	code, body := apiCall(t, r.httpAddr, "POST", "/api/v1/dlq/replay", "e2e-operator-token", `{"connector": "crm-orders"}`)
	if code != http.StatusOK {
		t.Fatalf("POST /api/v1/dlq/replay: %d %s", code, body)
	}
	waitFor(t, "order 4 replayed with the default currency", 30*time.Second, 200*time.Millisecond, r.watching(), func() (bool, string) {
		cur := erpCurrency(t, erp, os[3].OrderNo)
		return cur == "EUR", "currency " + cur
	})

	// A broken config is refused whole, naming the key and line.
	rewrite(t, r.cfg, "    interval: 150ms", "    interval: soon", "  level: debug", "  level: warn")
	code, body = apiCall(t, r.httpAddr, "POST", "/api/v1/reload", "e2e-admin-token-0001", "")
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "sources.crm-orders.interval") || !strings.Contains(body, `"soon\" is not a duration`) {
		t.Errorf("POST /api/v1/reload of a broken config: %d %s, want 422 naming sources.crm-orders.interval and its value", code, body)
	}

	// SIGHUP reloads too; what it did is in the log.
	rewrite(t, r.cfg, "    interval: soon", "    interval: 150ms", "  partitions: 3", "  partitions: 6", "  level: warn", "  level: info")
	if err := r.hub.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the SIGHUP reload in the log", 10*time.Second, 200*time.Millisecond, r.watching(), func() (bool, string) {
		return strings.Contains(r.hub.out.String(), "config reloaded") && strings.Contains(r.hub.out.String(), "by=SIGHUP"), ""
	})
	before := strings.Count(r.hub.out.String(), "level=DEBUG")
	time.Sleep(time.Second)
	if after := strings.Count(r.hub.out.String(), "level=DEBUG"); after != before {
		t.Errorf("%d debug lines after the reload to level info", after-before)
	}

	var audit struct {
		Items []struct{ Action, Actor, Detail string }
	}
	code, body = apiCall(t, r.httpAddr, "GET", "/api/v1/audit", "e2e-operator-token", "")
	if err := json.Unmarshal([]byte(body), &audit); code != 200 || err != nil {
		t.Fatalf("GET /api/v1/audit: %d %v %s", code, err, body)
	}
	var reloads []string
	for _, a := range audit.Items {
		if a.Action == "config.reload" {
			reloads = append(reloads, a.Actor+": "+a.Detail)
		}
	}
	// Newest first.
	if len(reloads) != 2 || !strings.HasPrefix(reloads[0], "SIGHUP: applied 1, refused 0") ||
		!strings.HasPrefix(reloads[1], "e2e-admin: applied 3, refused 2: kafka.partitions changed") {
		t.Errorf("audit has %d config.reload entries, want 2 (hub reload, SIGHUP): %v", len(reloads), reloads)
	}
	r.hub.stop(t)
}

// erpCurrency is the currency of the ERP's order orderNo ("" when the
// ERP has no such order yet).
func erpCurrency(t testing.TB, erp *database, orderNo string) string {
	t.Helper()
	var cur string
	_ = erp.db.QueryRow(erp.rebind("SELECT currency FROM erp_orders WHERE order_no = ?"), orderNo).Scan(&cur)
	return cur
}
