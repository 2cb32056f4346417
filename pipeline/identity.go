package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/store"
)

// The identity step: every native key of a batch (the records' own and
// the ones they reference) gets its hub id from the crosswalk (xref), one
// minted where it has none. A record of this entity seen for the first
// time may match an existing hub record by the policy's match rules
// (match.go); matching, linking and storing the first contacts' match keys
// are one step across sources and nodes, under the entity's matching lock.

// identify fills p.ids (entity -> native key -> hub id), and, of this
// entity's records already linked, p.lastHash and (two-way) p.held.
func (in *Intake) identify(ctx context.Context, recs []connectors.Record, p *prep) error {
	// Keys of this entity with an upsert in the batch (the others are
	// deletes only), and keys parked for review: indexed once, not per key.
	upserted, review := map[string]bool{}, map[string]bool{}
	for i, rec := range recs {
		if rec.Op != connectors.OpDelete {
			upserted[rec.Key] = true
		}
		var re *reviewError
		if err := p.bad[i]; err != nil && errors.As(err, &re) {
			review[rec.Key] = true
		}
	}
	p.lastHash, p.lastVer = map[string]string{}, map[string]string{}
	if in.merging() {
		p.held = map[string]*held{}
	}
	p.ids = map[string]map[string]string{}
	for entity, ks := range p.keys {
		known, err := in.identifyEntity(ctx, entity, ks, recs, upserted, review, p)
		if err != nil {
			return err
		}
		p.ids[entity] = known
	}
	return nil
}

// identifyEntity gives the native keys ks of one entity their hub ids.
func (in *Intake) identifyEntity(ctx context.Context, entity string, ks []string, recs []connectors.Record,
	upserted, review map[string]bool, p *prep) (map[string]string, error) {
	own := entity == in.Entity
	links, err := in.Store.LookupLinks(ctx, entity, in.System, ks)
	if err != nil {
		return nil, err
	}
	if own {
		in.unsettled.apply(links)
	}
	known := make(map[string]string, len(links))
	for k, l := range links {
		known[k] = l.HubID
		if own {
			p.lastHash[l.HubID], p.lastVer[l.HubID] = l.LastHash, l.Version
			if in.merging() {
				p.held[l.HubID] = parseHeld(l.Version, l.LastHash, l.Fields)
			}
		}
	}
	fresh, err := in.ownHubIDs(ctx, entity, ks, known)
	if err != nil {
		return nil, err
	}
	var relink []store.Written // placeholders matched to a hub record
	var firsts []int           // records of this entity seen for the first time
	if own && in.matching() {
		placeholder := placeholders(links, upserted)
		firsts = in.firstContacts(recs, p, known, placeholder, fresh)
		if len(firsts) > 0 {
			// Matching, linking and storing the first contacts' match keys
			// are one step for every source of the entity: another source
			// matching the same new person meanwhile would miss these keys
			// and mint a second hub record.
			unlock, err := in.lockMatching(ctx)
			if err != nil {
				return nil, err
			}
			defer unlock()
			matched, err := in.match(ctx, recs, p.canon, firsts, p)
			if err != nil {
				return nil, err
			}
			for k, hub := range matched {
				if placeholder[k] {
					relink = append(relink, store.Written{HubID: hub, ExternalID: k})
					continue
				}
				fresh[k] = hub
			}
			for _, i := range firsts {
				if p.bad[i] != nil {
					review[recs[i].Key] = true // parked by match: no hub id
				}
			}
		}
	}
	if err := in.mint(ks, known, fresh, own, upserted, review); err != nil {
		return nil, err
	}
	if len(fresh) > 0 && own && in.deferLinks() {
		p.fresh = fresh // written with their stamps (linkFresh)
		for k, v := range fresh {
			known[k] = v
		}
	} else if len(fresh) > 0 {
		linked, err := in.Store.LinkMany(ctx, entity, in.System, fresh)
		if err != nil {
			return nil, err
		}
		for k, v := range linked {
			known[k] = v
		}
	}
	if err := in.relink(ctx, entity, relink, known, p); err != nil {
		return nil, err
	}
	if len(firsts) > 0 {
		if err := in.putFirstKeys(ctx, recs, p.canon, firsts, known); err != nil {
			return nil, err
		}
	}
	return known, nil
}

// ownHubIDs finds the keys that are themselves hub ids: records a sink
// created under the hub id and whose link it has not recorded yet (the
// same record). Only two-way entities have them.
func (in *Intake) ownHubIDs(ctx context.Context, entity string, ks []string, known map[string]string) (map[string]string, error) {
	fresh := map[string]string{}
	if in.Policy == nil {
		return fresh, nil
	}
	var unknown []string
	for _, k := range ks {
		if _, ok := known[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return fresh, nil
	}
	own, err := in.Store.KnownHubIDs(ctx, entity, unknown)
	if err != nil {
		return nil, err
	}
	for k := range own {
		fresh[k] = k
	}
	return fresh, nil
}

// placeholders are the keys linked but never read or written as
// themselves (no stamp): their hub id was minted when a record referenced
// them (an order's customer) before their own record came, and they are
// matched like first contacts.
func placeholders(links map[string]store.Link, upserted map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k, l := range links {
		if l.LastHash == "" && upserted[k] {
			out[k] = true
		}
	}
	return out
}

// firstContacts are the indexes of records of this entity the hub has not
// linked yet (or only as a placeholder), and that mapped.
func (in *Intake) firstContacts(recs []connectors.Record, p *prep, known map[string]string, placeholder map[string]bool, fresh map[string]string) []int {
	var out []int
	for i, rec := range recs {
		if rec.Key == "" || p.canon[i].Kind() != mapping.Object {
			continue
		}
		if _, ok := known[rec.Key]; (!ok || placeholder[rec.Key]) && fresh[rec.Key] == "" {
			out = append(out, i)
		}
	}
	return out
}

// mint gives a new hub id to every key still without one, except a delete
// of a record the hub never saw and a record parked for review.
func (in *Intake) mint(ks []string, known, fresh map[string]string, own bool, upserted, review map[string]bool) error {
	for _, k := range ks {
		if _, ok := known[k]; ok {
			continue
		}
		if _, ok := fresh[k]; ok {
			continue
		}
		if own && (!upserted[k] || review[k]) {
			continue
		}
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("new hub id: %w", err)
		}
		fresh[k] = id.String()
	}
	return nil
}

// relink makes each matched placeholder an alias of the hub record it
// matched, so that what was published under it (the orders) resolves there.
func (in *Intake) relink(ctx context.Context, entity string, relink []store.Written, known map[string]string, p *prep) error {
	if len(relink) == 0 {
		return nil
	}
	linked, err := in.Store.RecordWritten(ctx, entity, in.System, relink)
	if err != nil {
		return err
	}
	for _, m := range linked.Merged {
		known[m.ExternalID] = m.HubID
		if in.Journal != nil {
			p.trace = append(p.trace, store.TraceEvent{Entity: in.Entity, HubID: m.HubID, System: in.System, Connector: in.Name,
				ExternalID: m.ExternalID, Event: store.TraceMerged,
				Detail: "hub id " + m.Alias + " (" + in.System + " had referenced the record before it came) is this record"})
		}
	}
	return nil
}

// matchLockTTL bounds how long a crashed source can hold the matching
// lock of an entity.
const matchLockTTL = 30 * time.Second

// lockMatching takes the entity's matching lock (a lease in the state
// store, so it holds across hub nodes) and returns its release. It waits
// while another source holds it.
func (in *Intake) lockMatching(ctx context.Context) (func(), error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("matching lock holder: %w", err)
	}
	name, holder := "match/"+in.Entity, in.Name+"/"+id.String()
	b := newBackoff(time.Millisecond, 50*time.Millisecond)
	for {
		ok, err := in.Store.AcquireLease(ctx, name, holder, matchLockTTL)
		if err != nil {
			return nil, fmt.Errorf("take the %s matching lock: %w", in.Entity, err)
		}
		if ok {
			break
		}
		if !sleep(ctx, b.NextBackOff()) {
			return nil, ctx.Err()
		}
	}
	return func() {
		// Released even while stopping; an unreleased lock expires.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := in.Store.ReleaseLease(rctx, name, holder); err != nil {
			in.Log.Warn("release the matching lock", "entity", in.Entity, "err", err)
		}
	}, nil
}

// linkFresh writes the links of the batch's new records (p.fresh), each
// with the stamp of its last envelope, in one write (Store.LinkStamped):
// the settle stage then confirms the batch's stamps with one row instead
// of stamping each link again (recordPublished skips p.prestamped). A key
// another writer linked first meanwhile takes that writer's hub id: its
// records' envelopes are built again with it, and stamped after
// publishing as a known record's are.
func (in *Intake) linkFresh(ctx context.Context, recs []connectors.Record, p *prep) error {
	last := make(map[string]*Envelope, len(p.fresh))
	for _, env := range p.envs {
		if env != nil {
			last[env.ID] = env
		}
	}
	ws := make([]store.Written, 0, len(p.fresh))
	for k, hub := range p.fresh {
		w := store.Written{HubID: hub, ExternalID: k}
		if env := last[hub]; env != nil && env.Op == OpUpsert {
			stamp := readStamp(env)
			w.Hash, w.Version = stamp.Hash, stamp.Version
		}
		ws = append(ws, w)
	}
	linked, pending, err := in.Store.LinkStamped(ctx, in.fence, in.Name, in.Entity, in.System, ws)
	if errors.Is(err, store.ErrLeaseLost) {
		return err // nothing written
	}
	if err != nil {
		return in.takeBack(ctx, ws, err)
	}
	p.pending, p.prestamped = pending, make(map[string]bool, len(ws))
	lost := map[string]bool{}
	for _, w := range ws {
		hub := linked[w.ExternalID]
		if hub == w.HubID {
			if w.Hash != "" {
				p.prestamped[hub] = true
			}
			continue
		}
		p.ids[in.Entity][w.ExternalID] = hub
		lost[w.ExternalID] = true
	}
	for i, rec := range recs {
		if lost[rec.Key] && p.envs[i] != nil {
			p.envs[i] = in.buildEnvelope(rec, p.canon[i], p.ids)
			in.encodeAt(p, i)
		}
	}
	return nil
}

// takeBack takes back the stamps a failed LinkStamped may have written all
// the same (the commit reached the server, its answer did not), so that
// the batch, prepared again, is not taken for published; it returns err.
func (in *Intake) takeBack(ctx context.Context, ws []store.Written, err error) error {
	var hubs []string
	for _, w := range ws {
		if w.Hash != "" {
			hubs = append(hubs, w.HubID)
		}
	}
	if terr := retryForever(ctx, in.Log, "take back the stamps of links that may have been written", func() error {
		return in.Store.TakeBack(ctx, in.Entity, in.System, hubs)
	}); terr != nil {
		return terr // stopping: the next run takes back what is pending
	}
	return err
}
