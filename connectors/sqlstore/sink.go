package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

// badRecord is a record this package refuses before touching the database.
type badRecord struct{ err error }

func (b badRecord) Error() string { return b.err.Error() }
func (b badRecord) Unwrap() error { return b.err }

// Write upserts or deletes recs in one transaction. Upserts are keyed by
// the external_id column and guarded by the version column: a record whose
// version is older than the row's is answered Stale (an equal version is
// written again, so a replay after a mapping fix takes effect). An order's
// lines are replaced together with the order, only when the order's
// version wins. A delete of a row that is not there is NotFound; an
// upsert of one inserts it (the external id is the hub's key here, not
// one the database handed out).
//
// When the batch fails for a reason the data is to blame, it is written
// again record by record, each in a savepoint, so that only the culprits
// fail, Permanent, with the database's message and the column. Connection
// trouble, deadlocks and timeouts fail the whole batch, Retryable; a
// missing table or column, refused credentials or an unknown database
// fail it Unavailable: no record is to blame for those, so none of them
// is answered Failed.
func (c *Conn) Write(ctx context.Context, entityName string, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	db, e, err := c.started(entityName)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	res, err := c.writeBatch(ctx, db, e, recs, false)
	if err == nil {
		return res, nil
	}
	if kind, _ := connectors.Classify(err); kind != connectors.KindPermanent {
		return nil, fmt.Errorf("sqlstore %s: write %s: %w", c.name, entityName, err)
	}
	res, err = c.writeBatch(ctx, db, e, recs, true)
	if err != nil {
		return nil, fmt.Errorf("sqlstore %s: write %s record by record: %w", c.name, entityName, err)
	}
	return res, nil
}

// writeBatch writes recs in one transaction. Without savepoints the first
// database error rolls back and is returned; with them a record's
// permanent failure is rolled back to its savepoint and reported in its
// Result, while a failure of the whole database (Unavailable) or of the
// connection (Retryable) is returned for the batch. Failures of statements
// that carry no record (begin, savepoints) are the connection's: always
// Retryable, never a reason to dead-letter the batch's records.
func (c *Conn) writeBatch(ctx context.Context, db *sqlx.DB, e *entity, recs []connectors.WriteRecord, savepoints bool) ([]connectors.Result, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, connectors.Retryable(fmt.Errorf("begin: %w", err), 0)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	results := make([]connectors.Result, len(recs))
	done := make([]bool, len(recs))
	if !savepoints && (c.d == postgres || c.d == sqlite3) {
		// The fast path: upserts in multi-row statements. Any error sends
		// the caller back here with savepoints, record by record.
		if err := c.bulkUpsert(ctx, tx, e, recs, results, done); err != nil {
			return nil, err
		}
	}
	for i := range recs {
		if done[i] {
			continue
		}
		rec := &recs[i]
		if savepoints {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT hub_rec"); err != nil {
				return nil, connectors.Retryable(fmt.Errorf("savepoint: %w", err), 0)
			}
		}
		r, err := c.writeOne(ctx, tx, e, rec)
		if err == nil {
			results[i] = r
			if savepoints {
				if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT hub_rec"); err != nil {
					return nil, connectors.Retryable(fmt.Errorf("release savepoint: %w", err), 0)
				}
			}
			continue
		}
		what := fmt.Sprintf("sqlstore %s: %s %s %s", c.name, opVerb(rec.Op), e.name, r.ExternalID)
		var bad badRecord
		if errors.As(err, &bad) {
			// Nothing reached the database for this record.
			results[i] = connectors.Result{ExternalID: r.ExternalID, Err: connectors.Permanent(fmt.Errorf("%s: %w", what, bad.err))}
			if savepoints {
				if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT hub_rec"); err != nil {
					return nil, connectors.Retryable(fmt.Errorf("release savepoint: %w", err), 0)
				}
			}
			continue
		}
		err = c.d.classify(err)
		if kind, _ := connectors.Classify(err); kind != connectors.KindPermanent || !savepoints {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT hub_rec"); rerr != nil {
			return nil, connectors.Retryable(fmt.Errorf("rollback to savepoint: %w", rerr), 0)
		}
		if col := c.culprit(ctx, tx, e, rec, err); col != "" {
			err = connectors.Permanent(fmt.Errorf("column %q: %w", col, err))
		}
		if _, rerr := tx.ExecContext(ctx, "RELEASE SAVEPOINT hub_rec"); rerr != nil {
			return nil, connectors.Retryable(fmt.Errorf("release savepoint: %w", rerr), 0)
		}
		results[i] = connectors.Result{ExternalID: r.ExternalID, Err: fmt.Errorf("%s: %w", what, err)}
	}
	if err := tx.Commit(); err != nil {
		return nil, c.d.classify(fmt.Errorf("commit: %w", err))
	}
	return results, nil
}

func opVerb(op connectors.Op) string {
	if op == connectors.OpDelete {
		return "delete"
	}
	return "upsert"
}

// extID is the external id a record is written under: the id xref knows,
// else the record's own external_id field, else its hub id.
func extID(e *entity, rec *connectors.WriteRecord) string {
	if rec.ExternalID != "" {
		return rec.ExternalID
	}
	if v := rec.Data.Get(e.cfg.ExternalID); !v.IsNull() && v.Str() != "" {
		return v.Str()
	}
	return rec.HubID
}

// writeOne writes one record; its Result carries the external id even on
// failure.
func (c *Conn) writeOne(ctx context.Context, tx *sqlx.Tx, e *entity, rec *connectors.WriteRecord) (connectors.Result, error) {
	ext := extID(e, rec)
	res := connectors.Result{ExternalID: ext}
	if ext == "" {
		return res, badRecord{errors.New("no external id (external id, data." + e.cfg.ExternalID + " and hub id are all empty)")}
	}
	ver := rec.Version
	if ver.IsZero() {
		ver = time.Now() // a change without a version is the newest
	}
	if rec.Op == connectors.OpDelete {
		var err error
		res.Outcome, err = c.deleteOne(ctx, tx, e, ext, ver)
		return res, err
	}
	if rec.Op != connectors.OpUpsert && rec.Op != "" {
		return res, badRecord{fmt.Errorf("unknown op %q", rec.Op)}
	}
	if rec.Data.Kind() != mapping.Object {
		return res, badRecord{fmt.Errorf("data is %s, not an object", rec.Data.Kind())}
	}
	p, err := c.prepare(e, rec.Data, ext, ver)
	if err != nil {
		return res, badRecord{err}
	}
	written, key, err := c.upsert(ctx, tx, e, p.cols, p.args, ext)
	if err != nil {
		return res, err
	}
	if !written {
		res.Outcome = connectors.Stale
		return res, nil
	}
	if p.hasLines {
		if err := c.replaceLines(ctx, tx, e, key, p.lines); err != nil {
			return res, err
		}
	}
	res.Outcome = connectors.Written
	return res, nil
}

// prepared is a record checked against the live schema and turned into
// columns and parameters.
type prepared struct {
	cols     []string // the record's fields, then external id and version
	args     []any
	hasLines bool
	lines    []preparedLine
}

type preparedLine struct {
	cols []string // without the parent key
	args []any
}

// prepare checks every field of a record (and of its lines) against the
// live schema before anything is written.
func (c *Conn) prepare(e *entity, data mapping.Value, ext string, ver time.Time) (prepared, error) {
	p := prepared{cols: make([]string, 0, data.Len()+2), args: make([]any, 0, data.Len()+2)}
	var buf [16]mapping.Member
	for _, m := range data.AppendMembers(buf[:0]) {
		if e.lines != nil && m.Key == LinesField {
			if err := c.prepareLines(e, m.Value, &p); err != nil {
				return p, err
			}
			continue
		}
		if m.Key == e.cfg.ExternalID || m.Key == e.cfg.Version {
			continue
		}
		typ, ok := e.t.types[m.Key]
		if !ok {
			return p, fmt.Errorf("field %q is not a column of table %s", m.Key, e.cfg.Table)
		}
		if err := fitsScale(&e.t, m.Key, m.Value); err != nil {
			return p, fmt.Errorf("%s: %w", m.Key, err)
		}
		p.cols = append(p.cols, m.Key)
		p.args = append(p.args, c.d.toArg(m.Value, typ))
	}
	p.cols = append(p.cols, e.cfg.ExternalID, e.cfg.Version)
	p.args = append(p.args, ext, c.d.timeArg(ver))
	return p, nil
}

// prepareLines checks a record's lines against the lines table and adds
// them to p. Lines with the columns of the line before share its cols.
func (c *Conn) prepareLines(e *entity, lines mapping.Value, p *prepared) error {
	if lines.Kind() != mapping.Array {
		return fmt.Errorf("field %q is %s, not an array of lines", LinesField, lines.Kind())
	}
	p.hasLines = true
	elems := lines.Elems()
	p.lines = make([]preparedLine, 0, len(elems))
	var buf [16]mapping.Member
	var cols []string // the line's columns, before they are kept
	for i, lv := range elems {
		if lv.Kind() != mapping.Object {
			return fmt.Errorf("%s[%d] is %s, not an object", LinesField, i, lv.Kind())
		}
		pl := preparedLine{args: make([]any, 0, lv.Len())}
		cols = cols[:0]
		for _, lm := range lv.AppendMembers(buf[:0]) {
			if lm.Key == e.lines.cfg.ParentKey {
				continue
			}
			typ, ok := e.lines.t.types[lm.Key]
			if !ok {
				return fmt.Errorf("%s[%d]: field %q is not a column of table %s", LinesField, i, lm.Key, e.lines.cfg.Table)
			}
			if err := fitsScale(&e.lines.t, lm.Key, lm.Value); err != nil {
				return fmt.Errorf("%s[%d].%s: %w", LinesField, i, lm.Key, err)
			}
			cols = append(cols, lm.Key)
			pl.args = append(pl.args, c.d.toArg(lm.Value, typ))
		}
		if i > 0 && slices.Equal(cols, p.lines[i-1].cols) {
			pl.cols = p.lines[i-1].cols
		} else {
			pl.cols = slices.Clone(cols)
		}
		p.lines = append(p.lines, pl)
	}
	return nil
}

// fitsScale refuses a number with more digits after the point than its
// fixed-point column holds (10 decimals into NUMERIC(12,2)): the database
// would round it without a word. Trailing zeros do not count; a mapping
// that means to round says so ({round: 2}).
func fitsScale(t *table, col string, v mapping.Value) error {
	scale, ok := t.scales[col]
	if !ok || (v.Kind() != mapping.Number && v.Kind() != mapping.String) {
		return nil
	}
	s := v.Str()
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return nil
	}
	frac := s[dot+1:]
	if e := strings.IndexAny(frac, "eE"); e >= 0 {
		return nil // exponent notation: the database's own check applies
	}
	if digits := len(strings.TrimRight(frac, "0")); digits > scale {
		return fmt.Errorf("%q has %d digits after the point; column %s.%s holds %d (round it in the mapping: {round: %d})",
			s, digits, t.name, col, scale, scale)
	}
	return nil
}

// upsert inserts or version-guardedly updates one row, reporting whether it
// wrote and the row's key.
func (c *Conn) upsert(ctx context.Context, tx *sqlx.Tx, e *entity, cols []string, args []any, ext string) (bool, any, error) {
	d := c.d
	qc := make([]string, len(cols))
	for i, col := range cols {
		qc[i] = d.ident(col)
	}
	x, v, k := d.ident(e.cfg.ExternalID), d.ident(e.cfg.Version), d.ident(e.cfg.Key)
	insert := "INSERT INTO " + e.t.q
	if d == postgres {
		insert += " AS hub_t"
	}
	insert += " (" + strings.Join(qc, ", ") + ") VALUES (" + placeholders(len(cols)) + ")"
	var set []string
	switch d {
	case postgres, sqlite3:
		old, neu := "hub_t.", "EXCLUDED."
		if d == sqlite3 {
			old, neu = "", "excluded."
		}
		for _, col := range qc {
			if col != x {
				set = append(set, col+" = "+neu+col)
			}
		}
		q := insert + " ON CONFLICT (" + x + ") DO UPDATE SET " + strings.Join(set, ", ") +
			" WHERE " + old + v + " IS NULL OR " + old + v + " <= " + neu + v + " RETURNING " + k
		var key any
		err := tx.QueryRowxContext(ctx, d.rebind(q), args...).Scan(&key)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil, nil
		}
		if err != nil {
			return false, nil, err
		}
		if b, ok := key.([]byte); ok {
			key = string(b)
		}
		return true, key, nil
	}
	// MariaDB: lock the row (or the gap) and read its version first, so a
	// skip is known for sure; the guarded ON DUPLICATE KEY UPDATE then
	// assigns the version last, because MySQL evaluates assignments left to
	// right and later IF()s would otherwise see the new version.
	var cur sql.NullTime
	err := tx.QueryRowxContext(ctx, "SELECT "+v+" FROM "+e.t.q+" WHERE "+x+" = ? FOR UPDATE", ext).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, nil, err
	default:
		newVer, _ := args[len(args)-1].(time.Time)
		if cur.Valid && cur.Time.After(newVer) {
			return false, nil, nil
		}
	}
	if err := c.mariaUpsert(ctx, tx, e, cols, args); err != nil {
		return false, nil, err
	}
	var key any
	if err := tx.QueryRowxContext(ctx, "SELECT "+k+" FROM "+e.t.q+" WHERE "+x+" = ?", ext).Scan(&key); err != nil {
		return false, nil, fmt.Errorf("read back key: %w", err)
	}
	if b, ok := key.([]byte); ok {
		key = string(b)
	}
	return true, key, nil
}

// mariaUpsert is MariaDB's version-guarded INSERT ... ON DUPLICATE KEY
// UPDATE. Every assignment is guarded, and the version is assigned last:
// MySQL evaluates assignments left to right, so guards after it would see
// the new version (harmless with this <= guard, wrong with a strict one).
func (c *Conn) mariaUpsert(ctx context.Context, tx *sqlx.Tx, e *entity, cols []string, args []any) error {
	d := c.d
	x, v := d.ident(e.cfg.ExternalID), d.ident(e.cfg.Version)
	qc := make([]string, len(cols))
	for i, col := range cols {
		qc[i] = d.ident(col)
	}
	guard := "(" + v + " IS NULL OR " + v + " <= VALUES(" + v + "))"
	var set []string
	for _, col := range qc {
		if col != x && col != v {
			set = append(set, col+" = IF("+guard+", VALUES("+col+"), "+col+")")
		}
	}
	set = append(set, v+" = IF("+guard+", VALUES("+v+"), "+v+")")
	q := "INSERT INTO " + e.t.q + " (" + strings.Join(qc, ", ") + ") VALUES (" + placeholders(len(cols)) +
		") ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// replaceLines deletes the parent's lines and inserts the given ones.
func (c *Conn) replaceLines(ctx context.Context, tx *sqlx.Tx, e *entity, parent any, ls []preparedLine) error {
	l := e.lines
	pk := c.d.ident(l.cfg.ParentKey)
	if _, err := tx.ExecContext(ctx, c.d.rebind("DELETE FROM "+l.t.q+" WHERE "+pk+" = ?"), parent); err != nil {
		return fmt.Errorf("replace lines: %w", err)
	}
	for i, pl := range ls {
		cols := []string{pk}
		for _, col := range pl.cols {
			cols = append(cols, c.d.ident(col))
		}
		q := "INSERT INTO " + l.t.q + " (" + strings.Join(cols, ", ") + ") VALUES (" + placeholders(len(cols)) + ")"
		if _, err := tx.ExecContext(ctx, c.d.rebind(q), append([]any{parent}, pl.args...)...); err != nil {
			return fmt.Errorf("insert %s[%d]: %w", LinesField, i, err)
		}
	}
	return nil
}

// deleteOne applies a delete, guarded by the version like an upsert. A
// missing row is already deleted.
func (c *Conn) deleteOne(ctx context.Context, tx *sqlx.Tx, e *entity, ext string, ver time.Time) (connectors.Outcome, error) {
	d := c.d
	x, v, k := d.ident(e.cfg.ExternalID), d.ident(e.cfg.Version), d.ident(e.cfg.Key)
	lock := ""
	if d != sqlite3 {
		lock = " FOR UPDATE"
	}
	var key, cur any
	err := tx.QueryRowxContext(ctx, d.rebind("SELECT "+k+", "+v+" FROM "+e.t.q+" WHERE "+x+" = ?"+lock), ext).Scan(&key, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return connectors.NotFound, nil
	}
	if err != nil {
		return connectors.Failed, err
	}
	if b, ok := key.([]byte); ok {
		key = string(b)
	}
	if t, ok := timeOf(cur); ok && cur != nil && t.After(ver.UTC()) {
		return connectors.Stale, nil
	}
	if e.cfg.Delete.Mode == DeleteSoft {
		var val any = e.cfg.Delete.Value
		if val == "now" {
			val = d.timeArg(time.Now())
		}
		q := "UPDATE " + e.t.q + " SET " + d.ident(e.cfg.Delete.Column) + " = ?, " + v + " = ? WHERE " + x + " = ?"
		if e.cfg.Delete.Column == e.cfg.Version {
			q = "UPDATE " + e.t.q + " SET " + v + " = ? WHERE " + x + " = ?"
			_, err = tx.ExecContext(ctx, d.rebind(q), val, ext)
		} else {
			_, err = tx.ExecContext(ctx, d.rebind(q), val, d.timeArg(ver), ext)
		}
		return written(err)
	}
	if e.lines != nil {
		if _, err := tx.ExecContext(ctx, d.rebind("DELETE FROM "+e.lines.t.q+" WHERE "+d.ident(e.lines.cfg.ParentKey)+" = ?"), key); err != nil {
			return connectors.Failed, fmt.Errorf("delete lines: %w", err)
		}
	}
	_, err = tx.ExecContext(ctx, d.rebind("DELETE FROM "+e.t.q+" WHERE "+x+" = ?"), ext)
	return written(err)
}

// written is the outcome of a statement that wrote when it did not fail.
func written(err error) (connectors.Outcome, error) {
	if err != nil {
		return connectors.Failed, err
	}
	return connectors.Written, nil
}

// culprit finds the column a failed write's value was refused by, when the
// database's message does not say (PostgreSQL reports bad input and
// too-long values without the column). It inserts each value alone into a
// constraint-free copy of the table inside a savepoint that is rolled back.
func (c *Conn) culprit(ctx context.Context, tx *sqlx.Tx, e *entity, rec *connectors.WriteRecord, failure error) string {
	if c.d != postgres || rec.Op == connectors.OpDelete {
		return ""
	}
	p, err := c.prepare(e, rec.Data, extID(e, rec), rec.Version)
	if err != nil {
		return ""
	}
	cols, args := p.cols, p.args
	for _, col := range append(append([]string{}, cols...), e.cfg.Key) {
		if mentions(failure, col) {
			return ""
		}
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT hub_probe"); err != nil {
		return ""
	}
	defer tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT hub_probe") //nolint:errcheck // best effort: the probe only names a column
	qc := make([]string, len(cols))
	for i, col := range cols {
		qc[i] = c.d.ident(col)
	}
	if _, err := tx.ExecContext(ctx, "CREATE TEMP TABLE hub_probe ON COMMIT DROP AS SELECT "+strings.Join(qc, ", ")+" FROM "+e.t.q+" WITH NO DATA"); err != nil {
		return ""
	}
	for i, col := range qc {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT hub_probe_col"); err != nil {
			return ""
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO hub_probe ("+col+") VALUES ($1)", args[i])
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT hub_probe_col"); rerr != nil {
			return ""
		}
		if err != nil {
			return cols[i]
		}
	}
	return ""
}

// bulkParams bounds the parameters of one statement (PostgreSQL allows
// 65,535, SQLite 32,766).
const bulkParams = 30000

// bulkUpsert writes the batch's upserts that share one column set with
// multi-row INSERT ... ON CONFLICT ... RETURNING statements, and their
// lines with one DELETE and multi-row INSERTs, marking each handled record
// in done. Records it cannot handle (deletes, odd column sets, records the
// schema refuses) are left for the record-by-record path.
func (c *Conn) bulkUpsert(ctx context.Context, tx *sqlx.Tx, e *entity, recs []connectors.WriteRecord, results []connectors.Result, done []bool) error {
	type item struct {
		i   int
		ext string
		p   prepared
	}
	var group []item
	var sig []string // the group's column set: the first record's
	seen := map[string]bool{}
	for i := range recs {
		rec := &recs[i]
		if rec.Op != connectors.OpUpsert || rec.Data.Kind() != mapping.Object {
			continue
		}
		ext := extID(e, rec)
		if ext == "" || seen[ext] {
			continue // a second write of one row in a statement is an error
		}
		ver := rec.Version
		if ver.IsZero() {
			ver = time.Now()
		}
		p, err := c.prepare(e, rec.Data, ext, ver)
		if err != nil {
			continue
		}
		if sig == nil {
			sig = p.cols
		}
		if !slices.Equal(p.cols, sig) {
			continue
		}
		seen[ext] = true
		group = append(group, item{i: i, ext: ext, p: p})
	}
	if len(group) < 2 {
		return nil
	}
	d := c.d
	cols := group[0].p.cols
	qc := make([]string, len(cols))
	for i, col := range cols {
		qc[i] = d.ident(col)
	}
	x, v, k := d.ident(e.cfg.ExternalID), d.ident(e.cfg.Version), d.ident(e.cfg.Key)
	old, neu := "hub_t.", "EXCLUDED."
	alias := " AS hub_t"
	if d == sqlite3 {
		old, neu, alias = "", "excluded.", ""
	}
	var set []string
	for _, col := range qc {
		if col != x {
			set = append(set, col+" = "+neu+col)
		}
	}
	row := "(" + placeholders(len(cols)) + ")"
	keys := map[string]any{} // ext -> key of rows written
	rest := group
	for _, n := range d.chunks(len(group), bulkParams/len(cols)) {
		chunk := rest[:n]
		rest = rest[n:]
		rows := make([]string, len(chunk))
		args := make([]any, 0, len(chunk)*len(cols))
		for j, it := range chunk {
			rows[j] = row
			args = append(args, it.p.args...)
		}
		q := "INSERT INTO " + e.t.q + alias + " (" + strings.Join(qc, ", ") + ") VALUES " + strings.Join(rows, ", ") +
			" ON CONFLICT (" + x + ") DO UPDATE SET " + strings.Join(set, ", ") +
			" WHERE " + old + v + " IS NULL OR " + old + v + " <= " + neu + v + " RETURNING " + x + ", " + k
		rs, err := tx.QueryxContext(ctx, d.rebind(q), args...)
		if err != nil {
			return fmt.Errorf("bulk upsert: %w", d.classify(err))
		}
		for rs.Next() {
			var ext, key any
			if err := rs.Scan(&ext, &key); err != nil {
				rs.Close()
				return fmt.Errorf("bulk upsert: %w", d.classify(err))
			}
			if b, ok := key.([]byte); ok {
				key = string(b)
			}
			keys[keyString(ext)] = key
		}
		if err := rs.Close(); err != nil {
			return fmt.Errorf("bulk upsert: %w", d.classify(err))
		}
		if err := rs.Err(); err != nil {
			return fmt.Errorf("bulk upsert: %w", d.classify(err))
		}
	}
	if e.lines != nil {
		if err := c.bulkLines(ctx, tx, e, func(yield func(any, []preparedLine)) {
			for _, it := range group {
				if key, ok := keys[it.ext]; ok && it.p.hasLines {
					yield(key, it.p.lines)
				}
			}
		}); err != nil {
			return err
		}
	}
	for _, it := range group {
		_, written := keys[it.ext]
		results[it.i] = connectors.Result{ExternalID: it.ext, Outcome: connectors.Written}
		if !written {
			results[it.i].Outcome = connectors.Stale
		}
		done[it.i] = true
	}
	return nil
}

// bulkLines replaces the lines of the given parents: one DELETE per chunk
// of parents, then multi-row INSERTs of lines sharing a column set.
func (c *Conn) bulkLines(ctx context.Context, tx *sqlx.Tx, e *entity, each func(yield func(any, []preparedLine))) error {
	d, l := c.d, e.lines
	pk := d.ident(l.cfg.ParentKey)
	var parents []any
	type lineRow struct {
		parent any
		pl     preparedLine
	}
	bySig := map[string][]lineRow{}
	var sigs []string
	var lastCols []string // the last line's column set, and its sig
	var lastSig string
	each(func(parent any, ls []preparedLine) {
		parents = append(parents, parent)
		for _, pl := range ls {
			if lastCols == nil || !slices.Equal(pl.cols, lastCols) {
				lastCols, lastSig = pl.cols, strings.Join(pl.cols, ",")
				if _, ok := bySig[lastSig]; !ok {
					sigs = append(sigs, lastSig)
				}
			}
			bySig[lastSig] = append(bySig[lastSig], lineRow{parent, pl})
		}
	})
	for start := 0; start < len(parents); start += bulkParams {
		chunk := d.padIn(parents[start:min(start+bulkParams, len(parents))])
		q := "DELETE FROM " + l.t.q + " WHERE " + pk + " IN (" + placeholders(len(chunk)) + ")"
		if _, err := tx.ExecContext(ctx, d.rebind(q), chunk...); err != nil {
			return fmt.Errorf("replace lines: %w", d.classify(err))
		}
	}
	for _, sig := range sigs {
		rows := bySig[sig]
		cols := []string{pk}
		for _, col := range rows[0].pl.cols {
			cols = append(cols, d.ident(col))
		}
		row := "(" + placeholders(len(cols)) + ")"
		rest := rows
		for _, n := range d.chunks(len(rows), bulkParams/len(cols)) {
			chunk := rest[:n]
			rest = rest[n:]
			vals := make([]string, len(chunk))
			args := make([]any, 0, len(chunk)*len(cols))
			for j, r := range chunk {
				vals[j] = row
				args = append(args, r.parent)
				args = append(args, r.pl.args...)
			}
			q := "INSERT INTO " + l.t.q + " (" + strings.Join(cols, ", ") + ") VALUES " + strings.Join(vals, ", ")
			if _, err := tx.ExecContext(ctx, d.rebind(q), args...); err != nil {
				return fmt.Errorf("insert lines: %w", d.classify(err))
			}
		}
	}
	return nil
}
