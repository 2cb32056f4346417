package callcenter

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmhub/hub/canonical"
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter/screenpop"
	"github.com/crmhub/hub/mapping"
)

// Calls is one calls connector: it takes call events (JSON, Twilio, AMI),
// pushes the screen-pop to the agent whose phone rings, and publishes each
// ended call as an interaction record (the call log). It is a
// connectors.Pusher and Streamer of entity interaction.
type Calls struct {
	name   string
	cfg    CallsConfig
	log    *slog.Logger
	m      *callsMetrics
	viewOf func(string) (*View, error)
	calls  *callLog
	now    func() time.Time

	mu   sync.Mutex
	view *View
}

var (
	_ connectors.Pusher   = (*Calls)(nil)
	_ connectors.Streamer = (*Calls)(nil)
)

// NewCalls checks cfg and returns a connector that finds its view (with
// viewOf) on Start.
func NewCalls(p connectors.Params, cfg CallsConfig, viewOf func(string) (*View, error)) (*Calls, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Calls{name: p.Name, cfg: cfg, log: log, m: newCallsMetrics(p.Name), viewOf: viewOf,
		calls: newCallLog(cfg.CallTTL, cfg.MaxCalls), now: time.Now}, nil
}

// Name is the connector's configured name.
func (c *Calls) Name() string { return c.name }

// Start finds the screenpop connector the settings name.
func (c *Calls) Start(context.Context) error {
	_, err := c.getView()
	return err
}

func (c *Calls) getView() (*View, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.view != nil {
		return c.view, nil
	}
	v, err := c.viewOf(c.cfg.View)
	if err != nil {
		return nil, fmt.Errorf("calls %s: view: %w", c.name, err)
	}
	c.view = v
	return v, nil
}

// Check answers at once; the AMI stream reports its own failures.
func (c *Calls) Check(context.Context) error { return nil }

// Close releases nothing: the stream ends with its context.
func (c *Calls) Close() error { return nil }

// Pushes says what the connector delivers: interactions, never deleted.
func (c *Calls) Pushes() []connectors.ReadSpec {
	return []connectors.ReadSpec{{Entity: canonical.Interaction}}
}

// Routes are the call-event webhooks: the JSON event for call-center
// systems with a call-center key, and Twilio's webhooks (public: Twilio
// signs them) when configured.
func (c *Calls) Routes(in connectors.Ingest) []connectors.Route {
	rs := []connectors.Route{{Pattern: "POST /webhooks/calls/" + c.name, Roles: []string{roleCallCenter, roleOperator},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serveJSON(w, r, in) })}}
	if c.cfg.Twilio != nil {
		rs = append(rs, connectors.Route{Pattern: "POST /webhooks/calls/" + c.name + "/twilio", Public: true,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serveTwilio(w, r, in) })})
	}
	return rs
}

// outcome is what taking one stage did.
type outcome struct {
	Pushed int `json:"pushed"` // agents' browsers reached
	// Interaction says what became of the call log record (ended only).
	Interaction *logResult `json:"interaction,omitempty"`
}

type logResult struct {
	Outcome string `json:"outcome"` // published, unchanged, rejected
	HubID   string `json:"hub_id,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// take handles one stage of a call: merge it, push to the agent, and on
// ended publish the call log record. An error means the record is not
// durable: the sender should try again.
func (c *Calls) take(ctx context.Context, in connectors.Ingest, st stage) (outcome, error) {
	v, err := c.getView()
	if err != nil {
		return outcome{}, err
	}
	st.from, st.to = normalize(v, st.from), normalize(v, st.to)
	if st.at.IsZero() {
		st.at = c.now().UTC()
	}
	cur, late := c.calls.merge(st, c.now())
	c.m.events.WithLabelValues(st.source, st.kind).Inc()
	var out outcome
	switch {
	case late && st.kind == stageEnded:
		return c.publish(ctx, in, *cur.logged)
	case late:
		return out, nil
	case st.kind == stageRinging && st.agent != "":
		ans := v.index.Lookup(caller(cur), "")
		out.Pushed = v.push(pushOf(cur, stageRinging, st.agent, st.at, &ans))
	case st.kind == stageAnswered && st.agent != "":
		out.Pushed = v.push(pushOf(cur, stageAnswered, st.agent, st.at, nil))
	case st.kind == stageEnded:
		rec := c.record(v, cur)
		out, err = c.publish(ctx, in, rec)
		if err != nil {
			return out, err
		}
		c.calls.setLogged(cur.id, rec)
		if cur.agent != "" {
			out.Pushed = v.push(pushOf(cur, stageEnded, cur.agent, st.at, nil))
		}
	}
	return out, nil
}

// publish hands the call log record to the pipeline.
func (c *Calls) publish(ctx context.Context, in connectors.Ingest, rec connectors.Record) (outcome, error) {
	res, err := in.Ingest(ctx, canonical.Interaction, []connectors.Record{rec})
	if err != nil {
		c.m.logged.WithLabelValues("failed").Inc()
		return outcome{}, fmt.Errorf("calls %s: log call %s: %w", c.name, rec.Key, err)
	}
	if len(res) != 1 {
		return outcome{}, fmt.Errorf("calls %s: log call %s: %d results for one record", c.name, rec.Key, len(res))
	}
	r := res[0]
	c.m.logged.WithLabelValues(r.Outcome.String()).Inc()
	if r.Outcome == connectors.IngestRejected {
		c.log.Warn("call log record rejected (it is a dead letter)", "call", rec.Key, "reason", r.Reason)
	}
	return outcome{Interaction: &logResult{Outcome: r.Outcome.String(), HubID: r.HubID, Reason: r.Reason}}, nil
}

// caller is the other party's number: the caller of an inbound call, the
// called number of an outbound one.
func caller(c call) string {
	if c.direction == "outbound" {
		return c.to
	}
	return c.from
}

// normalize writes a number as E.164 when it is one; anything else
// (anonymous, client:alice) stays as given.
func normalize(v *View, raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	if e, err := v.index.Phones().E164(raw, ""); err == nil {
		return e
	}
	return raw
}

func pushOf(c call, event, agent string, at time.Time, pop *screenpop.Answer) Push {
	return Push{Event: event, CallID: c.id, From: c.from, To: c.to, Direction: c.direction, Agent: agent,
		At: at.UTC().Format(time.RFC3339Nano), ScreenPop: pop}
}

// record is the call log record of an ended call, in the connector's own
// shape (see docs/connectors/calls.md): its key is the call id, its
// version the end, and its customer the one the agent picked, else the
// caller's best match in the screen-pop index (a ref by hub id).
func (c *Calls) record(v *View, cur call) connectors.Record {
	customer := cur.customer
	name := ""
	if customer == "" {
		if ans := v.index.Lookup(caller(cur), ""); len(ans.Customers) > 0 {
			customer, name = ans.Customers[0].ID, ans.Customers[0].Name
		}
	}
	direction := cur.direction
	if direction == "" {
		direction = "inbound"
	}
	ms := []mapping.Member{
		str("call_id", cur.id), str("source", cur.source), str("direction", direction),
		str("from", cur.from), str("to", cur.to), str("agent", cur.agent),
		str("started_at", stamp(cur.started)), str("answered_at", stamp(cur.answered)), str("ended_at", stamp(cur.ended)),
		{Key: "duration_seconds", Value: mapping.IntValue(cur.duration)},
		str("outcome", cur.outcome), str("recording_url", cur.recording),
		str("customer_id", customer), str("customer_name", name),
	}
	rec := connectors.Record{Entity: canonical.Interaction, Key: cur.id, Op: connectors.OpUpsert, Version: cur.ended,
		Data: mapping.ObjectValue(ms...)}
	if customer != "" {
		rec.Refs = map[string]string{canonical.Customer: customer}
	}
	return rec
}

// str is a member that is null when empty.
func str(k, v string) mapping.Member {
	if v == "" {
		return mapping.Member{Key: k, Value: mapping.Value{}}
	}
	return mapping.Member{Key: k, Value: mapping.StringValue(v)}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
