package node

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline"
)

// Plan is a config turned into components: connectors built (not started)
// and mappings compiled. Building it connects to nothing, so `hub
// validate` uses it too.
type Plan struct {
	Connectors map[string]connectors.Connector
	Sources    map[string]SourcePlan
	Sinks      map[string]map[string]*mapping.Plan // sink -> entity -> plan
	// Recon holds the reconciliation jobs with their sides, by name.
	Recon map[string]pipeline.ReconJob
	// Views are the connectors that are read models (connectors.View).
	Views []string
	// Warnings are what works but is likely not what was meant: deletes a
	// sink would apply that no source can see.
	Warnings config.Problems
}

// SourcePlan is one source with its compiled mapping; Config.Mode is
// resolved (pull or push).
type SourcePlan struct {
	Config config.SourceConfig
	Plan   *mapping.Plan
}

// Build checks everything a config names beyond its own keys: connector
// settings (by their kind), mapping files, and that each connector can do
// what a source or sink asks of it. It reports every problem at once, as
// config.Problems naming the full key and the config file's line.
//
// `hub validate` also runs it on a config that has problems of its own
// (config.Inspect), so it skips what config validation already reports: a
// connector without a kind, references to connectors that are not there,
// sources and sinks without a mapping file.
func Build(cfg *config.Config, kinds *connectors.Registry) (*Plan, error) {
	return BuildLogged(cfg, kinds, nil)
}

// BuildLogged is Build giving each connector a logger (log with the
// connector's name); nil logs nothing, as for `hub validate`.
func BuildLogged(cfg *config.Config, kinds *connectors.Registry, log *slog.Logger) (*Plan, error) {
	p := &Plan{Connectors: map[string]connectors.Connector{}, Sources: map[string]SourcePlan{}, Sinks: map[string]map[string]*mapping.Plan{}}
	var probs config.Problems
	fail := func(key, format string, args ...any) {
		probs = append(probs, cfg.ProblemAt(key, fmt.Sprintf(format, args...)))
	}

	for _, name := range sorted(cfg.Connectors) {
		cc, key := cfg.Connectors[name], "connectors."+name
		if cc.Kind == "" {
			continue // config validation reports it
		}
		if !contains(kinds.Kinds(), cc.Kind) {
			fail(key+".kind", "unknown connector kind %q (known: %s)", cc.Kind, strings.Join(kinds.Kinds(), ", "))
			continue
		}
		var clog *slog.Logger
		if log != nil {
			clog = log.With("connector", name)
		}
		conn, err := kinds.New(cc.Kind, connectors.Params{
			Name:   name,
			Decode: func(into any) error { return cfg.DecodeConnector(name, into) },
			Dir:    cfg.Dir(),
			Log:    clog,
		})
		if err != nil {
			probs = append(probs, connectorProblems(cfg, name, cc.Kind, err)...)
			continue
		}
		p.Connectors[name] = conn
	}
	c := &checker{cfg: cfg, plan: p, fail: fail, policies: Policies(cfg),
		warn: func(key, format string, args ...any) {
			p.Warnings = append(p.Warnings, cfg.ProblemAt(key, fmt.Sprintf(format, args...)))
		}}
	for _, name := range sorted(cfg.Sources) {
		c.source(name)
	}
	for _, name := range sorted(cfg.Sinks) {
		c.sink(name)
	}
	for _, name := range sorted(cfg.Reconcile) {
		c.reconcile(name)
	}
	c.roleSettings()
	for _, name := range sorted(p.Connectors) {
		if _, ok := p.Connectors[name].(connectors.View); ok {
			p.Views = append(p.Views, name)
		}
	}
	if len(probs) > 0 {
		return nil, config.Combine(nil, probs)
	}
	return p, nil
}

// connectorProblems turns the error of a connector's constructor into
// problems that name the full key (connectors.crm.driver) and its line, or
// the line of the nearest parent key the file sets. Decoding problems
// arrive as config.Problems, already located; the constructor's own checks
// as connectors.FieldErrors, keyed relative to the settings block.
func connectorProblems(cfg *config.Config, name, kind string, err error) config.Problems {
	if ps, ok := config.ErrProblems(err); ok {
		return ps
	}
	prefix := "connectors." + name
	fes, ok := connectors.AsFieldErrors(err)
	if !ok {
		inner := err
		if u := errors.Unwrap(err); u != nil {
			inner = u // without the registry's "connector NAME (KIND): "
		}
		return config.Problems{cfg.ProblemAt(prefix, kind+": "+inner.Error())}
	}
	out := make(config.Problems, 0, len(fes))
	for _, fe := range fes {
		if fe.Key == "" {
			out = append(out, cfg.ProblemAt(prefix, kind+": "+fe.Msg))
			continue
		}
		out = append(out, cfg.ProblemAt(prefix+"."+fe.Key, fe.Msg))
	}
	return out
}

func sorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Policies builds the two-way policy of each entity that needs one: an
// entity configured under entities, or read by sources of two or more
// connectors (merged with the newest-wins policy).
func Policies(cfg *config.Config) map[string]*pipeline.Policy {
	systems := map[string]map[string]bool{}
	for _, sc := range cfg.Sources {
		if systems[sc.Entity] == nil {
			systems[sc.Entity] = map[string]bool{}
		}
		systems[sc.Entity][sc.Connector] = true
	}
	out := map[string]*pipeline.Policy{}
	for entity, sys := range systems {
		if len(sys) > 1 {
			out[entity] = &pipeline.Policy{Merge: true, Conflict: pipeline.ConflictNewest}
		}
	}
	for entity, ec := range cfg.Entities {
		p := out[entity]
		if p == nil {
			p = &pipeline.Policy{Conflict: pipeline.ConflictNewest}
			out[entity] = p
		}
		if len(ec.Owners) > 0 || ec.Conflict != "" {
			p.Merge = true
		}
		p.Owners = ec.Owners
		if ec.Conflict != "" {
			p.Conflict = ec.Conflict
		}
		for _, f := range ec.Match {
			p.Match = append(p.Match, pipeline.MatchRule{Field: f, Normalize: pipeline.NormalizeKind(f), CountryCode: ec.PhoneCountryCode})
		}
	}
	return out
}
