package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// hookPusher is a pusher as a shop's webhook would be: one route that
// takes a JSON record and answers 200 only once Ingest says it is durable,
// 503 otherwise (the sender then tries again).
type hookPusher struct{}

func (hookPusher) Pushes() []connectors.ReadSpec { return []connectors.ReadSpec{{Entity: "customer"}} }

func (hookPusher) Routes(in connectors.Ingest) []connectors.Route {
	return []connectors.Route{{Pattern: "POST /webhooks/test/customer", Public: true, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID        int       `json:"id"`
			Name      string    `json:"name"`
			UpdatedAt time.Time `json:"updated_at"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec := customer(body.ID, body.Name)
		rec.Version = body.UpdatedAt
		if body.Name == "" { // a record without its name
			rec.Data = mapping.ObjectValue(rec.Data.Members()[0])
		}
		res, err := in.Ingest(r.Context(), "customer", []connectors.Record{rec})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"outcome": res[0].Outcome.String(), "hub_id": res[0].HubID, "reason": res[0].Reason})
	})}}
}

// TestPushAnsweredOnceDurable: a pushed record is in Kafka by the time the
// webhook is answered; a duplicate and a late older delivery change
// nothing; a bad record is a dead letter, answered as rejected; and when
// Kafka does not acknowledge, Ingest fails rather than answer.
func TestPushAnsweredOnceDurable(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := newIntake(h, "customer", customerIn, nil)
	in.NewerOnly = true
	in.Writer = h.bus.NewWriter(h.prefix + ".customer")
	defer in.Writer.Close()
	in.DLQ = &DeadLetters{Store: h.store, Metrics: h.m, Log: h.log}
	push := &Push{System: "crm", Intakes: map[string]*Intake{"customer": in}}
	routes := hookPusher{}.Routes(push)
	if err := CheckRoute("pusher", routes[0].Pattern); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(routes[0].Pattern, routes[0].Handler)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(id int, name string, at int64) (int, map[string]string) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"id": id, "name": name, "updated_at": time.Unix(at, 0).UTC()})
		resp, err := http.Post(srv.URL+"/webhooks/test/customer", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	code, out := post(1, "Ann", 100)
	if code != 200 || out["outcome"] != "published" || out["hub_id"] == "" {
		t.Fatalf("first delivery: %d %v", code, out)
	}
	// Answered: the record is in Kafka already.
	r := h.bus.NewReader("push-test", []string{h.prefix + ".customer"}, bus.ReaderOptions{MaxWait: 50 * time.Millisecond})
	defer r.Close()
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := r.Fetch(fctx)
	if err != nil {
		t.Fatalf("the answered record is not in Kafka: %v", err)
	}
	if env, err := DecodeEnvelope(m.Value); err != nil || env.ID != out["hub_id"] || env.Data.Get("name").Str() != "Ann" {
		t.Fatalf("topic holds %s (%v)", m.Value, err)
	}
	for _, c := range []struct {
		what    string
		id      int
		name    string
		at      int64
		outcome string
	}{
		{"a duplicate delivery", 1, "Ann", 100, "unchanged"},
		{"a late retry of an older version", 1, "Old name", 50, "unchanged"},
		{"a newer version", 1, "Anna", 200, "published"},
		{"a record its mapping refuses", 2, "", 10, "rejected"},
	} {
		if code, out := post(c.id, c.name, c.at); code != 200 || out["outcome"] != c.outcome {
			t.Errorf("%s: %d %v, want 200 %s", c.what, code, out, c.outcome)
		}
	}
	dls, err := h.store.ListDeadLetters(ctx, store.DeadLetterFilter{Status: store.StatusOpen})
	if err != nil || len(dls) != 1 || dls[0].RecordKey != "2" || !strings.Contains(dls[0].Error, "name") {
		t.Errorf("dead letters = %+v (%v), want customer 2", dls, err)
	}
	// Only the first and the newer version reached Kafka.
	m, err = r.Fetch(fctx)
	if err != nil {
		t.Fatal(err)
	}
	if env, _ := DecodeEnvelope(m.Value); env == nil || env.Data.Get("name").Str() != "Anna" {
		t.Errorf("second record on the topic = %s, want Anna", m.Value)
	}
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if m, err := r.Fetch(short); err == nil {
		t.Errorf("a third record reached Kafka: %s", m.Value)
	}

	// Kafka away: Ingest does not pretend.
	in.Writer = h.bus.NewWriter(h.prefix + ".no-such-topic")
	defer in.Writer.Close()
	dctx, cancel3 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel3()
	rec := customer(3, "Cy")
	rec.Data = mapping.ObjectValue(append(rec.Data.Members(), mapping.Member{Key: "x", Value: mapping.StringValue("y")})...)
	if _, err := push.Ingest(dctx, "customer", []connectors.Record{rec}); err == nil {
		t.Errorf("Ingest succeeded although Kafka never acknowledged the record")
	}
	if _, err := push.Ingest(ctx, "order", nil); err == nil || !strings.Contains(err.Error(), "no source takes order") {
		t.Errorf("an entity without a source: %v", err)
	}
}

// TestPushAnswersEachCallerWithItsBatch: under group commit a caller is
// answered as soon as its own batch ends, while the batch of the calls that
// arrived meanwhile still runs. (The caller that led a batch used to lead
// the next ones too, and was answered only once no call was left: under a
// steady load, seconds later.) Each caller gets its own records' results,
// one batch runs at a time, and once the queue is empty the next call
// leads again.
func TestPushAnswersEachCallerWithItsBatch(t *testing.T) {
	started := make(chan []string, 4) // each batch's keys, as it starts
	release := make(chan struct{})    // each send ends one batch
	running := 0
	var mu sync.Mutex
	g := &group{take: func(ctx context.Context, recs []connectors.Record) ([]connectors.IngestResult, error) {
		mu.Lock()
		running++
		if running > 1 {
			t.Errorf("%d batches run at once", running)
		}
		mu.Unlock()
		defer func() { mu.Lock(); running--; mu.Unlock() }()
		var keys []string
		res := make([]connectors.IngestResult, len(recs))
		for i, r := range recs {
			keys = append(keys, r.Key)
			res[i] = connectors.IngestResult{Outcome: connectors.IngestPublished, HubID: "hub-" + r.Key}
		}
		started <- keys
		select {
		case <-release:
			return res, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
	type answer struct {
		res []connectors.IngestResult
		err error
	}
	ask := func(key string) chan answer {
		ch := make(chan answer, 1)
		go func() {
			res, err := g.do(context.Background(), []connectors.Record{{Key: key}})
			ch <- answer{res, err}
		}()
		return ch
	}
	batch := func(want ...string) {
		t.Helper()
		select {
		case keys := <-started:
			sort.Strings(keys)
			if strings.Join(keys, ",") != strings.Join(want, ",") {
				t.Fatalf("batch of %v, want %v", keys, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no batch of %v began", want)
		}
	}
	answered := func(ch chan answer, key string) {
		t.Helper()
		select {
		case a := <-ch:
			if a.err != nil || len(a.res) != 1 || a.res[0].HubID != "hub-"+key {
				t.Errorf("%s answered %+v, %v", key, a.res, a.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s not answered after its batch ended", key)
		}
	}
	queued := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			g.mu.Lock()
			got := len(g.pending)
			g.mu.Unlock()
			if got == n {
				return
			}
		}
		t.Fatalf("%d calls never queued", n)
	}

	a := ask("a")
	batch("a")
	b, c := ask("b"), ask("c")
	queued(2)
	release <- struct{}{} // a's batch ends: b and c form the next
	batch("b", "c")
	answered(a, "a") // while b and c's batch still runs
	select {
	case got := <-b:
		t.Fatalf("b answered before its batch ended: %+v", got)
	default:
	}
	push := &Push{groups: map[string]*group{"customer": g}}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if push.wait(short) {
		t.Error("wait says no batch runs while b and c's runs")
	}
	release <- struct{}{}
	answered(b, "b")
	answered(c, "c")
	if !push.wait(context.Background()) {
		t.Fatal("wait: a batch still runs")
	}
	d := ask("d") // nothing runs: d leads its own batch
	batch("d")
	release <- struct{}{}
	answered(d, "d")
}

// TestPushBatchThatPanics: a batch that panics, on the caller's goroutine
// or on one of its own (the batch after a caller's), and a batch whose
// results do not match its records, answer their callers with an error
// (their senders try again) that does not tell the panic, say so in the
// log, and the next call is taken as usual: neither the process nor the
// entity's queue stops.
func TestPushBatchThatPanics(t *testing.T) {
	var logged strings.Builder // written by the leading goroutines; read once their callers are answered
	release := make(chan struct{})
	g := &group{log: slog.New(slog.NewTextHandler(&logged, nil)),
		take: func(_ context.Context, recs []connectors.Record) ([]connectors.IngestResult, error) {
			switch recs[0].Key {
			case "boom", "boom later":
				panic("boom: a bug in the batch")
			case "short":
				return nil, nil
			case "slow":
				<-release
			}
			return []connectors.IngestResult{{Outcome: connectors.IngestPublished, HubID: "h-" + recs[0].Key}}, nil
		}}
	push := &Push{groups: map[string]*group{"customer": g}}
	call := func(key string) ([]connectors.IngestResult, error) {
		return g.do(context.Background(), []connectors.Record{{Key: key}})
	}
	idle := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if !push.wait(ctx) {
			t.Fatal("a batch still runs")
		}
	}
	for _, key := range []string{"boom", "short"} {
		if _, err := call(key); err == nil || strings.Contains(err.Error(), "boom") {
			t.Errorf("%s: answered %v, want an error that does not tell the sender the panic", key, err)
		}
		idle()
	}
	// A panic on the goroutine that leads the batch after the slow one.
	slow := make(chan error, 1)
	go func() { _, err := call("slow"); slow <- err }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		started := g.running && len(g.pending) == 0
		g.mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow batch never began")
		}
	}
	later := make(chan error, 1)
	go func() { _, err := call("boom later"); later <- err }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		queued := len(g.pending) == 1
		g.mu.Unlock()
		if queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second call never queued")
		}
	}
	close(release)
	if err := <-slow; err != nil {
		t.Errorf("the slow batch: %v", err)
	}
	if err := <-later; err == nil {
		t.Error("the batch that panicked on its own goroutine answered no error")
	}
	idle()
	log := logged.String()
	if strings.Count(log, "panicked") != 2 || !strings.Contains(log, "boom: a bug") || !strings.Contains(log, "result count") {
		t.Errorf("the log says %q, want both panics and the short batch", log)
	}
	res, err := call("next")
	if err != nil || len(res) != 1 || res[0].HubID != "h-next" {
		t.Errorf("the next call: %+v, %v", res, err)
	}
}

// TestPushStop: Stop waits for the batch that runs, and refuses the calls
// that come after it with ErrStopping (their senders try again), also for
// an entity that had no call before.
func TestPushStop(t *testing.T) {
	release := make(chan struct{})
	push := &Push{System: "shop", Intakes: map[string]*Intake{"customer": {Name: "c"}, "order": {Name: "o"}}}
	g := push.group("customer", push.Intakes["customer"])
	g.take = func(_ context.Context, recs []connectors.Record) ([]connectors.IngestResult, error) {
		<-release
		return make([]connectors.IngestResult, len(recs)), nil
	}
	first := make(chan error, 1)
	go func() {
		_, err := g.do(context.Background(), []connectors.Record{{Key: "a"}})
		first <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); push.idle(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the batch never began")
		}
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if push.Stop(short) {
		t.Error("Stop says no batch runs while one does")
	}
	late, cancelLate := context.WithTimeout(context.Background(), 2*time.Second) // not refused: it would wait
	defer cancelLate()
	if _, err := g.do(late, []connectors.Record{{Key: "b"}}); !errors.Is(err, ErrStopping) {
		t.Errorf("a call after Stop: %v, want ErrStopping", err)
	}
	if _, err := push.Ingest(late, "order", []connectors.Record{{Key: "o1"}}); !errors.Is(err, ErrStopping) {
		t.Errorf("a call of another entity after Stop: %v, want ErrStopping", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("the batch that ran: %v", err)
	}
	if !push.Stop(context.Background()) {
		t.Error("Stop: a batch still runs")
	}
}
