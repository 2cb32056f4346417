package sqlstore

import (
	"context"
	"fmt"
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
// in key order; parameterised IN lists of at most 1,000 keys.
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
	q := c.selectFrom(e) + " WHERE " + c.d.ident(column) + " IN ("
	var out []connectors.Record
	for start := 0; start < len(keys); start += inChunk {
		chunk := keys[start:min(start+inChunk, len(keys))]
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		rows, err := c.queryRows(ctx, db, e, q+placeholders(len(chunk))+") ORDER BY "+c.d.ident(e.cfg.Key), args...)
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
