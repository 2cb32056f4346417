package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/crmhub/hub/internal/sqlbatch"
)

// Prepared statements for the batch calls of the pipeline's path. A
// statement with one placeholder per key or per row has a text of its
// own for every batch size, so it was parsed and planned again on every
// call (SQLite spent an eighth of the state store's time preparing). Here
// a statement has one of a few fixed sizes: an IN list is padded up to the
// next power of two (a key repeated changes no answer), multi-row inserts
// are split into full chunks and powers of two. So the texts are few and
// known, each is prepared once per connection and reused, and the cache is
// bounded by the code's statements, not by the data.

// stmtCache holds the prepared statements by text.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// prepared returns the prepared statement for q (already rebound).
func (s *Store) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return st, nil
}

// closeStmts closes every prepared statement.
func (s *Store) closeStmts() {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close()
	}
	c.m = nil
}

// inChunk is the most keys one IN list takes.
const inChunk = 512

// queryIn runs format (a query with one %s where the IN list goes, '?'
// placeholders) for keys, in chunks padded to a power of two, with head
// as the arguments before the list, and calls scan for every row. tx may
// be nil.
func (s *Store) queryIn(ctx context.Context, tx *sql.Tx, format string, keys []string, scan func(*sql.Rows) error, head ...any) error {
	for _, chunk := range chunks(dedupe(keys), inChunk) {
		size := sqlbatch.InSize(len(chunk))
		q := s.rebind(fmt.Sprintf(format, strings.TrimSuffix(strings.Repeat("?,", size), ",")))
		args := sqlbatch.AppendIn(append(make([]any, 0, len(head)+size), head...), chunk)
		if err := s.queryStmt(ctx, tx, q, args, scan); err != nil {
			return err
		}
	}
	return nil
}

// queryStmt runs the prepared statement q (in tx when not nil) and calls
// scan for every row.
func (s *Store) queryStmt(ctx context.Context, tx *sql.Tx, q string, args []any, scan func(*sql.Rows) error) error {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return err
	}
	if tx != nil {
		st = tx.StmtContext(ctx, st)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// valuesList is "(?, ?, ...), (...)": rows tuples of cols placeholders.
func valuesList(rows, cols int) string {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(tuple+", ", rows), ", ")
}
