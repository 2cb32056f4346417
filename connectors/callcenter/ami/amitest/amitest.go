// Package amitest is a stand-in for Asterisk's manager interface, for
// tests: it speaks AMI as Asterisk documents it (the banner, CRLF
// framing, Login with Username and Secret, Ping, Logoff, "Permission
// denied" before a login) and sends the events a test gives it, with the
// fields Asterisk 18 puts in them (InboundCall builds a whole call).
package amitest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/crmhub/hub/connectors/callcenter/ami"
)

// Banner is what the stand-in greets with (Asterisk 18's manager).
const Banner = "Asterisk Call Manager/7.0.3"

// Server is a stand-in manager on a loopback port.
type Server struct {
	Addr         string
	User, Secret string

	ln     net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]bool // logged in
	logins int
	failed int
	pings  int
	wg     sync.WaitGroup
}

// Start listens on a free loopback port.
func Start(user, secret string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), User: user, Secret: secret, ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.serve(c)
	}
}

// Close stops listening and drops every connection.
func (s *Server) Close() {
	s.ln.Close()
	s.DropAll()
	s.wg.Wait()
}

// DropAll closes every connection (Asterisk restarting).
func (s *Server) DropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
}

// Logins, FailedLogins and Pings count what clients did.
func (s *Server) Logins() int       { s.mu.Lock(); defer s.mu.Unlock(); return s.logins }
func (s *Server) FailedLogins() int { s.mu.Lock(); defer s.mu.Unlock(); return s.failed }
func (s *Server) Pings() int        { s.mu.Lock(); defer s.mu.Unlock(); return s.pings }

// Connected is the number of logged-in connections.
func (s *Server) Connected() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.conns) }

// Emit sends events to every logged-in connection.
func (s *Server) Emit(events ...ami.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		for _, m := range events {
			if err := write(c, m); err != nil {
				c.Close()
				delete(s.conns, c)
				break
			}
		}
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	if _, err := io.WriteString(c, Banner+"\r\n"); err != nil {
		return
	}
	r := bufio.NewReader(c)
	for {
		m, err := read(r)
		if err != nil {
			return
		}
		if !s.action(c, m) {
			return
		}
	}
}

// action answers one action; false ends the connection.
func (s *Server) action(c net.Conn, m ami.Message) bool {
	id := m.Get("ActionID")
	reply := func(fields ...ami.Field) bool {
		msg := append(ami.Message{{Key: "Response", Value: fields[0].Value}, {Key: "ActionID", Value: id}}, fields[1:]...)
		s.mu.Lock()
		defer s.mu.Unlock()
		return write(c, msg) == nil
	}
	s.mu.Lock()
	in := s.conns[c]
	s.mu.Unlock()
	switch action := strings.ToLower(m.Get("Action")); {
	case action == "login":
		if m.Get("Username") != s.User || m.Get("Secret") != s.Secret {
			s.mu.Lock()
			s.failed++
			s.mu.Unlock()
			reply(ami.Field{Value: "Error"}, ami.Field{Key: "Message", Value: "Authentication failed"})
			return false
		}
		if !reply(ami.Field{Value: "Success"}, ami.Field{Key: "Message", Value: "Authentication accepted"}) {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.logins++
		s.conns[c] = true
		return write(c, ami.Message{{Key: "Event", Value: "FullyBooted"}, {Key: "Privilege", Value: "system,all"},
			{Key: "Uptime", Value: "12"}, {Key: "LastReload", Value: "12"}, {Key: "Status", Value: "Fully Booted"}}) == nil
	case !in:
		return reply(ami.Field{Value: "Error"}, ami.Field{Key: "Message", Value: "Permission denied"})
	case action == "ping":
		s.mu.Lock()
		s.pings++
		s.mu.Unlock()
		return reply(ami.Field{Value: "Success"}, ami.Field{Key: "Ping", Value: "Pong"}, ami.Field{Key: "Timestamp", Value: "1700000000.000000"})
	case action == "logoff":
		reply(ami.Field{Value: "Goodbye"}, ami.Field{Key: "Message", Value: "Thanks for all the fish."})
		return false
	default:
		return reply(ami.Field{Value: "Error"}, ami.Field{Key: "Message", Value: "Invalid/unknown command"})
	}
}

func write(w io.Writer, m ami.Message) error {
	var b strings.Builder
	for _, f := range m {
		fmt.Fprintf(&b, "%s: %s\r\n", f.Key, f.Value)
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// read reads one action, insisting on CRLF line ends as Asterisk does.
func read(r *bufio.Reader) (ami.Message, error) {
	var m ami.Message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if !strings.HasSuffix(line, "\r\n") {
			return nil, fmt.Errorf("amitest: a line without CRLF: %q", line)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "" {
			if len(m) == 0 {
				continue
			}
			return m, nil
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, fmt.Errorf("amitest: not a Key: Value line: %q", line)
		}
		m = append(m, ami.Field{Key: k, Value: v})
	}
}

// Channel is one channel of a call: its name, Uniqueid and what the
// channel fields of its events say.
type Channel struct {
	Name, Uniqueid, Linkedid string
	CallerIDNum, CallerName  string
	Context, Exten           string
}

// fields are a channel's fields, with prefix ("" or "Dest") and state.
func (ch Channel) fields(prefix string, state int) ami.Message {
	desc := map[int]string{0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}[state]
	f := func(k, v string) ami.Field { return ami.Field{Key: prefix + k, Value: v} }
	return ami.Message{
		f("Channel", ch.Name), f("ChannelState", fmt.Sprint(state)), f("ChannelStateDesc", desc),
		f("CallerIDNum", or(ch.CallerIDNum, "<unknown>")), f("CallerIDName", or(ch.CallerName, "<unknown>")),
		f("ConnectedLineNum", "<unknown>"), f("ConnectedLineName", "<unknown>"), f("Language", "en"),
		f("AccountCode", ""), f("Context", ch.Context), f("Exten", ch.Exten), f("Priority", "1"),
		f("Uniqueid", ch.Uniqueid), f("Linkedid", ch.Linkedid),
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func event(name string, fields ...ami.Message) ami.Message {
	m := ami.Message{{Key: "Event", Value: name}, {Key: "Privilege", Value: "call,all"}}
	for _, f := range fields {
		m = append(m, f...)
	}
	return m
}

// InboundCall is the events of an inbound call from a trunk to an agent's
// phone, as Asterisk 18 sends them: the trunk's channel, the agent's
// channel dialled, ringing, answered (or not) and both hung up. id is the
// call's Linkedid (Asterisk's "1700000000.1"), agentPeer the endpoint
// ("1001" rings PJSIP/1001).
func InboundCall(id, from, exten, agentPeer string, answered bool) []ami.Message {
	trunk := Channel{Name: "PJSIP/trunk-00000001", Uniqueid: id, Linkedid: id, CallerIDNum: from, Context: "from-trunk", Exten: exten}
	agent := Channel{Name: "PJSIP/" + agentPeer + "-00000002", Uniqueid: id + "1", Linkedid: id, CallerIDNum: agentPeer,
		Context: "from-internal", Exten: agentPeer}
	dial := func(name string, state int, extra ...ami.Field) ami.Message {
		return event(name, trunk.fields("", 4), agent.fields("Dest", state), append(ami.Message{{Key: "DialString", Value: agentPeer}}, extra...))
	}
	evs := []ami.Message{
		event("Newchannel", trunk.fields("", 0)),
		event("Newstate", trunk.fields("", 4)),
		event("Newchannel", agent.fields("", 0)),
		dial("DialBegin", 0),
		event("Newstate", agent.fields("", 5)),
	}
	if answered {
		evs = append(evs,
			event("Newstate", agent.fields("", 6)),
			dial("DialEnd", 6, ami.Field{Key: "DialStatus", Value: "ANSWER"}),
			event("Newstate", trunk.fields("", 6)),
		)
	} else {
		evs = append(evs, dial("DialEnd", 5, ami.Field{Key: "DialStatus", Value: "NOANSWER"}))
	}
	hang := func(ch Channel, state int) ami.Message {
		return event("Hangup", ch.fields("", state), ami.Message{{Key: "Cause", Value: "16"}, {Key: "Cause-txt", Value: "Normal Clearing"}})
	}
	state := 5
	if answered {
		state = 6
	}
	return append(evs, hang(agent, state), hang(trunk, state))
}
