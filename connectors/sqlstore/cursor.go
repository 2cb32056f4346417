package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/jmoiron/sqlx"
)

var _ connectors.CursorCodec = (*Conn)(nil)

// DescribeCursor says where a source of entity stands: after which change
// (cursor capture) or after which outbox entry (outbox capture).
func (c *Conn) DescribeCursor(ctx context.Context, entityName, cursor string) (string, error) {
	db, e, err := c.started(entityName)
	if err != nil {
		return "", err
	}
	if cursor == "" {
		return "the beginning: everything will be read", nil
	}
	if e.cfg.Capture == CaptureOutbox {
		id, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil {
			return "", fmt.Errorf("invalid outbox cursor %q", cursor)
		}
		var at sql.NullString
		err = db.QueryRowxContext(ctx, c.d.rebind("SELECT changed_at FROM "+c.d.table(c.cfg.OutboxTable)+" WHERE id = ?"), id).Scan(&at)
		switch {
		case errors.Is(err, sql.ErrNoRows) || !at.Valid:
			return fmt.Sprintf("after outbox entry %d of %s (pruned since)", id, c.cfg.OutboxTable), nil
		case err != nil:
			return "", c.d.classify(fmt.Errorf("read outbox entry %d: %w", id, err))
		}
		return fmt.Sprintf("after outbox entry %d of %s, recorded at %s", id, c.cfg.OutboxTable, at.String), nil
	}
	st, seen, err := decodeCursor(cursor)
	if err != nil {
		return "", err
	}
	if st.T == "" {
		return "the beginning: everything will be read", nil
	}
	words := fmt.Sprintf("after the change of %s %s at %s (%s)", e.name, st.K, st.T, e.cfg.UpdatedAt)
	if len(seen) > 0 {
		words += fmt.Sprintf("; %d rows of the look-back window behind it already read", len(seen))
	}
	return words, nil
}

// CursorSince is the cursor from which a source of entity reads every row
// changed at or after since: in cursor capture the position just before
// since; in outbox capture the last outbox entry recorded before it (the
// outbox keeps outbox_keep: rows changed before its oldest entry are not
// read again that way).
func (c *Conn) CursorSince(ctx context.Context, entityName string, since time.Time) (string, error) {
	db, e, err := c.started(entityName)
	if err != nil {
		return "", err
	}
	if e.cfg.Capture == CaptureOutbox {
		at, err := c.timeParam(ctx, db, c.d.table(c.cfg.OutboxTable), "changed_at", since)
		if err != nil {
			return "", err
		}
		var id sql.NullInt64
		q := "SELECT MAX(id) FROM " + c.d.table(c.cfg.OutboxTable) + " WHERE entity = ? AND changed_at < ?"
		if err := db.QueryRowxContext(ctx, c.d.rebind(q), e.name, at).Scan(&id); err != nil {
			return "", c.d.classify(fmt.Errorf("find the outbox entry before %s: %w", since.Format(time.RFC3339), err))
		}
		if !id.Valid {
			return "", nil
		}
		return strconv.FormatInt(id.Int64, 10), nil
	}
	at, err := c.timeParam(ctx, db, e.t.q, e.cfg.UpdatedAt, since)
	if err != nil {
		return "", err
	}
	// (updated_at, key) after (since, the smallest key): every row at or
	// after since.
	st := cursorState{T: c.curText(at), K: ""}
	if numericType(e.t.types[e.cfg.Key]) {
		st.K = strconv.FormatInt(math.MinInt64, 10)
	}
	return encodeCursor(st, seenSet{}), nil
}

// timeParam is since as a parameter compared with column of table: a time
// for PostgreSQL and MySQL; for SQLite, which compares text, text in the
// layout the column's values have.
func (c *Conn) timeParam(ctx context.Context, db *sqlx.DB, table, column string, since time.Time) (any, error) {
	if c.d != sqlite3 {
		return since.UTC(), nil
	}
	var sample sql.NullString
	err := db.QueryRowxContext(ctx, "SELECT "+c.d.ident(column)+" FROM "+table+" WHERE "+c.d.ident(column)+" IS NOT NULL LIMIT 1").Scan(&sample)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, c.d.classify(fmt.Errorf("read a %s of %s: %w", column, table, err))
	}
	layout := "2006-01-02T15:04:05.000Z"
	if sample.Valid {
		if _, l, ok := parseTimeLayout(sample.String); ok && l != "" {
			layout = l
		}
	}
	return since.UTC().Format(layout), nil
}
