package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOutboxPruning: Durable deletes the entity's outbox rows that a
// cursor stored at least outbox_keep ago had passed, and nothing else:
// not another entity's rows, not rows after that cursor, not rows passed
// more recently. Reading goes on as before.
func TestOutboxPruning(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		ctx := context.Background()
		td.exec(t,
			`CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(20), updated_at {ts})`,
			`CREATE TABLE orders (id INTEGER PRIMARY KEY, updated_at {ts})`,
		)
		keep := 300 * time.Millisecond
		cfg := Config{Driver: td.driver, DSN: td.dsn, PollInterval: 20 * time.Millisecond, OutboxKeep: &keep, Entities: map[string]EntityConfig{
			"customer": {Table: "customers", Capture: CaptureOutbox, LookBack: dur(0)},
			"order":    {Table: "orders", Capture: CaptureOutbox, LookBack: dur(0)},
		}}
		c, err := New("crm", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.InstallCapture(ctx); err != nil {
			t.Fatal(err)
		}
		c = startConn(t, td, cfg)
		insert := func(from, to int) {
			for i := from; i <= to; i++ {
				td.execArgs(t, "INSERT INTO customers (id, name, updated_at) VALUES (?, ?, ?)", i, "n", td.ts(t0))
			}
		}
		outbox := func(entity string) string {
			rows, err := td.db.Queryx(td.d.rebind("SELECT pk FROM hub_outbox WHERE entity = ? ORDER BY id"), entity)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var pks []string
			for rows.Next() {
				var pk string
				if err := rows.Scan(&pk); err != nil {
					t.Fatal(err)
				}
				pks = append(pks, pk)
			}
			return strings.Join(pks, ",")
		}
		insert(1, 3)
		td.execArgs(t, "INSERT INTO orders (id, updated_at) VALUES (?, ?), (?, ?)", 1, td.ts(t0), 2, td.ts(t0))
		b := read(t, c, "customer", "", 100, time.Second)
		c1 := b.Cursor
		if err := c.Durable(ctx, "customer", c1); err != nil {
			t.Fatal(err)
		}
		if got := outbox("customer"); got != "1,2,3" {
			t.Fatalf("right after Durable: outbox %s, want every row (outbox_keep)", got)
		}
		time.Sleep(keep + 50*time.Millisecond)
		insert(4, 5)
		b = read(t, c, "customer", c1, 100, time.Second)
		if got := strings.Join(keys(b), ","); got != "4,5" {
			t.Fatalf("read after c1: %s", got)
		}
		if err := c.Durable(ctx, "customer", b.Cursor); err != nil {
			t.Fatal(err)
		}
		if got := outbox("customer"); got != "4,5" {
			t.Errorf("outbox_keep after c1 was stored: customer rows %s, want 4,5 (those up to c1 %s pruned)", got, c1)
		}
		if got := outbox("order"); got != "1,2" {
			t.Errorf("order rows %s: another entity's rows were pruned", got)
		}
		// Reading goes on after the pruned ids.
		insert(6, 6)
		if b = read(t, c, "customer", b.Cursor, 100, time.Second); strings.Join(keys(b), ",") != "6" {
			t.Errorf("read after pruning: %v", keys(b))
		}
		if b = read(t, c, "order", "", 100, time.Second); strings.Join(keys(b), ",") != "1,2" {
			t.Errorf("orders: %v", keys(b))
		}
		if err := c.Durable(ctx, "customer", "not-an-id"); err == nil {
			t.Errorf("a cursor that is no outbox id was accepted")
		}
	})
}

// TestPassedLog: the bound to prune up to is the newest cursor stored at
// least keep ago; a cursor set back forgets the marks past it.
func TestPassedLog(t *testing.T) {
	var l passedLog
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keep := time.Hour
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	steps := []struct {
		id    int64
		at    time.Duration
		bound string // "" for none
	}{
		{100, 0, ""},
		{150, 30 * time.Second, ""}, // within keep/64 of the first mark: moves it, and its last time
		{200, 30 * time.Minute, ""}, // a new mark
		{250, time.Hour, ""},        // the first mark was last seen 59.5 min ago
		{260, time.Hour + time.Minute, "150"},
		{270, time.Hour + 2*time.Minute, ""},   // nothing new is old enough
		{120, time.Hour + 3*time.Minute, ""},   // set back: 200, 250, 260, 270 forgotten
		{130, 2*time.Hour + 4*time.Minute, ""}, // 120 is old enough, but up to 150 is pruned already
		{400, 3*time.Hour + 5*time.Minute, ""}, // so is 130
		{410, 4*time.Hour + 6*time.Minute, "400"},
	}
	for i, s := range steps {
		bound, ok := l.note("customer", s.id, at(s.at), keep)
		got := ""
		if ok {
			got = strconv.FormatInt(bound, 10)
			l.pruned("customer", bound)
		}
		if got != s.bound {
			t.Errorf("step %d (id %d at %v): bound %q, want %q", i, s.id, s.at, got, s.bound)
		}
	}
}
