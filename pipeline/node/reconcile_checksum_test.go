package node_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/sqlstore"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/node"
	"github.com/crmhub/hub/store"
	"github.com/crmhub/hub/store/storetest"
)

// The two tables of the checksum rig: a shop's orders in PostgreSQL and a
// ledger's copy of them in SQLite or MariaDB, with the same ids.
const (
	shopTable = `CREATE TABLE orders (id BIGINT PRIMARY KEY, order_no TEXT NOT NULL, order_date DATE NOT NULL,
	currency TEXT NOT NULL, total NUMERIC(12,2) NOT NULL, status TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())`
	ledgerSQLite = `CREATE TABLE ledger_orders (id INTEGER PRIMARY KEY, order_no TEXT NOT NULL, order_date TEXT NOT NULL,
	currency TEXT NOT NULL, total NUMERIC(12,2) NOT NULL, status TEXT NOT NULL, updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`
	ledgerMariaDB = `CREATE TABLE ledger_orders (id BIGINT PRIMARY KEY, order_no VARCHAR(40) NOT NULL, order_date DATE NOT NULL,
	currency VARCHAR(3) NOT NULL, total DECIMAL(12,2) NOT NULL, status VARCHAR(20) NOT NULL, updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`
)

const checksumMapping = `name: %s
system: %s
entity: order
direction: in
fields:
  external_id: {from: id, type: string, required: true}
  order_no: {from: order_no, required: true}
  order_date: {from: order_date, type: date, required: true}
  currency: {from: currency, required: true}
  total: {from: total, type: decimal, required: true}
  status: {from: status}
`

// checksumJob is the job of the rig under a name and a method.
func checksumJob(name, method string) string {
	return fmt.Sprintf(`  %s:
    entity: order
    left: shop
    right: ledger
    left_mapping: shop-in.yaml
    right_mapping: ledger-in.yaml
    key: order_no
    method: %s
    fields:
      total: tolerance 0.01
      currency: exact
      status: case_insensitive
      order_date: exact
    checksum:
      left: {columns: {order_no: order_no, total: total, currency: currency, status: status, order_date: order_date}}
      right: {key: id, columns: {order_no: order_no, total: total, currency: currency, status: status, order_date: order_date}}
`, name, method)
}

// TestReconcileChecksumSameReport seeds one difference of every class
// (and two the rules let pass) between a PostgreSQL table and a SQLite or
// MariaDB one and runs the same job by streaming and through the checksum
// path: the reports are identical (classes, keys, sides, field values,
// matched count, control totals), the checksum run read only the
// candidates, and method auto takes the checksum path.
func TestReconcileChecksumSameReport(t *testing.T) {
	for _, dialect := range []string{"sqlite", "mariadb"} {
		t.Run("postgres-to-"+dialect, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			shopDSN := storetest.PostgresDSN(t)
			shop := openTestDB(t, "pgx", shopDSN)
			mustExec(t, shop, shopTable)
			var ledgerDSN, driver string
			if dialect == "sqlite" {
				ledgerDSN, driver = filepath.Join(dir, "ledger.db"), "sqlite"
			} else {
				ledgerDSN, driver = newMariaDB(t), "mysql"
			}
			ledger := openTestDB(t, driver, ledgerDSN)
			mustExec(t, ledger, map[string]string{"sqlite": ledgerSQLite, "mariadb": ledgerMariaDB}[dialect])
			seedChecksumRig(t, shop, ledger, driver)

			cfgPath := writeChecksumConfig(t, dir, shopDSN, driver, ledgerDSN)
			cfg, err := config.Load(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			reg := connectors.NewRegistry()
			if err := sqlstore.Register(reg); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tools, err := node.OpenReconcile(ctx, cfg, reg, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
			if err != nil {
				t.Fatal(err)
			}
			defer tools.Close()
			reports := map[string]checksumReport{}
			for _, job := range []string{"by_stream", "by_checksum", "by_auto", "plain", "text_key"} {
				rj, err := tools.Job(ctx, job)
				if err != nil {
					t.Fatal(err)
				}
				res, err := tools.Run(ctx, rj, pipeline.ReconOptions{Actor: "test"})
				if err != nil {
					t.Fatalf("%s: %v", job, err)
				}
				reports[job] = reportOf(t, tools.Store, res)
			}
			// method checksum where it cannot be taken fails the run.
			rj, err := tools.Job(ctx, "must_sum")
			if err != nil {
				t.Fatal(err)
			}
			if res, err := tools.Run(ctx, rj, pipeline.ReconOptions{Actor: "test"}); err == nil || res.Status != store.ReconFailed ||
				!strings.Contains(err.Error(), "checksum path") {
				t.Errorf("method checksum on a text key: %v (status %s)", err, res.Status)
			}
			st := reports["by_stream"]
			// auto without checksum columns streams; so does auto on a
			// key that is no integer, saying why.
			if tk := reports["text_key"]; tk.Method != "stream" || !strings.Contains(tk.Fallback, "not an integer column") ||
				fmt.Sprint(tk.Diffs) != fmt.Sprint(st.Diffs) {
				t.Errorf("auto on a text key: method %s (%s), differences %v", tk.Method, tk.Fallback, tk.Diffs)
			}
			if st.Method != "stream" || reports["by_checksum"].Method != "checksum" || reports["by_auto"].Method != "checksum" || reports["plain"].Method != "stream" {
				t.Errorf("methods: stream %s, checksum %s, auto %s, auto without columns %s", st.Method, reports["by_checksum"].Method,
					reports["by_auto"].Method, reports["plain"].Method)
			}
			// No crosswalk links the sides: an order on one side only is
			// unmatched.
			wantClasses := "duplicate_key=1 field_mismatch=2 unmatched=3"
			if got := st.classes(); got != wantClasses {
				t.Errorf("stream classes %q, want %q", got, wantClasses)
			}
			wantDiffs := []string{
				"duplicate_key right SO-000020 ",
				"field_mismatch  SO-000003 total=103.21|108.21",
				"field_mismatch  SO-000007 currency=USD|CHF",
				"unmatched left SO-000013 ",
				"unmatched right SO-000015 ",
				"unmatched right SO-999999 ",
			}
			if fmt.Sprint(st.Diffs) != fmt.Sprint(wantDiffs) {
				t.Errorf("stream differences:\n%s\nwant:\n%s", strings.Join(st.Diffs, "\n"), strings.Join(wantDiffs, "\n"))
			}
			if st.Totals.Matched != 38 {
				t.Errorf("matched %d, want 38", st.Totals.Matched)
			}
			for _, job := range []string{"by_checksum", "by_auto"} {
				cs := reports[job]
				if fmt.Sprint(cs.Diffs) != fmt.Sprint(st.Diffs) {
					t.Errorf("%s differences:\n%s\nthe stream run's:\n%s", job, strings.Join(cs.Diffs, "\n"), strings.Join(st.Diffs, "\n"))
				}
				a, b := cs.Totals, st.Totals
				a.ScannedLeft, a.ScannedRight, b.ScannedLeft, b.ScannedRight = 0, 0, 0, 0
				if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
					t.Errorf("%s totals %s, the stream run's %s", job, ja, jb)
				}
				// Only the candidates and the rows sharing their order
				// number were read: 3, 7, 10, 11, 13 and 20 (numbered
				// like 998) on the left; 3, 7, 10, 11, 15, 20, 998, 999 on
				// the right.
				if cs.Totals.ScannedLeft != 6 || cs.Totals.ScannedRight != 8 || st.Totals.ScannedLeft != 39 {
					t.Errorf("%s read %d+%d rows, want 6+8 (the stream run %d+%d)", job, cs.Totals.ScannedLeft, cs.Totals.ScannedRight,
						st.Totals.ScannedLeft, st.Totals.ScannedRight)
				}
			}
		})
	}
}

// seedChecksumRig writes 40 orders to both sides, then the differences:
// a total 5.00 off (3), another currency (7), a total 0.01 off (10, within
// tolerance), a status in another case (11), an order gone from the
// ledger (13) and from the shop (15), a ledger order numbered like 20
// (a duplicate) and one the shop lacks.
func seedChecksumRig(t *testing.T, shop, ledger *sql.DB, driver string) {
	t.Helper()
	for i := 1; i <= 40; i++ {
		cur := []string{"EUR", "USD"}[i%2]
		date := fmt.Sprintf("2026-%02d-%02d", i%12+1, i%28+1)
		total := fmt.Sprintf("%d.%02d", 100+i, (i*7)%100)
		mustExec(t, shop, "INSERT INTO orders (id, order_no, order_date, currency, total, status) VALUES ($1, $2, $3, $4, $5, 'OPEN')",
			i, fmt.Sprintf("SO-%06d", i), date, cur, total)
		mustExec(t, ledger, "INSERT INTO ledger_orders (id, order_no, order_date, currency, total, status) VALUES (?, ?, ?, ?, ?, 'OPEN')",
			i, fmt.Sprintf("SO-%06d", i), date, cur, total)
	}
	mustExec(t, ledger, "UPDATE ledger_orders SET total = total + 5 WHERE id = 3")
	mustExec(t, ledger, "UPDATE ledger_orders SET currency = 'CHF' WHERE id = 7")
	mustExec(t, ledger, "UPDATE ledger_orders SET total = ROUND(total + 0.01, 2) WHERE id = 10")
	mustExec(t, ledger, "UPDATE ledger_orders SET status = 'open' WHERE id = 11")
	mustExec(t, ledger, "DELETE FROM ledger_orders WHERE id = 13")
	mustExec(t, shop, "DELETE FROM orders WHERE id = 15")
	mustExec(t, ledger, "INSERT INTO ledger_orders (id, order_no, order_date, currency, total, status) VALUES (998, 'SO-000020', '2026-01-01', 'EUR', 10, 'OPEN')")
	mustExec(t, ledger, "INSERT INTO ledger_orders (id, order_no, order_date, currency, total, status) VALUES (999, 'SO-999999', '2026-01-01', 'EUR', 10, 'OPEN')")
}

func writeChecksumConfig(t *testing.T, dir, shopDSN, driver, ledgerDSN string) string {
	t.Helper()
	for _, m := range [][2]string{{"shop-in.yaml", "shop"}, {"ledger-in.yaml", "ledger"}} {
		if err := os.WriteFile(filepath.Join(dir, m[0]), []byte(fmt.Sprintf(checksumMapping, m[1]+"-order-in", m[1])), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	body := "state: {dsn: 'sqlite:" + filepath.Join(dir, "hub.db") + "'}\nhub: {data_dir: '" + filepath.Join(dir, "data") + "'}\n" +
		`connectors:
  shop:
    kind: sqlstore
    driver: pgx
    dsn: '` + shopDSN + `'
    entities:
      order: {table: orders}
  ledger:
    kind: sqlstore
    driver: ` + driver + `
    dsn: '` + ledgerDSN + `'
    entities:
      order: {table: ledger_orders}
reconcile:
` + checksumJob("by_stream", "stream") + checksumJob("by_checksum", "checksum") + checksumJob("by_auto", "auto") + strings.Replace(checksumJob("text_key", "auto"), "right: {key: id,", "right: {key: order_no,", 1) +
		strings.Replace(checksumJob("must_sum", "checksum"), "right: {key: id,", "right: {key: order_no,", 1) + `  plain:
    entity: order
    left: shop
    right: ledger
    left_mapping: shop-in.yaml
    right_mapping: ledger-in.yaml
    key: order_no
    fields: {total: exact}
`
	path := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checksumReport is what a run reported, comparable across runs.
type checksumReport struct {
	Method   string
	Fallback string
	Totals   struct {
		Left         any              `json:"left"`
		Right        any              `json:"right"`
		Matched      int64            `json:"matched"`
		Classes      map[string]int64 `json:"classes"`
		ScannedLeft  int64            `json:"scanned_left"`
		ScannedRight int64            `json:"scanned_right"`
	}
	// Diffs are "class side key field=left|right ..." sorted.
	Diffs []string
}

func (r checksumReport) classes() string {
	var out []string
	for c, n := range r.Totals.Classes {
		if n > 0 {
			out = append(out, fmt.Sprintf("%s=%d", c, n))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func reportOf(t *testing.T, st *store.Store, res pipeline.ReconResult) checksumReport {
	t.Helper()
	run, err := st.GetReconRun(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	var r checksumReport
	if err := json.Unmarshal(run.Summary, &struct {
		Method   *string `json:"method"`
		Fallback *string `json:"fallback"`
		Totals   *struct {
			Left         any              `json:"left"`
			Right        any              `json:"right"`
			Matched      int64            `json:"matched"`
			Classes      map[string]int64 `json:"classes"`
			ScannedLeft  int64            `json:"scanned_left"`
			ScannedRight int64            `json:"scanned_right"`
		} `json:"totals"`
	}{&r.Method, &r.Fallback, &r.Totals}); err != nil {
		t.Fatal(err)
	}
	diffs, _, err := st.ListReconDiffs(context.Background(), res.RunID, store.ReconDiffFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		var detail struct {
			Fields []struct {
				Field       string
				Left, Right any
			} `json:"fields"`
		}
		if err := json.Unmarshal(d.Detail, &detail); err != nil {
			t.Fatal(err)
		}
		s := d.Class + " " + d.Side + " " + d.Key + " "
		for _, f := range detail.Fields {
			s += fmt.Sprintf("%s=%v|%v", f.Field, f.Left, f.Right)
		}
		r.Diffs = append(r.Diffs, s)
	}
	sort.Strings(r.Diffs)
	return r
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func openTestDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	if driver == "mysql" {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "parseTime=true"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// newMariaDB creates a database of the test's own and returns its DSN
// (without parameters), dropped at the end.
func newMariaDB(t *testing.T) string {
	t.Helper()
	base := os.Getenv("HUB_TEST_MYSQL_DSN")
	if base == "" {
		storetest.Unavailable(t, "MariaDB tests need HUB_TEST_MYSQL_DSN")
		return ""
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("mysql", base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("hubnode_%d", time.Now().UnixNano()%1e12)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		storetest.Unavailable(t, "MariaDB: "+err.Error())
		return ""
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name)
		admin.Close()
	})
	cfg.DBName = name
	cfg.Params = nil
	cfg.ParseTime = false
	return cfg.FormatDSN()
}
