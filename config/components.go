package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/crmhub/hub/canonical"
)

// isEntity reports whether e is a canonical entity a source or sink may name.
func isEntity(e string) bool { return canonical.IsEntity(e) }

// Source modes and sink delete handling.
const (
	SourcePull    = "pull"
	SourcePush    = "push"
	DeletesApply  = "apply"
	DeletesIgnore = "ignore"
)

// Defaults of source and sink settings left unset.
const (
	DefaultSourceInterval  = 500 * time.Millisecond
	DefaultSourceBatchSize = 500
	DefaultSinkBatchSize   = 500
	DefaultSinkWorkers     = 4 // capped at kafka.partitions
	DefaultRetryAttempts   = 8
	DefaultRetryInitial    = 200 * time.Millisecond
	DefaultRetryMax        = 30 * time.Second
	DefaultRefWait         = 10 * time.Minute
)

// resolveComponents fills source and sink defaults and makes mapping paths
// relative to the config file's folder.
func (c *Config) resolveComponents() {
	base := "."
	if c.File != "" {
		base = filepath.Dir(c.File)
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	for name, s := range c.Sources {
		if s.Interval == 0 {
			s.Interval = DefaultSourceInterval
		}
		if s.BatchSize == 0 {
			s.BatchSize = DefaultSourceBatchSize
		}
		s.Mapping = rel(s.Mapping)
		c.Sources[name] = s
	}
	for name, s := range c.Sinks {
		if s.BatchSize == 0 {
			s.BatchSize = DefaultSinkBatchSize
		}
		if s.Workers == 0 {
			// One worker per partition at most: more would idle. A
			// partition count below 1 is reported by validate.
			s.Workers = min(DefaultSinkWorkers, max(c.Kafka.Partitions, 1))
		}
		if s.Retry.MaxAttempts == 0 {
			s.Retry.MaxAttempts = DefaultRetryAttempts
		}
		if s.Retry.Initial == 0 {
			s.Retry.Initial = DefaultRetryInitial
		}
		if s.Retry.Max == 0 {
			s.Retry.Max = DefaultRetryMax
		}
		if s.Retry.RefWait == 0 {
			s.Retry.RefWait = DefaultRefWait
		}
		if s.Stamps == nil { // so that a reload sees `stamps: true` written out as no change
			stamped := true
			s.Stamps = &stamped
		}
		for e, ec := range s.Entities {
			ec.Mapping = rel(ec.Mapping)
			s.Entities[e] = ec
		}
		c.Sinks[name] = s
	}
	c.resolveReconcile(rel)
}

func (c *Config) validateComponents() Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, name := range sortedNames(c.Connectors) {
		if c.Connectors[name].Kind == "" {
			add("connectors."+name+".kind", "is required (e.g. sqlstore, tryton)")
		}
	}
	checkMapping := func(key, path string) {
		if path == "" {
			add(key, "is required (the mapping file)")
			return
		}
		if _, err := os.Stat(path); err != nil {
			add(key, "cannot read mapping %s: %v", path, unwrapPathErr(err))
		}
	}
	connectorRef := func(key, name string) {
		if name == "" {
			add(key, "is required (the name of an entry under connectors)")
		} else if _, ok := c.Connectors[name]; !ok {
			add(key, "no connector named %q (known: %s)", name, strings.Join(sortedNames(c.Connectors), ", "))
		}
	}
	for _, name := range sortedNames(c.Sources) {
		s, k := c.Sources[name], "sources."+name
		connectorRef(k+".connector", s.Connector)
		if !isEntity(s.Entity) {
			add(k+".entity", "%q is not one of %s", s.Entity, canonical.List())
		}
		checkMapping(k+".mapping", s.Mapping)
		if s.Mode != "" && s.Mode != SourcePull && s.Mode != SourcePush {
			add(k+".mode", "%q is neither pull nor push", s.Mode)
		}
		if s.Interval < 0 {
			add(k+".interval", "must be positive")
		}
		if s.BatchSize < 1 {
			add(k+".batch_size", "must be at least 1")
		}
		for _, e := range sortedNames(s.Refs) {
			if !isEntity(e) {
				add(k+".refs."+e, "%q is not one of %s (the referenced entity)", e, canonical.List())
			} else if s.Refs[e] == "" {
				add(k+".refs."+e, "is required: the native field that holds the referenced %s's key", e)
			}
		}
	}
	for _, name := range sortedNames(c.Sinks) {
		s, k := c.Sinks[name], "sinks."+name
		connectorRef(k+".connector", s.Connector)
		if len(s.Entities) == 0 {
			add(k+".entities", "is required: the entities this sink writes, each with its mapping")
		}
		for _, e := range sortedNames(s.Entities) {
			if !isEntity(e) {
				add(k+".entities."+e, "%q is not one of %s", e, canonical.List())
				continue
			}
			checkMapping(k+".entities."+e+".mapping", s.Entities[e].Mapping)
			if d := s.Entities[e].Deletes; d != "" && d != DeletesApply && d != DeletesIgnore {
				add(k+".entities."+e+".deletes", "%q is neither apply nor ignore", d)
			}
		}
		if s.BatchSize < 1 {
			add(k+".batch_size", "must be at least 1")
		}
		if s.Workers < 1 || s.Workers > c.Kafka.Partitions {
			add(k+".workers", "must be between 1 and kafka.partitions (%d): a worker without a partition idles", c.Kafka.Partitions)
		}
		if s.Retry.MaxAttempts < 1 {
			add(k+".retry.max_attempts", "must be at least 1")
		}
		if s.Retry.RefWait < 0 {
			add(k+".retry.ref_wait", "must be positive")
		}
		if !s.Stamped() {
			ps = append(ps, c.checkUnstamped(name)...)
		}
		if s.Retry.Initial < 0 {
			add(k+".retry.initial", "must be positive")
		} else if s.Retry.Max < s.Retry.Initial {
			add(k+".retry.max", "must be at least retry.initial (%s)", s.Retry.Initial)
		}
	}
	if c.Trace.Enabled {
		if c.Trace.Retention <= 0 {
			add("trace.retention", "must be positive (how long record journeys are kept)")
		}
		if c.Trace.PruneInterval <= 0 {
			add("trace.prune_interval", "must be positive")
		}
	}
	for _, e := range sortedNames(c.Entities) {
		ec, k := c.Entities[e], "entities."+e
		if !isEntity(e) {
			add(k, "%q is not one of %s", e, canonical.List())
			continue
		}
		for _, f := range sortedNames(ec.Owners) {
			if _, ok := c.Connectors[ec.Owners[f]]; !ok {
				add(k+".owners."+f, "no connector named %q (known: %s)", ec.Owners[f], strings.Join(sortedNames(c.Connectors), ", "))
			}
		}
		if ec.Conflict != "" && ec.Conflict != "newest" {
			if _, ok := c.Connectors[ec.Conflict]; !ok {
				add(k+".conflict", "%q is neither newest nor a connector's name", ec.Conflict)
			}
		}
		seen := map[string]bool{}
		for i, f := range ec.Match {
			if f == "" || seen[f] {
				add(fmt.Sprintf("%s.match[%d]", k, i), "must name a canonical field, once")
			}
			seen[f] = true
		}
		for _, ch := range ec.PhoneCountryCode {
			if ch < '0' || ch > '9' {
				add(k+".phone_country_code", "%q must be digits only (e.g. 49)", ec.PhoneCountryCode)
				break
			}
		}
	}
	return append(ps, c.validateReconcile()...)
}

// checkUnstamped checks a sink with `stamps: false`: no source may read
// its connector, since a source tells the hub's own writes there (echoes)
// from changes by the stamps. (That the connector writes a log is checked
// with the connectors: pipeline/node.)
func (c *Config) checkUnstamped(name string) Problems {
	var ps Problems
	s := c.Sinks[name]
	for _, src := range sortedNames(c.Sources) {
		if c.Sources[src].Connector == s.Connector {
			ps = append(ps, Problem{Key: "sinks." + name + ".stamps", Msg: fmt.Sprintf(
				"must be true: source %s reads connector %s, and tells the hub's own writes there from changes by their stamps", src, s.Connector)})
		}
	}
	return ps
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Dir is the config file's folder ("." without a file).
func (c *Config) Dir() string {
	if c.File == "" {
		return "."
	}
	return filepath.Dir(c.File)
}

// Where returns "file:line" of a dotted key, or the file alone, or "".
func (c *Config) Where(key string) string {
	if c.File == "" {
		return ""
	}
	if line := c.lines[key]; line > 0 {
		return c.File + ":" + strconv.Itoa(line)
	}
	return c.File
}

// DecodeConnector decodes the settings of connector name into into (a
// pointer to the connector's config struct with mapstructure tags). Unknown
// keys and wrong types come back as Problems naming the key, file and line.
func (c *Config) DecodeConnector(name string, into any) error {
	cc, ok := c.Connectors[name]
	if !ok {
		return fmt.Errorf("config: no connector named %q", name)
	}
	prefix := "connectors." + name
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		Metadata:         &md,
		Result:           into,
	})
	if err != nil {
		return fmt.Errorf("config: decoder for %s: %w", prefix, err)
	}
	var probs Problems
	if err := dec.Decode(cc.Settings); err != nil {
		lookup := func(k string) any { return lookupPath(cc.Settings, mapIndex.ReplaceAllString(k, ".$1")) }
		for _, p := range decodeProblems(err, lookup) {
			if p.Key != "" {
				p.Key = prefix + "." + mapIndex.ReplaceAllString(p.Key, ".$1")
			}
			probs = append(probs, p)
		}
	}
	unused := map[string]bool{}
	for _, k := range md.Unused {
		unused[mapIndex.ReplaceAllString(k, ".$1")] = true
	}
	// The decoder stops recording unused keys where a value fails to
	// decode: walk the settings too, so that every mistake shows at once.
	for _, k := range unknownSettings(cc.Settings, reflect.TypeOf(into), "") {
		unused[k] = true
	}
	for _, k := range sortedNames(unused) {
		msg := "unknown key for a " + cc.Kind + " connector"
		if known := keysAt(reflect.TypeOf(into), k); known != nil {
			last := k[strings.LastIndex(k, ".")+1:]
			if s := suggest(last, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += fmt.Sprintf(" (known here: %s)", strings.Join(sortedKeys(known), ", "))
			}
		}
		probs = append(probs, Problem{Key: prefix + "." + k, Msg: msg})
	}
	if len(probs) == 0 {
		return nil
	}
	for i := range probs {
		if probs[i].Key != "" {
			if line, ok := c.lines[probs[i].Key]; ok {
				probs[i].File, probs[i].Line = c.File, line
				continue
			}
		}
		probs[i].File = c.File
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	return probs
}

// mapIndex matches mapstructure's "entities[customer]" for map entries.
var mapIndex = regexp.MustCompile(`\[([^\]0-9][^\]]*)\]`)

func lookupPath(m map[string]any, key string) any {
	var cur any = m
	for _, part := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[part]
	}
	return cur
}

// ErrProblems reports whether err lists config problems.
func ErrProblems(err error) (Problems, bool) {
	var p Problems
	ok := errors.As(err, &p)
	return p, ok
}

// unknownSettings are the dotted keys of settings that the struct type t
// (a connector's config) has no place for, at any depth.
func unknownSettings(settings map[string]any, t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || hasRemain(t) {
		return nil
	}
	known := structKeys(t)
	var out []string
	for k, v := range settings {
		ft, ok := known[k]
		if !ok {
			out = append(out, join(prefix, k))
			continue
		}
		out = append(out, unknownBelow(v, ft, join(prefix, k))...)
	}
	return out
}

// unknownBelow walks a value of type t for unknown keys.
func unknownBelow(v any, t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch val := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			return unknownSettings(val, t, prefix)
		case reflect.Map:
			var out []string
			for k, e := range val {
				out = append(out, unknownBelow(e, t.Elem(), join(prefix, k))...)
			}
			return out
		}
	case []any:
		if t.Kind() == reflect.Slice {
			var out []string
			for i, e := range val {
				out = append(out, unknownBelow(e, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i))...)
			}
			return out
		}
	}
	return nil
}
