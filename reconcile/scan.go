package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/store"
)

// Crosswalk gives native ids of a system their hub ids; ids without one
// are absent from the answer.
type Crosswalk interface {
	HubIDs(ctx context.Context, entity, system string, ids []string) (map[string]string, error)
}

// StoreCrosswalk is the state store's crosswalk (xref).
type StoreCrosswalk struct{ Store *store.Store }

// HubIDs looks the ids up in the xref table.
func (c StoreCrosswalk) HubIDs(ctx context.Context, entity, system string, ids []string) (map[string]string, error) {
	links, err := c.Store.LookupLinks(ctx, entity, system, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(links))
	for id, l := range links {
		out[id] = l.HubID
	}
	return out, nil
}

// Scan is a Stream over a connector's records of an entity, page by page,
// each mapped to canonical form with the side's inbound mapping and given
// its hub id from the crosswalk.
type Scan struct {
	Scanner connectors.Scanner
	Entity  string
	// System is the connector's name in the crosswalk.
	System string
	// Plan is the inbound mapping (native -> canonical).
	Plan *mapping.Plan
	// KeyField is the job's key field of the canonical record; "" keys
	// rows by their native id.
	KeyField string
	// Refs names, per referenced entity, the native field holding the
	// referenced record's key (a source's refs setting): rows carry those
	// records' hub ids.
	Refs map[string]string
	// Crosswalk gives hub ids; nil leaves them empty.
	Crosswalk Crosswalk
	// PageSize is the most records per Scan call (default 500).
	PageSize int
	// Retries is how often a page whose read fails with a retryable
	// error (connectors.Classify: a timeout, a 429, a rate limit another
	// client of the system used up) is read again before the scan fails
	// (default 5; negative: never); RetryWait the first wait (default
	// 1 s), doubled each time up to 30 s, or longer when the system asks.
	Retries   int
	RetryWait time.Duration
	// Scope limits the rows to some keys or key ranges.
	Scope Scope
	// OnBad is told of a record that cannot be mapped (it is skipped and
	// counted in Bad).
	OnBad func(rec connectors.Record, err error)
	// Bad counts the records skipped.
	Bad int64

	pos     string
	started bool
	done    bool
	page    []Row
}

// Next yields the next row, reading a page when the last one is used up.
func (s *Scan) Next(ctx context.Context) (Row, bool, error) {
	for len(s.page) == 0 {
		if s.done {
			return Row{}, false, nil
		}
		if err := s.fetch(ctx); err != nil {
			return Row{}, false, err
		}
	}
	row := s.page[0]
	s.page = s.page[1:]
	return row, true, nil
}

func (s *Scan) fetch(ctx context.Context) error {
	size := s.PageSize
	if size <= 0 {
		size = 500
	}
	pg, err := s.readPage(ctx, size)
	if err != nil {
		return fmt.Errorf("scan %s of %s at %q: %w", s.Entity, s.System, s.pos, err)
	}
	s.pos, s.started = pg.Next, true
	s.done = pg.Next == ""
	ids := make([]string, 0, len(pg.Records))
	live := pg.Records[:0:0]
	for _, rec := range pg.Records {
		if rec.Op == connectors.OpDelete {
			continue // deleted there (a soft delete): not a record of the side
		}
		live = append(live, rec)
		ids = append(ids, rec.Key)
	}
	var hubs map[string]string
	if s.Crosswalk != nil && len(ids) > 0 {
		if hubs, err = s.Crosswalk.HubIDs(ctx, s.Entity, s.System, ids); err != nil {
			return fmt.Errorf("look up hub ids of %s in %s: %w", s.Entity, s.System, err)
		}
	}
	refs, err := s.refHubIDs(ctx, live)
	if err != nil {
		return err
	}
	for _, rec := range live {
		row, err := s.row(ctx, rec, hubs[rec.Key])
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.Bad++
			if s.OnBad != nil {
				s.OnBad(rec, err)
			}
			continue
		}
		for entity, field := range s.Refs {
			if hub := refs[entity][nativeText(rec.Data, field)]; hub != "" {
				if row.Refs == nil {
					row.Refs = map[string]string{}
				}
				row.Refs[entity] = hub
			}
		}
		if s.Scope.Contains(row.Key) {
			s.page = append(s.page, row)
		}
	}
	return nil
}

func (s *Scan) row(ctx context.Context, rec connectors.Record, hub string) (Row, error) {
	if rec.Key == "" {
		return Row{}, fmt.Errorf("record has no key")
	}
	doc, err := s.Plan.Apply(ctx, rec.Data, nil)
	if err != nil {
		return Row{}, err
	}
	key := rec.Key
	if s.KeyField != "" {
		key = keyText(Lookup(doc, s.KeyField))
	}
	return Row{Key: key, ID: rec.Key, HubID: hub, Version: rec.Version, Doc: doc}, nil
}

// keyText is a key field's value as text ("" for null and containers).
func keyText(v mapping.Value) string {
	switch v.Kind() {
	case mapping.String, mapping.Number, mapping.Bool:
		return v.Str()
	}
	return ""
}

// refHubIDs looks up the hub ids of the records a page references: entity
// -> native key -> hub id.
func (s *Scan) refHubIDs(ctx context.Context, recs []connectors.Record) (map[string]map[string]string, error) {
	if s.Crosswalk == nil || len(s.Refs) == 0 {
		return nil, nil
	}
	out := map[string]map[string]string{}
	for entity, field := range s.Refs {
		var keys []string
		for _, rec := range recs {
			if k := nativeText(rec.Data, field); k != "" {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			continue
		}
		hubs, err := s.Crosswalk.HubIDs(ctx, entity, s.System, keys)
		if err != nil {
			return nil, fmt.Errorf("look up hub ids of %s referenced from %s in %s: %w", entity, s.Entity, s.System, err)
		}
		out[entity] = hubs
	}
	return out, nil
}

// nativeText is the text of a native field, a dotted path into nested
// objects where the record has no member of that very name.
func nativeText(data mapping.Value, field string) string {
	v := data.Get(field)
	if v.IsNull() {
		v = Lookup(data, field)
	}
	return keyText(v)
}

const (
	defaultScanRetries = 5
	maxScanRetryWait   = 30 * time.Second
)

// readPage reads the page at the scan's position, again after a wait
// while the failure is retryable: one 429 or rate limit (the hub's own
// sources share the system's quota) does not fail a whole run.
func (s *Scan) readPage(ctx context.Context, size int) (connectors.Page, error) {
	retries, wait := s.Retries, s.RetryWait
	if retries == 0 {
		retries = defaultScanRetries
	}
	if wait <= 0 {
		wait = time.Second
	}
	for attempt := 0; ; attempt++ {
		pg, err := s.Scanner.Scan(ctx, s.Entity, s.pos, size)
		if err == nil {
			return pg, nil
		}
		kind, after := connectors.Classify(err)
		if kind != connectors.KindRetryable || attempt >= retries {
			if attempt > 0 {
				err = fmt.Errorf("after %d attempts: %w", attempt+1, err)
			}
			return connectors.Page{}, err
		}
		d := wait
		for i := 0; i < attempt && d < maxScanRetryWait; i++ {
			d *= 2
		}
		t := time.NewTimer(max(min(d, maxScanRetryWait), after))
		select {
		case <-ctx.Done():
			t.Stop()
			return connectors.Page{}, fmt.Errorf("%w (waiting to read again after: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
