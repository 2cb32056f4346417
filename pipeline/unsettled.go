package pipeline

import (
	"sync"

	"github.com/crmhub/hub/store"
)

// unsettled holds the stamps a source has published and not yet recorded:
// its settle stage records them a few batches after the publishing, and
// the batches prepared meanwhile are judged against them as they would be
// against recorded ones (what the system holds, for a two-way merge field
// by field; the content last read, so that a re-read is not published
// again). Without it a record changed in two batches in a row would have
// its second change judged against the state before the first: fields
// that changed only in the first would compete again at the newer version
// and could undo a newer value from another system.
//
// A nil *unsettled holds nothing (intakes that record at once).
type unsettled struct {
	mu     sync.Mutex
	stamps map[string]store.Written // hub id -> the latest published stamp
}

// add holds the stamps of published parts, later ones over earlier.
func (u *unsettled) add(pubs []publishedPart) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stamps == nil {
		u.stamps = map[string]store.Written{}
	}
	for _, pub := range pubs {
		for _, w := range pub.stamps {
			u.stamps[w.HubID] = w
		}
	}
}

// settled forgets the stamps of parts now recorded, unless a later stamp
// of the same record is held.
func (u *unsettled) settled(pubs []publishedPart) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, pub := range pubs {
		for _, w := range pub.stamps {
			if h, ok := u.stamps[w.HubID]; ok && h == w {
				delete(u.stamps, w.HubID)
			}
		}
	}
}

// apply puts the held stamps over the recorded links they are newer than
// (or as new as): links maps native keys to links, as the store returns
// them.
func (u *unsettled) apply(links map[string]store.Link) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.stamps) == 0 {
		return
	}
	for k, l := range links {
		w, ok := u.stamps[l.HubID]
		if !ok || newerVersion(l.Version, w.Version) {
			continue
		}
		l.LastHash, l.Version, l.Fields = w.Hash, w.Version, w.Fields
		links[k] = l
	}
}
