package ami

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// The stages of a call, as the call center's events name them.
const (
	Ringing  = "ringing"
	Answered = "answered"
	Ended    = "ended"
)

// Event is a stage of a call, made from the AMI events of its channels.
type Event struct {
	Stage  string
	CallID string // the Linkedid of its channels
	// From and To are the caller's and the called number (CallerIDNum
	// and Exten of the call's first channel).
	From, To string
	// Agent is the agent whose phone rings (Ringing), who answered
	// (Answered, Ended), or who placed an outbound call.
	Agent      string
	Inbound    bool
	At         time.Time // when the stage happened
	StartedAt  time.Time
	AnsweredAt time.Time // zero when nobody answered
}

// Tracker follows the calls of one manager connection. It is not safe
// for concurrent use: one stream feeds it.
type Tracker struct {
	// Outbound are the dialplan contexts of calls that agents place
	// (FreePBX: from-internal); a call whose first channel starts in
	// another context is inbound.
	Outbound []string
	// MaxCalls bounds the calls followed at once (default 10,000); the
	// oldest is forgotten first.
	MaxCalls int
	// MaxAge forgets a call that has not ended after this long (missed
	// Hangup events; default 12 h).
	MaxAge time.Duration
	// Now is the clock when an event has no Timestamp (tests).
	Now func() time.Time

	calls map[string]*call
}

type call struct {
	from, to, agent string
	inbound         bool
	started         time.Time
	answered        time.Time
	channels        map[string]bool // live channels by Uniqueid
	dests           map[string]bool // channels dialled (agents, trunks)
	rung            map[string]bool // agents whose ringing was told
}

// Handle takes one AMI message and returns the stages it completes.
// Messages other than the call events are ignored.
func (t *Tracker) Handle(m Message) []Event {
	if t.calls == nil {
		t.calls = map[string]*call{}
	}
	at := t.at(m)
	switch m.Get("Event") {
	case "Newchannel":
		return t.newChannel(m, at)
	case "DialBegin":
		return t.dialBegin(m, at)
	case "Newstate":
		if m.Get("ChannelState") == "6" || strings.EqualFold(m.Get("ChannelStateDesc"), "Up") {
			return t.up(m.Get("Linkedid"), m.Get("Uniqueid"), m.Get("Channel"), at)
		}
	case "DialEnd":
		if strings.EqualFold(m.Get("DialStatus"), "ANSWER") {
			return t.up(linked(m), m.Get("DestUniqueid"), m.Get("DestChannel"), at)
		}
	case "Hangup":
		return t.hangup(m, at)
	}
	return nil
}

// Calls is how many calls are being followed.
func (t *Tracker) Calls() int { return len(t.calls) }

// at is when an event happened: its Timestamp (timestampevents=yes in
// manager.conf), else now.
func (t *Tracker) at(m Message) time.Time {
	if ts := m.Get("Timestamp"); ts != "" {
		if f, err := strconv.ParseFloat(ts, 64); err == nil && f > 0 {
			sec := int64(f)
			return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
		}
	}
	if t.Now != nil {
		return t.Now().UTC()
	}
	return time.Now().UTC()
}

// linked is an event's Linkedid (DialBegin and DialEnd name the caller's
// channel's; the destination's is the same call).
func linked(m Message) string {
	if l := m.Get("Linkedid"); l != "" {
		return l
	}
	return m.Get("DestLinkedid")
}

func (t *Tracker) newChannel(m Message, at time.Time) []Event {
	id, uid := m.Get("Linkedid"), m.Get("Uniqueid")
	if id == "" || uid == "" {
		return nil
	}
	c, ok := t.calls[id]
	if ok {
		c.channels[uid] = true
		return nil
	}
	t.bound(at)
	c = &call{started: at, channels: map[string]bool{uid: true}, dests: map[string]bool{}, rung: map[string]bool{}}
	t.calls[id] = c
	if uid != id {
		return nil // joined in the middle of a call we did not see start
	}
	c.from, c.to = number(m.Get("CallerIDNum")), m.Get("Exten")
	c.inbound = !slices.Contains(t.Outbound, m.Get("Context"))
	if !c.inbound {
		c.agent = Peer(m.Get("Channel"))
	}
	return []Event{c.event(Ringing, id, c.agent, at)}
}

func (t *Tracker) dialBegin(m Message, at time.Time) []Event {
	id := linked(m)
	c, ok := t.calls[id]
	dest := m.Get("DestUniqueid")
	if !ok || dest == "" {
		return nil
	}
	c.dests[dest] = true
	c.channels[dest] = true
	if !c.inbound {
		return nil // the agent placed it; the trunk rings
	}
	agent := Peer(m.Get("DestChannel"))
	if agent == "" || c.rung[agent] {
		return nil // a queue's Local channel and the phone behind it ring once
	}
	c.rung[agent] = true
	return []Event{c.event(Ringing, id, agent, at)}
}

// up: a channel of call id answered; the call is answered when it is a
// dialled one (an agent's phone, or the trunk of an outbound call).
func (t *Tracker) up(id, uid, channel string, at time.Time) []Event {
	c, ok := t.calls[id]
	if !ok || !c.dests[uid] || !c.answered.IsZero() {
		return nil
	}
	c.answered = at
	if c.inbound {
		c.agent = Peer(channel)
	}
	return []Event{c.event(Answered, id, c.agent, at)}
}

func (t *Tracker) hangup(m Message, at time.Time) []Event {
	id := m.Get("Linkedid")
	c, ok := t.calls[id]
	if !ok {
		return nil
	}
	delete(c.channels, m.Get("Uniqueid"))
	if len(c.channels) > 0 {
		return nil
	}
	delete(t.calls, id)
	return []Event{c.event(Ended, id, c.agent, at)}
}

// bound forgets calls too old to be alive, and the oldest when there are
// too many.
func (t *Tracker) bound(now time.Time) {
	maxCalls, maxAge := t.MaxCalls, t.MaxAge
	if maxCalls <= 0 {
		maxCalls = 10000
	}
	if maxAge <= 0 {
		maxAge = 12 * time.Hour
	}
	if len(t.calls) < maxCalls {
		return
	}
	var oldest string
	for id, c := range t.calls {
		if now.Sub(c.started) > maxAge {
			delete(t.calls, id)
			continue
		}
		if oldest == "" || c.started.Before(t.calls[oldest].started) {
			oldest = id
		}
	}
	if len(t.calls) >= maxCalls {
		delete(t.calls, oldest)
	}
}

func (c *call) event(stage, id, agent string, at time.Time) Event {
	return Event{Stage: stage, CallID: id, From: c.from, To: c.to, Agent: agent, Inbound: c.inbound,
		At: at, StartedAt: c.started, AnsweredAt: c.answered}
}

// number is a caller id number, "" for Asterisk's placeholders.
func number(s string) string {
	switch strings.ToLower(s) {
	case "", "<unknown>", "unknown", "anonymous", "restricted":
		return ""
	}
	return s
}

// Peer is the endpoint of a channel name: "PJSIP/1001-00000002" and
// "SIP/1001-0000000a" are "1001", "Local/1001@from-queue-00000001;1" is
// "1001".
func Peer(channel string) string {
	_, rest, ok := strings.Cut(channel, "/")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, ";")
	if i := strings.LastIndexByte(rest, '-'); i > 0 && isHex(rest[i+1:]) {
		rest = rest[:i]
	}
	rest, _, _ = strings.Cut(rest, "@")
	return rest
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
