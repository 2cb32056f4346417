package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

func obj(kv ...any) mapping.Value {
	var ms []mapping.Member
	for i := 0; i < len(kv); i += 2 {
		v, ok := kv[i+1].(mapping.Value)
		if !ok {
			if v, ok = mapping.FromAny(kv[i+1]); !ok {
				panic(fmt.Sprintf("obj: %T", kv[i+1]))
			}
		}
		ms = append(ms, mapping.Member{Key: kv[i].(string), Value: v})
	}
	return mapping.ObjectValue(ms...)
}

func num(s string) mapping.Value { return mapping.NumberValue(s) }

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func sinkTables(td *testDB, t testing.TB) Config {
	td.exec(t,
		`CREATE TABLE customers (ext VARCHAR(64) NOT NULL PRIMARY KEY, name VARCHAR(10) NOT NULL, balance NUMERIC(14,2), version {ts})`,
		`CREATE TABLE orders (id {autoid}, ext VARCHAR(64) NOT NULL UNIQUE, status VARCHAR(16) NOT NULL, total NUMERIC(14,2), version {ts})`,
		`CREATE TABLE order_lines (order_id BIGINT NOT NULL, line_no INTEGER NOT NULL, sku VARCHAR(32), qty INTEGER, PRIMARY KEY (order_id, line_no))`,
	)
	return Config{Entities: map[string]EntityConfig{
		"customer": {Table: "customers", Key: "ext", UpdatedAt: "version"},
		"order": {Table: "orders", UpdatedAt: "version", ExternalID: "ext",
			Delete: DeleteConfig{Mode: DeleteSoft, Column: "status", Value: "cancelled"},
			Lines:  &LinesConfig{Table: "order_lines", ParentKey: "order_id", Key: "line_no"}},
	}}
}

func write(t *testing.T, c *Conn, entity string, recs ...connectors.WriteRecord) []connectors.Result {
	t.Helper()
	res, err := c.Write(context.Background(), entity, recs)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if len(res) != len(recs) {
		t.Fatalf("Write returned %d results for %d records", len(res), len(recs))
	}
	return res
}

// orderWithLines is an order of sinkTables with 3 lines (line_no 1-3,
// sku ext-n, qty n), as the bulk paths write them.
func orderWithLines(ext string, ver time.Time) connectors.WriteRecord {
	ls := make([]mapping.Value, 3)
	for i := range ls {
		n := i + 1
		ls[i] = obj("line_no", n, "sku", fmt.Sprintf("%s-%d", ext, n), "qty", n)
	}
	return connectors.WriteRecord{Entity: "order", HubID: "h-" + ext, ExternalID: ext, Op: connectors.OpUpsert, Version: ver,
		Data: obj("status", "open", "total", num("1.00"), "lines", mapping.ArrayValue(ls))}
}

func customer(ext, name, balance string, ver time.Time) connectors.WriteRecord {
	var n mapping.Value
	if name != "<null>" {
		n = mapping.StringValue(name)
	}
	return connectors.WriteRecord{Entity: "customer", HubID: "hub-" + ext, ExternalID: ext, Op: connectors.OpUpsert, Version: ver,
		Data: obj("name", n, "balance", num(balance))}
}

func customerRows(t *testing.T, td *testDB) string {
	t.Helper()
	bal := "balance"
	if td.kind == "sqlite" { // a REAL: let SQLite print it, not database/sql
		bal = "CAST(balance AS TEXT)"
	}
	rows, err := td.db.Query("SELECT ext, name, " + bal + " FROM customers ORDER BY ext")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var ext, name string
		var bal sql.NullString
		if err := rows.Scan(&ext, &name, &bal); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%s/%s;", ext, name, bal.String)
	}
	return b.String()
}

func noErrors(t *testing.T, res []connectors.Result) {
	t.Helper()
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("result %d: %v", i, r.Err)
		}
	}
}

func TestSink(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		c := startConn(t, td, sinkTables(td, t))

		t.Run("upsert is idempotent", func(t *testing.T) {
			batch := []connectors.WriteRecord{customer("a", "Ann", "10.50", t0), customer("b", "Bob", "99999999999.99", t0), customer("c", "Cy", "0", t0)}
			res := write(t, c, "customer", batch...)
			noErrors(t, res)
			if res[1].ExternalID != "b" || res[1].Outcome != connectors.Written {
				t.Errorf("result = %+v", res[1])
			}
			first := customerRows(t, td)
			noErrors(t, write(t, c, "customer", batch...))
			if again := customerRows(t, td); again != first {
				t.Errorf("second write changed the table:\n%s\n%s", first, again)
			}
			if !strings.Contains(first, "b=Bob/99999999999.99") {
				t.Errorf("rows = %s", first)
			}
		})

		t.Run("version guard", func(t *testing.T) {
			noErrors(t, write(t, c, "customer", customer("g", "New", "2", t0.Add(time.Hour))))
			res := write(t, c, "customer", customer("g", "Old", "1", t0))
			if res[0].Err != nil || res[0].Outcome != connectors.Stale {
				t.Fatalf("older write: %+v, want Stale", res[0])
			}
			if got := customerRows(t, td); !strings.Contains(got, "g=New/2") {
				t.Errorf("older version overwrote the newer row: %s", got)
			}
			res = write(t, c, "customer", customer("g", "Newer", "3", t0.Add(2*time.Hour)))
			noErrors(t, res)
			if res[0].Outcome != connectors.Written || !strings.Contains(customerRows(t, td), "g=Newer/3") {
				t.Errorf("newer write not applied: %+v %s", res[0], customerRows(t, td))
			}
		})

		t.Run("bad record fails alone", func(t *testing.T) {
			batch := []connectors.WriteRecord{
				customer("p1", "Pam", "1", t0),
				customer("p2", "<null>", "2", t0),
				customer("p3", "Pat", "3", t0),
			}
			if td.kind != "sqlite" { // SQLite does not enforce VARCHAR lengths
				batch = append(batch, customer("p4", "Far too long a name", "4", t0))
			}
			res := write(t, c, "customer", batch...)
			for i, r := range res {
				bad := i == 1 || i == 3
				if !bad && r.Err != nil {
					t.Errorf("good record %d failed: %v", i, r.Err)
				}
				if bad {
					if r.Err == nil {
						t.Errorf("bad record %d succeeded", i)
						continue
					}
					if k, _ := connectors.Classify(r.Err); k != connectors.KindPermanent {
						t.Errorf("bad record %d: %v is %v, want permanent", i, r.Err, k)
					}
					if !strings.Contains(r.Err.Error(), "name") {
						t.Errorf("bad record %d: error does not name the column: %v", i, r.Err)
					}
					t.Logf("record %d: %v", i, r.Err)
				}
			}
			got := customerRows(t, td)
			if !strings.Contains(got, "p1=Pam") || !strings.Contains(got, "p3=Pat") || strings.Contains(got, "p2=") || strings.Contains(got, "p4=") {
				t.Errorf("rows = %s", got)
			}
		})

		t.Run("more decimals than the column holds are refused, not rounded", func(t *testing.T) {
			res := write(t, c, "customer",
				customer("s1", "Ten", "12.3456789012", t0), // NUMERIC(14,2)
				customer("s2", "Zeros", "12.500", t0),      // trailing zeros lose nothing
				customer("s3", "Two", "12.34", t0))
			if k, _ := connectors.Classify(res[0].Err); res[0].Err == nil || k != connectors.KindPermanent ||
				!strings.Contains(res[0].Err.Error(), `balance: "12.3456789012" has 10 digits after the point`) ||
				!strings.Contains(res[0].Err.Error(), "{round: 2}") {
				t.Errorf("10 decimals into NUMERIC(14,2): %v (%v), want a permanent error naming balance, the value and the scale", res[0].Err, k)
			}
			noErrors(t, res[1:])
			got := customerRows(t, td)
			if strings.Contains(got, "s1=") || !strings.Contains(got, "s3=Two/12.34") {
				t.Errorf("rows = %s", got)
			}
		})

		t.Run("unknown field is permanent", func(t *testing.T) {
			rec := customer("u", "U", "1", t0)
			rec.Data = obj("name", "U", "nope", 1)
			res := write(t, c, "customer", rec, customer("u2", "U2", "1", t0))
			if k, _ := connectors.Classify(res[0].Err); res[0].Err == nil || k != connectors.KindPermanent || !strings.Contains(res[0].Err.Error(), `"nope"`) {
				t.Errorf("unknown field: %v", res[0].Err)
			}
			noErrors(t, res[1:])
		})

		t.Run("order with lines is one unit", func(t *testing.T) {
			ord := func(ver time.Time, status string, n int) connectors.WriteRecord {
				ls := make([]mapping.Value, n)
				for i := range ls {
					ls[i] = obj("line_no", i+1, "sku", fmt.Sprintf("SKU-%d-%s", i+1, status), "qty", i+1)
				}
				return connectors.WriteRecord{Entity: "order", HubID: "h-o1", ExternalID: "o1", Op: connectors.OpUpsert, Version: ver,
					Data: obj("status", status, "total", num("12345678901.23"), "lines", mapping.ArrayValue(ls))}
			}
			lineCount := func() int {
				return td.count(t, "SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.ext = ?", "o1")
			}
			noErrors(t, write(t, c, "order", ord(t0, "open", 3)))
			if n := lineCount(); n != 3 {
				t.Fatalf("lines = %d, want 3", n)
			}
			noErrors(t, write(t, c, "order", ord(t0.Add(time.Minute), "paid", 2)))
			if n := lineCount(); n != 2 {
				t.Fatalf("lines after the newer version = %d, want 2", n)
			}
			if n := td.count(t, "SELECT COUNT(*) FROM order_lines WHERE sku LIKE ?", "%-paid"); n != 2 {
				t.Errorf("lines not replaced: %d paid lines", n)
			}
			res := write(t, c, "order", ord(t0, "open", 5))
			if res[0].Outcome != connectors.Stale {
				t.Errorf("older order: %+v, want Stale", res[0])
			}
			if n := lineCount(); n != 2 {
				t.Errorf("older order replaced the lines: %d", n)
			}
			noErrors(t, write(t, c, "order", ord(t0.Add(time.Minute), "paid", 2)))
			if n := lineCount(); n != 2 {
				t.Errorf("replay: lines = %d", n)
			}
			if n := td.count(t, "SELECT COUNT(*) FROM orders WHERE ext = ? AND status = ?", "o1", "paid"); n != 1 {
				t.Errorf("order row not updated")
			}
			// A bad line fails the order, and the order only.
			bad := ord(t0.Add(2*time.Minute), "bad", 1)
			bad.Data = obj("status", "bad", "lines", mapping.ArrayValue([]mapping.Value{obj("line_no", 1, "colour", "red")}))
			res = write(t, c, "order", bad)
			if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), `"colour"`) {
				t.Errorf("bad line: %v", res[0].Err)
			}
			if n := td.count(t, "SELECT COUNT(*) FROM orders WHERE status = ?", "bad"); n != 0 {
				t.Errorf("order written although its line was refused")
			}
		})

		t.Run("lines of one batch with different columns", func(t *testing.T) {
			ord := func(ext string, ls ...mapping.Value) connectors.WriteRecord {
				return connectors.WriteRecord{Entity: "order", HubID: "h-" + ext, ExternalID: ext, Op: connectors.OpUpsert, Version: t0,
					Data: obj("status", "open", "total", num("1.00"), "lines", mapping.ArrayValue(ls))}
			}
			noErrors(t, write(t, c, "order",
				ord("mix1", obj("line_no", 1, "sku", "A", "qty", 1), obj("line_no", 2, "qty", 2), obj("line_no", 3, "sku", "C", "qty", 3)),
				ord("mix2", obj("line_no", 1, "sku", "D"), obj("line_no", 2, "sku", "E", "qty", 5))))
			rows, err := td.db.Query(`SELECT o.ext, l.line_no, COALESCE(l.sku, '-'), COALESCE(l.qty, 0)
FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.ext IN ('mix1', 'mix2') ORDER BY o.ext, l.line_no`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var ext, sku string
				var no, qty int
				if err := rows.Scan(&ext, &no, &sku, &qty); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%s/%d:%s*%d", ext, no, sku, qty))
			}
			if want := "mix1/1:A*1 mix1/2:-*2 mix1/3:C*3 mix2/1:D*0 mix2/2:E*5"; strings.Join(got, " ") != want {
				t.Errorf("lines %q, want %s", got, want)
			}
		})

		t.Run("hard delete", func(t *testing.T) {
			noErrors(t, write(t, c, "customer", customer("d1", "Del", "1", t0), customer("d2", "Keep", "1", t0.Add(time.Hour))))
			del := func(ext string, ver time.Time) connectors.WriteRecord {
				return connectors.WriteRecord{Entity: "customer", ExternalID: ext, Op: connectors.OpDelete, Version: ver, Data: obj("ext", ext)}
			}
			res := write(t, c, "customer", del("d1", t0.Add(time.Minute)), del("d2", t0), del("missing", t0))
			noErrors(t, res)
			if res[0].Outcome != connectors.Written || res[1].Outcome != connectors.Stale || res[2].Outcome != connectors.NotFound || res[0].ExternalID != "d1" {
				t.Errorf("results = %+v", res)
			}
			if n := td.count(t, "SELECT COUNT(*) FROM customers WHERE ext IN (?, ?)", "d1", "d2"); n != 1 {
				t.Errorf("rows left = %d, want 1 (d2, newer than its delete)", n)
			}
		})

		t.Run("soft delete", func(t *testing.T) {
			res := write(t, c, "order", connectors.WriteRecord{Entity: "order", ExternalID: "o1", Op: connectors.OpDelete, Version: t0.Add(time.Hour)})
			noErrors(t, res)
			if n := td.count(t, "SELECT COUNT(*) FROM orders WHERE ext = ? AND status = ?", "o1", "cancelled"); n != 1 {
				t.Errorf("order not cancelled")
			}
		})
	})
}

// TestConcurrentWritesKeepConnections checks that sink workers writing at
// once each keep their connection: the pool used to close every one
// beyond two on its return, so the next batch opened a new session.
func TestConcurrentWritesKeepConnections(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		c := startConn(t, td, sinkTables(td, t))
		const workers, batches = 6, 10
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for b := range batches {
					ext := fmt.Sprintf("w%db%d", w, b)
					if err := writeRetrying(c, customer(ext, "N", "1", t0)); err != nil {
						errs <- fmt.Errorf("write %s: %w", ext, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := strings.Count(customerRows(t, td), ";"); got != workers*batches {
			t.Fatalf("%d customers in the table, want %d", got, workers*batches)
		}
		db, _, err := c.started("customer")
		if err != nil {
			t.Fatal(err)
		}
		if st := db.Stats(); st.MaxIdleClosed != 0 {
			t.Errorf("the pool closed %d connections on their return (open %d): each next batch opened a new session", st.MaxIdleClosed, st.OpenConnections)
		}
	})
}

// writeRetrying writes one record and, like the pipeline's sink, tries a
// batch again while it fails with a retryable error (MariaDB reports a
// deadlock between concurrent upserts of different keys: both lock the
// gap with SELECT ... FOR UPDATE, then insert into it).
func writeRetrying(c *Conn, rec connectors.WriteRecord) error {
	for try := 0; ; try++ {
		res, err := c.Write(context.Background(), rec.Entity, []connectors.WriteRecord{rec})
		if err == nil && res[0].Err != nil {
			err = res[0].Err
		}
		if err == nil {
			return nil
		}
		if kind, _ := connectors.Classify(err); kind != connectors.KindRetryable || try == 20 {
			return err
		}
		time.Sleep(time.Duration(try+1) * 5 * time.Millisecond)
	}
}

func TestSoftDeleteNow(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		td.exec(t, `CREATE TABLE invoices (id VARCHAR(20) PRIMARY KEY, amount NUMERIC(10,2), updated_at {ts}, deleted_at {ts})`)
		c := startConn(t, td, Config{Entities: map[string]EntityConfig{
			"invoice": {Table: "invoices", Delete: DeleteConfig{Mode: DeleteSoft, Column: "deleted_at"}},
		}})
		noErrors(t, write(t, c, "invoice", connectors.WriteRecord{ExternalID: "i1", Op: connectors.OpUpsert, Version: t0, Data: obj("amount", num("1.10"))}))
		noErrors(t, write(t, c, "invoice", connectors.WriteRecord{ExternalID: "i1", Op: connectors.OpDelete, Version: t0.Add(time.Second)}))
		if n := td.count(t, "SELECT COUNT(*) FROM invoices WHERE deleted_at IS NOT NULL"); n != 1 {
			t.Errorf("deleted_at not set")
		}
	})
}

// TestUnavailable: a fault of the whole database fails the batch (not each
// record) Unavailable, so the runtime pauses instead of dead-lettering
// every record; Check and Read say the same, and once the table is back
// the same connector writes again. Refused credentials and an unknown
// database fail Start Unavailable.
func TestUnavailable(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		c := startConn(t, td, sinkTables(td, t))
		ctx := context.Background()
		wantUnavailable := func(what string, err error) {
			t.Helper()
			if k, _ := connectors.Classify(err); err == nil || k != connectors.KindUnavailable {
				t.Errorf("%s: %v (%v), want an Unavailable error", what, err, k)
			}
		}
		td.exec(t, "ALTER TABLE customers RENAME TO customers_old")
		res, err := c.Write(ctx, "customer", []connectors.WriteRecord{customer("u1", "Una", "1", t0), customer("u2", "Udo", "2", t0)})
		if res != nil {
			t.Errorf("results %+v for a batch the database refused as a whole", res)
		}
		wantUnavailable("write to a renamed table", err)
		wantUnavailable("check with a renamed table", c.Check(ctx))
		_, err = c.Read(ctx, "customer", "", 10)
		wantUnavailable("read a renamed table", err)

		td.exec(t, "ALTER TABLE customers_old RENAME TO customers")
		if err := c.Check(ctx); err != nil {
			t.Fatalf("check with the table back: %v", err)
		}
		noErrors(t, write(t, c, "customer", customer("u1", "Una", "1", t0)))

		// A dropped column: the same (SQLite drops columns since 3.35).
		td.exec(t, "ALTER TABLE customers DROP COLUMN balance")
		_, err = c.Write(ctx, "customer", []connectors.WriteRecord{customer("u3", "Uwe", "3", t0)})
		wantUnavailable("write to a dropped column", err)
		wantUnavailable("check with a dropped column", c.Check(ctx))
		// (SQLite read a double-quoted name it did not know as a string:
		// every row's balance came back as "balance".)
		_, err = c.Read(ctx, "customer", "", 10)
		wantUnavailable("read a dropped column", err)

		if td.kind == "sqlite" {
			return
		}
		for what, dsn := range badDSNs(t, td) {
			bad, err := New("crm", Config{Driver: td.driver, DSN: dsn, Entities: map[string]EntityConfig{"customer": {Table: "customers", Key: "ext", UpdatedAt: "version"}}})
			if err != nil {
				t.Fatal(err)
			}
			wantUnavailable("start with "+what, bad.Start(ctx))
			bad.Close()
		}
	})
}

// badDSNs are DSNs of td's server that it refuses for good: an unknown
// user, an unknown database, a host name that does not resolve.
func badDSNs(t *testing.T, td *testDB) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch td.kind {
	case "postgres":
		u, err := url.Parse(td.dsn)
		if err != nil {
			t.Fatal(err)
		}
		for what, mod := range map[string]func(*url.URL){
			"an unknown user":     func(u *url.URL) { u.User = url.UserPassword("no_such_user", "x") },
			"an unknown database": func(u *url.URL) { u.Path = "/no_such_database" },
			"an unknown host":     func(u *url.URL) { u.Host = "no-such-host.invalid:5432" },
		} {
			v := *u
			mod(&v)
			out[what] = v.String()
		}
	case "mysql":
		for what, mod := range map[string]func(*mysql.Config){
			"an unknown user":     func(c *mysql.Config) { c.User, c.Passwd = "no_such_user", "x" },
			"an unknown database": func(c *mysql.Config) { c.DBName = "no_such_database" },
			"an unknown host":     func(c *mysql.Config) { c.Addr = "no-such-host.invalid:3306" },
		} {
			c, err := mysql.ParseDSN(td.dsn)
			if err != nil {
				t.Fatal(err)
			}
			mod(c)
			out[what] = c.FormatDSN()
		}
	}
	return out
}
