package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/canonical"
)

// ReconcileConfig is one reconciliation job: it compares an entity's
// records in two systems field by field and reports (or repairs) what
// differs. See docs/reconcile.md.
type ReconcileConfig struct {
	Entity string `mapstructure:"entity"`
	// Left and Right are connector names (each must be able to scan the
	// entity). Records are mapped to canonical form with the inbound
	// mapping of the source that reads the entity from that connector, or
	// with LeftMapping / RightMapping when set.
	Left         string `mapstructure:"left"`
	Right        string `mapstructure:"right"`
	LeftMapping  string `mapstructure:"left_mapping"`
	RightMapping string `mapstructure:"right_mapping"`
	// Key is the canonical field that matches records the crosswalk does
	// not link (an order's number); "" matches through the crosswalk only.
	Key string `mapstructure:"key"`
	// Fields maps each compared canonical field to its rule: exact,
	// case_insensitive, ignore, "tolerance 0.01" or "days 2".
	Fields map[string]string `mapstructure:"fields"`
	// WindowDays, when set, compares only records changed in the last N
	// days on either side.
	WindowDays int `mapstructure:"window_days"`
	// Repair is report (default), left_wins, right_wins, newest_wins or
	// owner_wins (entities.<entity>.owners decide each field).
	Repair string `mapstructure:"repair"`
	// Deletes lets a repair delete a record the winning side lacks.
	Deletes bool `mapstructure:"deletes"`
	// Schedule is a cron spec (seconds first, optional: "0 30 2 * * *",
	// "*/15 * * * *", "@daily", "@every 15m"); "" runs only on demand.
	Schedule string `mapstructure:"schedule"`
	// TimeZone is the schedule's zone (IANA name); default UTC.
	TimeZone string `mapstructure:"time_zone"`
	// Amount and Currency are the canonical fields summed in each side's
	// control totals; defaults: total and currency for orders and invoices.
	Amount   string `mapstructure:"amount"`
	Currency string `mapstructure:"currency"`
	// Method is how the sides are compared: stream (every record of both
	// sides through the engine), checksum (checksums of key ranges in both
	// databases, only the differing records read; both sides sqlstore
	// tables named in Checksum), or auto (default: checksum when Checksum
	// is given, both sides are sqlstore connectors and their key columns
	// are integers, else stream). See docs/reconcile-checksum.md.
	Method string `mapstructure:"method"`
	// Checksum names each side's table columns for the checksum path.
	Checksum ReconcileChecksum `mapstructure:"checksum"`
}

// ReconcileChecksum is the column of each compared field on each side.
type ReconcileChecksum struct {
	Left  ChecksumSide `mapstructure:"left"`
	Right ChecksumSide `mapstructure:"right"`
}

// ChecksumSide is one side's table for the checksum path: the table is the
// sqlstore entity's; Key is an integer column whose values name the same
// record on both sides ("": the entity's key column), Columns the column
// holding each compared canonical field (and the amount and currency of
// the control totals) as the mapping gives it.
type ChecksumSide struct {
	Key     string            `mapstructure:"key"`
	Columns map[string]string `mapstructure:"columns"`
}

// Given says whether the job names checksum columns at all.
func (c ReconcileChecksum) Given() bool {
	return c.Left.Key != "" || c.Right.Key != "" || len(c.Left.Columns) > 0 || len(c.Right.Columns) > 0
}

// The comparison methods of a reconciliation job.
var reconcileMethods = []string{"auto", "stream", "checksum"}

// checksumIdent is a column name the checksum path accepts.
var checksumIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// The repair policies of a reconciliation job.
var reconcileRepairs = []string{"report", "left_wins", "right_wins", "newest_wins", "owner_wins"}

// CronParser parses reconciliation schedules: an optional seconds field,
// then minute, hour, day of month, month, day of week, or a descriptor
// (@daily, @every 15m).
func CronParser() cron.Parser {
	return cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

// FieldRule is a parsed field rule of a reconciliation job.
type FieldRule struct {
	Kind      string // exact, case_insensitive, ignore, tolerance, days
	Tolerance decimal.Decimal
	Days      int
}

// ParseFieldRule reads "exact", "case_insensitive", "ignore",
// "tolerance 0.01" or "days 2".
func ParseFieldRule(s string) (FieldRule, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return FieldRule{Kind: "exact"}, nil
	}
	switch f[0] {
	case "exact", "case_insensitive", "ignore":
		if len(f) == 1 {
			return FieldRule{Kind: f[0]}, nil
		}
	case "tolerance":
		if len(f) == 2 {
			d, err := decimal.NewFromString(f[1])
			if err != nil || d.IsNegative() {
				return FieldRule{}, fmt.Errorf("%q: the tolerance must be a non-negative decimal (tolerance 0.01)", s)
			}
			return FieldRule{Kind: "tolerance", Tolerance: d}, nil
		}
	case "days":
		if len(f) == 2 {
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 0 {
				return FieldRule{}, fmt.Errorf("%q: days must be a whole number of days, 0 or more (days 2)", s)
			}
			return FieldRule{Kind: "days", Days: n}, nil
		}
	}
	return FieldRule{}, fmt.Errorf("%q is not a rule: exact, case_insensitive, ignore, \"tolerance 0.01\" or \"days 2\"", s)
}

// Location is the job's time zone (UTC when unset).
func (r ReconcileConfig) Location() (*time.Location, error) {
	if r.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(r.TimeZone)
}

// Cron is the job's parsed schedule in its zone, nil when it has none.
func (r ReconcileConfig) Cron() (cron.Schedule, error) {
	if r.Schedule == "" {
		return nil, nil
	}
	loc, err := r.Location()
	if err != nil {
		return nil, err
	}
	spec := r.Schedule
	if !strings.HasPrefix(spec, "TZ=") && !strings.HasPrefix(spec, "CRON_TZ=") {
		spec = "CRON_TZ=" + loc.String() + " " + spec
	}
	return CronParser().Parse(spec)
}

// ReconcileMapping is the inbound mapping of one side of a job: the
// explicit one, else that of a source reading the entity from the
// connector ("" when there is none).
func (c *Config) ReconcileMapping(job ReconcileConfig, side string) string {
	conn, explicit := job.Left, job.LeftMapping
	if side == "right" {
		conn, explicit = job.Right, job.RightMapping
	}
	if explicit != "" {
		return explicit
	}
	for _, name := range sortedNames(c.Sources) {
		if s := c.Sources[name]; s.Connector == conn && s.Entity == job.Entity && s.Mapping != "" {
			return s.Mapping
		}
	}
	return ""
}

// resolveReconcile fills defaults and makes mapping paths relative to the
// config file.
func (c *Config) resolveReconcile(rel func(string) string) {
	for name, r := range c.Reconcile {
		if r.Repair == "" {
			r.Repair = "report"
		}
		if r.Method == "" {
			r.Method = "auto"
		}
		if r.Amount == "" && (r.Entity == "order" || r.Entity == "invoice") {
			r.Amount = "total"
			if r.Currency == "" {
				r.Currency = "currency"
			}
		}
		r.LeftMapping, r.RightMapping = rel(r.LeftMapping), rel(r.RightMapping)
		c.Reconcile[name] = r
	}
}

func (c *Config) validateReconcile() Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, name := range sortedNames(c.Reconcile) {
		r, k := c.Reconcile[name], "reconcile."+name
		if !isEntity(r.Entity) {
			add(k+".entity", "%q is not one of %s", r.Entity, canonical.List())
		}
		for _, side := range []struct{ key, conn string }{{"left", r.Left}, {"right", r.Right}} {
			if side.conn == "" {
				add(k+"."+side.key, "is required (the name of a connector that can scan %s)", r.Entity)
				continue
			}
			if _, ok := c.Connectors[side.conn]; !ok {
				add(k+"."+side.key, "no connector named %q (known: %s)", side.conn, strings.Join(sortedNames(c.Connectors), ", "))
				continue
			}
			if c.ReconcileMapping(r, side.key) == "" && isEntity(r.Entity) {
				add(k+"."+side.key+"_mapping", "is required: no source reads %s from %s, so name the inbound mapping that turns its records canonical", r.Entity, side.conn)
			}
		}
		if r.Left != "" && r.Left == r.Right {
			add(k+".right", "is %q, like left: a job compares two systems", r.Right)
		}
		if len(r.Fields) == 0 {
			add(k+".fields", "is required: the canonical fields compared, each with its rule (exact, case_insensitive, ignore, \"tolerance 0.01\", \"days 2\")")
		}
		for _, f := range sortedNames(r.Fields) {
			if _, err := ParseFieldRule(r.Fields[f]); err != nil {
				add(k+".fields."+f, "%v", err)
			}
		}
		if r.WindowDays < 0 {
			add(k+".window_days", "must be 0 (everything) or a positive number of days")
		}
		if !contains(reconcileRepairs, r.Repair) {
			add(k+".repair", "%q is not one of %s", r.Repair, strings.Join(reconcileRepairs, ", "))
		} else if r.Repair == "owner_wins" && len(c.Entities[r.Entity].Owners) == 0 {
			add(k+".repair", "owner_wins needs entities.%s.owners (the system of record of each field)", r.Entity)
		}
		ps = append(ps, c.validateChecksum(k, r)...)
		if _, err := r.Location(); err != nil {
			add(k+".time_zone", "%q is not a time zone (an IANA name such as Europe/Berlin): %v", r.TimeZone, err)
		} else if _, err := r.Cron(); err != nil {
			add(k+".schedule", "%q: %v (seconds minutes hours day-of-month month day-of-week, seconds optional, or @daily, @hourly, @every 15m)", r.Schedule, err)
		}
	}
	return ps
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validateChecksum checks a job's method and checksum columns: names are
// plain identifiers, every compared field (and the amount and currency)
// has a column on each side, and the method can use them.
func (c *Config) validateChecksum(k string, r ReconcileConfig) Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if !contains(reconcileMethods, r.Method) {
		add(k+".method", "%q is not one of %s", r.Method, strings.Join(reconcileMethods, ", "))
		return ps
	}
	if r.Method == "stream" {
		return ps
	}
	if !r.Checksum.Given() {
		if r.Method == "checksum" {
			add(k+".checksum", "is required by method: checksum (each side's key and the column of each compared field)")
		}
		return ps
	}
	if r.WindowDays > 0 {
		add(k+".window_days", "cannot go with the checksum path (it compares whole tables): use method: stream")
	}
	need := ChecksumFields(r)
	for _, side := range []struct {
		key, conn string
		s         ChecksumSide
	}{{"left", r.Left, r.Checksum.Left}, {"right", r.Right, r.Checksum.Right}} {
		sk := k + ".checksum." + side.key
		if cc, ok := c.Connectors[side.conn]; ok && cc.Kind != "sqlstore" && r.Method == "checksum" {
			add(sk, "connector %s is %s: the checksum path needs a sqlstore table on each side (or method: stream)", side.conn, cc.Kind)
		}
		if side.s.Key != "" && !checksumIdent.MatchString(side.s.Key) {
			add(sk+".key", "%q is not a plain column name", side.s.Key)
		}
		for _, f := range need {
			if _, ok := side.s.Columns[f]; !ok {
				add(sk+".columns", "has no column for %s (every compared field, the key, the amount and the currency need one)", f)
			}
		}
		for _, f := range sortedNames(side.s.Columns) {
			col := side.s.Columns[f]
			if !checksumIdent.MatchString(col) {
				add(sk+".columns."+f, "%q is not a plain column name", col)
			}
			if !contains(need, f) {
				add(sk+".columns."+f, "%s is not a compared field, the key, the amount or the currency of the job", f)
			}
		}
	}
	return ps
}

// ChecksumFields are the canonical fields the checksum path needs a column
// for: the compared fields not ignored, the job's key, the amount and the
// currency.
func ChecksumFields(r ReconcileConfig) []string {
	var out []string
	for _, f := range sortedNames(r.Fields) {
		if rule, err := ParseFieldRule(r.Fields[f]); err == nil && rule.Kind == "ignore" {
			continue
		}
		out = append(out, f)
	}
	for _, f := range []string{r.Key, r.Amount, r.Currency} {
		if f != "" && !contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
