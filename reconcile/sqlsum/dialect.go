package sqlsum

import (
	"crypto/md5"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"modernc.org/sqlite"
)

// dialect is one SQL flavour, named by its database/sql driver.
type dialect int

const (
	postgres dialect = iota + 1
	mariadb
	sqlite3
)

func dialectOf(driverName string) (dialect, error) {
	switch driverName {
	case "pgx", "postgres":
		return postgres, nil
	case "mysql":
		return mariadb, nil
	case "sqlite", "sqlite3":
		return sqlite3, nil
	}
	return 0, fmt.Errorf("driver %q: want pgx, mysql or sqlite", driverName)
}

var (
	identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	tableRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)
)

// ident quotes a checked identifier.
func (d dialect) ident(name string) string {
	if d == postgres {
		return `"` + name + `"`
	}
	return "`" + name + "`"
}

// table quotes a checked, possibly schema-qualified table name.
func (d dialect) table(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = d.ident(p)
	}
	return strings.Join(parts, ".")
}

// param is the n-th (1-based) placeholder as an integer.
func (d dialect) param(n int) string {
	switch d {
	case postgres:
		return "CAST($" + strconv.Itoa(n) + " AS BIGINT)"
	case mariadb:
		return "CAST(? AS SIGNED)"
	}
	return "?"
}

// intDiv is a / b for non-negative integers.
func (d dialect) intDiv(a, b string) string {
	if d == mariadb {
		return "(" + a + ") DIV (" + b + ")"
	}
	return "(" + a + ") / (" + b + ")"
}

func (d dialect) text(e string) string {
	if d == mariadb {
		return "CAST(" + e + " AS CHAR)"
	}
	return "CAST(" + e + " AS TEXT)"
}

func (d dialect) charLen(e string) string {
	if d == mariadb {
		return "CHAR_LENGTH(" + e + ")"
	}
	return "LENGTH(" + e + ")"
}

func (d dialect) concat(parts ...string) string {
	if d == mariadb {
		return "CONCAT(" + strings.Join(parts, ", ") + ")"
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// canon is the canonical text of column c (never NULL itself: the caller
// guards NULL). Every literal in it is a number computed here, never text
// from the config.
func (d dialect) canon(c Column) (string, error) {
	col := d.ident(c.Name)
	switch c.Kind {
	case Text, Integer:
		return d.text(col), nil
	case Decimal:
		if c.Tolerance != "" {
			return d.quantized(col, c)
		}
		switch d {
		case postgres:
			return fmt.Sprintf("CAST(ROUND(CAST(%s AS NUMERIC), %d) AS TEXT)", col, c.Scale), nil
		case mariadb:
			return fmt.Sprintf("CAST(CAST(%s AS DECIMAL(65, %d)) AS CHAR)", col, c.Scale), nil
		}
		return fmt.Sprintf("printf('%%.%df', %s)", c.Scale, col), nil
	case Date:
		switch d {
		case postgres:
			// DateStyle is ISO in the checksum queries' transaction.
			return "CAST(CAST(" + col + " AS DATE) AS TEXT)", nil
		case mariadb:
			return "DATE_FORMAT(" + col + ", '%Y-%m-%d')", nil
		}
		return "date(" + col + ")", nil
	case Timestamp:
		switch d {
		case postgres:
			// date_part is float8 (EXTRACT is numeric, several times slower).
			return d.text("CAST(FLOOR(date_part('epoch', " + col + ")) AS BIGINT)"), nil
		case mariadb:
			return d.text("FLOOR(UNIX_TIMESTAMP(" + col + "))"), nil
		}
		return d.text("CAST(strftime('%s', " + col + ") AS INTEGER)"), nil
	}
	return "", fmt.Errorf("column %s: unknown kind %d", c.Name, c.Kind)
}

// quantized is floor(value / tolerance) as text, in integer arithmetic on
// the value scaled by 10^Scale, so every database gets the same quotient:
// values more than the tolerance apart always differ in it.
func (d dialect) quantized(col string, c Column) (string, error) {
	m, err := toleranceUnits(c)
	if err != nil {
		return "", err
	}
	pow := "1" + strings.Repeat("0", c.Scale)
	var n string
	switch d {
	case postgres:
		n = "CAST(ROUND(CAST(" + col + " AS NUMERIC) * " + pow + ") AS BIGINT)"
	case mariadb:
		n = "CAST(ROUND(" + col + " * " + pow + ") AS SIGNED)"
	default:
		n = "CAST(ROUND(" + col + " * " + pow + ") AS INTEGER)"
	}
	ms := strconv.FormatInt(m, 10)
	var mod func(a, b string) string
	if d == mariadb {
		mod = func(a, b string) string { return "MOD(" + a + ", " + b + ")" }
	} else {
		mod = func(a, b string) string { return "((" + a + ") % (" + b + "))" }
	}
	// floor division: (n - ((n mod m) + m) mod m) / m, exact for negatives.
	q := d.intDiv(n+" - "+mod(mod(n, ms)+" + "+ms, ms), ms)
	return d.text(q), nil
}

// toleranceUnits is the tolerance in units of the column's scale (0.01 at
// scale 2: 1); it must be a positive decimal with at most Scale digits
// after the point.
func toleranceUnits(c Column) (int64, error) {
	r, ok := new(big.Rat).SetString(c.Tolerance)
	if !ok || r.Sign() <= 0 {
		return 0, fmt.Errorf("column %s: tolerance %q is not a positive decimal", c.Name, c.Tolerance)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.Scale)), nil)))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, fmt.Errorf("column %s: tolerance %s has more decimals than the column's scale %d", c.Name, c.Tolerance, c.Scale)
	}
	return r.Num().Int64(), nil
}

// rowText is the canonical text of a row: the key, then each column as "n"
// for NULL, "v<length>:<text>" for a text and "v<text>|" for the other
// kinds (whose text never holds "|"), so no two different rows share a
// text. Dates and timestamps in SQLite are texts that date() and
// strftime() read: ISO 8601, with an optional zone offset.
func (d dialect) rowText(key string, cols []Column) (string, error) {
	parts := []string{d.text(d.ident(key)), "'|'"}
	for _, c := range cols {
		e, err := d.canon(c)
		if err != nil {
			return "", err
		}
		v := d.concat("'v'", e, "'|'")
		if c.Kind == Text {
			v = d.concat("'v'", d.text(d.charLen(e)), "':'", e)
		}
		// A value the database cannot canonicalize (a SQLite text that is
		// no date) hashes as its raw text marked "x", never as NULL, which
		// SUM would skip.
		parts = append(parts, "CASE WHEN "+d.ident(c.Name)+" IS NULL THEN 'n' ELSE COALESCE("+
			v+", "+d.concat("'x'", d.text(d.ident(c.Name)))+") END")
	}
	return d.concat(parts...), nil
}

// hash is a row's hash as two integer expressions (a, b) over the row
// text t, meaning a*2^32 + b modulo 2^64: PostgreSQL and MariaDB give the
// first 64 bits of the MD5 in a (b is 0); SQLite, whose SUM must not
// overflow, gives the first and second 32 bits. Sums of them compare the
// same way, modulo 2^64.
func (d dialect) hash(t string) (a, b string) {
	switch d {
	case postgres:
		return "CAST(CAST('x' || SUBSTR(MD5(" + t + "), 1, 16) AS BIT(64)) AS BIGINT)", "0"
	case mariadb:
		return "CAST(CONV(SUBSTRING(MD5(" + t + "), 1, 16), 16, 10) AS UNSIGNED)", "0"
	}
	return sqliteHashFunc + "(" + t + ", 0)", sqliteHashFunc + "(" + t + ", 1)"
}

// nativeHash is the row hash when both sides are PostgreSQL (14 or
// later): hash_record_extended over the row's values in canonical types,
// hashed by the types' own hash functions (those of hash joins and hash
// partitions, stable across versions) with no text built at all: several
// times cheaper than MD5 of the row's text. Equal values hash equal
// whatever their column types (12.5 and 12.50, integer and bigint).
func nativeHash(key string, cols []Column) (string, error) {
	d := postgres
	parts := []string{"CAST(" + d.ident(key) + " AS BIGINT)"}
	for _, c := range cols {
		col := d.ident(c.Name)
		var e string
		switch {
		case c.Kind == Text:
			e = "CAST(" + col + " AS TEXT)"
		case c.Kind == Integer:
			e = "CAST(" + col + " AS BIGINT)"
		case c.Kind == Decimal && c.Tolerance != "":
			q, err := d.quantized(col, c)
			if err != nil {
				return "", err
			}
			e = q
		case c.Kind == Decimal:
			// The value itself, not rounded to Scale: NUMERIC hashes by
			// value (12.5 and 12.50 alike), as the engine compares. Its
			// hash ignores the sign (12.5 and -12.5 collide, so do 1 and
			// -1): the sign goes in as an integer of its own.
			e = fmt.Sprintf("CAST(%[1]s AS NUMERIC), CAST(SIGN(%[1]s) AS INTEGER)", col)
		case c.Kind == Date:
			e = "CAST(" + col + " AS DATE)"
		case c.Kind == Timestamp:
			e = "CAST(FLOOR(date_part('epoch', " + col + ")) AS BIGINT)"
		default:
			return "", fmt.Errorf("column %s: unknown kind %d", c.Name, c.Kind)
		}
		parts = append(parts, e)
	}
	return "hash_record_extended(ROW(" + strings.Join(parts, ", ") + "), 0)", nil
}

// sqliteHashFunc is the SQLite function giving the same halves of the MD5
// as the other databases compute with their own MD5.
const sqliteHashFunc = "hub_sqlsum_md5_32"

func init() {
	// Registered once for the process: modernc.org/sqlite adds it to every
	// connection it opens afterwards.
	sqlite.MustRegisterDeterministicScalarFunction(sqliteHashFunc, 2, sqliteHash)
}

func sqliteHash(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	var b []byte
	switch v := args[0].(type) {
	case nil:
		return nil, nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		b = fmt.Append(nil, v)
	}
	part, _ := args[1].(int64)
	sum := md5.Sum(b)
	if part == 1 {
		return int64(binary.BigEndian.Uint32(sum[4:8])), nil
	}
	return int64(binary.BigEndian.Uint32(sum[0:4])), nil
}
