package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmhub/hub/connectors"
)

// Durable is told that the entity's cursor is stored. For an entity
// captured through the outbox it deletes the entity's outbox rows that a
// cursor stored at least outbox_keep ago had passed: rows of other
// entities, rows after that cursor and rows passed more recently stay,
// so a cursor rewound within outbox_keep (or a second reader of the same
// outbox that is less than outbox_keep behind) still finds them. Reading
// is unaffected: Read asks only for ids after its cursor, and the
// look-back for gaps looks only there too. What a pruning passes over is
// remembered in memory, so after a restart pruning starts again
// outbox_keep later; a cursor set back forgets what it no longer passed.
// Cursor-mode entities and outbox_keep 0 prune nothing.
func (c *Conn) Durable(ctx context.Context, entityName, cursor string) error {
	db, e, err := c.started(entityName)
	if err != nil {
		return err
	}
	keep := *c.cfg.OutboxKeep
	if e.cfg.Capture != CaptureOutbox || keep == 0 || cursor == "" {
		return nil
	}
	id, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || id < 0 {
		return connectors.Permanent(fmt.Errorf("sqlstore %s: durable %s: invalid outbox cursor %q", c.name, entityName, cursor))
	}
	now := time.Now()
	bound, ok := c.passed.note(entityName, id, now, keep)
	if !ok {
		return nil
	}
	if err := c.prune(ctx, db, entityName, bound); err != nil {
		return fmt.Errorf("sqlstore %s: prune the outbox of %s up to id %d: %w", c.name, entityName, bound, err)
	}
	c.passed.pruned(entityName, bound)
	return nil
}

// pruneChunk bounds the rows one DELETE removes, so a first pruning of a
// large outbox does not hold its locks for long.
const pruneChunk = 10000

// prune deletes the entity's outbox rows with ids up to bound, a chunk at
// a time.
func (c *Conn) prune(ctx context.Context, db sqlx.ExecerContext, entity string, bound int64) error {
	ob := c.d.table(c.cfg.OutboxTable)
	var q string
	if c.d == mariadb {
		q = "DELETE FROM " + ob + " WHERE entity = ? AND id <= ? ORDER BY id LIMIT ?"
	} else {
		q = "DELETE FROM " + ob + " WHERE id IN (SELECT id FROM " + ob + " WHERE entity = ? AND id <= ? ORDER BY id LIMIT ?)"
	}
	for {
		res, err := db.ExecContext(ctx, c.d.rebind(q), entity, bound, pruneChunk)
		if err != nil {
			return c.d.classify(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return c.d.classify(err)
		}
		if n < pruneChunk {
			return nil
		}
	}
}

// passedMark is the newest cursor Durable saw in a stretch of time that
// began at first, and when it saw it (last).
type passedMark struct {
	id          int64
	first, last time.Time
}

// passedLog remembers, per entity, the cursors Durable saw (one mark per
// outbox_keep/64 at most) until they are old enough to prune up to.
type passedLog struct {
	mu    sync.Mutex
	marks map[string][]passedMark
	done  map[string]int64 // the highest id pruned up to
}

// note records cursor id at now and returns the id to prune up to: that
// of the newest mark at least keep old, when it is past what was pruned.
func (l *passedLog) note(entity string, id int64, now time.Time, keep time.Duration) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.marks == nil {
		l.marks, l.done = map[string][]passedMark{}, map[string]int64{}
	}
	ms := l.marks[entity]
	// A cursor set back (an operator replays from an older one) no longer
	// passed what the marks after it say: forget them.
	for len(ms) > 0 && ms[len(ms)-1].id > id {
		ms = ms[:len(ms)-1]
	}
	if n := len(ms); n > 0 && now.Sub(ms[n-1].first) < keep/64 {
		ms[n-1].id, ms[n-1].last = max(ms[n-1].id, id), now
	} else {
		ms = append(ms, passedMark{id: id, first: now, last: now})
	}
	var bound int64 = -1
	i := 0
	for ; i < len(ms) && now.Sub(ms[i].last) >= keep; i++ {
		bound = max(bound, ms[i].id)
	}
	l.marks[entity] = ms[i:]
	if bound <= l.done[entity] {
		return 0, false
	}
	return bound, true
}

// pruned records that the entity's outbox is pruned up to id.
func (l *passedLog) pruned(entity string, id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done[entity] = max(l.done[entity], id)
}
