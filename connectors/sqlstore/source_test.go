package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmhub/hub/connectors"
)

// read reads once, waiting at most wait for changes.
func read(t *testing.T, c *Conn, entity, cursor string, max int, wait time.Duration) connectors.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	b, err := c.Read(ctx, entity, cursor, max)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return b
}

func keys(b connectors.Batch) []string {
	out := make([]string, len(b.Records))
	for i, r := range b.Records {
		out[i] = r.Key
	}
	return out
}

func TestOutboxCapture(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		ctx := context.Background()
		td.exec(t,
			`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer VARCHAR(20), total NUMERIC(20,2), updated_at {ts})`,
			`CREATE TABLE order_lines (order_id INTEGER NOT NULL, line_no INTEGER NOT NULL, sku VARCHAR(20), qty INTEGER, PRIMARY KEY (order_id, line_no))`,
		)
		cfg := Config{Driver: td.driver, DSN: td.dsn, PollInterval: 20 * time.Millisecond, Entities: map[string]EntityConfig{
			"order": {Table: "orders", Capture: CaptureOutbox, Lines: &LinesConfig{Table: "order_lines", ParentKey: "order_id", Key: "line_no"}},
		}}
		c, err := New("crm", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err == nil || !strings.Contains(err.Error(), "install-capture") {
			t.Fatalf("Start without the outbox: %v", err)
		}
		for range 2 { // idempotent
			if err := c.InstallCapture(ctx); err != nil {
				t.Fatalf("InstallCapture: %v", err)
			}
		}
		c = startConn(t, td, cfg)

		big := "12345678901234567.89"
		if td.kind == "sqlite" { // NUMERIC affinity stores a REAL there
			big = "1234.56"
		}
		td.execArgs(t, "INSERT INTO orders (id, customer, total, updated_at) VALUES (?, ?, ?, ?)", 1, "c1", big, td.ts(t0))
		td.execArgs(t, "INSERT INTO order_lines (order_id, line_no, sku, qty) VALUES (?, ?, ?, ?), (?, ?, ?, ?)", 1, 2, "B", 1, 1, 1, "A", 5)
		td.execArgs(t, "INSERT INTO orders (id, customer, total, updated_at) VALUES (?, ?, ?, ?)", 2, "c2", nil, td.ts(t0))

		b := read(t, c, "order", "", 100, time.Second)
		if got := strings.Join(keys(b), ","); got != "1,2" { // in order of each key's last change
			t.Fatalf("keys = %s", got)
		}
		o1 := b.Records[0]
		if o1.Op != connectors.OpUpsert || !o1.Version.Equal(t0) {
			t.Errorf("order 1: op %s version %v", o1.Op, o1.Version)
		}
		if got := o1.Data.Get("total"); got.Str() != big || got.Kind().String() != "number" {
			t.Errorf("total = %s %q, want number %s", got.Kind(), got.Str(), big)
		}
		if got := o1.Data.Get("updated_at").Str(); got != "2026-11-22T10:00:00Z" {
			t.Errorf("updated_at = %q", got)
		}
		if !b.Records[1].Data.Get("total").IsNull() {
			t.Errorf("NULL total = %v", b.Records[1].Data.Get("total"))
		}
		ls := o1.Data.Get("lines")
		if ls.Len() != 2 || ls.Index(0).Get("sku").Str() != "A" || ls.Index(1).Get("qty").Str() != "1" {
			t.Errorf("lines = %v", ls.Any())
		}
		cur := b.Cursor

		// A line change enqueues its order.
		td.execArgs(t, "UPDATE order_lines SET qty = ? WHERE order_id = ? AND line_no = ?", 7, 1, 2)
		b = read(t, c, "order", cur, 100, time.Second)
		if got := strings.Join(keys(b), ","); got != "1" {
			t.Fatalf("after a line change: keys = %s", got)
		}
		if q := b.Records[0].Data.Get("lines").Index(1).Get("qty").Str(); q != "7" {
			t.Errorf("line qty = %s", q)
		}
		cur = b.Cursor

		// A delete yields Op delete with the key.
		td.execArgs(t, "DELETE FROM orders WHERE id = ?", 2)
		b = read(t, c, "order", cur, 100, time.Second)
		if len(b.Records) != 1 || b.Records[0].Op != connectors.OpDelete || b.Records[0].Key != "2" || b.Records[0].Data.Get("id").Str() != "2" {
			t.Fatalf("delete: %+v", b.Records)
		}
		cur = b.Cursor

		// Nothing new: an empty batch with the same cursor once ctx is done.
		start := time.Now()
		b = read(t, c, "order", cur, 100, 150*time.Millisecond)
		if len(b.Records) != 0 || b.Cursor != cur {
			t.Errorf("idle read = %+v", b)
		}
		if time.Since(start) < 100*time.Millisecond {
			t.Errorf("idle read returned at once")
		}

		// Re-reading from the start is harmless: current state per key.
		b = read(t, c, "order", "", 100, time.Second)
		if got := strings.Join(keys(b), ","); got != "1,2" {
			t.Errorf("re-read keys = %s", got)
		}
	})
}

func TestCursorCapture(t *testing.T) {
	// Recent times: the look-back assumes a row commits at most look_back
	// after its updated_at, measured on the database's clock.
	t0 := time.Now().UTC().Truncate(time.Second).Add(-20 * time.Second)
	forKinds(t, func(t *testing.T, td *testDB) {
		td.exec(t, `CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(20), updated_at {ts})`)
		ins := func(id int, at time.Time) {
			td.execArgs(t, "INSERT INTO customers (id, name, updated_at) VALUES (?, ?, ?)", id, fmt.Sprint("n", id), td.ts(at))
		}
		for i := 1; i <= 5; i++ {
			ins(i, t0.Add(time.Duration(i)*time.Second))
		}
		tie := t0.Add(10 * time.Second)
		for i := 6; i <= 30; i++ { // 25 rows with one updated_at
			ins(i, tie)
		}
		for i := 31; i <= 33; i++ {
			ins(i, t0.Add(20*time.Second))
		}
		c := startConn(t, td, Config{PollInterval: 20 * time.Millisecond, Entities: map[string]EntityConfig{
			"customer": {Table: "customers", BatchSize: 10, LookBack: dur(10 * time.Second)},
		}})

		seen := map[string]int{}
		cur := ""
		var batches [][]string
		for range 10 {
			b := read(t, c, "customer", cur, 100, 100*time.Millisecond)
			if len(b.Records) == 0 {
				break
			}
			batches = append(batches, keys(b))
			for _, r := range b.Records {
				seen[r.Key]++
			}
			cur = b.Cursor
		}
		if len(seen) != 33 {
			t.Fatalf("read %d distinct rows, want 33: %v", len(seen), batches)
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("row %s read %d times", k, n)
			}
		}
		for _, b := range batches { // the tie group is never split
			if slices.Contains(b, "6") != slices.Contains(b, "30") {
				t.Errorf("tie group split across batches: %v", batches)
			}
		}
		if len(batches[0]) != 30 {
			t.Errorf("first batch = %d rows, want 30 (10 extended by the tie group)", len(batches[0]))
		}

		// A transaction that committed late, behind the cursor but inside
		// the look-back window, is caught; nothing else is read again.
		// (Its updated_at is 5 s before the newest row's, well inside the
		// 10 s look-back from the database's clock.)
		// The window is read again a quarter of the look-back (2.5 s)
		// after the last complete read.
		ins(40, t0.Add(15*time.Second))
		b := read(t, c, "customer", cur, 100, 4*time.Second)
		if got := strings.Join(keys(b), ","); got != "40" {
			t.Fatalf("late row: keys = %s", got)
		}
		if !b.Records[0].Version.Equal(t0.Add(15 * time.Second)) {
			t.Errorf("version = %v", b.Records[0].Version)
		}
		cur = b.Cursor

		// An update moves a row forward.
		td.execArgs(t, "UPDATE customers SET name = ?, updated_at = ? WHERE id = ?", "changed", td.ts(t0.Add(30*time.Second)), 3)
		b = read(t, c, "customer", cur, 100, time.Second)
		if got := strings.Join(keys(b), ","); got != "3" || b.Records[0].Data.Get("name").Str() != "changed" {
			t.Fatalf("update: %v", b.Records)
		}
		if b = read(t, c, "customer", b.Cursor, 100, 100*time.Millisecond); len(b.Records) != 0 {
			t.Errorf("idle read = %v", keys(b))
		}
		if _, err := c.Read(context.Background(), "customer", "garbage!", 10); err == nil {
			t.Errorf("a bad cursor must fail")
		}
	})
}

// scanAll scans entity page by page from position and returns the
// records and the positions each page handed out.
func scanAll(t *testing.T, c *Conn, entity, position string, max int) ([]connectors.Record, []string) {
	t.Helper()
	var out []connectors.Record
	var nexts []string
	for range 1000 {
		p, err := c.Scan(context.Background(), entity, position, max)
		if err != nil {
			t.Fatalf("scan %s from %q: %v", entity, position, err)
		}
		if len(p.Records) > max {
			t.Fatalf("scan %s: %d records, asked for at most %d", entity, len(p.Records), max)
		}
		out = append(out, p.Records...)
		if p.Next == "" {
			return out, nexts
		}
		nexts = append(nexts, p.Next)
		position = p.Next
	}
	t.Fatal("the scan does not end")
	return nil, nil
}

func TestScan(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		td.exec(t,
			`CREATE TABLE orders (id INTEGER PRIMARY KEY, updated_at {ts})`,
			`CREATE TABLE order_lines (order_id INTEGER NOT NULL, line_no INTEGER NOT NULL, PRIMARY KEY (order_id, line_no))`,
			`CREATE TABLE customers (code VARCHAR(10) PRIMARY KEY, updated_at {ts})`,
		)
		for i := 12; i >= 1; i-- {
			td.execArgs(t, "INSERT INTO orders (id, updated_at) VALUES (?, ?)", i, td.ts(t0))
			for l := 1; l <= i%3; l++ {
				td.execArgs(t, "INSERT INTO order_lines (order_id, line_no) VALUES (?, ?)", i, l)
			}
		}
		for _, code := range []string{"b", "a10", "a9", "c"} {
			td.execArgs(t, "INSERT INTO customers (code, updated_at) VALUES (?, ?)", code, td.ts(t0))
		}
		c := startConn(t, td, Config{Entities: map[string]EntityConfig{
			"order":    {Table: "orders", BatchSize: 5, Lines: &LinesConfig{Table: "order_lines", ParentKey: "order_id", Key: "line_no"}},
			"customer": {Table: "customers", Key: "code"},
		}})
		if got := c.Scans(); strings.Join(got, ",") != "customer,order" {
			t.Errorf("Scans = %v", got)
		}
		recs, nexts := scanAll(t, c, "order", "", 4)
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%s:%d", r.Key, r.Data.Get("lines").Len()))
		}
		// Integer keys in integer order (10 after 9), lines as Read has them.
		want := "1:1,2:2,3:0,4:1,5:2,6:0,7:1,8:2,9:0,10:1,11:2,12:0"
		if strings.Join(got, ",") != want {
			t.Errorf("scan = %s\nwant   %s", strings.Join(got, ","), want)
		}
		if len(nexts) != 2 {
			t.Errorf("positions %v: want 2 for 12 rows in pages of 4 (none after the last)", nexts)
		}
		// A max above batch_size is capped.
		if p, err := c.Scan(context.Background(), "order", "", 100); err != nil || len(p.Records) != 5 {
			t.Errorf("max 100: %d records, %v; want batch_size 5", len(p.Records), err)
		}
		// Resuming from the second page's position after a row before it
		// was deleted and one after it inserted: neither skips nor repeats.
		td.execArgs(t, "DELETE FROM orders WHERE id = ?", 2)
		td.execArgs(t, "INSERT INTO orders (id, updated_at) VALUES (?, ?)", 20, td.ts(t0))
		rest, _ := scanAll(t, c, "order", nexts[0], 4)
		if got := strings.Join(keys(connectors.Batch{Records: rest}), ","); got != "5,6,7,8,9,10,11,12,20" {
			t.Errorf("resumed scan = %s", got)
		}
		// Text keys in text order.
		recs, _ = scanAll(t, c, "customer", "", 3)
		if got := strings.Join(keys(connectors.Batch{Records: recs}), ","); got != "a10,a9,b,c" {
			t.Errorf("text keys = %s", got)
		}
		if _, err := c.Scan(context.Background(), "order", "garbage", 4); err == nil {
			t.Errorf("a position Scan did not hand out was accepted")
		}
	})
}

func TestSchemaCheck(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		td.exec(t, `CREATE TABLE customers (id INTEGER PRIMARY KEY, modified {ts})`)
		for _, tc := range []struct {
			ec   EntityConfig
			want string
		}{
			{EntityConfig{Table: "customers"}, `entities.customer.updated_at: column "updated_at" not found in table "customers"`},
			{EntityConfig{Table: "customers", UpdatedAt: "modified", Columns: []string{"id", "email"}}, `entities.customer.columns[1]: column "email" not found`},
			{EntityConfig{Table: "clients", UpdatedAt: "modified"}, `entities.customer.table: table "clients" does not exist`},
		} {
			c, err := New("crm", Config{Driver: td.driver, DSN: td.dsn, Entities: map[string]EntityConfig{"customer": tc.ec}})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start = %v, want %q", err, tc.want)
			}
			c.Close()
		}
	})
}

// A backlog written long before it is read needs no look-back: the cursor
// stays small and each read is one forward query, however many rows share
// the look-back window of the newest one.
func TestCursorBacklogStaysSmall(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		td.exec(t, `CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(20), updated_at {ts})`)
		old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 1; i <= 300; i++ {
			td.execArgs(t, "INSERT INTO customers (id, name, updated_at) VALUES (?, ?, ?)", i, fmt.Sprint("n", i), td.ts(old.Add(time.Duration(i)*time.Millisecond)))
		}
		c := startConn(t, td, Config{PollInterval: 20 * time.Millisecond, Entities: map[string]EntityConfig{
			"customer": {Table: "customers", BatchSize: 50, LookBack: dur(time.Hour)},
		}})
		cur, total := "", 0
		for range 10 {
			b := read(t, c, "customer", cur, 50, 100*time.Millisecond)
			if len(b.Records) == 0 {
				break
			}
			total += len(b.Records)
			cur = b.Cursor
			if len(cur) > 300 {
				t.Fatalf("cursor grew to %d bytes after %d rows: the look-back remembers a settled backlog", len(cur), total)
			}
		}
		if total != 300 {
			t.Errorf("read %d rows, want 300 exactly once", total)
		}
	})
}

// TestCursorDenseWindow reads a table whose rows are all inside the
// look-back window, in small batches, while the window comes due every
// few reads: every row is read exactly once and a row added later is
// reached. The window must remember every row it can still hold (all
// rows newer than the window's low bound, not than now minus the
// look-back): forgetting them made it re-read them as late commits, fill
// every batch with them and never move forward again (hub bench sync
// stalled at a few thousand orders).
func TestCursorDenseWindow(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		td.exec(t, `CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(20), updated_at {ts})`)
		now := time.Now().UTC()
		for i := 1; i <= 200; i++ {
			td.execArgs(t, "INSERT INTO customers (id, name, updated_at) VALUES (?, ?, ?)", i, fmt.Sprint("n", i),
				td.ts(now.Add(-900*time.Millisecond+time.Duration(i)*500*time.Microsecond)))
		}
		c := startConn(t, td, Config{PollInterval: 20 * time.Millisecond, Entities: map[string]EntityConfig{
			"customer": {Table: "customers", BatchSize: 20, LookBack: dur(time.Second)},
		}})
		reads := map[string]int{}
		cur := ""
		for n := range 40 {
			if n == 3 {
				td.execArgs(t, "INSERT INTO customers (id, name, updated_at) VALUES (?, ?, ?)", 999, "fresh", td.ts(time.Now().UTC()))
			}
			b := read(t, c, "customer", cur, 20, 50*time.Millisecond)
			for _, r := range b.Records {
				reads[r.Key]++
			}
			cur = b.Cursor
			if reads["999"] > 0 && len(reads) == 201 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if reads["999"] == 0 || len(reads) != 201 {
			t.Fatalf("after 40 reads: %d distinct rows of 201, the fresh row read %d times", len(reads), reads["999"])
		}
		for k, n := range reads {
			if n != 1 {
				t.Errorf("row %s read %d times; nothing committed late", k, n)
			}
		}
	})
}

// TestCursorReadStartsAtTheCursor: reading a backlog forward costs the
// database the rows read, not every row before the cursor again on each
// read. PostgreSQL's own counters tell how many index entries the reads
// touched: a query whose only bound is an OR is a filter, and the index
// scan starts at its first row (20,000 rows in reads of 500: about 400,000
// entries instead of about 20,000).
func TestCursorReadStartsAtTheCursor(t *testing.T) {
	td := newTestDB(t, "postgres")
	td.exec(t, `CREATE TABLE orders (id BIGINT PRIMARY KEY, name TEXT, updated_at TIMESTAMPTZ NOT NULL)`,
		`CREATE INDEX orders_cursor ON orders (updated_at, id)`,
		`INSERT INTO orders SELECT g, 'n' || g, now() - interval '1 hour' + g * interval '1 ms' FROM generate_series(1, 20000) g`,
		`ANALYZE orders`)
	c := startConn(t, td, Config{Entities: map[string]EntityConfig{
		"order": {Table: "orders", BatchSize: 500, LookBack: dur(time.Second)},
	}})
	got, cur, reads := 0, "", 0
	for got < 20000 && reads < 100 {
		b := read(t, c, "order", cur, 500, 5*time.Second)
		got, cur = got+len(b.Records), b.Cursor
		reads++
	}
	if got != 20000 {
		t.Fatalf("read %d rows in %d reads, want 20000", got, reads)
	}
	c.Close() // the server publishes a backend's counters when it ends
	var scans, entries int64
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := td.db.QueryRow(`SELECT idx_scan, idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'orders_cursor' AND schemaname = current_schema()`).
			Scan(&scans, &entries); err != nil {
			t.Fatal(err)
		}
		if scans >= int64(reads) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if scans < int64(reads) {
		t.Fatalf("the server counted %d scans of the cursor index after %d reads; counters not published", scans, reads)
	}
	if entries > 3*20000 {
		t.Errorf("%d reads of 20,000 rows touched %d index entries: each read scanned the index from its start", reads, entries)
	}
	t.Logf("%d reads, %d index scans, %d index entries", reads, scans, entries)
}

// Where the lines' table compares keys without regard to case (MariaDB's
// default collation; COLLATE NOCASE in SQLite; a nondeterministic
// collation in PostgreSQL), a line keyed "a-1" is one of order "A-1"'s for
// the database: the order gets it, in line order, instead of losing it.
// Only the chunk with such a line is read a second time, in one query.
func TestLinesOfKeysTheTableEquates(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		ci := map[string]string{"mysql": "", "sqlite": " COLLATE NOCASE", "postgres": " COLLATE hubt_ci"}[td.kind]
		if td.kind == "postgres" {
			td.exec(t, `CREATE COLLATION hubt_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`)
		}
		td.exec(t,
			`CREATE TABLE orders (code VARCHAR(10) PRIMARY KEY, updated_at {ts})`,
			`CREATE TABLE order_lines (order_code VARCHAR(10)`+ci+` NOT NULL, line_no INTEGER NOT NULL, sku VARCHAR(10), PRIMARY KEY (order_code, line_no))`,
		)
		td.execArgs(t, "INSERT INTO orders (code, updated_at) VALUES (?, ?), (?, ?), (?, ?)", "A-1", td.ts(t0), "B-1", td.ts(t0), "C-1", td.ts(t0))
		td.execArgs(t, "INSERT INTO order_lines (order_code, line_no, sku) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?)",
			"A-1", 1, "x", "a-1", 2, "y", "A-1", 3, "z", "B-1", 1, "w", "d-1", 1, "v")
		c := startConn(t, td, Config{Entities: map[string]EntityConfig{
			"order": {Table: "orders", Key: "code", Lines: &LinesConfig{Table: "order_lines", ParentKey: "order_code", Key: "line_no"}},
		}})
		p, err := c.Scan(context.Background(), "order", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"A-1": "x,y,z", "B-1": "w", "C-1": ""}
		if got := skusByKey(p.Records); !maps.Equal(got, want) {
			t.Errorf("lines by order: %v, want %v", got, want)
		}
		// The queries: one for a chunk whose lines all hold a row's key,
		// one more for a chunk with a line that holds another text.
		db, e, err := c.started("order")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []struct {
			keys    []string
			queries int
		}{{[]string{"B-1", "C-1"}, 1}, {[]string{"A-1", "B-1"}, 2}} {
			rows := make([]row, len(k.keys))
			for i, key := range k.keys {
				rows[i] = row{key: key, keyS: key}
			}
			q := &countingQueryer{QueryerContext: db}
			if err := c.attachLines(context.Background(), q, e, rows); err != nil {
				t.Fatal(err)
			}
			if q.n != k.queries {
				t.Errorf("lines of %v: %d queries, want %d", k.keys, q.n, k.queries)
			}
		}
	})
}

// A key of another type in the lines' table (DECIMAL beside an integer
// key) reads back as other text ("42.00" for 42): the lines are still
// the order's, in line order.
func TestLinesOfKeysOfAnotherType(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		td.exec(t,
			`CREATE TABLE orders (id INTEGER PRIMARY KEY, updated_at {ts})`,
			`CREATE TABLE order_lines (order_id DECIMAL(10,2) NOT NULL, line_no INTEGER NOT NULL, sku VARCHAR(10), PRIMARY KEY (order_id, line_no))`,
		)
		td.execArgs(t, "INSERT INTO orders (id, updated_at) VALUES (?, ?), (?, ?)", 42, td.ts(t0), 7, td.ts(t0))
		td.execArgs(t, "INSERT INTO order_lines (order_id, line_no, sku) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)", 42, 2, "b", 42, 1, "a", 7, 1, "c")
		c := startConn(t, td, Config{Entities: map[string]EntityConfig{
			"order": {Table: "orders", Lines: &LinesConfig{Table: "order_lines", ParentKey: "order_id", Key: "line_no"}},
		}})
		p, err := c.Scan(context.Background(), "order", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"42": "a,b", "7": "c"}
		if got := skusByKey(p.Records); !maps.Equal(got, want) {
			t.Errorf("lines by order: %v, want %v", got, want)
		}
	})
}

func skusByKey(recs []connectors.Record) map[string]string {
	got := map[string]string{}
	for _, r := range recs {
		var skus []string
		for _, l := range r.Data.Get("lines").Elems() {
			skus = append(skus, l.Get("sku").Str())
		}
		got[r.Key] = strings.Join(skus, ",")
	}
	return got
}

// countingQueryer counts the queries that go through it.
type countingQueryer struct {
	sqlx.QueryerContext
	n int
}

func (q *countingQueryer) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	q.n++
	return q.QueryerContext.QueryxContext(ctx, query, args...)
}
