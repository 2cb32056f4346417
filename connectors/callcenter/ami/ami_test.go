package ami_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors/callcenter/ami"
	"github.com/crmhub/hub/connectors/callcenter/ami/amitest"
)

// TestClientLogin: the client reads the banner, logs in (and is refused
// with wrong credentials), pings and reads events, against the stand-in.
func TestClientLogin(t *testing.T) {
	srv, err := amitest.Start("hub", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	bad, err := ami.Dial(ctx, srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Login(ctx, "hub", "wrong"); !errors.Is(err, ami.ErrAuth) {
		t.Errorf("wrong secret: %v, want ErrAuth", err)
	}
	bad.Close()

	c, err := ami.Dial(ctx, srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Banner() != amitest.Banner {
		t.Errorf("banner = %q", c.Banner())
	}
	if err := c.Login(ctx, "hub", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send("Ping"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		m, err := c.Next(deadline)
		if err != nil {
			t.Fatal(err)
		}
		if m.Get("Ping") == "Pong" {
			break
		}
	}
	srv.Emit(amitest.InboundCall("1700000000.1", "+49301234567", "4930555000", "1001", true)...)
	m, err := c.Next(time.Now().Add(5 * time.Second))
	for err == nil && m.Get("Event") == "FullyBooted" {
		m, err = c.Next(time.Now().Add(5 * time.Second))
	}
	if err != nil || m.Get("Event") != "Newchannel" || m.Get("CallerIDNum") != "+49301234567" {
		t.Errorf("first event = %v, %v", m, err)
	}
	if srv.Logins() != 1 || srv.FailedLogins() != 1 || srv.Pings() != 1 {
		t.Errorf("logins %d, failed %d, pings %d", srv.Logins(), srv.FailedLogins(), srv.Pings())
	}
}

// TestDialNotAManager: a server that is no Asterisk manager is refused.
func TestDialNotAManager(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := ami.Dial(ctx, "127.0.0.1:1"); err == nil {
		t.Error("dial to a closed port succeeded")
	}
}

func stages(evs []ami.Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("%s(%s) ", e.Stage, e.Agent)
	}
	return s
}

// TestTrackerInbound: an inbound call's channels become ringing (the
// call, then the agent's phone), answered by that agent and ended; a
// call nobody answers ends unanswered.
func TestTrackerInbound(t *testing.T) {
	var tr ami.Tracker
	tr.Outbound = []string{"from-internal"}
	var got []ami.Event
	for _, m := range amitest.InboundCall("1700000000.1", "+49301234567", "4930555000", "1001", true) {
		got = append(got, tr.Handle(m)...)
	}
	if s := stages(got); s != "ringing() ringing(1001) answered(1001) ended(1001) " {
		t.Fatalf("stages = %s", s)
	}
	end := got[3]
	if end.CallID != "1700000000.1" || end.From != "+49301234567" || end.To != "4930555000" || !end.Inbound || end.AnsweredAt.IsZero() {
		t.Errorf("ended = %+v", end)
	}
	if tr.Calls() != 0 {
		t.Errorf("%d calls still followed", tr.Calls())
	}
	got = nil
	for _, m := range amitest.InboundCall("1700000000.5", "+49301234567", "4930555000", "1002", false) {
		got = append(got, tr.Handle(m)...)
	}
	if s := stages(got); s != "ringing() ringing(1002) ended() " || !got[2].AnsweredAt.IsZero() {
		t.Errorf("unanswered: %s %+v", s, got)
	}
}

// TestTrackerInterleaved: two calls at once are kept apart by Linkedid.
func TestTrackerInterleaved(t *testing.T) {
	var tr ami.Tracker
	a := amitest.InboundCall("1.1", "+49301111111", "100", "1001", true)
	b := amitest.InboundCall("2.1", "+49302222222", "100", "1002", true)
	var got []ami.Event
	for i := 0; i < max(len(a), len(b)); i++ {
		if i < len(a) {
			got = append(got, tr.Handle(a[i])...)
		}
		if i < len(b) {
			got = append(got, tr.Handle(b[i])...)
		}
	}
	ends := map[string]ami.Event{}
	for _, e := range got {
		if e.Stage == ami.Ended {
			ends[e.CallID] = e
		}
	}
	if ends["1.1"].Agent != "1001" || ends["1.1"].From != "+49301111111" || ends["2.1"].Agent != "1002" || ends["2.1"].From != "+49302222222" {
		t.Errorf("ends = %+v", ends)
	}
}

// TestTrackerOutbound: a call an agent places is outbound, its agent the
// caller's endpoint; timestamps of the events are used when present.
func TestTrackerOutbound(t *testing.T) {
	tr := ami.Tracker{Outbound: []string{"from-internal"}}
	ch := ami.Message{{Key: "Event", Value: "Newchannel"}, {Key: "Channel", Value: "PJSIP/1001-0000000a"},
		{Key: "CallerIDNum", Value: "1001"}, {Key: "Context", Value: "from-internal"}, {Key: "Exten", Value: "004930999"},
		{Key: "Uniqueid", Value: "9.1"}, {Key: "Linkedid", Value: "9.1"}, {Key: "Timestamp", Value: "1700000000.250000"}}
	evs := tr.Handle(ch)
	if len(evs) != 1 || evs[0].Inbound || evs[0].Agent != "1001" || evs[0].To != "004930999" || evs[0].At.Unix() != 1700000000 {
		t.Errorf("outbound start = %+v", evs)
	}
}

func TestPeer(t *testing.T) {
	for ch, want := range map[string]string{
		"PJSIP/1001-00000002": "1001", "SIP/agent-7-0000000a": "agent-7", "Local/1001@from-queue-00000001;1": "1001",
		"PJSIP/trunk": "trunk", "nonsense": "",
	} {
		if got := ami.Peer(ch); got != want {
			t.Errorf("Peer(%q) = %q, want %q", ch, got, want)
		}
	}
}
