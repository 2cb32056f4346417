package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/api"
)

// A config reload (SIGHUP, POST /api/v1/reload, `hub reload`) applies
// what can change while the hub runs and refuses the rest, with the
// reason. What can change is what a runner reads as it goes: the log
// level, a source's mapping (its file or the file's content), interval
// and batch size, a sink entity's mapping and deletes, a sink's batch size
// and retry settings. What is set up at start needs a restart: connectors,
// Kafka, the state store, the HTTP server, the set of sources and sinks,
// ownership policies. A reload whose live changes would not fit the
// settings that stay until a restart is refused whole (checkPartial).

// ConfigLoader reads the config again, for a reload.
type ConfigLoader func() (*config.Config, error)

// SetReload lets the node reload its config: load reads the file again,
// level is the log level the node's logger filters by.
func (n *Node) SetReload(load ConfigLoader, level *slog.LevelVar) {
	n.loadConfig, n.level = load, level
}

// ErrNoReload: the node was started without a way to read its config
// again.
var ErrNoReload = errors.New("this hub cannot reload its config (started without a config file)")

// Reload reads the config again and applies what can change while the
// hub runs; see ReloadResult. A config that does not load or build is
// refused whole, with its problems. It is audited.
func (n *Node) Reload(ctx context.Context, actor string) (pipeline.ReloadResult, error) {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	var res pipeline.ReloadResult
	if n.loadConfig == nil {
		return res, ErrNoReload
	}
	cfg, err := n.loadConfig()
	if err != nil {
		return res, fmt.Errorf("%w: read the config again: %w", api.ErrBadConfig, err)
	}
	plan, err := Build(cfg, n.kinds)
	if err != nil {
		return res, fmt.Errorf("%w: %w", api.ErrBadConfig, err)
	}
	defer closeUnstarted(plan)
	changes := append(config.Diff(n.live, cfg), mappingChanges(n.digests, planDigests(plan))...)
	groups := groupChanges(changes, n.live)
	next := settled(n.live, cfg, groups)
	if err := n.checkPartial(groups, next); err != nil {
		return res, fmt.Errorf("%w: %w", api.ErrBadConfig, err)
	}
	res = n.applyChanges(groups, cfg, plan, next)
	lv := slog.LevelInfo
	if len(res.Refused) > 0 {
		lv = slog.LevelWarn
	}
	n.log.Log(ctx, lv, "config reloaded", "by", actor, "applied", res.Applied, "refused", res.Refused)
	detail := fmt.Sprintf("applied %d, refused %d", len(res.Applied), len(res.Refused))
	if len(res.Applied)+len(res.Refused) == 0 {
		detail = "no change"
	}
	if len(res.Refused) > 0 {
		detail += ": " + strings.Join(res.Refused, "; ")
	}
	if err := n.store.AppendAudit(ctx, actor, "config.reload", "config "+n.cfg.File, detail); err != nil {
		return res, err
	}
	return res, nil
}

// changeGroup is the changes of one owner (a source, a sink, or "log"),
// and why those that cannot be applied need a restart.
type changeGroup struct {
	owner             string
	changes, refusals []string
}

// groupChanges groups the changes by what they belong to, in the order
// each owner first appears.
func groupChanges(changes []config.Change, live *config.Config) []*changeGroup {
	var out []*changeGroup
	byOwner := map[string]*changeGroup{}
	for _, c := range changes {
		owner, why := classify(c, live)
		g, ok := byOwner[owner]
		if !ok {
			g = &changeGroup{owner: owner}
			byOwner[owner] = g
			out = append(out, g)
		}
		g.changes = append(g.changes, c.String())
		if why != "" {
			g.refusals = append(g.refusals, c.String()+": "+why)
		}
	}
	return out
}

// settled is the config that runs once the changes that can be applied
// are: the running one with the new settings of each owner that takes all
// its changes.
func settled(live, cfg *config.Config, groups []*changeGroup) *config.Config {
	next := *live
	next.Sources, next.Sinks = cloneMap(live.Sources), cloneMap(live.Sinks)
	for _, g := range groups {
		if len(g.refusals) > 0 {
			continue
		}
		kind, name, _ := strings.Cut(g.owner, " ")
		switch kind {
		case "log":
			next.Log.Level = cfg.Log.Level
		case "source":
			next.Sources[name] = cfg.Sources[name]
		case "sink":
			next.Sinks[name] = cfg.Sinks[name]
		}
	}
	return &next
}

// checkPartial checks next, the config that runs after the reload, when
// some changes need a restart. The new config was checked as a whole,
// but a sink's mapping that looks up ids another sink is to record from
// now on (stamps: true, refused until a restart) would dead-letter every
// record meanwhile.
func (n *Node) checkPartial(groups []*changeGroup, next *config.Config) error {
	if !slices.ContainsFunc(groups, func(g *changeGroup) bool { return len(g.refusals) > 0 }) {
		return nil
	}
	p, err := Build(next, n.kinds)
	if err != nil {
		return fmt.Errorf("the changes that could be applied now do not fit the settings that need a restart to change (apply them all with a restart): %w", err)
	}
	closeUnstarted(p)
	return nil
}

// applyChanges applies the changes it can, runner by runner, says what
// it did, and makes next the live config.
func (n *Node) applyChanges(groups []*changeGroup, cfg *config.Config, plan *Plan, next *config.Config) pipeline.ReloadResult {
	res := pipeline.ReloadResult{Applied: []string{}, Refused: []string{}}
	for _, g := range groups {
		if len(g.refusals) > 0 {
			res.Refused = append(res.Refused, g.refusals...)
			for _, c := range g.changes {
				if !refused(g.refusals, c) {
					res.Refused = append(res.Refused, c+": not applied, "+g.owner+" has a change that needs a restart")
				}
			}
			continue
		}
		n.apply(g.owner, cfg, plan)
		res.Applied = append(res.Applied, g.changes...)
	}
	n.live = next
	n.remapReconcile(plan)
	return res
}

// remapReconcile gives the reconciliation jobs the mappings the reloaded
// config's files hold now: a job reads a side through its source's
// mapping (or its own), and a mapping fixed and reloaded must reach the
// next run as it reaches the source. A job whose own settings changed
// keeps everything until a restart (the reload refused it).
func (n *Node) remapReconcile(plan *Plan) {
	if n.recon == nil {
		return
	}
	for name, rj := range plan.Recon {
		if _, ok := n.recon.Jobs[name]; ok {
			n.recon.SetMappings(name, rj.Left.Plan, rj.Right.Plan)
		}
	}
}

func refused(refusals []string, change string) bool {
	for _, r := range refusals {
		if strings.HasPrefix(r, change+": ") {
			return true
		}
	}
	return false
}

// classify says which runner (or "log") a change belongs to, and why it
// cannot be applied ("" when it can).
func classify(c config.Change, live *config.Config) (owner, why string) {
	parts := strings.Split(c.Key, ".")
	restart := func(reason string) (string, string) { return parts[0], reason + "; restart the hub to apply it" }
	switch parts[0] {
	case "log":
		if c.Key == "log.level" {
			return "log", ""
		}
		return restart("the log format is chosen at start")
	case "sources":
		owner = "source " + parts[1]
		if c.What == "added" || c.What == "removed" {
			return owner, "sources are started with the hub; one " + c.What + " needs a restart"
		}
		switch strings.Join(parts[2:], ".") {
		case "mapping", "interval", "batch_size":
			return owner, ""
		}
		return owner, "a source's connector, entity, mode and refs are set at start; restart the hub to apply it"
	case "sinks":
		owner = "sink " + parts[1]
		if c.What == "added" || c.What == "removed" {
			return owner, "sinks are started with the hub; one " + c.What + " needs a restart"
		}
		rest := strings.Join(parts[2:], ".")
		switch {
		case rest == "batch_size", strings.HasPrefix(rest, "retry."):
			return owner, ""
		case len(parts) == 5 && parts[2] == "entities" && (parts[4] == "mapping" || parts[4] == "deletes"):
			if _, ok := live.Sinks[parts[1]].Entities[parts[3]]; ok {
				return owner, ""
			}
		}
		return owner, "a sink's connector, entities, workers and stamps are set at start; restart the hub to apply it"
	case "hub":
		return restart("process settings are read at start")
	case "http", "api":
		return restart("the HTTP server and its tokens are set up at start")
	case "kafka":
		return restart("the Kafka connection and topics are set up at start")
	case "state":
		return restart("the state store is opened at start")
	case "connectors":
		return restart("connectors connect at start")
	case "entities":
		return restart("ownership, conflict and match policies are set at start")
	case "trace":
		return restart("the trace journal is set up at start")
	case "reconcile":
		return restart("reconciliation jobs are built and scheduled at start")
	}
	return restart("it is read at start")
}

// apply makes one owner's runners use the new config (settled records
// it in the live one).
func (n *Node) apply(owner string, cfg *config.Config, plan *Plan) {
	kind, name, _ := strings.Cut(owner, " ")
	switch kind {
	case "log":
		if n.level != nil {
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(cfg.Log.Level)); err == nil {
				n.level.Set(lv)
			}
		}
	case "source":
		sc := cfg.Sources[name]
		if in := n.intakes[name]; in != nil {
			_ = in.SetPlan(plan.Sources[name].Plan) // the node builds every intake with a LivePlan
		}
		if s := n.pulls[name]; s != nil {
			s.Reconfigure(pipeline.SourceSettings{Interval: sc.Interval, BatchSize: sc.BatchSize})
		}
		n.digests.take(planDigests(plan), "sources."+name+".")
	case "sink":
		sc := cfg.Sinks[name]
		for _, s := range n.sinkRunners {
			if s.Name != name {
				continue
			}
			s.Reconfigure(pipeline.SinkSettings{
				Plan: plan.Sinks[name][s.Entity], BatchSize: sc.BatchSize,
				Retry:         retryPolicy(sc.Retry),
				IgnoreDeletes: sc.Entities[s.Entity].Deletes == config.DeletesIgnore,
			})
		}
		n.digests.take(planDigests(plan), "sinks."+name+".")
	}
}

func retryPolicy(r config.RetryConfig) pipeline.RetryPolicy {
	return pipeline.RetryPolicy{MaxAttempts: r.MaxAttempts, Initial: r.Initial, Max: r.Max, RefWait: r.RefWait}
}

func cloneMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// digests are the SHA-256 of each mapping file, by the key that names
// it (sources.X.mapping, sinks.X.entities.E.mapping): a reload sees a
// mapping whose file changed but whose path did not.
type digests map[string]string

func planDigests(p *Plan) digests {
	d := digests{}
	for name, sp := range p.Sources {
		if sp.Plan != nil {
			d["sources."+name+".mapping"] = fileDigest(sp.Plan.File)
		}
	}
	for name, es := range p.Sinks {
		for e, mp := range es {
			if mp != nil {
				d["sinks."+name+".entities."+e+".mapping"] = fileDigest(mp.File)
			}
		}
	}
	return d
}

// take copies the digests under prefix from newer.
func (d digests) take(newer digests, prefix string) {
	for k, v := range newer {
		if strings.HasPrefix(k, prefix) {
			d[k] = v
		}
	}
}

func fileDigest(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// mappingChanges are the mapping files whose content changed.
func mappingChanges(old, new digests) []config.Change {
	var out []config.Change
	for k, v := range new {
		if was, ok := old[k]; ok && was != v {
			out = append(out, config.Change{Key: k, What: "file changed"})
		}
	}
	return out
}

// closeUnstarted closes the connectors a reload built only to check the
// new config.
func closeUnstarted(p *Plan) {
	for _, c := range p.Connectors {
		_ = c.Close()
	}
}
