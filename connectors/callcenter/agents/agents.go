// Package agents owns the push of call events to agents' browsers over
// Server-Sent Events: a Broker keeps the last few events of each agent
// (so a browser that reconnects with Last-Event-ID gets what it missed),
// streams new ones as they are published, and sends heartbeats so that
// proxies keep the connection open and a dead one is noticed.
//
// Event ids grow over time (microseconds since 1970, or one more than the
// last), so an id from before a restart of the hub is older than every
// id after it. It imports nothing of the hub.
package agents

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Options bound a broker.
type Options struct {
	// Keep is how many recent events of each agent are kept for a
	// reconnecting browser (default 16).
	Keep int
	// Heartbeat is how often an idle stream gets a comment line (default
	// 15 s).
	Heartbeat time.Duration
	// Idle is how long an agent with no browser connected is remembered
	// after its last event (default 10 minutes).
	Idle time.Duration
	// MaxAgents bounds the agents remembered (default 10,000): the idle
	// ones go first.
	MaxAgents int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Event is one pushed event.
type Event struct {
	ID   int64
	Type string // the SSE event name: ringing, answered, ended
	Data []byte // JSON, one line
	At   time.Time
}

// Broker pushes events to the browsers of agents. It is safe for
// concurrent use.
type Broker struct {
	o Options

	mu     sync.Mutex
	agents map[string]*agent
	last   int64
	hooked map[*http.Server]bool
}

type agent struct {
	events []Event // the last o.Keep, oldest first
	subs   map[*sub]struct{}
	seen   time.Time
}

// sub is one connected browser.
type sub struct {
	ch   chan Event
	quit chan struct{} // closed to end the stream (drain, slow reader)
	once sync.Once
}

func (s *sub) end() { s.once.Do(func() { close(s.quit) }) }

// New returns a broker.
func New(o Options) *Broker {
	if o.Keep <= 0 {
		o.Keep = 16
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.Idle <= 0 {
		o.Idle = 10 * time.Minute
	}
	if o.MaxAgents <= 0 {
		o.MaxAgents = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Broker{o: o, agents: map[string]*agent{}, hooked: map[*http.Server]bool{}}
}

// Publish pushes an event to every browser of agent and keeps it for
// those that reconnect. It returns the event's id and how many browsers
// it reached.
func (b *Broker) Publish(agentID, typ string, data []byte) (int64, int) {
	now := b.o.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last = max(b.last+1, now.UnixMicro())
	ev := Event{ID: b.last, Type: typ, Data: oneLine(data), At: now}
	a := b.agent(agentID, now)
	a.events = append(a.events, ev)
	if len(a.events) > b.o.Keep {
		a.events = append([]Event(nil), a.events[len(a.events)-b.o.Keep:]...)
	}
	n := 0
	for s := range a.subs {
		select {
		case s.ch <- ev:
			n++
		default:
			// A browser that does not keep up is cut off; it reconnects
			// with Last-Event-ID and gets the kept events.
			delete(a.subs, s)
			s.end()
		}
	}
	return ev.ID, n
}

// agent finds or makes an agent's state (under b.mu), forgetting idle
// agents when there are too many.
func (b *Broker) agent(id string, now time.Time) *agent {
	a, ok := b.agents[id]
	if !ok {
		if len(b.agents) >= b.o.MaxAgents {
			b.prune(now)
		}
		a = &agent{subs: map[*sub]struct{}{}}
		b.agents[id] = a
	}
	a.seen = now
	return a
}

// prune forgets agents without browsers idle for longer than o.Idle, and
// while there are still too many, the longest idle of them.
func (b *Broker) prune(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for id, a := range b.agents {
		if len(a.subs) > 0 {
			continue
		}
		if now.Sub(a.seen) > b.o.Idle {
			delete(b.agents, id)
			continue
		}
		if oldest == "" || a.seen.Before(oldestAt) {
			oldest, oldestAt = id, a.seen
		}
	}
	if len(b.agents) >= b.o.MaxAgents && oldest != "" {
		delete(b.agents, oldest)
	}
}

// Connected is the number of browsers connected.
func (b *Broker) Connected() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, a := range b.agents {
		n += len(a.subs)
	}
	return n
}

// Drain ends every stream (the hub is stopping); browsers reconnect.
func (b *Broker) Drain() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.agents {
		for s := range a.subs {
			delete(a.subs, s)
			s.end()
		}
	}
}

// subscribe connects a browser of agent; it gets the kept events after
// lastID first.
func (b *Broker) subscribe(agentID string, lastID int64) (*sub, []Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.agent(agentID, b.o.Now())
	s := &sub{ch: make(chan Event, 64), quit: make(chan struct{})}
	a.subs[s] = struct{}{}
	var backlog []Event
	if lastID > 0 {
		for _, ev := range a.events {
			if ev.ID > lastID {
				backlog = append(backlog, ev)
			}
		}
	}
	return s, backlog
}

func (b *Broker) unsubscribe(agentID string, s *sub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.agents[agentID]; ok {
		delete(a.subs, s)
	}
	s.end()
}

// hookShutdown makes the server that serves r end the streams when it
// shuts down (http.Server.Shutdown waits for handlers, and a stream never
// ends by itself). Once per server.
func (b *Broker) hookShutdown(r *http.Request) {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.hooked[srv] {
		b.hooked[srv] = true
		srv.RegisterOnShutdown(b.Drain)
	}
}

// Serve streams agent's events to one browser until it goes away, the
// server shuts down or the broker drains. A Last-Event-ID header (or
// last_event_id parameter) resumes after that event.
func (b *Broker) Serve(w http.ResponseWriter, r *http.Request, agentID string) {
	lastID, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	if q := r.URL.Query().Get("last_event_id"); lastID == 0 && q != "" {
		lastID, _ = strconv.ParseInt(q, 10, 64)
	}
	b.hookShutdown(r)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s, backlog := b.subscribe(agentID, lastID)
	defer b.unsubscribe(agentID, s)
	if _, err := fmt.Fprintf(w, "retry: 2000\n: connected as agent %s\n\n", strconv.Quote(agentID)); err != nil {
		return
	}
	for _, ev := range backlog {
		if writeEvent(w, ev) != nil {
			return
		}
	}
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(b.o.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		case ev := <-s.ch:
			if writeEvent(w, ev) != nil || rc.Flush() != nil {
				return
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

func writeEvent(w http.ResponseWriter, ev Event) error {
	_, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, ev.Data)
	return err
}

// oneLine makes data safe as one SSE data line.
func oneLine(data []byte) []byte {
	if !bytes.ContainsAny(data, "\r\n") {
		return data
	}
	data = bytes.ReplaceAll(data, []byte("\r"), nil)
	return bytes.ReplaceAll(data, []byte("\n"), []byte(" "))
}
