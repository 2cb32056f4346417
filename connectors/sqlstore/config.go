package sqlstore

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/canonical"
	"github.com/crmhub/hub/connectors"
)

// Config is the settings block of a sqlstore connector.
//
//	driver: pgx                 # pgx (alias postgres), mysql (alias mariadb), sqlite
//	dsn: ${CRM_DSN}
//	outbox_table: hub_outbox    # outbox capture only
//	outbox_keep: 24h            # prune outbox rows this long after the cursor passed them (0: never)
//	poll_interval: 1s           # how often Read polls while nothing changed
//	entities:
//	  order:
//	    table: orders
//	    key: id
//	    updated_at: updated_at
//	    capture: cursor         # or outbox
//	    look_back: 5s
//	    batch_size: 500
//	    columns: [id, customer_id, total, status, updated_at]
//	    external_id: ext_ref    # sink: upsert key (unique)
//	    version: updated_at     # sink: version guard column
//	    delete: {mode: soft, column: status, value: cancelled}
//	    lines: {table: order_lines, parent_key: order_id, key: line_no}
type Config struct {
	// Driver is the database/sql driver: "pgx", "mysql" or "sqlite".
	Driver string `mapstructure:"driver" yaml:"driver" required:"true" doc:"the database: pgx (PostgreSQL; aliases postgres, postgresql), mysql (MariaDB, MySQL; alias mariadb) or sqlite (SQLite; alias sqlite3)"`
	// DSN is the driver's data source name.
	DSN string `mapstructure:"dsn" yaml:"dsn" required:"true" secret:"true" doc:"the driver's data source name. MySQL DSNs get parseTime=true, UTC and time_zone='+00:00'; SQLite DSNs get a 10 s busy timeout unless they set one. A SQLite path is relative to the hub's working directory"`
	// OutboxTable is the outbox of trigger-based capture.
	OutboxTable string `mapstructure:"outbox_table" yaml:"outbox_table" default:"hub_outbox" doc:"the outbox of trigger capture, [schema.]name"`
	// OutboxKeep is how long outbox rows of an entity stay after the
	// entity's stored cursor passed them (Durable): a cursor rewound by an
	// operator, or a second hub reading the same outbox, finds them for
	// that long. Then they are deleted.
	OutboxKeep *time.Duration `mapstructure:"outbox_keep" yaml:"outbox_keep" default:"24h" doc:"how long outbox rows stay after every source's stored cursor passed them (a rewound cursor or a second hub finds them for that long), then they are deleted; 0 keeps every row"`
	// PollInterval is how often Read looks again while there are no
	// changes, until its context is done.
	PollInterval time.Duration `mapstructure:"poll_interval" yaml:"poll_interval" default:"1s" doc:"how often a source reads again while there is nothing new"`
	// InitSQL is a SQL script run at Start when the first configured table
	// does not exist yet: for demos and development databases. Statements
	// end with a ";" at the end of a line. Relative to the config file.
	InitSQL string `mapstructure:"init_sql" yaml:"init_sql" doc:"a SQL script (relative to the config file) run at start when the first configured table does not exist; statements end with ; at the end of a line. For demos and development databases"`
	// Entities maps canonical entity names (customer, order, invoice,
	// interaction) to their tables.
	Entities map[string]EntityConfig `mapstructure:"entities" yaml:"entities" required:"true" mapkey:"entity" doc:"the tables, by canonical entity: customer, order, invoice or interaction"`
}

// EntityConfig maps one canonical entity onto a table.
type EntityConfig struct {
	// Table, optionally schema-qualified (schema.table).
	Table string `mapstructure:"table" yaml:"table" required:"true" doc:"the table, optionally schema-qualified"`
	// Key is the primary key column.
	Key string `mapstructure:"key" yaml:"key" default:"id" doc:"the primary key column; a record's key in the xref table"`
	// UpdatedAt is the change-time column, the record's version.
	UpdatedAt string `mapstructure:"updated_at" yaml:"updated_at" default:"updated_at" doc:"the change-time column; it is the record's version"`
	// Capture is "cursor" or "outbox".
	Capture string `mapstructure:"capture" yaml:"capture" default:"cursor" enum:"cursor|outbox" doc:"how a source captures changes: a cursor on (updated_at, key), or an outbox filled by triggers (hub sql install-capture)"`
	// LookBack re-reads this window behind the cursor (cursor mode), or
	// waits this long for a gap in the outbox ids to fill (outbox mode), so
	// transactions that commit late are not skipped; 0 turns it off.
	LookBack *time.Duration `mapstructure:"look_back" yaml:"look_back" default:"5s" doc:"cursor: the window behind the cursor read again; outbox: how long a gap in the outbox ids is waited for. 0 turns it off"`
	// BatchSize caps the rows one query reads.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size" default:"500" doc:"rows per query (1 to 100000); caps the source's batch_size"`
	// Columns lists the columns to read; default: all columns of the live
	// table.
	Columns []string `mapstructure:"columns" yaml:"columns" defaultdoc:"every column of the table" doc:"the columns a source reads"`
	// ExternalID is the sink's upsert key column (needs a unique index);
	// default: Key.
	ExternalID string `mapstructure:"external_id" yaml:"external_id" defaultdoc:"the value of key" doc:"the sink's upsert key column; it needs a unique index"`
	// Version is the sink's version guard column; default: UpdatedAt.
	Version string `mapstructure:"version" yaml:"version" defaultdoc:"the value of updated_at" doc:"the sink's version guard column"`
	// Delete says how the sink applies deletes.
	Delete DeleteConfig `mapstructure:"delete" yaml:"delete" doc:"how the sink applies deletes"`
	// Lines is the child table of an order (or invoice).
	Lines *LinesConfig `mapstructure:"lines" yaml:"lines" doc:"order and invoice only: the child table of lines, which travel as an array under lines"`
}

// DeleteConfig is the sink's delete handling.
type DeleteConfig struct {
	// Mode is "hard" (DELETE the row) or "soft" (set Column to Value).
	Mode string `mapstructure:"mode" yaml:"mode" default:"hard" enum:"hard|soft" doc:"hard deletes the row (and its lines), soft sets column to value and keeps it"`
	// Column is set by a soft delete, e.g. deleted_at or status.
	Column string `mapstructure:"column" yaml:"column" doc:"soft delete only: the column it sets, e.g. deleted_at or status"`
	// Value is written to Column: "now" for the current time, else the
	// literal text (e.g. "cancelled"); default "now" (soft deletes).
	Value string `mapstructure:"value" yaml:"value" defaultdoc:"now, for a soft delete" doc:"soft delete only: what column is set to: now is the current time, anything else is written as is (e.g. cancelled)"`
}

// LinesConfig is a child table whose rows travel as an array under "lines".
type LinesConfig struct {
	Table string `mapstructure:"table" yaml:"table" required:"true" doc:"the child table, optionally schema-qualified"`
	// ParentKey is the column holding the parent's Key.
	ParentKey string `mapstructure:"parent_key" yaml:"parent_key" required:"true" doc:"the column holding the parent's key"`
	// Key orders the lines of one parent (e.g. line_no).
	Key string `mapstructure:"key" yaml:"key" required:"true" doc:"the column that orders the lines of one parent (e.g. line_no)"`
	// Columns lists the columns to read; default: all.
	Columns []string `mapstructure:"columns" yaml:"columns" defaultdoc:"every column of the table" doc:"the line columns a source reads"`
}

// The capture modes.
const (
	CaptureCursor = "cursor"
	CaptureOutbox = "outbox"
)

// The delete modes.
const (
	DeleteHard = "hard"
	DeleteSoft = "soft"
)

// LinesField is the member of an order's Data holding its lines.
const LinesField = "lines"

const maxBatchSize = 100000

var (
	identRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	tableNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)
)

// knownEntity reports whether a table can map to entity.
func knownEntity(entity string) bool { return canonical.IsEntity(entity) }

// problems collects the errors of the schema check at Start, each naming
// its key.
type problems struct{ connectors.FieldErrors }

func (p *problems) add(key, format string, args ...any) { p.Add(key, format, args...) }

func (p problems) err() error { return p.Err() }

// checkColumn records a problem unless name is a plain column name; an
// empty name is a problem only when required (the spec reports keys it
// requires itself).
func checkColumn(p *connectors.FieldErrors, key, name string, required bool) {
	if name == "" {
		if required {
			p.Add(key, "is required")
		}
		return
	}
	if !identRe.MatchString(name) {
		p.Add(key, "%q is not a plain column name (letters, digits, underscore)", name)
	}
}

// checkTable records a problem unless name is a plain [schema.]table name
// (the spec reports a missing one).
func checkTable(p *connectors.FieldErrors, key, name string) {
	if name != "" && !tableNameRe.MatchString(name) {
		p.Add(key, "%q is not a plain table name ([schema.]name of letters, digits, underscore)", name)
	}
}

// normalizeDriver maps driver aliases to the registered driver name.
func normalizeDriver(d string) (string, bool) {
	switch strings.ToLower(d) {
	case "pgx", "postgres", "postgresql":
		return "pgx", true
	case "mysql", "mariadb":
		return "mysql", true
	case "sqlite", "sqlite3":
		return "sqlite", true
	}
	return "", false
}

// withDefaults returns cfg with every default filled in (the spec's, then
// those that depend on other keys), and FieldErrors naming every bad key.
func (cfg Config) withDefaults() (Config, error) {
	spec := connectors.Resolve(&cfg)
	var p connectors.FieldErrors
	out := cfg
	if d, ok := normalizeDriver(cfg.Driver); ok {
		out.Driver = d
	} else if cfg.Driver != "" {
		p.Add("driver", "unknown driver %q (pgx, mysql or sqlite)", cfg.Driver)
	}
	checkTable(&p, "outbox_table", out.OutboxTable)
	if out.PollInterval < 0 {
		p.Add("poll_interval", "must not be negative")
	}
	if out.OutboxKeep != nil && *out.OutboxKeep < 0 {
		p.Add("outbox_keep", "must not be negative")
	}
	names := make([]string, 0, len(cfg.Entities))
	for n := range cfg.Entities {
		names = append(names, n)
	}
	sort.Strings(names)
	out.Entities = make(map[string]EntityConfig, len(names))
	for _, n := range names {
		key := "entities." + n
		if !knownEntity(n) {
			p.Add(key, "unknown entity %q (%s)", n, canonical.List())
			continue
		}
		e := cfg.Entities[n].withDefaults(&p, key)
		if e.Lines != nil && n != "order" && n != "invoice" {
			p.Add(key+".lines", "only an order or an invoice has lines")
		}
		out.Entities[n] = e
	}
	return out, spec.Merge(p.Err())
}

// withDefaults fills in the defaults that depend on other keys and checks
// e; the spec's defaults are in already.
func (e EntityConfig) withDefaults(p *connectors.FieldErrors, key string) EntityConfig {
	checkTable(p, key+".table", e.Table)
	checkColumn(p, key+".key", e.Key, false)
	checkColumn(p, key+".updated_at", e.UpdatedAt, false)
	if e.LookBack != nil && *e.LookBack < 0 {
		p.Add(key+".look_back", "must not be negative")
	}
	if e.BatchSize < 1 || e.BatchSize > maxBatchSize {
		p.Add(key+".batch_size", "must be between 1 and %d", maxBatchSize)
	}
	e.Columns = append([]string(nil), e.Columns...)
	for i, c := range e.Columns {
		checkColumn(p, fmt.Sprintf("%s.columns[%d]", key, i), c, true)
	}
	if e.ExternalID == "" {
		e.ExternalID = e.Key
	}
	checkColumn(p, key+".external_id", e.ExternalID, false)
	if e.Version == "" {
		e.Version = e.UpdatedAt
	}
	checkColumn(p, key+".version", e.Version, false)
	switch e.Delete.Mode {
	case DeleteHard:
		if e.Delete.Column != "" {
			p.Add(key+".delete.column", "only a soft delete sets a column")
		}
	case DeleteSoft:
		checkColumn(p, key+".delete.column", e.Delete.Column, true)
		if e.Delete.Value == "" {
			e.Delete.Value = "now"
		}
	}
	if e.Lines != nil {
		l := *e.Lines
		l.Columns = append([]string(nil), l.Columns...)
		checkTable(p, key+".lines.table", l.Table)
		checkColumn(p, key+".lines.parent_key", l.ParentKey, false)
		checkColumn(p, key+".lines.key", l.Key, false)
		for i, c := range l.Columns {
			checkColumn(p, fmt.Sprintf("%s.lines.columns[%d]", key, i), c, true)
		}
		e.Lines = &l
	}
	return e
}
