package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/crmhub/hub/reconcile/sqlsum"
)

// TestReadKeys: the checksum path's reads. ReadKeys gives only the rows
// of the keys asked for (more than one IN list's worth), with their lines,
// in key order; ValuesOf and KeysOf find the rows sharing a column's
// value; SumTable gives the table with each column's kind from the live
// schema and refuses a key that is no integer or a column that is not
// there.
func TestReadKeys(t *testing.T) {
	forKinds(t, func(t *testing.T, td *testDB) {
		td.exec(t,
			`CREATE TABLE orders (id INTEGER PRIMARY KEY, order_no VARCHAR(20) NOT NULL, total NUMERIC(12,2) NOT NULL, updated_at {ts})`,
			`CREATE TABLE order_lines (order_id INTEGER NOT NULL, line_no INTEGER NOT NULL, PRIMARY KEY (order_id, line_no))`,
		)
		var rows []string
		for i := 1; i <= 1200; i++ {
			rows = append(rows, fmt.Sprintf("(%d, 'SO-%d', %d.50, '2026-01-01 00:00:00')", i, i%1000, i))
		}
		td.exec(t, "INSERT INTO orders (id, order_no, total, updated_at) VALUES "+strings.Join(rows, ", "))
		td.exec(t, "INSERT INTO order_lines (order_id, line_no) VALUES (1100, 1), (1100, 2), (7, 1)")
		c := startConn(t, td, Config{Entities: map[string]EntityConfig{
			"order": {Table: "orders", Lines: &LinesConfig{Table: "order_lines", ParentKey: "order_id", Key: "line_no"}},
		}})
		ctx := context.Background()
		var keys []int64
		for i := int64(1200); i >= 2; i -= 2 { // 600 keys, descending
			keys = append(keys, i)
		}
		keys = append(keys, 7, 5000) // 5000 is not there
		for i := int64(1); i < 1200; i += 3 {
			keys = append(keys, i) // 1100 keys in all: two IN lists
		}
		recs, err := c.ReadKeys(ctx, "order", "", keys)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, r := range recs {
			seen[r.Key]++
		}
		want := map[int64]bool{}
		for _, k := range keys {
			if k <= 1200 {
				want[k] = true
			}
		}
		if len(recs) != len(want) || len(seen) != len(want) {
			t.Errorf("read %d records (%d keys), want %d", len(recs), len(seen), len(want))
		}
		for _, r := range recs {
			if r.Key == "1100" && r.Data.Get("lines").Len() != 2 || r.Key == "7" && r.Data.Get("lines").Len() != 1 {
				t.Errorf("record %s: lines %v", r.Key, r.Data.Get("lines"))
			}
		}
		vals, err := c.ValuesOf(ctx, "order", "id", "order_no", []int64{1100, 5000})
		if err != nil || fmt.Sprint(vals) != "[SO-100]" {
			t.Fatalf("ValuesOf = %v, %v", vals, err)
		}
		ks, err := c.KeysOf(ctx, "order", "id", "order_no", vals)
		if err != nil || len(ks) != 2 || ks[0]+ks[1] != 1200 {
			t.Errorf("KeysOf(SO-100) = %v, %v; want 100 and 1100", ks, err)
		}
		side, err := c.SumTable("order", "", []string{"order_no", "total", "id"})
		if err != nil {
			t.Fatal(err)
		}
		kinds := fmt.Sprintln(side.Key, side.Columns[0].Kind == sqlsum.Text, side.Columns[1].Kind == sqlsum.Decimal, side.Columns[1].Scale,
			side.Columns[2].Kind == sqlsum.Integer)
		if kinds != "id true true 2 true\n" {
			t.Errorf("SumTable: %+v", side)
		}
		if _, err := c.SumTable("order", "order_no", nil); err == nil {
			t.Error("SumTable took a text key")
		}
		if _, err := c.SumTable("order", "", []string{"nope"}); err == nil {
			t.Error("SumTable took a column the table lacks")
		}
	})
}
