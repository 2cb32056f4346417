package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/reconcile/sqlsum"
)

// What the in-database checksum path of reconciliation (reconcile/sqlsum)
// needs of a connector: the entity's table with its database, driver and
// integer key, the kind of each compared column read from the live
// schema, and a read of only the rows of given keys.

// SumTable is the entity's table as sqlsum compares it: keyed by key ("":
// the entity's key column), with the named columns, each of the kind its
// live type gives (integers, fixed-point decimals with their scale, dates,
// timestamps, and text for the rest). The connector must be started.
func (c *Conn) SumTable(entityName, key string, columns []string) (sqlsum.Side, error) {
	db, e, err := c.started(entityName)
	if err != nil {
		return sqlsum.Side{}, err
	}
	if key == "" {
		key = e.cfg.Key
	}
	if typ, ok := e.t.types[key]; !ok || !integerType(typ) {
		return sqlsum.Side{}, fmt.Errorf("sqlstore %s: %s: key column %q of %s is not an integer column (type %q)", c.name, entityName, key, e.cfg.Table, typ)
	}
	s := sqlsum.Side{DB: db.DB, Driver: c.cfg.Driver, Table: e.cfg.Table, Key: key}
	for _, col := range columns {
		typ, ok := e.t.types[col]
		if !ok {
			return sqlsum.Side{}, fmt.Errorf("sqlstore %s: %s: table %s has no column %q", c.name, entityName, e.cfg.Table, col)
		}
		s.Columns = append(s.Columns, sumColumn(col, typ, e.t.scales))
	}
	return s, nil
}

// sumColumn is a column of live type typ as sqlsum hashes it.
func sumColumn(name, typ string, scales map[string]int) sqlsum.Column {
	base := typ
	if i := strings.IndexAny(base, "( "); i >= 0 {
		base = base[:i]
	}
	switch {
	case integerType(typ):
		return sqlsum.Column{Name: name, Kind: sqlsum.Integer}
	case base == "numeric" || base == "decimal":
		if s, ok := scales[name]; ok {
			return sqlsum.Column{Name: name, Kind: sqlsum.Decimal, Scale: s}
		}
	case base == "date":
		return sqlsum.Column{Name: name, Kind: sqlsum.Date}
	case base == "timestamp" || base == "datetime" || base == "timestamptz":
		return sqlsum.Column{Name: name, Kind: sqlsum.Timestamp}
	}
	// Anything else (a NUMERIC without scale, a float, a boolean) is
	// hashed as the text the database prints: two equal values may then
	// differ, never the other way round, so the engine still decides.
	return sqlsum.Column{Name: name, Kind: sqlsum.Text}
}

func integerType(t string) bool {
	t = strings.TrimSpace(strings.ToLower(t))
	if i := strings.IndexAny(t, "( "); i >= 0 {
		t = t[:i]
	}
	switch t {
	case "int", "integer", "int2", "int4", "int8", "smallint", "bigint", "tinyint", "mediumint":
		return true
	}
	return false
}

// ReadKeys reads the rows of entity whose column (an integer column; "":
// the key column) holds one of keys, with their lines, as Scan gives them,
// in key order within each IN list of at most 1,000 keys (parameters), each
// key read once.
func (c *Conn) ReadKeys(ctx context.Context, entityName, column string, keys []int64) ([]connectors.Record, error) {
	db, e, err := c.started(entityName)
	if err != nil {
		return nil, err
	}
	if column == "" {
		column = e.cfg.Key
	}
	if !e.t.has(column) {
		return nil, connectors.Permanent(fmt.Errorf("sqlstore %s: read %s by %s: table %s has no such column", c.name, entityName, column, e.cfg.Table))
	}
	keys = slices.Compact(slices.Sorted(slices.Values(keys))) // a key asked twice is read once
	q := c.selectFrom(e) + " WHERE " + c.d.ident(column) + " IN ("
	var out []connectors.Record
	for start := 0; start < len(keys); start += inChunk {
		chunk := keys[start:min(start+inChunk, len(keys))]
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		args = c.d.padIn(args)
		rows, err := c.queryRows(ctx, db, e, q+placeholders(len(args))+") ORDER BY "+c.d.ident(e.cfg.Key), args...)
		if err != nil {
			return nil, fmt.Errorf("sqlstore %s: read %s by %s: %w", c.name, entityName, column, err)
		}
		if err := c.attachLines(ctx, db, e, rows); err != nil {
			return nil, fmt.Errorf("sqlstore %s: read %s by %s: %w", c.name, entityName, column, err)
		}
		for _, r := range rows {
			out = append(out, r.record(e.name))
		}
	}
	return out, nil
}

// ValuesOf returns the distinct values, as text, of column col in the rows
// whose keyCol holds one of keys.
func (c *Conn) ValuesOf(ctx context.Context, entityName, keyCol, col string, keys []int64) ([]string, error) {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	return c.pick(ctx, entityName, col, keyCol, args)
}

// KeysOf returns the keys (keyCol, an integer column) of the rows whose
// col holds one of values (as text).
func (c *Conn) KeysOf(ctx context.Context, entityName, keyCol, col string, values []string) ([]int64, error) {
	_, e, err := c.started(entityName)
	if err != nil {
		return nil, err
	}
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = keyArg(v, e.t.types[col])
	}
	texts, err := c.pick(ctx, entityName, keyCol, col, args)
	if err != nil {
		return nil, err
	}
	out := make([]int64, 0, len(texts))
	for _, s := range texts {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sqlstore %s: %s: key %q of %s is no integer", c.name, entityName, s, e.cfg.Table)
		}
		out = append(out, n)
	}
	return out, nil
}

// pick is SELECT DISTINCT what FROM table WHERE by IN (args), in chunks.
func (c *Conn) pick(ctx context.Context, entityName, what, by string, args []any) ([]string, error) {
	db, e, err := c.started(entityName)
	if err != nil {
		return nil, err
	}
	for _, col := range []string{what, by} {
		if col == "" {
			col = e.cfg.Key
		}
		if !e.t.has(col) {
			return nil, connectors.Permanent(fmt.Errorf("sqlstore %s: %s: table %s has no column %q", c.name, entityName, e.cfg.Table, col))
		}
	}
	if what == "" {
		what = e.cfg.Key
	}
	if by == "" {
		by = e.cfg.Key
	}
	q := "SELECT DISTINCT " + c.d.ident(what) + " FROM " + e.t.q + " WHERE " + c.d.ident(by) + " IN ("
	var out []string
	for start := 0; start < len(args); start += inChunk {
		chunk := c.d.padIn(args[start:min(start+inChunk, len(args))])
		rows, err := db.QueryContext(ctx, c.d.rebind(q+placeholders(len(chunk))+")"), chunk...)
		if err != nil {
			return nil, c.d.classify(fmt.Errorf("sqlstore %s: %s: select %s by %s: %w", c.name, entityName, what, by, err))
		}
		for rows.Next() {
			var v any
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, c.d.classify(err)
			}
			if v != nil {
				out = append(out, keyString(v))
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, c.d.classify(err)
		}
	}
	return out, nil
}
