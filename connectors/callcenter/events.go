package callcenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
)

// Event is the call center's own call event, the JSON body of POST
// /webhooks/calls/{name} (see docs/connectors/calls.md): one stage of a
// call, as a CTI or a PBX script tells it.
type Event struct {
	// Event is the stage: ringing (an agent's phone rings: the agent gets
	// the screen-pop), answered, ended (the call is logged).
	Event  string `json:"event"`
	CallID string `json:"call_id"`
	// From and To are the caller's and the called number, in any
	// notation.
	From string `json:"from"`
	To   string `json:"to"`
	// Agent is whose phone rings (ringing), who answered (answered, ended).
	Agent string `json:"agent"`
	// Direction is inbound (the default) or outbound.
	Direction string `json:"direction"`
	// At is when it happened, RFC 3339; default: when the hub got it.
	At string `json:"at"`
	// DurationSeconds is the talk time, on ended; default: from answered
	// to ended.
	DurationSeconds *int64 `json:"duration_seconds"`
	RecordingURL    string `json:"recording_url"`
	// Outcome, on ended: answered, missed, voicemail, busy, failed ...;
	// default: answered when the call was, else missed.
	Outcome string `json:"outcome"`
	// CustomerID is the hub id of the customer the agent picked, when the
	// caller's number matched several (or none).
	CustomerID string `json:"customer_id"`
}

// maxEventBytes bounds a JSON event.
const maxEventBytes = 64 << 10

// stage checks e and turns it into a stage.
func (e Event) stage() (stage, error) {
	st := stage{kind: strings.ToLower(e.Event), source: "json", callID: strings.TrimSpace(e.CallID),
		from: e.From, to: e.To, agent: strings.TrimSpace(e.Agent), direction: strings.ToLower(e.Direction),
		duration: -1, recording: strings.TrimSpace(e.RecordingURL), outcome: strings.TrimSpace(e.Outcome),
		customer: strings.TrimSpace(e.CustomerID)}
	var errs []string
	switch st.kind {
	case stageRinging, stageAnswered, stageEnded:
	default:
		errs = append(errs, fmt.Sprintf("event: %q is not ringing, answered or ended", e.Event))
	}
	if st.callID == "" || len(st.callID) > 128 {
		errs = append(errs, "call_id: 1 to 128 characters required")
	}
	if st.agent != "" && !validAgent(st.agent) {
		errs = append(errs, "agent: 1 to 64 letters, digits and . _ - @ +")
	}
	switch st.direction {
	case "", "inbound", "outbound":
	default:
		errs = append(errs, fmt.Sprintf("direction: %q is not inbound or outbound", e.Direction))
	}
	if e.At != "" {
		t, err := time.Parse(time.RFC3339Nano, e.At)
		if err != nil {
			errs = append(errs, fmt.Sprintf("at: %q is not an RFC 3339 time", e.At))
		}
		st.at = t.UTC()
	}
	if e.DurationSeconds != nil {
		if *e.DurationSeconds < 0 {
			errs = append(errs, "duration_seconds: must not be negative")
		}
		st.duration = *e.DurationSeconds
	}
	if len(st.recording) > 2048 || len(st.outcome) > 32 || len(e.From) > 64 || len(e.To) > 64 || len(st.customer) > 128 {
		errs = append(errs, "a field is too long (recording_url 2048, outcome 32, from and to 64, customer_id 128)")
	}
	if len(errs) > 0 {
		return st, errors.New(strings.Join(errs, "; "))
	}
	return st, nil
}

// serveJSON takes one JSON call event.
func (c *Calls) serveJSON(w http.ResponseWriter, r *http.Request, in connectors.Ingest) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEventBytes+1))
	if err != nil || len(body) > maxEventBytes {
		c.m.refused.WithLabelValues("json", "malformed").Inc()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "a call event is one JSON object of at most 64 KiB"})
		return
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		c.m.refused.WithLabelValues("json", "malformed").Inc()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not a call event: " + err.Error()})
		return
	}
	st, err := e.stage()
	if err != nil {
		c.m.refused.WithLabelValues("json", "malformed").Inc()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	out, err := c.take(r.Context(), in, st)
	if err != nil {
		c.m.refused.WithLabelValues("json", "unavailable").Inc()
		c.log.Warn("call event not taken; the sender should try again", "call", st.callID, "event", st.kind, "err", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the call log is not durable yet; try again"})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		CallID string `json:"call_id"`
		Event  string `json:"event"`
		outcome
	}{st.callID, st.kind, out})
}
