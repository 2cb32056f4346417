package node

import (
	"time"

	"github.com/crmhub/hub/config"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/reconcile"
)

// reconcile checks a reconciliation job: each side's connector scans the
// entity, each side has an inbound mapping, and the sides a repair policy
// changes have a sink; it adds the job to the plan.
func (c *checker) reconcile(name string) {
	rc, key := c.cfg.Reconcile[name], "reconcile."+name
	job := JobOf(name, rc, c.cfg.Entities[rc.Entity].Owners)
	rj := pipeline.ReconJob{Job: job}
	ok := true
	for _, s := range []struct {
		side string
		conn string
		into *pipeline.ReconSide
	}{{"left", rc.Left, &rj.Left}, {"right", rc.Right, &rj.Right}} {
		side, good := c.reconSide(key, s.side, s.conn, rc)
		*s.into = side
		ok = ok && good
	}
	if !ok {
		return
	}
	rj.Checksum = c.checksum(key, rc)
	need := map[reconcile.Policy][]pipeline.ReconSide{
		reconcile.PolicyLeftWins: {rj.Right}, reconcile.PolicyRightWins: {rj.Left},
		reconcile.PolicyNewestWins: {rj.Left, rj.Right}, reconcile.PolicyOwnerWins: {rj.Left, rj.Right},
	}[job.Repair]
	for _, side := range need {
		if side.Sink == "" {
			c.fail(key+".repair", "%s repairs %s in %s, but no sink writes %s to %s: add one, or repair: report",
				job.Repair, rc.Entity, side.Connector, rc.Entity, side.Connector)
		}
	}
	if c.plan.Recon == nil {
		c.plan.Recon = map[string]pipeline.ReconJob{}
	}
	c.plan.Recon[name] = rj
}

func (c *checker) reconSide(key, side, conn string, rc config.ReconcileConfig) (pipeline.ReconSide, bool) {
	rs := pipeline.ReconSide{Connector: conn}
	cn, ok := c.plan.Connectors[conn]
	if !ok {
		return rs, false // config validation or the connector's own problems say why
	}
	sc, ok := cn.(connectors.Scanner)
	if !ok || !contains(sc.Scans(), rc.Entity) {
		var scans []string
		if ok {
			scans = sc.Scans()
		}
		c.fail(key+"."+side, "connector %s (%s) cannot scan %s (it scans: %s)", conn, c.cfg.Connectors[conn].Kind, rc.Entity, list(scans))
		return rs, false
	}
	rs.Scanner = sc
	mkey, path := key+"."+side+"_mapping", c.cfg.ReconcileMapping(rc, side)
	if (side == "left" && rc.LeftMapping == "") || (side == "right" && rc.RightMapping == "") {
		mkey = key + "." + side
	}
	if rs.Plan = c.load(mkey, path, rc.Entity, "in"); rs.Plan == nil {
		return rs, false
	}
	for _, name := range sorted(c.cfg.Sources) {
		if s := c.cfg.Sources[name]; s.Connector == conn && s.Entity == rc.Entity && len(s.Refs) > 0 {
			rs.Refs = s.Refs
			break
		}
	}
	for _, name := range sorted(c.cfg.Sinks) {
		if s := c.cfg.Sinks[name]; s.Connector == conn {
			if _, ok := s.Entities[rc.Entity]; ok {
				rs.Sink = name
				break
			}
		}
	}
	return rs, true
}

// JobOf is a configured job as the engine takes it.
func JobOf(name string, rc config.ReconcileConfig, owners map[string]string) reconcile.Job {
	job := reconcile.Job{Name: name, Entity: rc.Entity, Left: rc.Left, Right: rc.Right, Key: rc.Key,
		Window: time.Duration(rc.WindowDays) * 24 * time.Hour, Amount: rc.Amount, Currency: rc.Currency,
		Repair: reconcile.Policy(rc.Repair), Owners: owners, Deletes: rc.Deletes, Schedule: rc.Schedule, TimeZone: rc.TimeZone}
	for _, f := range sorted(rc.Fields) {
		r, err := config.ParseFieldRule(rc.Fields[f])
		if err != nil {
			continue // config validation reports it
		}
		job.Fields = append(job.Fields, reconcile.Field{Name: f,
			Rule: reconcile.Rule{Kind: reconcile.RuleKind(r.Kind), Tolerance: r.Tolerance, Days: r.Days}})
	}
	return job
}

// checksum is a job's checksum path, nil when it streams: method stream,
// or auto without checksum columns. Config validation has checked the
// columns; whether the tables suit is seen when a run starts (auto then
// streams, checksum fails).
func (c *checker) checksum(key string, rc config.ReconcileConfig) *pipeline.ReconChecksum {
	if rc.Method == pipeline.MethodStream || !rc.Checksum.Given() {
		return nil
	}
	rk := &pipeline.ReconChecksum{Method: rc.Method,
		Left:  pipeline.ChecksumSide{Key: rc.Checksum.Left.Key, Columns: rc.Checksum.Left.Columns},
		Right: pipeline.ChecksumSide{Key: rc.Checksum.Right.Key, Columns: rc.Checksum.Right.Columns}}
	for _, s := range []struct {
		side string
		conn string
		into *pipeline.ChecksumSide
	}{{"left", rc.Left, &rk.Left}, {"right", rc.Right, &rk.Right}} {
		if t, ok := c.plan.Connectors[s.conn].(pipeline.SumTable); ok {
			s.into.Table = t
		} else if rc.Method == pipeline.MethodChecksum {
			c.fail(key+".checksum."+s.side, "connector %s cannot checksum %s in its database (method: checksum needs a sqlstore table)", s.conn, rc.Entity)
		}
	}
	return rk
}
