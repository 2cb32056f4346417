package fxiaoke

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/saas"
	"github.com/crmhub/hub/internal/fxiaoketest"
)

func putAccounts(fake *fxiaoketest.Server, from, n int) []string {
	ids := make([]string, n)
	for i := range n {
		ids[i] = fake.Put("AccountObj", map[string]any{"name": fmt.Sprintf("客户 %d", from+i), "account_no": fmt.Sprintf("A%05d", from+i)})
	}
	return ids
}

// TestTiesPastAPage: 250 accounts changed in the same millisecond are
// read in pages of 100, each once: past a page of ties the read asks for
// the rest of that millisecond by _id, never by a shifting offset.
func TestTiesPastAPage(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, fxiaoketest.Options{Now: clk.Now})
	ids := putAccounts(fake, 0, 250)
	c := start(t, testConfig(fake), Options{})
	recs, _ := readAll(t, c, "customer", "", 100)
	once(t, recs, ids)
	for _, call := range fake.Calls() {
		if call.Offset != 0 {
			t.Fatalf("a read used offset %d", call.Offset)
		}
	}
}

// TestChangedAgainInTheMillisecondItWasRead: an account created, read,
// then voided within the same millisecond comes again, as a delete: the
// cursor remembers which version of each record it read at its time, not
// only the _id. (Under load, the conformance suite's invoice was created
// and voided in one millisecond and its delete never came.) A cursor of
// before, naming bare _ids, still skips those records at its time.
func TestChangedAgainInTheMillisecondItWasRead(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, fxiaoketest.Options{Now: clk.Now})
	ids := putAccounts(fake, 0, 2)
	c := start(t, testConfig(fake), Options{})
	recs, cur := readAll(t, c, "customer", "", 100)
	once(t, recs, ids)
	if !fake.Invalid("AccountObj", ids[0]) {
		t.Fatal("the fake voids nothing")
	}
	again, _ := readAll(t, c, "customer", cur, 100)
	if len(again) != 1 || again[0].Key != ids[0] || again[0].Op != connectors.OpDelete {
		t.Fatalf("after the void in the same millisecond: %+v, want the delete of %s", again, ids[0])
	}
	old, err := decodeCursor(cur)
	if err != nil {
		t.Fatal(err)
	}
	old.IDs = []string{ids[0], ids[1]}
	if legacy, _ := readAll(t, c, "customer", old.encode(), 100); len(legacy) != 0 {
		t.Fatalf("a cursor of bare _ids read %+v at its own time", legacy)
	}
}

// TestTokenExpiryMidSync: the token expires between two reads; the next
// call is answered errorCode 20016, a new token is fetched and the call
// made again: nothing lost or doubled.
func TestTokenExpiryMidSync(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, fxiaoketest.Options{Now: clk.Now})
	var ids []string
	for i := range 30 {
		ids = append(ids, putAccounts(fake, i, 1)...)
		clk.Add(time.Millisecond)
	}
	c := start(t, testConfig(fake), Options{})
	b, err := c.Read(t.Context(), "customer", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	fake.ExpireTokens()
	rest, _ := readAll(t, c, "customer", b.Cursor, 10)
	once(t, append(b.Records, rest...), ids)
	if n := c.Stats().TokensFetched; n != 2 {
		t.Errorf("%d tokens fetched, want 2", n)
	}
}

// TestTokenRenewedAhead: a token is renewed token_renew_before it
// expires, so no call meets an expired one.
func TestTokenRenewedAhead(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, fxiaoketest.Options{Now: clk.Now})
	c := start(t, testConfig(fake), Options{Clock: saas.Clock{Now: clk.Now}})
	for range 5 {
		clk.Add(1700 * time.Second)
		if _, err := c.Scan(t.Context(), "customer", "", 10); err != nil {
			t.Fatal(err)
		}
	}
	for _, call := range fake.Calls() {
		if call.ErrorCode != 0 {
			t.Fatalf("a call failed: %+v", call)
		}
	}
	if n := c.Stats().TokensFetched; n != 2 {
		t.Errorf("%d tokens fetched over 8,500 s, want 2", n)
	}
}

// TestRateLimit: reads of 300 accounts in pages of 10 would make 30
// queries in a moment; the connector keeps to 100 calls per 20 s per
// endpoint by waiting, so Fxiaoke refuses none. A limit Fxiaoke enforces
// below the configured one (errorCode 20025) is a retryable failure.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, fxiaoketest.Options{Now: clk.Now, PerEndpoint: 10})
	var ids []string
	for i := range 300 {
		ids = append(ids, putAccounts(fake, i, 1)...)
		clk.Add(time.Millisecond)
	}
	var waited atomic.Int64
	clock := saas.Clock{Now: clk.Now, Sleep: func(_ context.Context, d time.Duration) error {
		waited.Add(int64(d))
		clk.Add(d)
		return nil
	}}
	cfg := testConfig(fake)
	cfg.PerEndpoint = 10
	c := start(t, cfg, Options{Clock: clock})
	recs, _ := readAll(t, c, "customer", "", 10)
	once(t, recs, ids)
	for _, call := range fake.Calls() {
		if call.ErrorCode != 0 {
			t.Fatalf("Fxiaoke refused a call: %+v", call)
		}
	}
	if waited.Load() == 0 {
		t.Fatal("31 queries and no wait for the 10-per-20s limit")
	}
	// Fxiaoke's own limit is tighter than the connector's.
	fake.FailNext(fxiaoketest.Fault{Code: fxiaoketest.CodeRateLimit}, fxiaoketest.Fault{Code: fxiaoketest.CodeRateLimit},
		fxiaoketest.Fault{Code: fxiaoketest.CodeRateLimit})
	_, err := c.Scan(t.Context(), "customer", "", 10)
	if k, after := connectors.Classify(err); err == nil || k != connectors.KindRetryable || after != 20*time.Second {
		t.Fatalf("errorCode 20025: %v (%v, after %s), want retryable after the window", err, k, after)
	}
}

// TestPageChangesWhileRead: between two reads records already read and
// not read yet change and one not read yet is voided: each comes with
// its last change, the voided one as a delete, nothing is skipped.
func TestPageChangesWhileRead(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, fxiaoketest.Options{Now: clk.Now})
	var ids []string
	for i := range 30 {
		ids = append(ids, putAccounts(fake, i, 1)...)
		clk.Add(time.Millisecond)
	}
	c := start(t, testConfig(fake), Options{Clock: saas.Clock{Now: clk.Now}})
	var queries atomic.Int32
	fake.OnCall(func(call fxiaoketest.Call) {
		// After the second page's query: 2 was read, 25 not yet.
		if call.Object != "AccountObj" || !strings.HasSuffix(call.Path, "/query") || queries.Add(1) != 2 {
			return
		}
		clk.Add(time.Millisecond)
		fake.Update("AccountObj", ids[2], map[string]any{"remark": "读过之后修改"})
		fake.Update("AccountObj", ids[25], map[string]any{"remark": "读之前修改"})
		fake.Invalid("AccountObj", ids[28])
	})
	recs, _ := readAll(t, c, "customer", "", 10)
	n := map[string]int{}
	last := map[string]string{}
	var deleted []string
	for _, r := range recs {
		if r.Op == connectors.OpDelete {
			deleted = append(deleted, r.Key)
			continue
		}
		n[r.Key]++
		last[r.Key] = r.Data.Get("remark").Str()
	}
	for i, id := range ids {
		want := map[int]int{2: 2, 28: 0}[i]
		if i != 2 && i != 28 {
			want = 1
		}
		if n[id] != want && !(i == 28 && n[id] == 1) {
			t.Errorf("account %d read %d times, want %d", i, n[id], want)
		}
	}
	if last[ids[2]] != "读过之后修改" || last[ids[25]] != "读之前修改" {
		t.Errorf("last versions: %q %q", last[ids[2]], last[ids[25]])
	}
	if len(deleted) != 1 || deleted[0] != ids[28] {
		t.Errorf("deletes: %v, want %s", deleted, ids[28])
	}
}

// TestDailyBudget: with a daily quota of N calls (Fxiaoke's, and the
// connector's daily_calls), reads make exactly N calls, wait, and once
// the 24 hours have rolled on go on to the end.
func TestDailyBudget(t *testing.T) {
	t.Parallel()
	const n = 8
	clk := newClock()
	fake, _ := newFake(t, fxiaoketest.Options{Now: clk.Now, DailyQuota: n})
	var ids []string
	for i := range 50 {
		ids = append(ids, putAccounts(fake, i, 1)...)
		clk.Add(time.Millisecond)
	}
	slept := make(chan time.Duration, 1)
	wake := make(chan struct{})
	clock := saas.Clock{Now: clk.Now, Sleep: func(ctx context.Context, d time.Duration) error {
		select {
		case slept <- d:
		default:
		}
		select {
		case <-wake:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	cfg := testConfig(fake)
	cfg.DailyCalls = n
	c := start(t, cfg, Options{Clock: clock}) // the probe: 1 call
	done := make(chan error, 1)
	var recs []connectors.Record
	go func() {
		cur := ""
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			b, err := c.Read(ctx, "customer", cur, 10)
			cancel()
			if err != nil || len(b.Records) == 0 {
				done <- err
				return
			}
			recs, cur = append(recs, b.Records...), b.Cursor
		}
	}()
	var wait time.Duration
	select {
	case wait = <-slept:
	case err := <-done:
		t.Fatalf("the reads ended (%v) without waiting for the quota", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the reads never waited for the quota")
	}
	if used := fake.DailyUsed(); used != n || wait < 23*time.Hour {
		t.Fatalf("Fxiaoke counted %d calls when the connector stopped (want exactly %d); it waits %s", used, n, wait)
	}
	clk.Add(24 * time.Hour)
	close(wake)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	once(t, recs, ids)
	for _, call := range fake.Calls() {
		if call.ErrorCode == fxiaoketest.CodeQuota {
			t.Fatalf("Fxiaoke refused a call over the quota: %+v", call)
		}
	}
}

// TestErrorCodes: errorCodes inside HTTP 200 are classified by code (the
// message is the same for all of them here), with the table a config may
// extend.
func TestErrorCodes(t *testing.T) {
	t.Parallel()
	fake, _ := newFake(t, fxiaoketest.Options{})
	cfg := testConfig(fake)
	cfg.ErrorCodes.Validation = []int{30001, 44444}
	c := start(t, cfg, Options{})
	for _, tc := range []struct {
		code int
		want connectors.ErrorKind
	}{
		{fxiaoketest.CodeValidation, connectors.KindPermanent},
		{44444, connectors.KindPermanent},
		{fxiaoketest.CodePermission, connectors.KindUnavailable},
		{fxiaoketest.CodeBusy, connectors.KindRetryable},
		{fxiaoketest.CodeQuota, connectors.KindRetryable},
		{99999, connectors.KindRetryable},
	} {
		fake.FailNext(fxiaoketest.Fault{Code: tc.code})
		_, err := c.Scan(t.Context(), "customer", "", 10)
		if k, _ := connectors.Classify(err); err == nil || k != tc.want {
			t.Errorf("errorCode %d: %v (%v), want %v", tc.code, err, k, tc.want)
		}
	}
	// A record Fxiaoke refuses fails alone, Permanent.
	res, err := c.Write(t.Context(), "customer", []connectors.WriteRecord{
		{HubID: "a", Data: obj("name", "好客户", "account_no", "OK1")},
		{HubID: "b", Data: obj("account_no", "NONAME")},
	})
	if err != nil || res[0].Outcome != connectors.Written || res[1].Outcome != connectors.Failed {
		t.Fatalf("write: %+v %v", res, err)
	}
	if k, _ := connectors.Classify(res[1].Err); k != connectors.KindPermanent {
		t.Errorf("the refused record: %v", res[1].Err)
	}
	seen := map[string]bool{}
	for _, call := range fake.Calls() {
		if call.TraceID == "" || seen[call.TraceID] {
			t.Fatalf("thirdTraceId %q empty or used twice", call.TraceID)
		}
		seen[call.TraceID] = true
	}
}

// TestLinesAndUnchanged: an order's update replaces its lines; a write of
// what Fxiaoke holds is Unchanged with no write call; a rerun without the
// _id finds the order by its match field.
func TestLinesAndUnchanged(t *testing.T) {
	t.Parallel()
	fake, _ := newFake(t, fxiaoketest.Options{})
	c := start(t, testConfig(fake), Options{})
	acct := fake.Put("AccountObj", map[string]any{"name": "上海某公司", "account_no": "SH001"})
	rec := connectors.WriteRecord{HubID: "o1", Data: obj("account_id", acct, "remark", "SO-1", "SalesOrderProductObj", []any{
		map[string]any{"product_code": "SKU-1", "quantity": "2", "sales_price": "10.00"},
		map[string]any{"product_code": "SKU-2", "quantity": "1", "sales_price": "5.50"}})}
	write := func(r connectors.WriteRecord) connectors.Result {
		t.Helper()
		res, err := c.Write(t.Context(), "order", []connectors.WriteRecord{r})
		if err != nil || res[0].Err != nil {
			t.Fatalf("write: %+v %v", res, err)
		}
		return res[0]
	}
	first := write(rec)
	got, _ := fake.Get("SalesOrderObj", first.ExternalID)
	if got["order_amount"] != "25.50" {
		t.Fatalf("order_amount %v, want 25.50", got["order_amount"])
	}
	rec.ExternalID = first.ExternalID
	rec.Data = obj("account_id", acct, "remark", "SO-1", "SalesOrderProductObj", []any{
		map[string]any{"product_code": "SKU-1", "quantity": "3.00", "sales_price": "10.00"}})
	if r := write(rec); r.Outcome != connectors.Written {
		t.Fatalf("update: %v", r.Outcome)
	}
	got, _ = fake.Get("SalesOrderObj", first.ExternalID)
	if ls := got["details"].([]any); len(ls) != 1 || got["order_amount"] != "30.00" {
		t.Fatalf("after the update: %d lines, amount %v", len(ls), got["order_amount"])
	}
	calls := len(fake.Calls())
	if r := write(rec); r.Outcome != connectors.Unchanged {
		t.Fatalf("the same again: %v", r.Outcome)
	}
	rec.ExternalID = ""
	if r := write(rec); r.Outcome != connectors.Unchanged || r.ExternalID != first.ExternalID {
		t.Fatalf("a rerun without the _id: %+v", r)
	}
	for _, call := range fake.Calls()[calls:] {
		if strings.HasSuffix(call.Path, "/update") || strings.HasSuffix(call.Path, "/create") {
			t.Fatalf("an unchanged order was written: %+v", call)
		}
	}
}

// TestCustomObject: a __c object goes through the custom endpoints
// (Fxiaoke refuses it elsewhere), both ways.
func TestCustomObject(t *testing.T) {
	t.Parallel()
	fake, _ := newFake(t, fxiaoketest.Options{})
	cfg := testConfig(fake)
	cfg.Entities = map[string]EntityConfig{"customer": {Object: "Dealer__c", MatchField: "code__c"}}
	c := start(t, cfg, Options{})
	res, err := c.Write(t.Context(), "customer", []connectors.WriteRecord{{HubID: "d1", Data: obj("name", "经销商一号", "code__c", "D1")}})
	if err != nil || res[0].Outcome != connectors.Written {
		t.Fatalf("write: %+v %v", res, err)
	}
	recs, _ := readAll(t, c, "customer", "", 10)
	if len(recs) != 1 || recs[0].Data.Get("code__c").Str() != "D1" {
		t.Fatalf("read: %+v", recs)
	}
	for _, call := range fake.Calls() {
		if !strings.HasPrefix(call.Path, "/cgi/crm/custom/v2/data/") {
			t.Fatalf("a call to %s for a custom object", call.Path)
		}
	}
}

// TestSecretsNotLogged: with debug logging, the appSecret, the
// permanentCode and the token appear in no log line.
func TestSecretsNotLogged(t *testing.T) {
	t.Parallel()
	fake, _ := newFake(t, fxiaoketest.Options{})
	var buf bytes.Buffer
	cfg := testConfig(fake)
	cfg.Debug = true
	c := start(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if _, err := c.Scan(t.Context(), "customer", "", 5); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	c.tok.mu.Lock()
	tok := c.tok.value
	c.tok.mu.Unlock()
	if !strings.Contains(out, "erp request") || tok == "" {
		t.Fatalf("no debug log, or no token:\n%s", out)
	}
	for _, secret := range []string{testSecret, testPermanent, tok} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds a secret (%q):\n%s", secret, out)
		}
	}
}

// TestConfigErrors: every bad key is named; an empty entities block is
// refused rather than met at start.
func TestConfigErrors(t *testing.T) {
	_, err := New("bad", Config{URL: "ftp://x", PageSize: 500, Entities: map[string]EntityConfig{}}, Options{})
	for _, key := range []string{"url", "app_id", "app_secret", "permanent_code", "open_user_id", "page_size", "entities"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("the error does not name %s: %v", key, err)
		}
	}
	_, err = New("bad", Config{AppID: "a", AppSecret: "s", PermanentCode: "p", OpenUserID: "u",
		Entities: map[string]EntityConfig{"interaction": {Object: "x"}, "order": {Object: "Sales Order", Details: "X"}}}, Options{})
	for _, key := range []string{"entities.interaction", "entities.order.object", "entities.order.detail_field"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("the error does not name %s: %v", key, err)
		}
	}
}
