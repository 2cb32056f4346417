package node

import (
	"errors"
	"slices"
	"strings"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline"
)

// checker checks what sources and sinks ask of their connectors against
// the capabilities the connectors declare, and loads their mappings.
type checker struct {
	cfg      *config.Config
	plan     *Plan
	fail     func(key, format string, args ...any)
	warn     func(key, format string, args ...any)
	policies map[string]*pipeline.Policy
}

// load compiles a mapping file and checks it maps entity in direction.
func (c *checker) load(key, path, entity, direction string) *mapping.Plan {
	if path == "" {
		return nil // config validation reports it
	}
	mp, err := mapping.Load(path)
	if err != nil {
		var mps mapping.Problems
		if !errors.As(err, &mps) {
			c.fail(key, "mapping %s: %v", path, err)
			return nil
		}
		for _, m := range mps {
			c.fail(key, "%s", m.String())
		}
		return nil
	}
	if mp.Entity != entity || mp.Direction != direction {
		c.fail(key, "mapping %s maps %s %q, but this needs %s %q", path, mp.Entity, mp.Direction, entity, direction)
		return nil
	}
	if direction == "in" {
		for _, l := range mp.RequiredLookups() { // (an optional one gives null)
			c.fail(key, "mapping %s looks up %s, but a mapping in has no lookups: every record would fail (mark it optional: true, or look it up in a sink's mapping)", path, l)
		}
	}
	return mp
}

// source checks a source: its connector reads the entity (pull) or
// receives it pushed (push), and its mapping.
func (c *checker) source(name string) {
	sc, key := c.cfg.Sources[name], "sources."+name
	if conn, ok := c.plan.Connectors[sc.Connector]; ok {
		sc.Mode = c.sourceMode(key, sc, conn)
	}
	if mp := c.load(key+".mapping", sc.Mapping, sc.Entity, "in"); mp != nil {
		c.plan.Sources[name] = SourcePlan{Config: sc, Plan: mp}
	}
}

// sourceMode resolves and checks a source's mode; "" when it cannot work.
func (c *checker) sourceMode(key string, sc config.SourceConfig, conn connectors.Connector) string {
	reader, canPull := conn.(connectors.Reader)
	pusher, canPush := conn.(connectors.Pusher)
	reads, pushes := readEntities(nil), readEntities(nil)
	if canPull {
		reads = readEntities(reader.Reads())
	}
	if canPush {
		pushes = readEntities(pusher.Pushes())
	}
	mode := sc.Mode
	if mode == "" {
		mode = config.SourcePull
		if !slices.Contains(reads, sc.Entity) && slices.Contains(pushes, sc.Entity) {
			mode = config.SourcePush
		}
	}
	switch {
	case mode == config.SourcePull && !canPull:
		c.fail(key+".connector", "connector %s cannot be read from (pull)%s", sc.Connector, orPush(canPush))
	case mode == config.SourcePull && !slices.Contains(reads, sc.Entity):
		c.fail(key+".entity", "connector %s reads no %s (it reads: %s)", sc.Connector, sc.Entity, list(reads))
	case mode == config.SourcePush && !canPush:
		c.fail(key+".mode", "connector %s receives nothing pushed (it is read from: mode pull)", sc.Connector)
	case mode == config.SourcePush && !slices.Contains(pushes, sc.Entity):
		c.fail(key+".entity", "connector %s receives no %s pushed (it receives: %s)", sc.Connector, sc.Entity, list(pushes))
	default:
		return mode
	}
	return ""
}

func orPush(canPush bool) string {
	if canPush {
		return "; it receives records pushed (mode: push)"
	}
	return ""
}

// sink checks a sink: its connector writes each entity, with a version
// guard where the entity is two-way, and applies deletes where a source
// sees them (unless the sink ignores them).
func (c *checker) sink(name string) {
	sc, key := c.cfg.Sinks[name], "sinks."+name
	var w connectors.Writer
	if conn, ok := c.plan.Connectors[sc.Connector]; ok {
		if cw, ok := conn.(connectors.Writer); ok {
			w = cw
		} else {
			c.fail(key+".connector", "connector %s cannot be written to (be a sink)", sc.Connector)
		}
	}
	c.plan.Sinks[name] = map[string]*mapping.Plan{}
	for _, entity := range sorted(sc.Entities) {
		ekey := key + ".entities." + entity
		if w != nil {
			c.writes(ekey, sc, w, entity)
		}
		if mp := c.load(ekey+".mapping", sc.Entities[entity].Mapping, entity, "out"); mp != nil {
			c.plan.Sinks[name][entity] = mp
			c.lookups(ekey+".mapping", sc, mp)
		}
	}
}

// writes checks what a sink entity asks of its writer.
func (c *checker) writes(ekey string, sc config.SinkConfig, w connectors.Writer, entity string) {
	var spec *connectors.WriteSpec
	specs := w.Writes()
	for i := range specs {
		if specs[i].Entity == entity {
			spec = &specs[i]
		}
	}
	kind := c.cfg.Connectors[sc.Connector].Kind
	if spec == nil {
		c.fail(ekey, "connector %s (%s) writes no %s (it writes: %s)", sc.Connector, kind, entity, list(writeEntities(specs)))
		return
	}
	if pol := c.policies[entity]; pol != nil && pol.Merge && !spec.VersionGuard && !spec.Log {
		c.fail(ekey, "%s is two-way (%s), but connector %s (%s) writes it without a version guard: a write could undo a newer change made there meanwhile",
			entity, c.twoWayWhy(entity), sc.Connector, kind)
	}
	if !sc.Stamped() {
		c.unstamped(ekey, sc, *spec, kind)
	}
	seers := c.deleteSeers(entity)
	switch {
	case sc.Entities[entity].Deletes == config.DeletesIgnore:
	case !spec.Deletes && len(seers) > 0:
		c.fail(ekey, "source %s sees deletes of %s, but connector %s (%s) cannot apply them: set `deletes: ignore` under %s to drop them",
			strings.Join(seers, ", "), entity, sc.Connector, kind, ekey)
	case spec.Deletes && len(seers) == 0 && c.hasSource(entity):
		c.warn(ekey, "connector %s (%s) applies deletes of %s, but no source sees them (%s): a deleted %s stays in %s. "+
			"Capture deletes (sqlstore: capture: outbox), or set `deletes: ignore` to say so", sc.Connector, kind, entity, c.sourcesOf(entity), entity, sc.Connector)
	}
}

// unstamped checks a sink entity written without stamps: only to a log,
// where no write needs the record's id in the target (deletes aside,
// where the writer addresses them by it).
func (c *checker) unstamped(ekey string, sc config.SinkConfig, spec connectors.WriteSpec, kind string) {
	key := strings.TrimSuffix(ekey, ".entities."+spec.Entity) + ".stamps"
	switch {
	case !spec.Log:
		c.fail(key, "must be true for connector %s (%s): it updates %s by the id the stamps keep; `stamps: false` is for a log (kafka)",
			sc.Connector, kind, spec.Entity)
	case spec.DeleteByID && spec.Deletes && sc.Entities[spec.Entity].Deletes != config.DeletesIgnore:
		c.fail(key, "connector %s (%s) deletes %s by the key it was written under, which only the stamps keep: set `deletes: ignore` under %s, or keep stamps",
			sc.Connector, kind, spec.Entity, ekey)
	}
}

// lookups checks that each `xref: <entity>` of a sink's mapping can find
// something: the crosswalk records ids of that entity in the sink's
// system (a source reads or references them there, or a sink with stamps
// writes them).
func (c *checker) lookups(key string, sc config.SinkConfig, mp *mapping.Plan) {
	known := holds(c.cfg, sc.Connector)
	for entity := range usesOf(c.cfg, sc.Connector).referenced {
		known[entity] = true // a referenced record's id there, linked as it is first seen
	}
	for _, l := range mp.Lookups() {
		if _, ok := mapping.XrefEntity(l); !ok {
			c.fail(key, "mapping %s looks up %s, which a sink does not answer (its lookups are xref.<entity>): every record would wait on it", mp.File, l)
		}
	}
	for _, l := range mp.RequiredLookups() { // (an optional one gives null)
		entity, ok := mapping.XrefEntity(l)
		if ok && !known[entity] {
			c.fail(key, "mapping %s looks up `xref: %s`, but nothing records the ids of %s in %s: no source reads or references them there and no sink with stamps writes them",
				mp.File, entity, entity, sc.Connector)
		}
	}
}

// roleSettings warns of connector settings that only a source reads, or
// only a sink, given for an entity no source (no sink) of the connector
// takes: they do nothing (connectors.RoleSettings).
func (c *checker) roleSettings() {
	for _, name := range sorted(c.plan.Connectors) {
		rs, ok := c.plan.Connectors[name].(connectors.RoleSettings)
		if !ok {
			continue
		}
		u := usesOf(c.cfg, name)
		for _, r := range []struct {
			given map[string][]string
			used  map[string]bool
			what  string
		}{{rs.SourceOnly(), u.read, "only a source reads it, and no source reads %s from %s"},
			{rs.SinkOnly(), u.written, "only a sink reads it, and no sink writes %s to %s"}} {
			for _, entity := range sorted(r.given) {
				if r.used[entity] {
					continue
				}
				for _, key := range r.given[entity] {
					c.warn("connectors."+name+".entities."+entity+"."+key, r.what, entity, name)
				}
			}
		}
	}
}

// twoWayWhy says what makes entity two-way.
func (c *checker) twoWayWhy(entity string) string {
	if _, ok := c.cfg.Entities[entity]; ok {
		return "entities." + entity + " sets its owners or conflict policy"
	}
	return "sources of several connectors read it"
}

// deleteSeers are the sources of entity whose connector delivers deletes.
func (c *checker) deleteSeers(entity string) []string {
	var out []string
	for _, name := range sorted(c.plan.Sources) {
		sc := c.plan.Sources[name].Config
		if sc.Entity != entity {
			continue
		}
		var specs []connectors.ReadSpec
		conn := c.plan.Connectors[sc.Connector]
		if r, ok := conn.(connectors.Reader); ok && sc.Mode == config.SourcePull {
			specs = r.Reads()
		}
		if p, ok := conn.(connectors.Pusher); ok && sc.Mode == config.SourcePush {
			specs = p.Pushes()
		}
		for _, s := range specs {
			if s.Entity == entity && s.Deletes {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// hasSource reports whether any source reads entity.
func (c *checker) hasSource(entity string) bool { return c.sourcesOf(entity) != "" }

// sourcesOf names the sources of entity.
func (c *checker) sourcesOf(entity string) string {
	var out []string
	for _, name := range sorted(c.plan.Sources) {
		if c.plan.Sources[name].Config.Entity == entity {
			out = append(out, name)
		}
	}
	return strings.Join(out, ", ")
}

func list(xs []string) string {
	if len(xs) == 0 {
		return "nothing"
	}
	return strings.Join(xs, ", ")
}

func readEntities(specs []connectors.ReadSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Entity
	}
	return out
}

func writeEntities(specs []connectors.WriteSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Entity
	}
	return out
}
