package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/internal/sqlbatch"
)

// dialect is one SQL flavour.
type dialect int

const (
	postgres dialect = iota + 1
	mariadb
	sqlite3
)

func dialectOf(driver string) dialect {
	switch driver {
	case "pgx":
		return postgres
	case "mysql":
		return mariadb
	}
	return sqlite3
}

func (d dialect) String() string {
	switch d {
	case postgres:
		return "postgres"
	case mariadb:
		return "mysql"
	}
	return "sqlite"
}

// ident quotes one identifier. Config identifiers are validated before they
// get here; names read from the live schema may hold anything, so the quote
// character is doubled. SQLite gets grave accents too: it takes a
// double-quoted name that is no column for a string literal, so a dropped
// column would be read as its own name instead of failing.
func (d dialect) ident(name string) string {
	if d == mariadb || d == sqlite3 {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// table quotes a possibly schema-qualified table name.
func (d dialect) table(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = d.ident(p)
	}
	return strings.Join(parts, ".")
}

// rebind turns ? placeholders into the dialect's.
func (d dialect) rebind(q string) string {
	if d == postgres {
		return sqlx.Rebind(sqlx.DOLLAR, q)
	}
	return q
}

// sqliteTimeLayout is how timestamps are written to SQLite: modernc's own
// default, which sorts as text for UTC values.
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// timeArg is a timestamp as a query parameter.
func (d dialect) timeArg(t time.Time) any {
	if d == sqlite3 {
		return t.UTC().Format(sqliteTimeLayout)
	}
	return t.UTC()
}

// splitTable splits "schema.table" into its parts ("" schema when absent).
func splitTable(name string) (schema, table string) {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

// liveColumn is a column of the live schema.
type liveColumn struct {
	Name string `db:"name"`
	Type string `db:"type"`
	// Scale is a fixed-point column's digits after the decimal point
	// (NUMERIC(12,2): 2); NULL for every other column, and for a NUMERIC
	// without one.
	Scale sql.NullInt64 `db:"scale"`
}

// columns lists the live columns of a table in order; none when the table
// does not exist.
func (d dialect) columns(ctx context.Context, db *sqlx.DB, name string) ([]liveColumn, error) {
	schema, table := splitTable(name)
	var q string
	var args []any
	switch d {
	case postgres:
		q = `SELECT column_name AS name, data_type AS type,
				CASE WHEN data_type = 'numeric' THEN numeric_scale END AS scale FROM information_schema.columns
			WHERE table_schema = COALESCE(NULLIF($1, ''), current_schema()) AND table_name = $2 ORDER BY ordinal_position`
		args = []any{schema, table}
	case mariadb:
		q = `SELECT COLUMN_NAME AS name, DATA_TYPE AS type,
				CASE WHEN DATA_TYPE = 'decimal' THEN NUMERIC_SCALE END AS scale FROM information_schema.COLUMNS
			WHERE TABLE_SCHEMA = COALESCE(NULLIF(?, ''), DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`
		args = []any{schema, table}
	default:
		if schema == "" {
			schema = "main"
		}
		q = `SELECT name, type, NULL AS scale FROM pragma_table_info(?, ?) ORDER BY cid`
		args = []any{table, schema}
	}
	var cols []liveColumn
	if err := db.SelectContext(ctx, &cols, q, args...); err != nil {
		return nil, err
	}
	for i := range cols {
		cols[i].Type = strings.ToLower(strings.TrimSpace(cols[i].Type))
		if d == sqlite3 {
			cols[i].Scale = declaredScale(cols[i].Type)
		}
	}
	return cols, nil
}

// declaredScale reads the scale of a SQLite column declared NUMERIC(p,s)
// or DECIMAL(p,s). SQLite keeps any number in it, but the declaration is
// what the system reading the table expects.
func declaredScale(typ string) sql.NullInt64 {
	m := declaredDecimal.FindStringSubmatch(typ)
	if m == nil {
		return sql.NullInt64{}
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	return sql.NullInt64{Int64: n, Valid: err == nil}
}

var declaredDecimal = regexp.MustCompile(`^(?:numeric|decimal)\s*\(\s*\d+\s*,\s*(\d+)\s*\)$`)

// prepareDSN adjusts a DSN so that values come back the way this package
// expects them: MySQL parses DATETIME into time.Time in UTC and its session
// runs in UTC; SQLite waits for locks instead of failing at once.
func (d dialect) prepareDSN(dsn string) (string, error) {
	switch d {
	case mariadb:
		c, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", err
		}
		c.ParseTime = true
		c.Loc = time.UTC
		if c.Params == nil {
			c.Params = map[string]string{}
		}
		if _, ok := c.Params["time_zone"]; !ok {
			c.Params["time_zone"] = "'+00:00'"
		}
		return c.FormatDSN(), nil
	case sqlite3:
		if !strings.Contains(dsn, "busy_timeout") && !strings.Contains(dsn, "_timeout") {
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			dsn += sep + "_pragma=busy_timeout(10000)"
		}
	}
	return dsn, nil
}

// classify marks a database error Unavailable (a fault of the whole
// database that a person has to fix: a missing table or column, refused
// credentials, an unknown database, a host name that does not resolve),
// Retryable (connection trouble, deadlocks, lock and statement timeouts,
// resource exhaustion) or Permanent (everything one record's data is to
// blame for: a constraint, a bad value).
func (d dialect) classify(err error) error {
	if err == nil {
		return nil
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return err
	}
	switch {
	case unavailableErr(err):
		return connectors.Unavailable(err)
	case retryableErr(err):
		return connectors.Retryable(err, 0)
	}
	return connectors.Permanent(err)
}

// unavailableErr reports a failure that hits every record the same way
// until someone changes the database, its grants or the config.
func unavailableErr(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "42P01", "42703", // undefined table, undefined column
			"3D000", "3F000", // unknown database, unknown schema
			"28000", "28P01", // authorization refused, wrong password
			"42501": // insufficient privilege
			return true
		}
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1146, 1054, // no such table, unknown column
			1049,             // unknown database
			1044, 1045, 1698, // access denied (database, password, plugin)
			1142, 1143: // table or column access denied
			return true
		}
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 1: // SQLITE_ERROR: the schema's, or a statement's
			msg := se.Error()
			return strings.Contains(msg, "no such table") || strings.Contains(msg, "no such column") ||
				strings.Contains(msg, "has no column named")
		case 8, 26: // READONLY, NOTADB
			return true
		}
	}
	return false
}

func retryableErr(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "40", "53", "57", "58": // connection, rollback (deadlock, serialization), resources, operator intervention, system
			return true
		}
		return pe.Code == "55P03" // lock_not_available
	}
	if pgconn.Timeout(err) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013, 1158, 1159, 1160, 1161, 3024, 4031:
			// too many connections, shutdown, lock wait timeout, deadlock,
			// connection killed, cannot connect, gone away, lost, network
			// errors, query timeout, idle disconnect
			return true
		}
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 5, 6, 10, 13, 14: // BUSY, LOCKED, IOERR, FULL, CANTOPEN
			return true
		}
		return false
	}
	return false
}

// errColumn is the column a database error names, when it names one.
func errColumn(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.ColumnName != "" {
		return pe.ColumnName
	}
	return ""
}

// mentions reports whether a database error message names column.
func mentions(err error, column string) bool {
	if errColumn(err) == column {
		return true
	}
	msg := err.Error()
	for _, q := range []string{`"` + column + `"`, "'" + column + "'", "`" + column + "`", "." + column} {
		if strings.Contains(msg, q) {
			return true
		}
	}
	return false
}

// placeholders returns "?, ?, ..." for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// The sizes of statements with one placeholder per row or per key: on
// PostgreSQL those of package sqlbatch, few and known, because pgx keeps
// every statement text it runs prepared (up to 512 a connection, in the hub
// and in the server's session) and a long run otherwise held one per batch
// size it met (36 MB of the hub's heap half-way through a 500,000-order
// sync). MySQL and SQLite drivers prepare every statement anew and keep
// nothing: they would only pay the extra statements, and keep one statement
// per chunk.

// chunks splits n rows, at most per to a statement, into statement sizes.
func (d dialect) chunks(n, per int) []int {
	if d == postgres {
		return sqlbatch.Chunks(n, per)
	}
	return sqlbatch.Fixed(n, per)
}

// padIn returns the arguments of an IN list of keys: on PostgreSQL padded
// as sqlbatch.AppendIn pads them, in a new slice (keys may be part of the
// caller's longer list).
func (d dialect) padIn(keys []any) []any {
	if d != postgres || len(keys) == 0 {
		return keys
	}
	return sqlbatch.AppendIn(make([]any, 0, sqlbatch.InSize(len(keys))), keys)
}
