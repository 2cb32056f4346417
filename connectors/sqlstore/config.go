package sqlstore

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/canonical"
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
	Driver string `mapstructure:"driver" yaml:"driver"`
	// DSN is the driver's data source name.
	DSN string `mapstructure:"dsn" yaml:"dsn"`
	// OutboxTable is the outbox of trigger-based capture; default hub_outbox.
	OutboxTable string `mapstructure:"outbox_table" yaml:"outbox_table"`
	// OutboxKeep is how long outbox rows of an entity stay after the
	// entity's stored cursor passed them (Durable): a cursor rewound by an
	// operator, or a second hub reading the same outbox, finds them for
	// that long. Then they are deleted. Default 24h; 0 keeps every row.
	OutboxKeep *time.Duration `mapstructure:"outbox_keep" yaml:"outbox_keep"`
	// PollInterval is how often Read looks again while there are no
	// changes, until its context is done; default 1s.
	PollInterval time.Duration `mapstructure:"poll_interval" yaml:"poll_interval"`
	// InitSQL is a SQL script run at Start when the first configured table
	// does not exist yet: for demos and development databases. Statements
	// end with a ";" at the end of a line. Relative to the config file.
	InitSQL string `mapstructure:"init_sql" yaml:"init_sql"`
	// Entities maps canonical entity names (customer, order, invoice,
	// interaction) to their tables.
	Entities map[string]EntityConfig `mapstructure:"entities" yaml:"entities"`
}

// EntityConfig maps one canonical entity onto a table.
type EntityConfig struct {
	// Table, optionally schema-qualified (schema.table).
	Table string `mapstructure:"table" yaml:"table"`
	// Key is the primary key column; default "id".
	Key string `mapstructure:"key" yaml:"key"`
	// UpdatedAt is the change-time column, the record's version; default
	// "updated_at".
	UpdatedAt string `mapstructure:"updated_at" yaml:"updated_at"`
	// Capture is "cursor" (default) or "outbox".
	Capture string `mapstructure:"capture" yaml:"capture"`
	// LookBack re-reads this window behind the cursor (cursor mode), or
	// waits this long for a gap in the outbox ids to fill (outbox mode), so
	// transactions that commit late are not skipped; default 5s, 0 turns it
	// off.
	LookBack *time.Duration `mapstructure:"look_back" yaml:"look_back"`
	// BatchSize caps the rows one query reads; default 500.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size"`
	// Columns lists the columns to read; default: all columns of the live
	// table.
	Columns []string `mapstructure:"columns" yaml:"columns"`
	// ExternalID is the sink's upsert key column (needs a unique index);
	// default: Key.
	ExternalID string `mapstructure:"external_id" yaml:"external_id"`
	// Version is the sink's version guard column; default: UpdatedAt.
	Version string `mapstructure:"version" yaml:"version"`
	// Delete says how the sink applies deletes; default hard.
	Delete DeleteConfig `mapstructure:"delete" yaml:"delete"`
	// Lines is the child table of an order (or invoice).
	Lines *LinesConfig `mapstructure:"lines" yaml:"lines"`
}

// DeleteConfig is the sink's delete handling.
type DeleteConfig struct {
	// Mode is "hard" (DELETE the row) or "soft" (set Column to Value).
	Mode string `mapstructure:"mode" yaml:"mode"`
	// Column is set by a soft delete, e.g. deleted_at or status.
	Column string `mapstructure:"column" yaml:"column"`
	// Value is written to Column: "now" for the current time, else the
	// literal text (e.g. "cancelled"); default "now".
	Value string `mapstructure:"value" yaml:"value"`
}

// LinesConfig is a child table whose rows travel as an array under "lines".
type LinesConfig struct {
	Table string `mapstructure:"table" yaml:"table"`
	// ParentKey is the column holding the parent's Key.
	ParentKey string `mapstructure:"parent_key" yaml:"parent_key"`
	// Key orders the lines of one parent (e.g. line_no).
	Key string `mapstructure:"key" yaml:"key"`
	// Columns lists the columns to read; default: all.
	Columns []string `mapstructure:"columns" yaml:"columns"`
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

const (
	defaultOutbox       = "hub_outbox"
	defaultOutboxKeep   = 24 * time.Hour
	defaultPollInterval = time.Second
	defaultLookBack     = 5 * time.Second
	defaultBatchSize    = 500
	maxBatchSize        = 100000
)

var (
	identRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	tableNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)
)

// knownEntity reports whether a table can map to entity.
func knownEntity(entity string) bool { return canonical.IsEntity(entity) }

// problems collects config errors, each naming its key.
type problems []string

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, key+": "+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "; "))
}

func checkColumn(p *problems, key, name string, required bool) {
	if name == "" {
		if required {
			p.add(key, "is required")
		}
		return
	}
	if !identRe.MatchString(name) {
		p.add(key, "%q is not a plain column name (letters, digits, underscore)", name)
	}
}

func checkTable(p *problems, key, name string) {
	if name == "" {
		p.add(key, "is required")
		return
	}
	if !tableNameRe.MatchString(name) {
		p.add(key, "%q is not a plain table name ([schema.]name of letters, digits, underscore)", name)
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

// withDefaults returns cfg with every default filled in, and an error naming
// every bad key.
func (cfg Config) withDefaults() (Config, error) {
	var p problems
	out := cfg
	if d, ok := normalizeDriver(cfg.Driver); ok {
		out.Driver = d
	} else if cfg.Driver == "" {
		p.add("driver", "is required (pgx, mysql or sqlite)")
	} else {
		p.add("driver", "unknown driver %q (pgx, mysql or sqlite)", cfg.Driver)
	}
	if strings.TrimSpace(cfg.DSN) == "" {
		p.add("dsn", "is required")
	}
	if out.OutboxTable == "" {
		out.OutboxTable = defaultOutbox
	}
	checkTable(&p, "outbox_table", out.OutboxTable)
	if out.OutboxKeep == nil {
		d := defaultOutboxKeep
		out.OutboxKeep = &d
	} else if *out.OutboxKeep < 0 {
		p.add("outbox_keep", "must not be negative")
	}
	switch {
	case out.PollInterval == 0:
		out.PollInterval = defaultPollInterval
	case out.PollInterval < 0:
		p.add("poll_interval", "must not be negative")
	}
	if len(cfg.Entities) == 0 {
		p.add("entities", "at least one entity is required (%s)", canonical.List())
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
			p.add(key, "unknown entity %q (%s)", n, canonical.List())
			continue
		}
		e := cfg.Entities[n].withDefaults(&p, key)
		if e.Lines != nil && n != "order" && n != "invoice" {
			p.add(key+".lines", "only an order or an invoice has lines")
		}
		out.Entities[n] = e
	}
	return out, p.err()
}

func (e EntityConfig) withDefaults(p *problems, key string) EntityConfig {
	checkTable(p, key+".table", e.Table)
	if e.Key == "" {
		e.Key = "id"
	}
	checkColumn(p, key+".key", e.Key, true)
	if e.UpdatedAt == "" {
		e.UpdatedAt = "updated_at"
	}
	checkColumn(p, key+".updated_at", e.UpdatedAt, true)
	switch e.Capture {
	case "":
		e.Capture = CaptureCursor
	case CaptureCursor, CaptureOutbox:
	default:
		p.add(key+".capture", "unknown mode %q (cursor or outbox)", e.Capture)
	}
	if e.LookBack == nil {
		d := defaultLookBack
		e.LookBack = &d
	} else if *e.LookBack < 0 {
		p.add(key+".look_back", "must not be negative")
	}
	switch {
	case e.BatchSize == 0:
		e.BatchSize = defaultBatchSize
	case e.BatchSize < 0 || e.BatchSize > maxBatchSize:
		p.add(key+".batch_size", "must be between 1 and %d", maxBatchSize)
	}
	e.Columns = append([]string(nil), e.Columns...)
	for i, c := range e.Columns {
		checkColumn(p, fmt.Sprintf("%s.columns[%d]", key, i), c, true)
	}
	if e.ExternalID == "" {
		e.ExternalID = e.Key
	}
	checkColumn(p, key+".external_id", e.ExternalID, true)
	if e.Version == "" {
		e.Version = e.UpdatedAt
	}
	checkColumn(p, key+".version", e.Version, true)
	switch e.Delete.Mode {
	case "", DeleteHard:
		e.Delete.Mode = DeleteHard
		if e.Delete.Column != "" {
			p.add(key+".delete.column", "only a soft delete sets a column")
		}
	case DeleteSoft:
		checkColumn(p, key+".delete.column", e.Delete.Column, true)
		if e.Delete.Value == "" {
			e.Delete.Value = "now"
		}
	default:
		p.add(key+".delete.mode", "unknown mode %q (hard or soft)", e.Delete.Mode)
	}
	if e.Lines != nil {
		l := *e.Lines
		l.Columns = append([]string(nil), l.Columns...)
		checkTable(p, key+".lines.table", l.Table)
		checkColumn(p, key+".lines.parent_key", l.ParentKey, true)
		checkColumn(p, key+".lines.key", l.Key, true)
		for i, c := range l.Columns {
			checkColumn(p, fmt.Sprintf("%s.lines.columns[%d]", key, i), c, true)
		}
		e.Lines = &l
	}
	return e
}
