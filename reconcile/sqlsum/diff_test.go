package sqlsum

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// testDB is a fresh database of one kind, dropped when the test ends:
// a PostgreSQL database, a MariaDB database or a SQLite file.
type testDB struct {
	kind, driver string
	db           *sql.DB
}

func serviceDSN(t *testing.T, env string) string {
	t.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		if os.Getenv("HUB_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set and HUB_REQUIRE_SERVICES=1", env)
		}
		t.Skipf("%s is not set: skipping", env)
	}
	return dsn
}

func randName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func newTestDB(t *testing.T, kind string) *testDB {
	t.Helper()
	ctx := context.Background()
	name := randName("hub_sqlsum_")
	td := &testDB{kind: kind}
	var dsn string
	switch kind {
	case "postgres":
		base := serviceDSN(t, "HUB_TEST_POSTGRES_DSN")
		admin := open(t, "pgx", base)
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatalf("create database: %v", err)
		}
		t.Cleanup(func() {
			if _, err := admin.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
				t.Errorf("drop database %s: %v", name, err)
			}
		})
		i := strings.LastIndex(base, "/")
		j := strings.IndexByte(base[i:], '?')
		if j < 0 {
			dsn = base[:i+1] + name
		} else {
			dsn = base[:i+1] + name + base[i+j:]
		}
		td.driver = "pgx"
	case "mysql":
		base := serviceDSN(t, "HUB_TEST_MYSQL_DSN")
		admin := open(t, "mysql", base)
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
			t.Fatalf("create database: %v", err)
		}
		t.Cleanup(func() {
			if _, err := admin.ExecContext(context.Background(), "DROP DATABASE "+name); err != nil {
				t.Errorf("drop database %s: %v", name, err)
			}
		})
		c, err := mysql.ParseDSN(base)
		if err != nil {
			t.Fatal(err)
		}
		c.DBName, c.ParseTime, c.Loc = name, true, time.UTC
		if c.Params == nil {
			c.Params = map[string]string{}
		}
		c.Params["time_zone"] = "'+00:00'"
		dsn, td.driver = c.FormatDSN(), "mysql"
	case "sqlite":
		dsn, td.driver = filepath.Join(t.TempDir(), name+".db")+"?_pragma=busy_timeout(10000)", "sqlite"
	}
	td.db = open(t, td.driver, dsn)
	return td
}

func open(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatalf("connect %s: %v", driver, err)
	}
	return db
}

func (td *testDB) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if td.driver == "pgx" {
		n := 0
		q = replaceEach(q, "?", func() string { n++; return fmt.Sprintf("$%d", n) })
	}
	if _, err := td.db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %s: %v", td.kind, q, err)
	}
}

func replaceEach(s, old string, f func() string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			return b.String() + s
		}
		b.WriteString(s[:i] + f())
		s = s[i+len(old):]
	}
}

// timeArg is a timestamp as the system would write it: SQLite keeps text
// (sqlstore's layout), the others a timestamp.
func (td *testDB) timeArg(t time.Time) any {
	if td.kind == "sqlite" {
		return t.UTC().Format("2006-01-02 15:04:05.999999999-07:00")
	}
	return t
}

// createOrders makes the orders table in the kind's own types.
func (td *testDB) createOrders(t *testing.T) {
	t.Helper()
	switch td.kind {
	case "postgres":
		td.exec(t, `CREATE TABLE orders (id BIGINT PRIMARY KEY, name TEXT, total NUMERIC(12,2), day DATE, at TIMESTAMPTZ, note TEXT)`)
	case "mysql":
		td.exec(t, `CREATE TABLE orders (id BIGINT PRIMARY KEY, name VARCHAR(200), total DECIMAL(12,2), day DATE, at DATETIME, note VARCHAR(200))`)
	default:
		td.exec(t, `CREATE TABLE orders (id INTEGER PRIMARY KEY, name TEXT, total NUMERIC(12,2), day DATE, at TIMESTAMP, note TEXT)`)
	}
}

var base = time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC)

// seed inserts rows with keys 3, 6, ..., 3n (gaps, so ranges of the grid
// hold fewer keys than their width).
func (td *testDB) seed(t *testing.T, n int) {
	t.Helper()
	tx, err := td.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	q := "INSERT INTO orders (id, name, total, day, at, note) VALUES (?, ?, ?, ?, ?, ?)"
	if td.driver == "pgx" {
		q = "INSERT INTO orders (id, name, total, day, at, note) VALUES ($1, $2, $3, $4, $5, $6)"
	}
	for i := 1; i <= n; i++ {
		var note any
		if i%4 == 0 {
			note = fmt.Sprintf("note %d", i)
		} else if i%4 == 1 {
			note = ""
		}
		total := fmt.Sprintf("%d.%02d", i*7-400, i%100)
		if _, err := tx.Exec(q, int64(3*i), fmt.Sprintf("Kunde Müller 東京 %d", i), total,
			base.AddDate(0, 0, i%40).Format("2006-01-02"), td.timeArg(base.Add(time.Duration(i)*time.Minute)), note); err != nil {
			t.Fatalf("%s: seed: %v", td.kind, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func (td *testDB) side() Side {
	return Side{DB: td.db, Driver: td.driver, Table: "orders", Key: "id", Columns: []Column{
		{Name: "name", Kind: Text},
		{Name: "total", Kind: Decimal, Scale: 2},
		{Name: "day", Kind: Date},
		{Name: "at", Kind: Timestamp},
		{Name: "note", Kind: Text},
	}}
}

// seedDifferences changes right so that it differs from left in exactly
// the returned keys; n is the rows both were seeded with.
func seedDifferences(t *testing.T, right *testDB, n int) map[int64]Class {
	t.Helper()
	want := map[int64]Class{}
	del := func(k int64) {
		right.exec(t, "DELETE FROM orders WHERE id = ?", k)
		want[k] = OnlyLeft
	}
	upd := func(k int64, set string, args ...any) {
		right.exec(t, "UPDATE orders SET "+set+" WHERE id = ?", append(args, k)...)
		want[k] = Changed
	}
	del(3)                // the smallest key
	del(int64(3 * n))     // the largest
	del(int64(3 * n / 2)) // one in the middle
	for _, k := range []int64{1, int64(3*n + 1000)} {
		right.exec(t, "INSERT INTO orders (id, name, total, day, at, note) VALUES (?, 'new', '1.00', '2026-01-01', ?, NULL)", k, right.timeArg(base))
		want[k] = OnlyRight // below and above every key of the left
	}
	upd(6, "total = total + 0.01")                                         // a cent, next to a deleted key
	upd(15, "note = NULL")                                                 // "" on the left: NULL is not empty
	upd(60, "note = ''")                                                   // "note 20" -> ""
	upd(90, "name = ?", "kunde müller 東京 30")                              // case only
	upd(99, "at = ?", right.timeArg(base.Add(33*time.Minute+time.Second))) // one second
	upd(102, "day = ?", "2026-11-02")                                      // another day
	upd(105, "total = -total")                                             // sign
	for k := int64(300); k <= 330; k += 3 {                                // a run of neighbours
		upd(k, "name = ?", fmt.Sprintf("renamed %d", k))
	}
	return want
}

func runDiff(t *testing.T, l, r *testDB, o Options) (map[int64]Class, Stats) {
	t.Helper()
	got := map[int64]Class{}
	var last int64 = -1 << 63
	st, err := Diff(context.Background(), l.side(), r.side(), o, func(d Difference) error {
		if d.Key <= last {
			t.Errorf("key %d after %d: not in ascending order", d.Key, last)
		}
		last = d.Key
		if _, dup := got[d.Key]; dup {
			t.Errorf("key %d reported twice", d.Key)
		}
		got[d.Key] = d.Class
		return nil
	})
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	return got, st
}

func assertSame(t *testing.T, got, want map[int64]Class) {
	t.Helper()
	for k, c := range want {
		if got[k] != c {
			t.Errorf("key %d: got %v, want %v", k, got[k], c)
		}
	}
	for k, c := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("key %d reported %v, but it does not differ", k, c)
		}
	}
}

var pairs = [][2]string{
	{"postgres", "postgres"}, // two PostgreSQL databases
	{"postgres", "mysql"},
	{"postgres", "sqlite"},
	{"mysql", "sqlite"},
	{"mysql", "mysql"},
	{"sqlite", "sqlite"},
}

// Option sets: the defaults (one pass, then lists), and tiny ranges that
// force several levels of splitting and many batches.
var optionSets = map[string]Options{
	"defaults": {},
	"deep":     {BucketRows: 64, LeafRows: 2, Factor: 2, Batch: 3},
}

func TestDiffFindsExactlyTheSeededDifferences(t *testing.T) {
	const n = 400
	for _, p := range pairs {
		t.Run(p[0]+"-"+p[1], func(t *testing.T) {
			l, r := newTestDB(t, p[0]), newTestDB(t, p[1])
			for _, td := range []*testDB{l, r} {
				td.createOrders(t)
				td.seed(t, n)
			}
			for name, o := range optionSets {
				got, st := runDiff(t, l, r, o)
				if len(got) != 0 {
					t.Fatalf("%s: equal tables: %d differences, first: %v (stats %+v)", name, len(got), got, st)
				}
				if st.RowsListed != 0 {
					t.Errorf("%s: equal tables listed %d rows: agreeing ranges left the database", name, st.RowsListed)
				}
			}
			want := seedDifferences(t, r, n)
			for name, o := range optionSets {
				t.Run(name, func(t *testing.T) {
					got, st := runDiff(t, l, r, o)
					assertSame(t, got, want)
					if st.LeftRows != n || st.RightRows != n-3+2 {
						t.Errorf("rows %d and %d, want %d and %d", st.LeftRows, st.RightRows, n, n-3+2)
					}
					if st.RowsListed >= 2*n {
						t.Errorf("listed %d rows of %d: the bisection did not narrow anything", st.RowsListed, 2*n)
					}
				})
			}
		})
	}
}

func TestDiffEmptyTables(t *testing.T) {
	l, r := newTestDB(t, "postgres"), newTestDB(t, "sqlite")
	l.createOrders(t)
	r.createOrders(t)
	got, st := runDiff(t, l, r, Options{})
	if len(got) != 0 || st.RangesCompared != 0 {
		t.Fatalf("two empty tables: %v, %+v", got, st)
	}
	l.seed(t, 50)
	got, _ = runDiff(t, l, r, Options{LeafRows: 4, Factor: 2})
	want := map[int64]Class{}
	for i := int64(1); i <= 50; i++ {
		want[3*i] = OnlyLeft
	}
	assertSame(t, got, want)
	got, _ = runDiff(t, r, l, Options{})
	for k := range want {
		want[k] = OnlyRight
	}
	assertSame(t, got, want)
}

// TestDiffRangeBoundaries puts a difference on both sides of every
// boundary of the first pass's grid.
func TestDiffRangeBoundaries(t *testing.T) {
	l, r := newTestDB(t, "postgres"), newTestDB(t, "mysql")
	const n = 200 // keys 3..600; BucketRows 10 -> 20 ranges of width 30
	for _, td := range []*testDB{l, r} {
		td.createOrders(t)
		td.seed(t, n)
	}
	want := map[int64]Class{}
	for b := int64(3 + 30); b < 600; b += 30 * 4 {
		// the last key of a range and the first of the next
		for _, k := range []int64{b - 3, b} {
			r.exec(t, "UPDATE orders SET total = total + 1 WHERE id = ?", k)
			want[k] = Changed
		}
	}
	got, _ := runDiff(t, l, r, Options{BucketRows: 10, LeafRows: 4, Factor: 3})
	assertSame(t, got, want)
}

// TestDiffTolerance: amounts hashed by floor(amount/tolerance) differ
// whenever they are more than the tolerance apart; two within it in the
// same step are not reported, two within it across a step are (the engine
// rules on those).
func TestDiffTolerance(t *testing.T) {
	for _, p := range [][2]string{{"postgres", "sqlite"}, {"postgres", "postgres"}, {"mysql", "postgres"}} {
		t.Run(p[0]+"-"+p[1], func(t *testing.T) { testTolerance(t, newTestDB(t, p[0]), newTestDB(t, p[1])) })
	}
}

func testTolerance(t *testing.T, l, r *testDB) {
	cases := []struct {
		left, right string
		reported    bool
	}{
		{"10.00", "10.03", false}, // same step of 0.05
		{"10.00", "10.05", true},  // next step, at the tolerance
		{"10.00", "10.06", true},  // beyond the tolerance: must be reported
		{"-0.02", "0.02", true},   // within, across zero's step: a candidate
		{"-0.01", "-0.04", false}, // same step below zero
		{"-0.04", "-0.10", true},  // beyond, below zero
		{"7.00", "7.00", false},
	}
	for _, td := range []*testDB{l, r} {
		td.createOrders(t)
	}
	want := map[int64]Class{}
	for i, c := range cases {
		k := int64(i + 1)
		l.exec(t, "INSERT INTO orders (id, total) VALUES (?, ?)", k, c.left)
		r.exec(t, "INSERT INTO orders (id, total) VALUES (?, ?)", k, c.right)
		if c.reported {
			want[k] = Changed
		}
	}
	side := func(td *testDB) Side {
		return Side{DB: td.db, Driver: td.driver, Table: "orders", Key: "id",
			Columns: []Column{{Name: "total", Kind: Decimal, Scale: 2, Tolerance: "0.05"}}}
	}
	got := map[int64]Class{}
	if _, err := Diff(context.Background(), side(l), side(r), Options{}, func(d Difference) error {
		got[d.Key] = d.Class
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	assertSame(t, got, want)
}

func TestDiffRefusesUncheckedIdentifiers(t *testing.T) {
	l := newTestDB(t, "sqlite")
	l.createOrders(t)
	good := l.side()
	for name, mod := range map[string]func(*Side){
		"table":     func(s *Side) { s.Table = "orders; DROP TABLE orders" },
		"key":       func(s *Side) { s.Key = `id"` },
		"column":    func(s *Side) { s.Columns = []Column{{Name: "name) --", Kind: Text}} },
		"driver":    func(s *Side) { s.Driver = "oracle" },
		"tolerance": func(s *Side) { s.Columns = []Column{{Name: "total", Kind: Decimal, Scale: 2, Tolerance: "0.001"}} },
	} {
		bad := good
		mod(&bad)
		_, err := Diff(context.Background(), bad, good, Options{}, func(Difference) error { return nil })
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	var n int
	if err := l.db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil {
		t.Fatalf("the table is gone: %v", err)
	}
}

// TestDiffDuplicateKeys: a key two rows share on one side is reported
// once, whatever the other side holds.
func TestDiffDuplicateKeys(t *testing.T) {
	l, r := newTestDB(t, "sqlite"), newTestDB(t, "postgres")
	l.exec(t, "CREATE TABLE orders (id INTEGER, name TEXT)")
	r.exec(t, "CREATE TABLE orders (id BIGINT PRIMARY KEY, name TEXT)")
	for _, k := range []int64{1, 2, 3, 4} {
		l.exec(t, "INSERT INTO orders VALUES (?, 'a')", k)
		r.exec(t, "INSERT INTO orders VALUES (?, 'a')", k)
	}
	l.exec(t, "INSERT INTO orders VALUES (2, 'a')")
	l.exec(t, "INSERT INTO orders VALUES (9, 'b'), (9, 'c')")
	side := func(td *testDB) Side {
		return Side{DB: td.db, Driver: td.driver, Table: "orders", Key: "id", Columns: []Column{{Name: "name", Kind: Text}}}
	}
	var got []Difference
	if _, err := Diff(context.Background(), side(l), side(r), Options{}, func(d Difference) error {
		got = append(got, d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []Difference{{2, Changed}, {9, OnlyLeft}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
