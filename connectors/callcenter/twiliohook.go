package callcenter

import (
	"net/http"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter/twilio"
)

// serveTwilio takes one of Twilio's voice webhooks: the voice request of
// an incoming call, or a status callback of the call or of a leg a <Dial>
// created (ParentCallSid: the leg to an agent). A request whose
// X-Twilio-Signature does not match is refused with 403 and changes
// nothing. Every answer is TwiML.
func (c *Calls) serveTwilio(w http.ResponseWriter, r *http.Request, in connectors.Ingest) {
	tw := c.cfg.Twilio
	if err := r.ParseForm(); err != nil {
		c.m.refused.WithLabelValues("twilio", "malformed").Inc()
		http.Error(w, "not a form-encoded Twilio request", http.StatusBadRequest)
		return
	}
	if !twilio.Valid(tw.AuthToken, c.requestURL(r), r.PostForm, r.Header.Get(twilio.SignatureHeader)) {
		c.m.refused.WithLabelValues("twilio", "signature").Inc()
		c.log.Warn("Twilio webhook refused: its signature does not match (check twilio.auth_token and twilio.public_url)",
			"remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "invalid signature", http.StatusForbidden)
		return
	}
	call := twilio.ParseCall(r.PostForm)
	st, voiceRequest := c.twilioStage(call)
	if st.kind != "" && st.callID != "" {
		if _, err := c.take(r.Context(), in, st); err != nil {
			c.m.refused.WithLabelValues("twilio", "unavailable").Inc()
			c.log.Warn("Twilio call event not taken; Twilio will try again", "call", st.callID, "err", err)
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
	}
	answer := twilio.EmptyTwiML
	if voiceRequest && tw.Answer != "" {
		answer = tw.Answer
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write([]byte(answer))
}

// requestURL is the full URL Twilio requested: the configured public URL
// or the request's own scheme and host, with the path and query.
func (c *Calls) requestURL(r *http.Request) string {
	if base := strings.TrimSuffix(c.cfg.Twilio.PublicURL, "/"); base != "" {
		return base + r.URL.RequestURI()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = h
	}
	return scheme + "://" + host + r.URL.RequestURI()
}

// twilioStage turns a Twilio call leg's status into a stage of the call.
// voiceRequest is true for the first request of an incoming call, which
// Twilio asks TwiML of.
func (c *Calls) twilioStage(call twilio.Call) (st stage, voiceRequest bool) {
	st = stage{kind: call.Stage(), source: "twilio", duration: -1, recording: call.RecordingURL}
	if t, err := time.Parse(time.RFC1123Z, call.Timestamp); err == nil {
		st.at = t.UTC()
	}
	if call.ParentCallSid != "" {
		// A leg to an agent: it rings and answers the agent; the parent
		// call's own callbacks end the call.
		st.callID = call.ParentCallSid
		st.agent = c.twilioAgent(call.To)
		if st.kind == stageEnded {
			st.kind = ""
		}
		return st, false
	}
	st.callID = call.CallSid
	st.from, st.to = call.From, call.To
	st.direction = "inbound"
	if strings.HasPrefix(call.Direction, "outbound") {
		st.direction = "outbound"
	}
	if st.kind == stageRinging {
		st.agent = c.twilioAgent(call.To)
	}
	if st.kind == stageEnded {
		switch call.CallStatus {
		case "busy":
			st.outcome = "BUSY"
		case "failed":
			st.outcome = "FAILED"
		case "no-answer", "canceled":
			st.outcome = "MISSED"
		}
	}
	return st, call.CallStatus == "ringing" && call.Direction == "inbound"
}

// twilioAgent is the agent a leg calls: client:NAME or sip:NAME@host,
// else the agent configured for the number.
func (c *Calls) twilioAgent(to string) string {
	if a := twilio.Endpoint(to); a != "" && validAgent(a) {
		return a
	}
	return c.cfg.Twilio.Agents[to]
}
