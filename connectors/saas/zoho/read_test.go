package zoho

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/saas"
	"github.com/crmhub/hub/internal/zohotest"
)

// putContacts puts n contacts in the stand-in and returns their ids.
func putContacts(fake *zohotest.Server, from, n int) []string {
	ids := make([]string, n)
	for i := range n {
		ids[i] = fake.Put("Contacts", map[string]any{"Last_Name": fmt.Sprintf("Contact %d", from+i), "Email": fmt.Sprintf("c%d@example.com", from+i)})
	}
	return ids
}

// once fails t unless every id of want came exactly once.
func once(t *testing.T, recs []connectors.Record, want []string) {
	t.Helper()
	n := map[string]int{}
	for _, r := range recs {
		n[r.Key]++
	}
	for _, id := range want {
		if n[id] != 1 {
			t.Fatalf("record %s read %d times, want once (%d records read)", id, n[id], len(recs))
		}
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records read, want %d", len(recs), len(want))
	}
}

// TestReadPastPageLimit reads 2,500 contacts changed in the same second
// in batches of 100: each comes once, past the 2,000 records the list API
// pages to, with no COQL OFFSET at all (the keyset on Modified_Time and
// id does not shift).
func TestReadPastPageLimit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, zohotest.Options{Now: clk.Now})
	ids := putContacts(fake, 0, 2500)
	clk.Add(time.Second)
	c := start(t, testConfig(fake))
	recs, _ := readAll(t, c, "customer", "", 100)
	once(t, recs, ids)
	for _, call := range fake.Calls() {
		if strings.Contains(strings.ToLower(call.COQL), "offset") {
			t.Fatalf("a read used an offset: %s", call.COQL)
		}
	}
	if r := recs[2400]; r.Data.Get("Email").Str() != "c2400@example.com" || r.Version.IsZero() {
		t.Errorf("record 2400: %s, version %v", erp.Text(r.Data.Get("Email")), r.Version)
	}
}

// TestReadHoldsBackTheCurrentSecond: a change in the second Zoho's clock
// is still in waits for the next read, so a later change in that second
// with a lower id is not skipped.
func TestReadHoldsBackTheCurrentSecond(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, zohotest.Options{Now: clk.Now})
	first := putContacts(fake, 0, 3)
	c := start(t, testConfig(fake))
	recs, cur := readAll(t, c, "customer", "", 100)
	if len(recs) != 0 {
		t.Fatalf("read %v in the current second", keys(recs))
	}
	// Still the same second: the oldest contact changes.
	fake.Update("Contacts", first[0], map[string]any{"Description": "changed in the same second"})
	clk.Add(time.Second)
	recs, _ = readAll(t, c, "customer", cur, 100)
	once(t, recs, first)
	if recs[0].Data.Get("Description").Str() != "changed in the same second" && recs[1].Data.Get("Description").Str() != "changed in the same second" &&
		recs[2].Data.Get("Description").Str() != "changed in the same second" {
		t.Errorf("the change in the same second was not read")
	}
}

// TestTokenExpiryMidSync: every access token expires between two reads;
// the next call is refused (401), a new token is minted once and the read
// goes on: nothing lost or doubled.
func TestTokenExpiryMidSync(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, zohotest.Options{Now: clk.Now})
	ids := putContacts(fake, 0, 300)
	clk.Add(time.Second)
	c := start(t, testConfig(fake))
	var recs []connectors.Record
	cur := ""
	for i := 0; i < 3; i++ {
		b, err := c.Read(t.Context(), "customer", cur, 50)
		if err != nil {
			t.Fatal(err)
		}
		recs, cur = append(recs, b.Records...), b.Cursor
	}
	fake.ExpireTokens()
	rest, _ := readAll(t, c, "customer", cur, 50)
	once(t, append(recs, rest...), ids)
	if s := c.Stats(); s.Minted != 2 || s.HTTP.Reauths != 1 {
		t.Errorf("minted %d tokens after %d 401s, want 2 after 1", s.Minted, s.HTTP.Reauths)
	}
}

// TestThrottledMidSync: the concurrency limit's 429 and exhausted credits
// (429 LIMIT_REACHED) in the middle of a read are waited out and retried;
// a 429 that outlasts the retries fails the read Retryable, and the read
// from the same cursor goes on: nothing lost or doubled.
func TestThrottledMidSync(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, zohotest.Options{Now: clk.Now})
	ids := putContacts(fake, 0, 250)
	clk.Add(time.Second)
	c := start(t, testConfig(fake))
	b, err := c.Read(t.Context(), "customer", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	recs, cur := b.Records, b.Cursor
	fake.FailNext(zohotest.Fault{Status: 429, Code: "TOO_MANY_REQUESTS", Match: "POST /crm/v8/coql"},
		zohotest.Fault{Status: 429, Code: "LIMIT_REACHED", Match: "GET /crm/v8/Contacts"})
	if b, err = c.Read(t.Context(), "customer", cur, 100); err != nil {
		t.Fatalf("a read with two 429s inside the retries: %v", err)
	}
	recs, cur = append(recs, b.Records...), b.Cursor
	// More 429s than the retries: the read fails, classified retryable.
	fake.FailNext(zohotest.Fault{Status: 429, Code: "TOO_MANY_REQUESTS"}, zohotest.Fault{Status: 429, Code: "TOO_MANY_REQUESTS"},
		zohotest.Fault{Status: 429, Code: "TOO_MANY_REQUESTS"})
	_, err = c.Read(t.Context(), "customer", cur, 100)
	if k, _ := connectors.Classify(err); err == nil || k != connectors.KindRetryable {
		t.Fatalf("a read past its retries: %v (%v), want a retryable error", err, k)
	}
	rest, _ := readAll(t, c, "customer", cur, 100)
	once(t, append(recs, rest...), ids)
}

// TestPageChangesWhileRead: between two pages of a read, records already
// read and records not read yet change and one not read yet is deleted:
// every record comes with its last change, the deleted one as a delete,
// and a record comes again only if it changed after it was read.
func TestPageChangesWhileRead(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, zohotest.Options{Now: clk.Now})
	ids := putContacts(fake, 0, 30)
	clk.Add(time.Second)
	c := start(t, testConfig(fake))
	var coqls atomic.Int32
	fake.OnCall(func(call zohotest.Call) {
		if call.COQL == "" || !strings.Contains(call.COQL, "Modified_Time") || coqls.Add(1) != 2 {
			return
		}
		// After the second page's query: change one read and one not read
		// yet, delete one not read yet.
		fake.Update("Contacts", ids[2], map[string]any{"Description": "read, then changed"})
		fake.Update("Contacts", ids[25], map[string]any{"Description": "changed before it was read"})
		fake.Delete("Contacts", ids[28])
		clk.Add(time.Second)
	})
	recs, _ := readAll(t, c, "customer", "", 10)
	n := map[string]int{}
	var deleted []string
	last := map[string]string{}
	for _, r := range recs {
		if r.Op == connectors.OpDelete {
			deleted = append(deleted, r.Key)
			continue
		}
		n[r.Key]++
		last[r.Key] = r.Data.Get("Description").Str()
	}
	for i, id := range ids {
		want := 1
		switch i {
		case 2:
			want = 2 // read, changed, read again
		case 28:
			want = 0 // deleted before it was read (or read, when its page came first)
			if n[id] > 1 {
				t.Errorf("the deleted contact was read %d times", n[id])
			}
			continue
		}
		if n[id] != want {
			t.Errorf("contact %d read %d times, want %d", i, n[id], want)
		}
	}
	if last[ids[2]] != "read, then changed" || last[ids[25]] != "changed before it was read" {
		t.Errorf("the last versions read: %q, %q", last[ids[2]], last[ids[25]])
	}
	if len(deleted) != 1 || deleted[0] != ids[28] {
		t.Errorf("deletes read: %v, want %s", deleted, ids[28])
	}
}

// TestCreditBudget: with a budget of N credits in 24 hours (the org's
// credits: the stand-in refuses the N+1st), reads spend exactly N, then
// wait for the window to roll on, and once it has they go on to the end:
// the quota is never exceeded and nothing is lost.
func TestCreditBudget(t *testing.T) {
	t.Parallel()
	const n = 10
	clk := newClock()
	fake, _ := newFake(t, zohotest.Options{Now: clk.Now, Credits: n})
	ids := putContacts(fake, 0, 60)
	clk.Add(time.Second)
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
	cfg.DailyCredits = n
	c, err := New("zoho-budget", cfg, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil { // the probe: 1 credit
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	type result struct {
		recs []connectors.Record
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var out []connectors.Record
		cur := ""
		for range 100 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			b, err := c.Read(ctx, "customer", cur, 10)
			cancel()
			if err != nil {
				done <- result{out, err}
				return
			}
			cur = b.Cursor
			if len(b.Records) == 0 {
				done <- result{out, nil}
				return
			}
			out = append(out, b.Records...)
		}
	}()
	var wait time.Duration
	select {
	case wait = <-slept:
	case r := <-done:
		t.Fatalf("the reads ended (%d records, %v) without waiting for the budget", len(r.recs), r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the reads never waited for the budget")
	}
	if used := fake.CreditsUsed(); used != n {
		t.Fatalf("the stand-in counted %d credits when the connector stopped, want exactly %d", used, n)
	}
	if s := c.Stats().Credits; s.Used != n || wait < 23*time.Hour {
		t.Fatalf("the connector holds %d credits and waits %s, want %d and the rest of the 24 hours", s.Used, wait, n)
	}
	for _, call := range fake.Calls() {
		if call.Status == 429 {
			t.Fatalf("the stand-in refused a call: %+v", call)
		}
	}
	// The window rolls on: the reads go on to the end.
	clk.Add(24 * time.Hour)
	close(wake)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	once(t, r.recs, ids)
}

// TestTokenSharedByWorkers: many workers of one connector start at once;
// one access token is minted for all of them.
func TestTokenSharedByWorkers(t *testing.T) {
	t.Parallel()
	fake, _ := newFake(t, zohotest.Options{})
	cfg := testConfig(fake)
	c, err := New("zoho-workers", cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Scan(t.Context(), "customer", "", 10); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if m := fake.Mints(); m != 1 {
		t.Errorf("%d access tokens minted for 20 workers, want 1", m)
	}
}

// TestMintLimit: when every token keeps being refused, the connector
// mints at most 10 in 10 minutes (Zoho's limit per refresh token) and
// waits, instead of being locked out.
func TestMintLimit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake, _ := newFake(t, zohotest.Options{Now: clk.Now})
	var waited atomic.Int64
	clock := saas.Clock{Now: clk.Now, Sleep: func(_ context.Context, d time.Duration) error {
		waited.Add(int64(d))
		clk.Add(d)
		return nil
	}}
	cfg := testConfig(fake)
	c, err := New("zoho-mint", cfg, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 15 {
		fake.ExpireTokens()
		if _, err := c.Scan(t.Context(), "customer", "", 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, call := range fake.Calls() {
		if call.Status == 400 {
			t.Fatalf("the accounts server refused a token")
		}
	}
	if fake.Mints() != 16 || waited.Load() < int64(5*time.Minute) {
		t.Errorf("%d tokens minted, waited %s: want 16, with a wait for the 10-minute window", fake.Mints(), time.Duration(waited.Load()))
	}
}

// TestConcurrencyLimit: 12 writers share a connector with concurrency 3
// against an org allowing 3 calls in flight: no call is refused.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	fake, _ := newFake(t, zohotest.Options{Concurrency: 3, Latency: 20 * time.Millisecond})
	cfg := testConfig(fake)
	cfg.Concurrency = 3
	c := start(t, cfg)
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Write(t.Context(), "customer", []connectors.WriteRecord{{HubID: fmt.Sprint(w),
				Data: obj("Last_Name", fmt.Sprintf("Writer %d", w), "Email", fmt.Sprintf("w%d@example.com", w))}})
			if err != nil || res[0].Outcome != connectors.Written {
				t.Errorf("writer %d: %+v %v", w, res, err)
			}
		}()
	}
	wg.Wait()
	for _, call := range fake.Calls() {
		if call.Status == 429 {
			t.Fatalf("the org refused a call over its concurrency limit: %+v", call)
		}
	}
}
