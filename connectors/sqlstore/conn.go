package sqlstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	// The three database/sql drivers this connector speaks.
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/crmhub/hub/connectors"
)

// Kind is the connector kind this package registers.
const Kind = "sqlstore"

// Register registers kind "sqlstore" with its settings spec (Config).
func Register(r *connectors.Registry) error {
	k, err := connectors.Declare(Kind, "a SQL database (PostgreSQL, MySQL/MariaDB, SQLite): the CRM's own tables or an ERP's interface tables",
		func(p connectors.Params, cfg Config) (*Conn, error) {
			if cfg.InitSQL != "" && !filepath.IsAbs(cfg.InitSQL) && p.Dir != "" {
				cfg.InitSQL = filepath.Join(p.Dir, cfg.InitSQL)
			}
			if d, ok := normalizeDriver(cfg.Driver); ok && d == "sqlite" {
				cfg.DSN = sqlitePathIn(p.Dir, cfg.DSN)
			}
			return New(p.Name, cfg)
		})
	if err != nil {
		return err
	}
	return r.Register(k)
}

// Conn is one configured sqlstore connector: a connectors.Reader, Writer
// and Scanner, safe for concurrent use once started.
type Conn struct {
	name string
	cfg  Config
	d    dialect

	mu       sync.RWMutex
	db       *sqlx.DB
	entities map[string]*entity

	// passed remembers, per outbox entity, when Durable saw which cursor
	// (outbox.go).
	passed passedLog
}

var (
	_ connectors.Reader  = (*Conn)(nil)
	_ connectors.Writer  = (*Conn)(nil)
	_ connectors.Scanner = (*Conn)(nil)
)

// New validates cfg and returns a connector that connects on Start. Errors
// name every bad key.
func New(name string, cfg Config) (*Conn, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Conn{name: name, cfg: c, d: dialectOf(c.Driver)}, nil
}

// Name is the connector's configured name.
func (c *Conn) Name() string { return c.name }

// Config returns the connector's config with every default filled in.
func (c *Conn) Config() Config { return c.cfg }

// Reads lists the configured entities; deletes arrive where they are
// captured through the outbox.
func (c *Conn) Reads() []connectors.ReadSpec {
	var out []connectors.ReadSpec
	for _, n := range c.Entities() {
		out = append(out, connectors.ReadSpec{Entity: n, Deletes: c.cfg.Entities[n].Capture == CaptureOutbox})
	}
	return out
}

// Writes lists the configured entities: every one is version-guarded (the
// version column) and takes deletes (hard or soft).
func (c *Conn) Writes() []connectors.WriteSpec {
	var out []connectors.WriteSpec
	for _, n := range c.Entities() {
		out = append(out, connectors.WriteSpec{Entity: n, VersionGuard: c.cfg.Entities[n].Version != "", Deletes: true})
	}
	return out
}

// Check pings the database and asks every configured table (and the
// outbox) for no rows, naming the columns the connector uses: cheap, and
// it fails Unavailable when a table or column went missing since Start or
// the credentials are refused now, Retryable when the database is down.
func (c *Conn) Check(ctx context.Context) error {
	c.mu.RLock()
	db, ents := c.db, c.entities
	c.mu.RUnlock()
	if db == nil {
		return fmt.Errorf("sqlstore %s: not started", c.name)
	}
	if err := db.PingContext(ctx); err != nil {
		return c.d.classify(fmt.Errorf("sqlstore %s: ping: %w", c.name, err))
	}
	for _, p := range c.probes(ents) {
		if err := c.probe(ctx, db, p); err != nil {
			return fmt.Errorf("sqlstore %s: check: %w", c.name, err)
		}
	}
	return nil
}

// probeTable is a table and the columns the connector uses in it.
type probeTable struct {
	table string
	cols  []string
}

// probes are the tables Check looks at.
func (c *Conn) probes(ents map[string]*entity) []probeTable {
	var out []probeTable
	outbox := false
	for _, n := range c.Entities() {
		e := ents[n]
		if e == nil {
			continue
		}
		ec := e.cfg
		out = append(out, probeTable{ec.Table, append(append([]string{}, e.read...), ec.Key, ec.UpdatedAt, ec.ExternalID, ec.Version, ec.Delete.Column)})
		if e.lines != nil {
			out = append(out, probeTable{e.lines.cfg.Table, append(append([]string{}, e.lines.read...), e.lines.cfg.ParentKey, e.lines.cfg.Key)})
		}
		outbox = outbox || ec.Capture == CaptureOutbox
	}
	if outbox {
		out = append(out, probeTable{c.cfg.OutboxTable, []string{"id", "entity", "pk", "op", "changed_at"}})
	}
	return out
}

// probe runs SELECT <columns> FROM <table> WHERE 1 = 0, which fails when
// the table, a column or the right to read them is missing.
func (c *Conn) probe(ctx context.Context, db *sqlx.DB, p probeTable) error {
	var cols []string
	seen := map[string]bool{"": true}
	for _, col := range p.cols {
		if !seen[col] {
			seen[col] = true
			cols = append(cols, col)
		}
	}
	qc := make([]string, len(cols))
	for i, col := range cols {
		qc[i] = c.d.ident(col)
	}
	rows, err := db.QueryContext(ctx, "SELECT "+strings.Join(qc, ", ")+" FROM "+c.d.table(p.table)+" WHERE 1 = 0")
	if err == nil {
		err = rows.Close()
	}
	return c.d.classify(err)
}

// Entities lists the configured entities, sorted.
func (c *Conn) Entities() []string {
	out := make([]string, 0, len(c.cfg.Entities))
	for n := range c.cfg.Entities {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// table is a table of the live schema.
type table struct {
	name  string // as configured
	q     string // quoted
	cols  []string
	types map[string]string
	// scales are the fixed-point columns' digits after the point: a value
	// with more is refused, not rounded by the database.
	scales map[string]int
}

func (t *table) has(col string) bool { _, ok := t.types[col]; return ok }

// entity is an entity's config resolved against the live schema.
type entity struct {
	name  string
	cfg   EntityConfig
	t     table
	read  []string // columns a source reads
	lines *lines
}

type lines struct {
	cfg  LinesConfig
	t    table
	read []string
}

// Start opens the database and checks every configured table and column
// (and, for outbox capture, the outbox) against the live schema.
func (c *Conn) Start(ctx context.Context) error {
	db, ents, err := c.open(ctx)
	if err != nil {
		return err
	}
	if err := c.checkOutbox(ctx, db); err != nil {
		db.Close()
		return err
	}
	c.mu.Lock()
	old := c.db
	c.db, c.entities = db, ents
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// The pool keeps up to maxIdleConns idle connections, each for up to
// maxIdleTime. database/sql keeps two, so with sources and sink workers
// using one database at once every further connection was closed on its
// return and opened again for the next batch (15 new PostgreSQL sessions
// for the ERP in a 50,000-order hub bench sync, each a backend started and
// authenticated). Idle connections are closed after maxIdleTime, so a
// database with a tight connection limit gets them back after a burst.
const (
	maxIdleConns = 8
	maxIdleTime  = 5 * time.Minute
)

// open connects and resolves the entities against the live schema.
func (c *Conn) open(ctx context.Context) (*sqlx.DB, map[string]*entity, error) {
	dsn, err := c.d.prepareDSN(c.cfg.DSN)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlstore %s: dsn: %w", c.name, err)
	}
	db, err := sqlx.Open(c.cfg.Driver, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlstore %s: open %s: %w", c.name, c.cfg.Driver, err)
	}
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(maxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, c.d.classify(fmt.Errorf("sqlstore %s: connect: %w", c.name, err))
	}
	if err := c.initSchema(ctx, db); err != nil {
		db.Close()
		return nil, nil, err
	}
	ents, err := c.loadSchema(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, ents, nil
}

// checkOutbox checks the outbox when an entity captures through it.
func (c *Conn) checkOutbox(ctx context.Context, db *sqlx.DB) error {
	var users []string
	for _, n := range c.Entities() {
		if c.cfg.Entities[n].Capture == CaptureOutbox {
			users = append(users, n)
		}
	}
	if len(users) == 0 {
		return nil
	}
	t, err := c.loadTable(ctx, db, "outbox_table", c.cfg.OutboxTable)
	if err != nil {
		return fmt.Errorf("%w (entities %s capture through it: run `hub sql install-capture`)", err, strings.Join(users, ", "))
	}
	var p problems
	for _, col := range []string{"id", "entity", "pk", "op", "changed_at"} {
		if !t.has(col) {
			p.add("outbox_table", "column %q not found in table %q", col, c.cfg.OutboxTable)
		}
	}
	if err := p.err(); err != nil {
		return connectors.Unavailable(fmt.Errorf("sqlstore %s: schema check: %w", c.name, err))
	}
	return nil
}

// Close closes the database.
func (c *Conn) Close() error {
	c.mu.Lock()
	db := c.db
	c.db, c.entities = nil, nil
	c.mu.Unlock()
	if db == nil {
		return nil
	}
	return db.Close()
}

// started returns the database and an entity, or an error when the
// connector is not started or does not know the entity.
func (c *Conn) started(name string) (*sqlx.DB, *entity, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.db == nil {
		return nil, nil, fmt.Errorf("sqlstore %s: not started", c.name)
	}
	e, ok := c.entities[name]
	if !ok {
		return nil, nil, connectors.Permanent(fmt.Errorf("sqlstore %s: entity %q is not configured (have %s)", c.name, name, strings.Join(c.Entities(), ", ")))
	}
	return c.db, e, nil
}

func (c *Conn) loadTable(ctx context.Context, db *sqlx.DB, key, name string) (table, error) {
	cols, err := c.d.columns(ctx, db, name)
	if err != nil {
		return table{}, c.d.classify(fmt.Errorf("sqlstore %s: %s: read the columns of %s: %w", c.name, key, name, err))
	}
	if len(cols) == 0 {
		return table{}, connectors.Unavailable(fmt.Errorf("sqlstore %s: %s: table %q does not exist", c.name, key, name))
	}
	t := table{name: name, q: c.d.table(name), types: make(map[string]string, len(cols))}
	for _, col := range cols {
		t.cols = append(t.cols, col.Name)
		t.types[col.Name] = col.Type
		if col.Scale.Valid {
			if t.scales == nil {
				t.scales = map[string]int{}
			}
			t.scales[col.Name] = int(col.Scale.Int64)
		}
	}
	return t, nil
}

func (c *Conn) loadSchema(ctx context.Context, db *sqlx.DB) (map[string]*entity, error) {
	var p problems
	out := map[string]*entity{}
	for _, name := range c.Entities() {
		ec := c.cfg.Entities[name]
		key := "entities." + name
		t, err := c.loadTable(ctx, db, key+".table", ec.Table)
		if err != nil {
			return nil, err
		}
		e := &entity{name: name, cfg: ec, t: t}
		need := func(k, col string) {
			if col != "" && !t.has(col) {
				p.add(k, "column %q not found in table %q", col, ec.Table)
			}
		}
		need(key+".key", ec.Key)
		need(key+".updated_at", ec.UpdatedAt)
		need(key+".external_id", ec.ExternalID)
		need(key+".version", ec.Version)
		need(key+".delete.column", ec.Delete.Column)
		for i, col := range ec.Columns {
			need(fmt.Sprintf("%s.columns[%d]", key, i), col)
		}
		e.read = ec.Columns
		if len(e.read) == 0 {
			e.read = t.cols
		}
		if l := ec.Lines; l != nil {
			lt, err := c.loadTable(ctx, db, key+".lines.table", l.Table)
			if err != nil {
				return nil, err
			}
			lneed := func(k, col string) {
				if !lt.has(col) {
					p.add(k, "column %q not found in table %q", col, l.Table)
				}
			}
			lneed(key+".lines.parent_key", l.ParentKey)
			lneed(key+".lines.key", l.Key)
			for i, col := range l.Columns {
				lneed(fmt.Sprintf("%s.lines.columns[%d]", key, i), col)
			}
			e.lines = &lines{cfg: *l, t: lt, read: l.Columns}
			if len(e.lines.read) == 0 {
				e.lines.read = lt.cols
			}
		}
		out[name] = e
	}
	if err := p.err(); err != nil {
		return nil, connectors.Unavailable(fmt.Errorf("sqlstore %s: schema check: %w", c.name, err))
	}
	return out, nil
}

// initSchema runs init_sql when the first configured table is missing.
func (c *Conn) initSchema(ctx context.Context, db *sqlx.DB) error {
	if c.cfg.InitSQL == "" {
		return nil
	}
	first := c.cfg.Entities[c.Entities()[0]].Table
	cols, err := c.d.columns(ctx, db, first)
	if err != nil || len(cols) > 0 {
		return err
	}
	script, err := os.ReadFile(c.cfg.InitSQL)
	if err != nil {
		return connectors.Permanent(fmt.Errorf("sqlstore %s: init_sql: %w", c.name, err))
	}
	for i, stmt := range splitSQL(string(script)) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return connectors.Permanent(fmt.Errorf("sqlstore %s: init_sql %s: statement %d: %w", c.name, c.cfg.InitSQL, i+1, err))
		}
	}
	return nil
}

// splitSQL splits a script into statements at lines ending in ";", leaving
// out comment lines. A CREATE TRIGGER runs to its "END;" line.
func splitSQL(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		inTrigger := strings.Contains(strings.ToUpper(cur.String()), "CREATE TRIGGER")
		if strings.HasSuffix(t, ";") && (!inTrigger || strings.EqualFold(t, "END;")) {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}

// sqlitePathIn makes a relative SQLite path (plain, or file:PATH?...)
// relative to dir, the config file's folder: every path in a config is.
func sqlitePathIn(dir, dsn string) string {
	if dir == "" || dsn == "" || strings.HasPrefix(dsn, ":memory:") {
		return dsn
	}
	scheme, path := "", dsn
	if rest, ok := strings.CutPrefix(dsn, "file:"); ok {
		scheme, path = "file:", rest
	}
	query := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i:]
	}
	if path == "" || filepath.IsAbs(path) || strings.HasPrefix(path, ":memory:") {
		return dsn
	}
	return scheme + filepath.Join(dir, path) + query
}
