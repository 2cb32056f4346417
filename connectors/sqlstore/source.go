package sqlstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

// inChunk bounds the values of one IN (...) list.
const inChunk = 1000

// row is one scanned row of an entity's table.
type row struct {
	data []mapping.Member
	key  any       // as scanned, for parameters
	keyS string    // as text, for Record.Key
	ver  time.Time // updated_at
	cur  string    // updated_at in cursor form (see curText)
}

func (r row) record(entity string) connectors.Record {
	return connectors.Record{Entity: entity, Key: r.keyS, Op: connectors.OpUpsert, Version: r.ver, Data: mapping.ObjectValue(r.data...)}
}

// selectFrom is "SELECT <read columns>, key, updated_at, <cursor form> FROM t".
func (c *Conn) selectFrom(e *entity) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for _, col := range e.read {
		b.WriteString(c.d.ident(col))
		b.WriteString(", ")
	}
	k, u := c.d.ident(e.cfg.Key), c.d.ident(e.cfg.UpdatedAt)
	b.WriteString(k + ", " + u + ", ")
	if c.d == sqlite3 {
		// SQLite compares timestamps as the text they are stored as, so
		// the cursor keeps that text.
		b.WriteString("CAST(" + u + " AS TEXT)")
	} else {
		b.WriteString(u)
	}
	b.WriteString(" FROM " + e.t.q)
	return b.String()
}

// curText is a scanned updated_at in cursor form: the stored text on
// SQLite, RFC 3339 elsewhere.
func (c *Conn) curText(v any) string {
	if c.d == sqlite3 {
		return keyString(v)
	}
	if t, ok := timeOf(v); ok {
		return t.Format(time.RFC3339Nano)
	}
	return keyString(v)
}

// curArg turns cursor form back into a parameter.
func (c *Conn) curArg(s string) any {
	if c.d == sqlite3 {
		return s
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC()
	}
	return s
}

// windowLow is the start of the look-back window behind the cursor, as a
// parameter: the cursor time minus the look-back, or the last read's
// database time minus the look-back if that is later (rows older than that
// were visible at the last read, and read then). ok is false when there is
// no window to read (a backlog read long after its rows were written).
func (c *Conn) windowLow(st cursorState, lb time.Duration) (any, bool) {
	param, low, ok := c.lowBound(st.T, lb)
	if !ok {
		return nil, false
	}
	if st.R == "" {
		return param, true
	}
	r, err := time.Parse(time.RFC3339Nano, st.R)
	if err != nil {
		return param, true
	}
	rlow := r.Add(-lb)
	if !rlow.After(low) {
		return param, true
	}
	if rlow.After(low.Add(lb)) {
		return nil, false // past the cursor: nothing behind it can still appear
	}
	if c.d != sqlite3 {
		return rlow.UTC(), true
	}
	_, layout, _ := parseTimeLayout(st.T)
	return rlow.UTC().Format(layout), true
}

// windowDue reports whether the look-back window should be read again: a
// quarter of the look-back after the last complete read.
func windowDue(last string, now time.Time, lb time.Duration) bool {
	r, err := time.Parse(time.RFC3339Nano, last)
	return err != nil || now.Sub(r) >= lb/4
}

// dbNow is the clock that stamps updated_at: the server's for PostgreSQL
// and MySQL, this process's for SQLite (it runs in-process).
func (c *Conn) dbNow(ctx context.Context, db *sqlx.DB) (time.Time, error) {
	var q string
	switch c.d {
	case postgres:
		q = "SELECT clock_timestamp()"
	case mariadb:
		q = "SELECT UTC_TIMESTAMP(6)"
	default:
		return time.Now().UTC(), nil
	}
	var t time.Time
	if err := db.GetContext(ctx, &t, q); err != nil {
		return time.Time{}, fmt.Errorf("read the database clock: %w", c.d.classify(err))
	}
	return t.UTC(), nil
}

// lowBound is the start of the look-back window behind cursor time s, as a
// parameter and as a time; ok is false when s cannot be read as a time in a
// form that formats back to itself.
func (c *Conn) lowBound(s string, lb time.Duration) (any, time.Time, bool) {
	if c.d != sqlite3 {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, time.Time{}, false
		}
		low := t.Add(-lb).UTC()
		return low, low, true
	}
	t, layout, ok := parseTimeLayout(s)
	if !ok || layout == "" {
		return nil, time.Time{}, false
	}
	low := t.Add(-lb)
	return low.Format(layout), low, true
}

func (c *Conn) queryRows(ctx context.Context, db sqlx.QueryerContext, e *entity, q string, args ...any) ([]row, error) {
	rows, err := db.QueryxContext(ctx, c.d.rebind(q), args...)
	if err != nil {
		return nil, c.d.classify(err)
	}
	defer rows.Close()
	n := len(e.read)
	var out []row
	// One row's scan targets, used again for every row: Scan stores new
	// values in them (it copies bytes), which the row keeps.
	vals, ptrs := scanTargets(n + 3) // the columns, the key, updated_at and its cursor form
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, c.d.classify(err)
		}
		r := row{data: make([]mapping.Member, 0, n+1), key: vals[n], keyS: keyString(vals[n]), cur: c.curText(vals[n+2])}
		if b, ok := r.key.([]byte); ok {
			r.key = string(b)
		}
		r.ver, _ = timeOf(vals[n+1])
		for i, col := range e.read {
			r.data = append(r.data, mapping.Member{Key: col, Value: toValue(vals[i], e.t.types[col])})
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, c.d.classify(err)
	}
	return out, nil
}

// parentRun is where a parent's lines start among a chunk's.
type parentRun struct {
	key   string
	raw   any // the key as scanned
	start int
}

// sameKey reports whether two scanned keys are equal integers or strings
// (other kinds are compared by their text).
func sameKey(a, b any) bool {
	switch x := a.(type) {
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	}
	return false
}

// attachLines reads the lines of every row in one query per chunk and adds
// them under "lines", ordered by the line key.
//
// A line belongs to the row whose key it holds as text. Where the table's
// comparison equates keys that differ as text (a case-insensitive
// collation, MariaDB's default: "A-1" = "a-1"; a key column of another
// type: 42 = "42.00"), the query returns lines whose key is no row's;
// then that chunk's lines are read again, each with the row the database
// pairs it with, rather than lost.
func (c *Conn) attachLines(ctx context.Context, db sqlx.QueryerContext, e *entity, rows []row) error {
	if e.lines == nil || len(rows) == 0 {
		return nil
	}
	byParent := map[string][]mapping.Value{}
	for start := 0; start < len(rows); start += inChunk {
		chunk := rows[start:min(start+inChunk, len(rows))]
		lines, parents, err := c.readLines(ctx, db, e, chunk)
		if err != nil {
			return err
		}
		if !allClaimed(chunk, parents) {
			if err := c.pairLines(ctx, db, e, chunk, byParent); err != nil {
				return err
			}
			continue
		}
		for i, r := range parents {
			end := len(lines)
			if i+1 < len(parents) {
				end = parents[i+1].start
			}
			if prev, ok := byParent[r.key]; ok { // (not ordered after all)
				byParent[r.key] = append(prev, lines[r.start:end]...)
			} else {
				byParent[r.key] = lines[r.start:end:end]
			}
		}
	}
	for i := range rows {
		ls := byParent[rows[i].keyS]
		if ls == nil {
			ls = []mapping.Value{}
		}
		rows[i].data = append(rows[i].data, mapping.Member{Key: LinesField, Value: mapping.ArrayValue(ls)})
	}
	return nil
}

// allClaimed says whether every parent key of the lines read is the key
// of a row of the chunk, as text.
func allClaimed(chunk []row, parents []parentRun) bool {
	if len(parents) == 0 {
		return true
	}
	keys := make(map[string]bool, len(chunk))
	for i := range chunk {
		keys[chunk[i].keyS] = true
	}
	for _, p := range parents {
		if !keys[p.key] {
			return false
		}
	}
	return true
}

// pairLines reads the chunk's lines again in one query that asks the
// database which of the chunk's keys each line's key equals (the first
// that does), and adds each line to that row's in byParent, in line
// order. A line whose key is a row's key as text stays that row's.
func (c *Conn) pairLines(ctx context.Context, db sqlx.QueryerContext, e *entity, chunk []row, byParent map[string][]mapping.Value) error {
	l := e.lines
	pk := c.d.ident(l.cfg.ParentKey)
	var q strings.Builder
	q.WriteString(c.lineColumns(l) + pk + ", CASE")
	args := make([]any, 0, 2*len(chunk))
	for i := range chunk {
		fmt.Fprintf(&q, " WHEN %s = ? THEN %d", pk, i)
		args = append(args, chunk[i].key)
	}
	q.WriteString(" END AS hub_row FROM " + l.t.q + " WHERE " + pk + " IN (" + placeholders(len(chunk)) + ") ORDER BY hub_row, " + c.d.ident(l.cfg.Key))
	for i := range chunk {
		args = append(args, chunk[i].key)
	}
	res, err := db.QueryxContext(ctx, c.d.rebind(q.String()), args...)
	if err != nil {
		return c.d.classify(fmt.Errorf("read lines from %s by the rows they belong to: %w", l.cfg.Table, err))
	}
	defer res.Close()
	at := make(map[string]int, len(chunk))
	for i := range chunk {
		at[chunk[i].keyS] = i
	}
	n := len(l.read)
	vals, ptrs := scanTargets(n + 2) // the line's columns, its key, its row
	m := make([]mapping.Member, n)
	for res.Next() {
		if err := res.Scan(ptrs...); err != nil {
			return c.d.classify(err)
		}
		owner, ok := at[keyString(vals[n])]
		if !ok {
			i, err := strconv.Atoi(keyString(vals[n+1])) // (an integer, or its text from some drivers)
			if err != nil || i < 0 || i >= len(chunk) {
				continue // (paired with none: nothing the IN matched)
			}
			owner = i
		}
		for i, col := range l.read {
			m[i] = mapping.Member{Key: col, Value: toValue(vals[i], l.t.types[col])}
		}
		k := chunk[owner].keyS
		byParent[k] = append(byParent[k], mapping.ObjectValue(m...))
	}
	return c.d.classify(res.Err())
}

// readLines reads the lines of the rows (at most inChunk of them) in one
// query: all of them in the order of their parent key and line key, and
// where each parent key's run of them starts.
func (c *Conn) readLines(ctx context.Context, db sqlx.QueryerContext, e *entity, chunk []row) ([]mapping.Value, []parentRun, error) {
	l := e.lines
	pk := c.d.ident(l.cfg.ParentKey)
	args := make([]any, len(chunk))
	for i, r := range chunk {
		args[i] = r.key
	}
	args = c.d.padIn(args)
	q := c.lineColumns(l) + pk + " FROM " + l.t.q + " WHERE " + pk + " IN (" + placeholders(len(args)) + ") ORDER BY " + pk + ", " + c.d.ident(l.cfg.Key)
	res, err := db.QueryxContext(ctx, c.d.rebind(q), args...)
	if err != nil {
		return nil, nil, c.d.classify(fmt.Errorf("read lines from %s: %w", l.cfg.Table, err))
	}
	defer res.Close()
	// One line's scan targets and members, used again for every line
	// (Scan copies bytes; ObjectValue copies the members).
	n := len(l.read)
	vals, ptrs := scanTargets(n + 1) // the line's columns and its key
	m := make([]mapping.Member, n)
	// The chunk's lines in one array, a parent's lines side by side (they
	// come ordered by parent): each parent's slice of it is taken once
	// all are read.
	var lines []mapping.Value
	var parents []parentRun
	for res.Next() {
		if err := res.Scan(ptrs...); err != nil {
			return nil, nil, c.d.classify(err)
		}
		for i, col := range l.read {
			m[i] = mapping.Member{Key: col, Value: toValue(vals[i], l.t.types[col])}
		}
		if k := len(parents) - 1; k < 0 || !sameKey(vals[n], parents[k].raw) {
			if p := keyString(vals[n]); k < 0 || parents[k].key != p {
				parents = append(parents, parentRun{key: p, raw: vals[n], start: len(lines)})
			}
		}
		lines = append(lines, mapping.ObjectValue(m...))
	}
	if err := res.Err(); err != nil {
		return nil, nil, c.d.classify(err)
	}
	return lines, parents, nil
}

// Read returns the changes of entity after cursor, at most max records
// (capped by the entity's batch_size; a cursor-mode batch grows past it to
// keep rows with equal updated_at together). With nothing new it polls every
// poll_interval until ctx is done and then returns an empty batch with the
// same cursor.
func (c *Conn) Read(ctx context.Context, entityName, cursor string, max int) (connectors.Batch, error) {
	db, e, err := c.started(entityName)
	if err != nil {
		return connectors.Batch{}, err
	}
	if max <= 0 || max > e.cfg.BatchSize {
		max = e.cfg.BatchSize
	}
	b, err := connectors.Poll(ctx, c.cfg.PollInterval, cursor, func(cursor string) (connectors.Batch, error) {
		if e.cfg.Capture == CaptureOutbox {
			return c.readOutbox(ctx, db, e, cursor, max)
		}
		return c.readCursor(ctx, db, e, cursor, max)
	})
	if err != nil {
		return connectors.Batch{}, fmt.Errorf("sqlstore %s: read %s: %w", c.name, entityName, err)
	}
	return b, nil
}

// cursorState is the cursor of cursor mode: the last (updated_at, key)
// read, and hashes of the rows already read inside the look-back window
// behind it, so a re-read of the window yields only rows that committed late.
type cursorState struct {
	V int    `json:"v"`
	T string `json:"t,omitempty"`
	K string `json:"k,omitempty"`
	// R is the database's clock at the last complete read of the window:
	// rows older than R minus the look-back were visible then, and read, so
	// the window starts no earlier.
	R    string `json:"r,omitempty"`
	Seen string `json:"s,omitempty"` // 16 bytes per row: hash, updated_at in unix µs
}

type seenSet map[uint64]int64

func decodeCursor(s string) (cursorState, seenSet, error) {
	var st cursorState
	seen := seenSet{}
	if s == "" {
		return st, seen, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(raw, &st)
	}
	if err != nil || st.V != 1 {
		return st, nil, connectors.Permanent(fmt.Errorf("invalid cursor %q", s))
	}
	b, err := base64.RawStdEncoding.DecodeString(st.Seen)
	if err != nil || len(b)%16 != 0 {
		return st, nil, connectors.Permanent(fmt.Errorf("invalid cursor %q", s))
	}
	for i := 0; i < len(b); i += 16 {
		seen[binary.BigEndian.Uint64(b[i:])] = int64(binary.BigEndian.Uint64(b[i+8:]))
	}
	return st, seen, nil
}

func encodeCursor(st cursorState, seen seenSet) string {
	st.V = 1
	hs := make([]uint64, 0, len(seen))
	for h := range seen {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i] < hs[j] })
	b := make([]byte, 0, 16*len(hs))
	for _, h := range hs {
		b = binary.BigEndian.AppendUint64(b, h)
		b = binary.BigEndian.AppendUint64(b, uint64(seen[h]))
	}
	st.Seen = base64.RawStdEncoding.EncodeToString(b)
	raw, _ := json.Marshal(st)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func (r row) hash() uint64 {
	h := fnv.New64a()
	h.Write([]byte(r.keyS))
	h.Write([]byte{0})
	h.Write([]byte(r.cur))
	return h.Sum64()
}

// readCursor reads in (updated_at, key) order after the cursor. It first
// re-reads the look-back window behind the cursor for rows not read before
// (transactions that committed after rows with a later updated_at), then
// reads forward; a batch never ends inside a run of equal updated_at.
func (c *Conn) readCursor(ctx context.Context, db *sqlx.DB, e *entity, cursor string, max int) (connectors.Batch, error) {
	st, seen, err := decodeCursor(cursor)
	if err != nil {
		return connectors.Batch{}, err
	}
	lb := *e.cfg.LookBack
	sel := c.selectFrom(e)
	k, u := c.d.ident(e.cfg.Key), c.d.ident(e.cfg.UpdatedAt)
	order := " ORDER BY " + u + ", " + k
	keyTyp := e.t.types[e.cfg.Key]
	now, err := c.dbNow(ctx, db)
	if err != nil {
		return connectors.Batch{}, err
	}
	var out []row
	// The window is re-read at most every look_back/4: a late row waits at
	// most that long, and a busy table is not re-scanned on every poll.
	// R moves only when the window was read completely (or was empty).
	windowDone := st.T == "" || lb <= 0
	if !windowDone && windowDue(st.R, now, lb) {
		low, ok := c.windowLow(st, lb)
		windowDone = !ok
		if ok {
			t, key := c.curArg(st.T), keyArg(st.K, keyTyp)
			q := sel + " WHERE " + u + " >= ? AND (" + u + " < ? OR (" + u + " = ? AND " + k + " <= ?))" + order
			win, err := c.queryRows(ctx, db, e, q, low, t, t, key)
			if err != nil {
				return connectors.Batch{}, fmt.Errorf("look-back: %w", err)
			}
			windowDone = true
			for _, r := range win {
				if _, dup := seen[r.hash()]; !dup {
					if len(out) == max {
						windowDone = false // the rest next time, from the same R
						break
					}
					out = append(out, r)
				}
			}
		}
	}
	var fwd []row
	if n := max - len(out); n > 0 {
		q, args := sel, []any{}
		if st.T != "" {
			// The leading "u >= ?" is implied by the rest, but it is what
			// lets the (updated_at, key) index start at the cursor: an OR
			// alone is only a filter, so every read scanned the index from
			// its first row, and a backlog cost the database O(n²).
			t, key := c.curArg(st.T), keyArg(st.K, keyTyp)
			q += " WHERE " + u + " >= ? AND (" + u + " > ? OR (" + u + " = ? AND " + k + " > ?))"
			args = append(args, t, t, t, key)
		}
		fwd, err = c.queryRows(ctx, db, e, q+order+" LIMIT ?", append(args, n)...)
		if err != nil {
			return connectors.Batch{}, err
		}
		if len(fwd) == n {
			// Extend to the whole tie group of the last row.
			last := fwd[n-1]
			more, err := c.queryRows(ctx, db, e, sel+" WHERE "+u+" = ? AND "+k+" > ? ORDER BY "+k, c.curArg(last.cur), last.key)
			if err != nil {
				return connectors.Batch{}, fmt.Errorf("tie group: %w", err)
			}
			fwd = append(fwd, more...)
		}
	}
	out = append(out, fwd...)
	if len(fwd) > 0 {
		last := fwd[len(fwd)-1]
		st.T, st.K = last.cur, last.keyS
	}
	if windowDone {
		st.R = now.UTC().Format(time.RFC3339Nano)
	}
	if st.T != "" && lb > 0 {
		// Only rows the next window can hold need remembering: it starts
		// at R minus the look-back at the earliest (windowLow). R is now
		// only when the window was read completely; until then it stays
		// put, and so must what is remembered, or rows read since would
		// come back as late commits and crowd out everything else.
		rt := now
		if r, err := time.Parse(time.RFC3339Nano, st.R); err == nil && r.Before(now) {
			rt = r
		}
		horizon := rt.Add(-lb).UnixMicro()
		for _, r := range out {
			if at := r.ver.UnixMicro(); at >= horizon {
				seen[r.hash()] = at
			}
		}
		for h, at := range seen {
			if at < horizon {
				delete(seen, h)
			}
		}
	}
	if err := c.attachLines(ctx, db, e, out); err != nil {
		return connectors.Batch{}, err
	}
	b := connectors.Batch{Records: make([]connectors.Record, len(out)), Cursor: encodeCursor(st, seen)}
	for i, r := range out {
		b.Records[i] = r.record(e.name)
	}
	return b, nil
}

// outboxEntry is one row of the outbox.
type outboxEntry struct {
	ID        int64  `db:"id"`
	PK        string `db:"pk"`
	Op        string `db:"op"`
	ChangedAt any    `db:"changed_at"`
	Recent    any    `db:"recent"`
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case []byte:
		return string(x) == "1" || string(x) == "true"
	case string:
		return x == "1" || x == "true"
	}
	return false
}

// readOutbox reads the outbox after the cursor (an outbox id) and joins
// each changed key with its current row: a key whose row is gone is a
// delete. Ids are handed out before commit, so a gap in them may be a
// transaction still running: the batch stops before a gap younger than
// the look-back window (on SQLite writers are serialized and there are no
// such gaps).
func (c *Conn) readOutbox(ctx context.Context, db *sqlx.DB, e *entity, cursor string, max int) (connectors.Batch, error) {
	var after int64
	if cursor != "" {
		var err error
		if after, err = strconv.ParseInt(cursor, 10, 64); err != nil || after < 0 {
			return connectors.Batch{}, connectors.Permanent(fmt.Errorf("invalid outbox cursor %q", cursor))
		}
	}
	lb := *e.cfg.LookBack
	var recent string
	var args []any
	switch c.d {
	case postgres:
		recent = "changed_at > now() - make_interval(secs => ?)"
		args = append(args, lb.Seconds())
	case mariadb:
		recent = "changed_at > NOW(6) - INTERVAL ? MICROSECOND"
		args = append(args, lb.Microseconds())
	default:
		recent = "0"
	}
	q := "SELECT id, pk, op, changed_at, " + recent + " AS recent FROM " + c.d.table(c.cfg.OutboxTable) +
		" WHERE entity = ? AND id > ? ORDER BY id LIMIT ?"
	var entries []outboxEntry
	if err := db.SelectContext(ctx, &entries, c.d.rebind(q), append(args, e.name, after, max)...); err != nil {
		return connectors.Batch{}, c.d.classify(fmt.Errorf("read outbox %s: %w", c.cfg.OutboxTable, err))
	}
	next := after
	last := map[string]int{} // pk -> index of its last entry
	var kept []outboxEntry
	for i, en := range entries {
		if lb > 0 && c.d != sqlite3 && (cursor != "" || i > 0) && en.ID != next+1 && truthy(en.Recent) {
			break // a gap that a running transaction may still fill
		}
		next = en.ID
		last[en.PK] = len(kept)
		kept = append(kept, en)
	}
	if len(kept) == 0 {
		return connectors.Batch{Cursor: cursor}, nil
	}
	pks := make([]string, 0, len(last))
	for pk := range last {
		pks = append(pks, pk)
	}
	sort.Slice(pks, func(i, j int) bool { return last[pks[i]] < last[pks[j]] })
	keyTyp := e.t.types[e.cfg.Key]
	current := map[string]row{}
	var found []row
	for start := 0; start < len(pks); start += inChunk {
		chunk := pks[start:min(start+inChunk, len(pks))]
		kargs := make([]any, len(chunk))
		for i, pk := range chunk {
			kargs[i] = keyArg(pk, keyTyp)
		}
		kargs = c.d.padIn(kargs)
		rows, err := c.queryRows(ctx, db, e, c.selectFrom(e)+" WHERE "+c.d.ident(e.cfg.Key)+" IN ("+placeholders(len(kargs))+")", kargs...)
		if err != nil {
			return connectors.Batch{}, fmt.Errorf("join outbox with %s: %w", e.cfg.Table, err)
		}
		found = append(found, rows...)
	}
	if err := c.attachLines(ctx, db, e, found); err != nil {
		return connectors.Batch{}, err
	}
	for _, r := range found {
		current[r.keyS] = r
	}
	b := connectors.Batch{Cursor: strconv.FormatInt(next, 10)}
	for _, pk := range pks {
		if r, ok := current[pk]; ok {
			b.Records = append(b.Records, r.record(e.name))
			continue
		}
		ver, _ := timeOf(kept[last[pk]].ChangedAt)
		b.Records = append(b.Records, connectors.Record{
			Entity: e.name, Key: pk, Op: connectors.OpDelete, Version: ver,
			Data: mapping.ObjectValue(mapping.Member{Key: e.cfg.Key, Value: keyValue(pk, keyTyp)}),
		})
	}
	return b, nil
}

// lineColumns is "SELECT " and the line columns a source reads, each
// followed by ", ".
func (c *Conn) lineColumns(l *lines) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for _, col := range l.read {
		b.WriteString(c.d.ident(col) + ", ")
	}
	return b.String()
}

// scanTargets are n values and pointers to them, for Scan.
func scanTargets(n int) (vals, ptrs []any) {
	vals, ptrs = make([]any, n), make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, ptrs
}
