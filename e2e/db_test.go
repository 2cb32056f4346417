package e2e

// The databases of a test: a fresh PostgreSQL schema, MariaDB database or
// SQLite file each, with the CRM's or the ERP's tables.

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
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"
	_ "modernc.org/sqlite"             // "sqlite"

	"github.com/crmhub/hub/store/storetest"
)

// EnvMySQLDSN names the MariaDB/MySQL server of the tests, e.g.
// root@tcp(127.0.0.1:3306)/test?parseTime=true.
const EnvMySQLDSN = "HUB_TEST_MYSQL_DSN"

// Dialects.
const (
	postgres = "postgres"
	mariadb  = "mysql"
	sqlite   = "sqlite"
)

// database is one database a test owns.
type database struct {
	dialect string
	driver  string // the hub's sqlstore driver name
	dsn     string // the hub's DSN
	db      *sql.DB
}

// newPostgres gives a fresh schema of its own (search_path in the DSN).
func newPostgres(t testing.TB) *database {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &database{dialect: postgres, driver: "pgx", dsn: dsn, db: db}
}

// newMariaDB gives a fresh database of its own, dropped at the end.
func newMariaDB(t testing.TB) *database {
	t.Helper()
	base := os.Getenv(EnvMySQLDSN)
	if base == "" {
		storetest.Unavailable(t, "MariaDB tests need "+EnvMySQLDSN+", e.g. root@tcp(127.0.0.1:3306)/test?parseTime=true")
		return nil
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvMySQLDSN, err)
	}
	admin, err := sql.Open("mysql", base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		storetest.Unavailable(t, "MariaDB at "+EnvMySQLDSN+" does not answer: "+err.Error())
		return nil
	}
	name := "hube2e_" + randHex(t, 6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	cfg.DBName = name
	cfg.ParseTime = true
	dsn := cfg.FormatDSN()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &database{dialect: mariadb, driver: "mysql", dsn: dsn, db: db}
}

// newSQLite gives a new database file in dir (WAL, so the test's writes and
// the hub's reads do not block each other for long).
func newSQLite(t testing.TB, dir, name string) *database {
	t.Helper()
	path := filepath.Join(dir, name)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return &database{dialect: sqlite, driver: "sqlite", dsn: path, db: db}
}

func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// execScript runs statements separated by a line holding only "--".
func (d *database) execScript(t testing.TB, script string) {
	t.Helper()
	for _, stmt := range strings.Split(script, "\n--\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := d.db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v\n%s", d.dialect, err, stmt)
		}
	}
}

// ph is the n-th (1-based) placeholder of the dialect.
func (d *database) ph(n int) string {
	if d.dialect == postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// rebind turns ? placeholders into the dialect's.
func (d *database) rebind(q string) string {
	if d.dialect != postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// insertRows inserts rows into table in multi-row statements.
func (d *database) insertRows(t testing.TB, tx *sql.Tx, table string, cols []string, rows [][]any) {
	t.Helper()
	const chunk = 100
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		var b strings.Builder
		args := make([]any, 0, len(part)*len(cols))
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
		for i, r := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j, v := range r {
				if j > 0 {
					b.WriteString(", ")
				}
				args = append(args, v)
				b.WriteString(d.ph(len(args)))
			}
			b.WriteByte(')')
		}
		if _, err := tx.Exec(b.String(), args...); err != nil {
			t.Fatalf("insert into %s: %v", table, err)
		}
	}
}

// count runs SELECT COUNT(*) with a suffix (WHERE ...).
func (d *database) count(t testing.TB, from string) int {
	t.Helper()
	var n int
	if err := d.db.QueryRow("SELECT COUNT(*) FROM " + from).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", from, err)
	}
	return n
}

// The CRM: customers, orders, order_lines; updated_at maintained by the
// database on insert (default) and update (triggers).
var crmSchema = map[string]string{
	postgres: `
CREATE TABLE customers (
    id         BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    phone      TEXT,
    country    TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
)
--
CREATE TABLE orders (
    id          BIGINT PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    order_no    TEXT NOT NULL,
    order_date  DATE NOT NULL,
    currency    TEXT NOT NULL DEFAULT 'EUR',
    total       NUMERIC(12,2) NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open',
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
)
--
CREATE TABLE order_lines (
    order_id   BIGINT NOT NULL REFERENCES orders (id),
    line_no    INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    qty        NUMERIC(10,2) NOT NULL,
    unit_price NUMERIC(12,2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
)
--
CREATE FUNCTION crm_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$
--
CREATE TRIGGER customers_touch BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION crm_touch()
--
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION crm_touch()
`,
	sqlite: `
CREATE TABLE customers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    phone      TEXT,
    country    TEXT,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
--
CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    order_no    TEXT NOT NULL,
    order_date  TEXT NOT NULL,
    currency    TEXT NOT NULL DEFAULT 'EUR',
    total       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open',
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
--
CREATE TABLE order_lines (
    order_id   INTEGER NOT NULL REFERENCES orders (id),
    line_no    INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    qty        TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    PRIMARY KEY (order_id, line_no)
)
--
CREATE TRIGGER customers_touch AFTER UPDATE ON customers WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE customers SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END
--
CREATE TRIGGER orders_touch AFTER UPDATE ON orders WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE orders SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END
`,
}

// The ERP's interface tables, like configs/demo/erp.sql, with typed
// columns and (where the engine enforces it) a foreign key that refuses an
// order whose customer is not there yet.
var erpSchema = map[string]string{
	postgres: `
CREATE TABLE erp_customers (
    ext_ref    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    phone      TEXT,
    country    TEXT,
    updated_at TIMESTAMPTZ NOT NULL
)
--
CREATE TABLE erp_orders (
    ext_ref      TEXT PRIMARY KEY,
    customer_ref TEXT NOT NULL REFERENCES erp_customers (ext_ref),
    order_no     TEXT NOT NULL,
    order_date   DATE NOT NULL,
    currency     TEXT NOT NULL,
    total        NUMERIC(12,2) NOT NULL,
    status       TEXT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
)
--
CREATE TABLE erp_order_lines (
    order_ref  TEXT NOT NULL REFERENCES erp_orders (ext_ref),
    line_no    INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    qty        NUMERIC(10,2) NOT NULL,
    unit_price NUMERIC(12,2) NOT NULL,
    amount     NUMERIC(12,2) NOT NULL,
    PRIMARY KEY (order_ref, line_no)
)
`,
	mariadb: `
CREATE TABLE erp_customers (
    ext_ref    VARCHAR(64) PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    email      VARCHAR(200),
    phone      VARCHAR(32),
    country    CHAR(2),
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB
--
CREATE TABLE erp_orders (
    ext_ref      VARCHAR(64) PRIMARY KEY,
    customer_ref VARCHAR(64) NOT NULL,
    order_no     VARCHAR(32) NOT NULL,
    order_date   DATE NOT NULL,
    currency     CHAR(3) NOT NULL,
    total        DECIMAL(12,2) NOT NULL,
    status       VARCHAR(16) NOT NULL,
    updated_at   DATETIME(6) NOT NULL,
    CONSTRAINT erp_orders_customer FOREIGN KEY (customer_ref) REFERENCES erp_customers (ext_ref)
) ENGINE=InnoDB
--
CREATE TABLE erp_order_lines (
    order_ref  VARCHAR(64) NOT NULL,
    line_no    INT NOT NULL,
    sku        VARCHAR(32) NOT NULL,
    qty        DECIMAL(10,2) NOT NULL,
    unit_price DECIMAL(12,2) NOT NULL,
    amount     DECIMAL(12,2) NOT NULL,
    PRIMARY KEY (order_ref, line_no),
    CONSTRAINT erp_lines_order FOREIGN KEY (order_ref) REFERENCES erp_orders (ext_ref)
) ENGINE=InnoDB
`,
	sqlite: `
CREATE TABLE erp_customers (
    ext_ref    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    phone      TEXT,
    country    TEXT,
    updated_at TEXT NOT NULL
)
--
CREATE TABLE erp_orders (
    ext_ref      TEXT PRIMARY KEY,
    customer_ref TEXT NOT NULL,
    order_no     TEXT NOT NULL,
    order_date   TEXT NOT NULL,
    currency     TEXT NOT NULL,
    total        TEXT NOT NULL,
    status       TEXT NOT NULL,
    updated_at   TEXT NOT NULL
)
--
CREATE TABLE erp_order_lines (
    order_ref  TEXT NOT NULL,
    line_no    INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    qty        TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    amount     TEXT NOT NULL,
    PRIMARY KEY (order_ref, line_no)
)
`,
}

// text is the SQL expression reading column c as text in dialect d.
func text(d, c string) string {
	switch d {
	case postgres:
		return c + "::text"
	case mariadb:
		return "CAST(" + c + " AS CHAR)"
	}
	return "CAST(" + c + " AS TEXT)"
}

// asTime reads a scanned timestamp: time.Time or text in the forms the
// drivers and the hub use.
func asTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case []byte:
		return asTime(string(x))
	case string:
		for _, l := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(l, x); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("unreadable timestamp %q", x)
	}
	return time.Time{}, fmt.Errorf("unreadable timestamp %T %v", v, v)
}
