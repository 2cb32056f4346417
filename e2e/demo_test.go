package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/hub/internal/shoptest"
)

// TestReadmeDemo runs the README's demo as written: `hub run -c
// configs/demo.yaml` in a copy of configs/ (the connector DSNs are relative
// to the working folder, data/demo/...), with free ports through HUB_*
// overrides. The seeded records reach the ERP; then the README's change (a
// new customer, order 1 paid) follows within seconds; then the README's
// call center: the caller id of 030 1234567 with the demo's call-center
// key, and a call logged into the CRM; then the README's Kafka topics:
// the orders and calls on analytics.*, a sign-up on marketing.signups.
func TestReadmeDemo(t *testing.T) {
	t.Parallel()
	_, self, _, _ := runtime.Caller(0)
	repo := filepath.Dir(filepath.Dir(self))
	dir := t.TempDir()
	copyDir(t, filepath.Join(repo, "configs"), filepath.Join(dir, "configs"))
	httpAddr := freeAddr(t)
	kafkaAddr := freeAddr(t)
	dataDir := filepath.Join(dir, "data", "demo")
	hub := startProc(t, "hub (demo)", dir, []string{
		"HUB_HUB_DATA_DIR=" + dataDir,
		"HUB_HTTP_ADDR=" + httpAddr,
		"HUB_KAFKA_EMBEDDED_ADDR=" + kafkaAddr,
		"HUB_STATE_DSN=sqlite:" + filepath.Join(dataDir, "hub.db"),
	}, "run", "-c", "configs/demo.yaml")
	waitHTTP(t, hub, "http://"+httpAddr+"/readyz", 200, time.Minute)

	open := func(name string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, name)+"?_pragma=busy_timeout(20000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	crm, erp := open("crm.db"), open("erp.db")
	query := func(db *sql.DB, q string, args ...any) []string {
		rows, err := db.Query(q, args...)
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return []string{"error: " + err.Error()}
			}
			line := ""
			for i, v := range vals {
				if i > 0 {
					line += "|"
				}
				line += v.String
			}
			out = append(out, line)
		}
		if err := rows.Err(); err != nil {
			return []string{"error: " + err.Error()}
		}
		return out
	}
	waitRows := func(what string, db *sql.DB, q string, want ...string) {
		t.Helper()
		waitFor(t, what, 15*time.Second, 100*time.Millisecond, []*proc{hub}, func() (bool, string) {
			got := query(db, q)
			return equalStrings(got, want), "got " + joinQ(got) + ", want " + joinQ(want)
		})
	}
	const orders = "SELECT order_no, status, total FROM erp_orders ORDER BY order_no"
	const lines = "SELECT o.order_no, l.line_no, l.sku, l.qty, l.unit_price, l.amount FROM erp_order_lines l JOIN erp_orders o ON o.ext_ref = l.order_ref ORDER BY 1, 2"
	waitRows("the seeded customers in the ERP", erp, "SELECT name, email, phone, country FROM erp_customers ORDER BY name",
		"Acme Maschinenbau GmbH|einkauf@acme.example|+49301234567|DE",
		"Ada Lovelace|ada@example.com|+442079460000|GB",
		"Grace Hopper|grace@example.com|+12025550143|US")
	waitRows("the seeded orders in the ERP", erp, orders, "SO-1001|OPEN|1250.00", "SO-1002|PAID|99.80")
	waitRows("the seeded lines in the ERP", erp, lines,
		"SO-1001|1|PUMP-100|2|500.00|1000.00", "SO-1001|2|SVC-INST|4|62.50|250.00", "SO-1002|1|BOOK-7|2|49.90|99.80")
	var n int
	if err := erp.QueryRow("SELECT COUNT(*) FROM erp_orders o JOIN erp_customers c ON c.ext_ref = o.customer_ref").Scan(&n); err != nil || n != 2 {
		t.Errorf("orders whose customer_ref is an ERP customer: %d (%v), want 2", n, err)
	}

	// The README's change.
	start := time.Now()
	if _, err := crm.Exec("INSERT INTO customers (name, email, phone, country) VALUES ('Linus Example', 'linus@example.org', '+358 40 1234567', 'FI'); UPDATE orders SET status = 'paid' WHERE id = 1;"); err != nil {
		t.Fatal(err)
	}
	waitRows("the new customer in the ERP", erp, "SELECT name, phone FROM erp_customers WHERE email = 'linus@example.org'", "Linus Example|+358401234567")
	waitRows("order 1 paid in the ERP", erp, orders, "SO-1001|PAID|1250.00", "SO-1002|PAID|99.80")
	t.Logf("the README's change reached the ERP in %s", time.Since(start).Round(time.Millisecond))
	waitRows("the lines unchanged", erp, lines,
		"SO-1001|1|PUMP-100|2|500.00|1000.00", "SO-1001|2|SVC-INST|4|62.50|250.00", "SO-1002|1|BOOK-7|2|49.90|99.80")
	// A delete in the CRM reaches the ERP (outbox capture; the ERP's
	// interface marks the order cancelled).
	if _, err := crm.Exec("DELETE FROM orders WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	waitRows("order 2 cancelled in the ERP", erp, orders, "SO-1001|PAID|1250.00", "SO-1002|CANCELLED|99.80")
	// The README's analytics topic, read with the README's kcat command:
	// the newest message of each order, and a tombstone for the deleted one.
	waitFor(t, "the orders on analytics.orders", 30*time.Second, 500*time.Millisecond, []*proc{hub}, func() (bool, string) {
		newest, out, err := kcatNewest(kafkaAddr, "analytics.orders")
		if err != nil {
			return false, err.Error()
		}
		paid := strings.Contains(newest["SO-1001"], "hub-op=upsert") && strings.Contains(newest["SO-1001"], "status=PAID") && strings.Contains(newest["SO-1001"], `"status":"PAID"`) &&
			strings.Contains(newest["SO-1001"], `"total":"1250.00"`) && strings.Contains(newest["SO-1001"], `"line_count":2`)
		return paid && strings.Contains(newest["SO-1002"], "hub-op=delete"), out
	})

	// The README's signed Shopify order: Ada's, filed under the CRM's Ada.
	body, err := os.ReadFile(filepath.Join(dir, "configs", "demo", "shopify-order.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/webhooks/shopify/demo", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", "orders/create")
	req.Header.Set("X-Shopify-Webhook-Id", "demo-1")
	req.Header.Set("X-Shopify-Hmac-Sha256", shoptest.Sign([]byte("demo-shopify-secret"), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the README's webhook: HTTP %d", resp.StatusCode)
	}
	waitRows("the shop order in the ERP", erp, "SELECT o.order_no, o.status, o.total, c.name FROM erp_orders o JOIN erp_customers c ON c.ext_ref = o.customer_ref WHERE o.order_no = '1001'",
		"1001|PAID|104.70|Ada Lovelace")
	waitRows("one Ada in the ERP", erp, "SELECT COUNT(*) FROM erp_customers WHERE email = 'ada@example.com'", "1")
	// The README's signed WooCommerce order: a guest checkout by Grace
	// (e-mail in other case, phone written otherwise), filed under the
	// CRM's Grace.
	wbody, err := os.ReadFile(filepath.Join(dir, "configs", "demo", "woo-order.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodPost, "http://"+httpAddr+"/webhooks/woocommerce/demo", bytes.NewReader(wbody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-WC-Webhook-Topic", "order.created")
	req.Header.Set("X-WC-Webhook-Delivery-ID", "demo-2")
	req.Header.Set("X-WC-Webhook-Signature", shoptest.Sign([]byte("demo-woo-secret"), wbody))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the README's WooCommerce webhook: HTTP %d", resp.StatusCode)
	}
	waitRows("the WooCommerce order in the ERP", erp, "SELECT o.order_no, o.status, o.total, c.name FROM erp_orders o JOIN erp_customers c ON c.ext_ref = o.customer_ref WHERE o.order_no = '2002'",
		"2002|PAID|54.80|Grace Hopper")
	waitRows("one Grace in the ERP", erp, "SELECT COUNT(*) FROM erp_customers WHERE name = 'Grace Hopper'", "1")
	// The README's call center: caller id with the demo's call-center key,
	// and a call logged into the CRM's interactions table.
	callerID := func() (int, string) {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+"/api/v1/callerid?number=030%201234567", nil)
		req.Header.Set("Authorization", "Bearer demo-callcenter-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, "the demo's caller id of 030 1234567", 15*time.Second, 100*time.Millisecond, []*proc{hub}, func() (bool, string) {
		code, body := callerID()
		return code == 200 && body == "Acme Maschinenbau GmbH", fmt.Sprintf("%d %q", code, body)
	})
	for _, e := range []string{`{"event":"ringing","call_id":"c-1","from":"030 1234567","agent":"1001"}`,
		`{"event":"answered","call_id":"c-1","agent":"1001"}`, `{"event":"ended","call_id":"c-1"}`} {
		req, _ := http.NewRequest("POST", "http://"+httpAddr+"/webhooks/calls/calls", strings.NewReader(e))
		req.Header.Set("Authorization", "Bearer demo-callcenter-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("call event %s: %s", e, resp.Status)
		}
	}
	waitRows("the call in the CRM's interactions", crm,
		"SELECT c.name, i.direction, i.from_number, i.agent, i.outcome FROM interactions i JOIN customers c ON c.id = i.customer_id",
		"Acme Maschinenbau GmbH|INBOUND|+49301234567|1001|ANSWERED")
	// The same call on analytics.calls, from the sink without stamps: its
	// newest message, keyed by the hub id, with the customer's hub id
	// (the README's screen-pop names it).
	req, _ = http.NewRequest("GET", "http://"+httpAddr+"/api/v1/screenpop?phone=%2B49%2030%201234567", nil)
	req.Header.Set("Authorization", "Bearer demo-callcenter-key")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pop struct {
		Customers []struct{ ID, Name string }
	}
	err = json.NewDecoder(resp.Body).Decode(&pop)
	resp.Body.Close()
	if err != nil || len(pop.Customers) != 1 || pop.Customers[0].Name != "Acme Maschinenbau GmbH" {
		t.Fatalf("screen-pop of +49 30 1234567: %+v (%v)", pop, err)
	}
	acme := pop.Customers[0].ID
	waitFor(t, "the call on analytics.calls", 30*time.Second, 500*time.Millisecond, []*proc{hub}, func() (bool, string) {
		newest, out, err := kcatNewest(kafkaAddr, "analytics.calls")
		if err != nil || len(newest) != 1 {
			return false, fmt.Sprintf("%v: %s", err, out) // one call, one key
		}
		var k, m string
		for k, m = range newest { // the one key and its newest message
		}
		return strings.Contains(m, "hub-id="+k) && strings.Contains(m, "hub-op=upsert") && strings.Contains(m, `"from":"+49301234567"`) &&
			strings.Contains(m, `"customer_id":"`+acme+`"`) && strings.Contains(m, `"outcome":"ANSWERED"`), out
	})
	// The README's sign-up on marketing.signups, produced with its kcat
	// command: a customer in the ERP, its country from a header.
	signup := exec.Command("kcat", "-b", kafkaAddr, "-t", "marketing.signups", "-P", "-k", "signup-1", "-H", "country=fr", "-H", "lang=fr", "-H", "consent=yes")
	signup.Stdin = strings.NewReader(`{"name":"Marie Curie","email":"Marie@Example.FR"}` + "\n")
	if out, err := signup.CombinedOutput(); err != nil {
		t.Fatalf("the README's sign-up: kcat: %v: %s", err, out)
	}
	waitRows("the sign-up in the ERP", erp, "SELECT name, email, country FROM erp_customers WHERE email = 'marie@example.fr'", "Marie Curie|marie@example.fr|FR")
	if l := listDeadLetters(t, dir, "configs/demo.yaml", "all"); l.Total != 0 {
		t.Errorf("the demo has %d dead letters: %+v", l.Total, l.Items)
	}
	hub.stop(t)
}

// kcatNewest reads topic from its start with the README's kcat command
// and returns the newest message of each key (its headers and value, as
// `%h %s`) and kcat's whole output.
func kcatNewest(addr, topic string) (map[string]string, string, error) {
	out, err := exec.Command("kcat", "-b", addr, "-t", topic, "-C", "-e", "-q", "-f", `%k %h %s\n`).CombinedOutput()
	if err != nil {
		return nil, string(out), fmt.Errorf("kcat: %v: %s", err, out)
	}
	newest := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, rest, ok := strings.Cut(line, " "); ok {
			newest[k] = rest
		}
	}
	return newest, string(out), nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func joinQ(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += "\"" + x + "\""
	}
	return out + "]"
}

// TestValidateFewPartitions: a config that sets kafka.partitions below the
// default number of sink workers, and no workers at all, is valid (the
// operator asked for nothing a partition count could contradict).
func TestValidateFewPartitions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, n := range []int{1, 3} {
		r := newRig(t, rigOpts{crm: newSQLite(t, dir, "crm.db"), erp: newSQLite(t, dir, "erp.db"), partitions: n})
		out, errOut, err := runHubCode(t, r.dir, "validate", "-c", r.cfg)
		if err != nil {
			t.Errorf("BUG: kafka.partitions: %d with a sink and no sinks.*.workers: hub validate fails (%v):\n%s%s"+
				"(config/components.go: resolveComponents defaults workers to DefaultSinkWorkers (4) whatever kafka.partitions is, "+
				"then validateComponents refuses workers > partitions)", n, err, out, errOut)
		}
	}
}
