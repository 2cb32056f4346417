package sqlsum

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// SideTotals are a table's control totals: its rows, and the sum of an
// amount column per value of a currency column.
type SideTotals struct {
	Count int64
	// Amounts sums the amount by currency, as decimal text ("" is the
	// currency of rows without one); rows without an amount are counted,
	// not summed.
	Amounts map[string]decimal.Decimal
}

// Totals computes a table's control totals in one aggregate query: the
// checksum path never reads the rows that agree, so it cannot sum them
// itself. amount is a decimal column summed exactly at scale digits after
// the point (the values times 10^scale, rounded, summed as integers, so a
// SQLite REAL sums without binary error); "" counts only. currency, when
// set, groups the sums. The names are checked identifiers.
func Totals(ctx context.Context, s Side, amount string, scale int, currency string) (SideTotals, error) {
	t := SideTotals{Amounts: map[string]decimal.Decimal{}}
	d, err := dialectOf(s.Driver)
	if err != nil {
		return t, err
	}
	if !tableRe.MatchString(s.Table) {
		return t, fmt.Errorf("sqlsum: table %q: not a plain (schema.)name", s.Table)
	}
	for _, c := range []string{amount, currency} {
		if c != "" && !identRe.MatchString(c) {
			return t, fmt.Errorf("sqlsum: table %s: column %q: not a plain name", s.Table, c)
		}
	}
	if scale < 0 || scale > 18 {
		return t, fmt.Errorf("sqlsum: table %s: scale %d out of 0..18", s.Table, scale)
	}
	cur, sum := "NULL", "NULL"
	if currency != "" {
		cur = d.ident(currency)
	}
	if amount != "" {
		sum = "SUM(" + d.scaledInt(d.ident(amount), scale) + ")"
	}
	q := "SELECT " + d.text(cur) + ", COUNT(*), " + d.text(sum) + " FROM " + d.table(s.Table)
	if currency != "" {
		q += " GROUP BY " + cur
	}
	rows, err := s.DB.QueryContext(ctx, q)
	if err != nil {
		return t, fmt.Errorf("sqlsum: %s: control totals: %w", s.Table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c, v sql.NullString
		var n int64
		if err := rows.Scan(&c, &n, &v); err != nil {
			return t, fmt.Errorf("sqlsum: %s: control totals: %w", s.Table, err)
		}
		t.Count += n
		if !v.Valid {
			continue
		}
		units, err := decimal.NewFromString(strings.TrimSpace(v.String))
		if err != nil {
			return t, fmt.Errorf("sqlsum: %s: control totals: sum %q: %w", s.Table, v.String, err)
		}
		t.Amounts[c.String] = t.Amounts[c.String].Add(units.Shift(int32(-scale)))
	}
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("sqlsum: %s: control totals: %w", s.Table, err)
	}
	return t, nil
}

// scaledInt is e times 10^scale rounded to an integer, exact in each
// database (SQLite's as an INTEGER, so that SUM adds integers).
func (d dialect) scaledInt(e string, scale int) string {
	f := "1" + strings.Repeat("0", scale)
	switch d {
	case postgres:
		return "ROUND(CAST(" + e + " AS NUMERIC) * " + f + ")"
	case mariadb:
		return "ROUND(" + e + " * " + f + ")"
	}
	return "CAST(ROUND(" + e + " * " + f + ") AS INTEGER)"
}
