package sqlstore

import (
	"fmt"
	"slices"
	"testing"

	"github.com/crmhub/hub/connectors"
)

// Batches of every size from 2 to 130 orders (three lines each) leave the
// PostgreSQL session a bounded number of prepared statements: the bulk
// upsert, the lines' DELETE ... IN and their multi-row INSERT have a few
// texts each. Before, each batch size was a text of its own that pgx kept
// prepared (up to 512 a connection), so the hub's and the server's memory
// grew with the number of sizes a long run met (389 statements and 56 MiB
// in the server's session after this test, against 25 and 5 MiB now).
// Every order and line lands.
func TestBulkStatementsHaveFewTexts(t *testing.T) {
	td := newTestDB(t, "postgres")
	c := startConn(t, td, sinkTables(td, t))
	db, _, err := c.started("order")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one session, whose prepared statements the view lists
	const most = 130
	n := 0
	for size := 2; size <= most; size++ {
		batch := make([]connectors.WriteRecord, size)
		for i := range batch {
			n++
			batch[i] = orderWithLines(fmt.Sprintf("o%05d", n), t0)
		}
		noErrors(t, write(t, c, "order", batch...))
	}
	var prepared int
	if err := db.GetContext(t.Context(), &prepared, "SELECT count(*) FROM pg_prepared_statements"); err != nil {
		t.Fatal(err)
	}
	// Sizes up to 130 rows: at most 8 texts for the upsert (1 to 128),
	// 9 for the lines' insert (up to 390 rows), 6 for the IN list (8 to
	// 256), and the connector's own few.
	if prepared > 40 {
		t.Errorf("%d statements prepared in the session after %d batch sizes, want at most 40", prepared, most-1)
	}
	var mem int64 // what the server's session holds (PostgreSQL 14 and later)
	_ = db.GetContext(t.Context(), &mem, "SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
	t.Logf("%d statements prepared after %d batch sizes; the server's session holds %d KiB", prepared, most-1, mem/1024)
	var orders, lines int
	if err := td.db.Get(&orders, "SELECT count(*) FROM orders"); err != nil {
		t.Fatal(err)
	}
	if err := td.db.Get(&lines, "SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE l.sku = o.ext || '-' || l.line_no"); err != nil {
		t.Fatal(err)
	}
	if orders != n || lines != 3*n {
		t.Errorf("%d orders and %d matching lines, want %d and %d", orders, lines, n, 3*n)
	}
}

func TestChunksAndPadding(t *testing.T) {
	for _, tc := range []struct {
		d      dialect
		n, per int
		want   []int
	}{
		{postgres, 0, 10, nil},
		{postgres, 500, 2500, []int{256, 128, 64, 32, 16, 4}},
		{postgres, 5300, 2500, []int{2500, 2500, 256, 32, 8, 4}},
		{postgres, 7, 0, []int{1, 1, 1, 1, 1, 1, 1}},
		{mariadb, 500, 2500, []int{500}},
		{sqlite3, 5300, 2500, []int{2500, 2500, 300}},
	} {
		if got := tc.d.chunks(tc.n, tc.per); !slices.Equal(got, tc.want) {
			t.Errorf("%v.chunks(%d, %d) = %v, want %v", tc.d, tc.n, tc.per, got, tc.want)
		}
	}
	keys := []any{"a", "b", "c"}
	if got := postgres.padIn(keys); len(got) != 8 || got[2] != "c" || got[7] != "c" || got[0] != "a" {
		t.Errorf("padIn(3 keys) = %v, want a, b, c and c repeated to 8", got)
	}
	if got := postgres.padIn(make([]any, 9)); len(got) != 16 {
		t.Errorf("padIn(9 keys) has %d, want 16", len(got))
	}
	if got := mariadb.padIn(keys); len(got) != 3 {
		t.Errorf("MariaDB padIn = %v, want the keys as they are", got)
	}
}
