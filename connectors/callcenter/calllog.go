package callcenter

import (
	"strings"
	"sync"
	"time"

	"github.com/crmhub/hub/connectors"
)

// The stages of a call.
const (
	stageRinging  = "ringing"
	stageAnswered = "answered"
	stageEnded    = "ended"
)

// stage is one stage of a call as any source tells it: the JSON event, a
// Twilio webhook, the AMI tracker.
type stage struct {
	kind      string // ringing, answered, ended
	source    string // json, twilio, ami
	callID    string
	from, to  string
	agent     string // rung (ringing), answering (answered, ended)
	direction string // inbound, outbound; "" unknown
	at        time.Time
	started   time.Time // when the source knows it
	answered  time.Time
	duration  int64 // talk time in seconds; -1 unknown
	recording string
	outcome   string
	customer  string // hub id the agent picked
}

// call is what the connector knows of one call: its stages merged.
type call struct {
	id, source, from, to, direction, agent string
	recording, outcome, customer           string
	started, answered, ended               time.Time
	duration                               int64
	seen                                   time.Time
	// logged is the record published when the call ended: a repeated
	// ended event publishes the very same one.
	logged *connectors.Record
}

// callLog remembers calls for a while, bounded.
type callLog struct {
	ttl time.Duration
	max int

	mu     sync.Mutex
	calls  map[string]*call
	pruned time.Time
}

func newCallLog(ttl time.Duration, max int) *callLog {
	return &callLog{ttl: ttl, max: max, calls: map[string]*call{}}
}

// merge takes a stage into its call and returns a copy of the call as it
// now stands. late is true for a stage after the call ended (a repeated
// or late event).
func (l *callLog) merge(st stage, now time.Time) (c call, late bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, ok := l.calls[st.callID]
	if !ok {
		l.bound(now)
		cur = &call{id: st.callID, source: st.source, duration: -1}
		l.calls[st.callID] = cur
	}
	cur.seen = now
	if cur.logged != nil {
		return *cur, true
	}
	fill(&cur.from, st.from)
	fill(&cur.to, st.to)
	fill(&cur.direction, st.direction)
	fill(&cur.recording, st.recording)
	fill(&cur.customer, st.customer)
	earliest(&cur.started, st.started)
	earliest(&cur.answered, st.answered)
	switch st.kind {
	case stageRinging:
		earliest(&cur.started, st.at)
	case stageAnswered:
		earliest(&cur.started, st.at)
		earliest(&cur.answered, st.at)
		if st.agent != "" {
			cur.agent = st.agent
		}
	case stageEnded:
		earliest(&cur.started, st.at)
		fill(&cur.agent, st.agent)
		cur.ended = st.at
		cur.duration = st.duration
		if cur.duration < 0 {
			cur.duration = 0
			if !cur.answered.IsZero() {
				cur.duration = int64(cur.ended.Sub(cur.answered).Round(time.Second) / time.Second)
			}
		}
		cur.outcome = strings.ToUpper(st.outcome)
		if cur.outcome == "" {
			cur.outcome = "MISSED"
			if !cur.answered.IsZero() {
				cur.outcome = "ANSWERED"
			}
		}
	}
	return *cur, false
}

// logged records the record published for an ended call.
func (l *callLog) setLogged(id string, rec connectors.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.calls[id]; ok {
		c.logged = &rec
	}
}

// bound forgets calls not heard of within the TTL (looking every quarter
// of it), and the oldest while there are too many (under l.mu).
func (l *callLog) bound(now time.Time) {
	if len(l.calls) < l.max && now.Sub(l.pruned) < l.ttl/4 {
		return
	}
	l.pruned = now
	var oldest *call
	for id, c := range l.calls {
		if now.Sub(c.seen) > l.ttl {
			delete(l.calls, id)
			continue
		}
		if oldest == nil || c.seen.Before(oldest.seen) {
			oldest = c
		}
	}
	if len(l.calls) >= l.max && oldest != nil {
		delete(l.calls, oldest.id)
	}
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func earliest(dst *time.Time, t time.Time) {
	if !t.IsZero() && (dst.IsZero() || t.Before(*dst)) {
		*dst = t
	}
}
