package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// InstallCapture creates the outbox table and, on every table of an entity
// with capture: outbox (and on its lines table), triggers that enqueue the
// changed key on insert, update and delete; a line change enqueues its
// parent. It is idempotent: running it again replaces the triggers. It
// works on a connector that is not started (it then connects for the
// duration of the call).
func (c *Conn) InstallCapture(ctx context.Context) error {
	c.mu.RLock()
	db, ents := c.db, c.entities
	c.mu.RUnlock()
	if db == nil {
		var err error
		if db, ents, err = c.open(ctx); err != nil {
			return err
		}
		defer db.Close()
	}
	var stmts []string
	ob := c.cfg.OutboxTable
	if c.d == postgres && !strings.Contains(ob, ".") {
		// Trigger functions run with the writer's search_path: qualify.
		var schema string
		if err := db.GetContext(ctx, &schema, "SELECT current_schema()"); err != nil {
			return fmt.Errorf("sqlstore %s: install capture: current schema: %w", c.name, err)
		}
		ob = schema + "." + ob
	}
	stmts = append(stmts, c.outboxDDL(ob)...)
	n := 0
	for _, name := range c.Entities() {
		e := ents[name]
		if e.cfg.Capture != CaptureOutbox {
			continue
		}
		n++
		stmts = append(stmts, c.triggerDDL(ob, name, e.cfg.Table, e.cfg.Key, false)...)
		if e.lines != nil {
			stmts = append(stmts, c.triggerDDL(ob, name, e.lines.cfg.Table, e.lines.cfg.ParentKey, true)...)
		}
	}
	if n == 0 {
		return fmt.Errorf("sqlstore %s: install capture: no entity has capture: outbox", c.name)
	}
	if err := c.execAll(ctx, db, stmts); err != nil {
		return fmt.Errorf("sqlstore %s: install capture: %w", c.name, err)
	}
	return nil
}

// execAll runs DDL in one transaction where DDL is transactional
// (PostgreSQL, SQLite); MariaDB commits each statement by itself.
func (c *Conn) execAll(ctx context.Context, db *sqlx.DB, stmts []string) error {
	if c.d == mariadb {
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", firstLine(s), err)
			}
		}
		return nil
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return errors.Join(fmt.Errorf("%s: %w", firstLine(s), err), tx.Rollback())
		}
	}
	return tx.Commit()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// baseName is the table name without its schema.
func baseName(t string) string {
	_, b := splitTable(t)
	return b
}

// inSchema qualifies name with the schema of table, if it has one.
func (c *Conn) inSchema(table, name string) string {
	if s, _ := splitTable(table); s != "" {
		return c.d.ident(s) + "." + c.d.ident(name)
	}
	return c.d.ident(name)
}

func (c *Conn) outboxDDL(ob string) []string {
	q := c.d.table(ob)
	ix := baseName(ob) + "_entity_id"
	switch c.d {
	case postgres:
		return []string{
			"CREATE TABLE IF NOT EXISTS " + q + ` (
	id bigserial PRIMARY KEY,
	entity text NOT NULL,
	pk text NOT NULL,
	op text NOT NULL,
	changed_at timestamptz NOT NULL DEFAULT now())`,
			"CREATE INDEX IF NOT EXISTS " + c.d.ident(ix) + " ON " + q + " (entity, id)",
		}
	case mariadb:
		// TIMESTAMP is stored in UTC whatever the writer's time zone.
		return []string{"CREATE TABLE IF NOT EXISTS " + q + ` (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	entity VARCHAR(32) NOT NULL,
	pk VARCHAR(255) NOT NULL,
	op VARCHAR(8) NOT NULL,
	changed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	KEY ` + c.d.ident(ix) + ` (entity, id))`}
	}
	// AUTOINCREMENT: ids are never reused, so the cursor never skips.
	return []string{
		"CREATE TABLE IF NOT EXISTS " + q + ` (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	entity TEXT NOT NULL,
	pk TEXT NOT NULL,
	op TEXT NOT NULL,
	changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`,
		"CREATE INDEX IF NOT EXISTS " + c.inSchema(ob, ix) + " ON " + c.d.ident(baseName(ob)) + " (entity, id)",
	}
}

// triggerDDL captures changes of table into the outbox as changes of
// entity, keyed by column col (the key, or for lines the parent key). The
// entity name is one of the four known entities, so it is safe as a
// literal in DDL.
func (c *Conn) triggerDDL(ob, entity, table, col string, isLines bool) []string {
	d := c.d
	t, k := d.table(table), d.ident(col)
	lit := "'" + entity + "'"
	base := "hub_" + strings.ReplaceAll(table, ".", "_")
	switch d {
	case postgres:
		fn := c.inSchema(table, base+"_capture")
		q := d.table(ob)
		ins := func(rec, op string) string {
			return "INSERT INTO " + q + " (entity, pk, op) VALUES (" + lit + ", " + rec + "." + k + "::text, '" + op + "');"
		}
		var body string
		if isLines {
			body = `
	IF TG_OP <> 'INSERT' THEN ` + ins("OLD", "upsert") + ` END IF;
	IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.` + k + ` IS DISTINCT FROM NEW.` + k + `) THEN ` + ins("NEW", "upsert") + ` END IF;`
		} else {
			body = `
	IF TG_OP = 'DELETE' THEN ` + ins("OLD", "delete") + ` RETURN NULL; END IF;
	` + ins("NEW", "upsert") + `
	IF TG_OP = 'UPDATE' AND OLD.` + k + ` IS DISTINCT FROM NEW.` + k + ` THEN ` + ins("OLD", "delete") + ` END IF;`
		}
		return []string{
			"CREATE OR REPLACE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $hub$\nBEGIN" + body + "\n\tRETURN NULL;\nEND\n$hub$",
			"DROP TRIGGER IF EXISTS hub_capture ON " + t,
			"CREATE TRIGGER hub_capture AFTER INSERT OR UPDATE OR DELETE ON " + t + " FOR EACH ROW EXECUTE FUNCTION " + fn + "()",
		}
	case mariadb:
		q := d.table(ob)
		ins := func(rec, op string) string {
			return "INSERT INTO " + q + " (entity, pk, op) VALUES (" + lit + ", " + rec + "." + k + ", '" + op + "')"
		}
		ai, au, ad := c.inSchema(table, base+"_ai"), c.inSchema(table, base+"_au"), c.inSchema(table, base+"_ad")
		var upd string
		if isLines {
			upd = "BEGIN " + ins("OLD", "upsert") + "; IF NOT (OLD." + k + " <=> NEW." + k + ") THEN " + ins("NEW", "upsert") + "; END IF; END"
		} else {
			upd = "BEGIN " + ins("NEW", "upsert") + "; IF NOT (OLD." + k + " <=> NEW." + k + ") THEN " + ins("OLD", "delete") + "; END IF; END"
		}
		delOp := "delete"
		if isLines {
			delOp = "upsert"
		}
		return []string{
			"DROP TRIGGER IF EXISTS " + ai,
			"CREATE TRIGGER " + ai + " AFTER INSERT ON " + t + " FOR EACH ROW " + ins("NEW", "upsert"),
			"DROP TRIGGER IF EXISTS " + au,
			"CREATE TRIGGER " + au + " AFTER UPDATE ON " + t + " FOR EACH ROW " + upd,
			"DROP TRIGGER IF EXISTS " + ad,
			"CREATE TRIGGER " + ad + " AFTER DELETE ON " + t + " FOR EACH ROW " + ins("OLD", delOp),
		}
	}
	// SQLite: statements inside a trigger, and the table a trigger is on,
	// may not name a schema.
	q := d.ident(baseName(ob))
	t = d.ident(baseName(table))
	ins := func(rec, op, cond string) string {
		return "INSERT INTO " + q + " (entity, pk, op) SELECT " + lit + ", " + rec + "." + k + ", '" + op + "'" + cond + ";"
	}
	ai, au, ad := c.inSchema(table, base+"_ai"), c.inSchema(table, base+"_au"), c.inSchema(table, base+"_ad")
	changed := " WHERE OLD." + k + " IS NOT NEW." + k
	var upd string
	if isLines {
		upd = ins("OLD", "upsert", "") + " " + ins("NEW", "upsert", changed)
	} else {
		upd = ins("NEW", "upsert", "") + " " + ins("OLD", "delete", changed)
	}
	delOp := "delete"
	if isLines {
		delOp = "upsert"
	}
	return []string{
		"DROP TRIGGER IF EXISTS " + ai,
		"CREATE TRIGGER " + ai + " AFTER INSERT ON " + t + " FOR EACH ROW BEGIN " + ins("NEW", "upsert", "") + " END",
		"DROP TRIGGER IF EXISTS " + au,
		"CREATE TRIGGER " + au + " AFTER UPDATE ON " + t + " FOR EACH ROW BEGIN " + upd + " END",
		"DROP TRIGGER IF EXISTS " + ad,
		"CREATE TRIGGER " + ad + " AFTER DELETE ON " + t + " FOR EACH ROW BEGIN " + ins("OLD", delOp, "") + " END",
	}
}
