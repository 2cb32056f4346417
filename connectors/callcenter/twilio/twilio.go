// Package twilio owns what the hub knows of Twilio's voice webhooks, as
// Twilio publishes them: the X-Twilio-Signature check (base64 of the
// HMAC-SHA1, keyed with the account's auth token, of the full URL Twilio
// requested followed by every POST parameter's name and value, sorted by
// name), the parameters of a voice request and of a status callback, and
// the TwiML that answers them. It imports nothing of the hub.
package twilio

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio's signature is HMAC-SHA1; not our choice
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// SignatureHeader is the header Twilio signs its requests with.
const SignatureHeader = "X-Twilio-Signature"

// Signature is Twilio's signature of a form-encoded request to fullURL
// (with its query string) carrying params: each parameter name, sorted,
// followed by each of its values (sorted, each once) is appended to the
// URL, and the whole is signed with HMAC-SHA1 keyed with the auth token.
func Signature(authToken, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vals := slices.Clone(params[k])
		sort.Strings(vals)
		vals = slices.Compact(vals)
		for _, v := range vals {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Valid reports whether signature is Twilio's for a request to fullURL
// with params. Like Twilio's own validators it accepts the URL both
// without a port and with one (the default port of the scheme when the
// URL has none): Twilio signs https://host/path or https://host:443/path
// depending on how the webhook was configured. The signatures are
// compared in constant time.
func Valid(authToken, fullURL string, params url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	ok := 0
	for _, u := range URLVariants(fullURL) {
		want := Signature(authToken, u, params)
		ok |= subtle.ConstantTimeCompare([]byte(want), []byte(signature))
	}
	return ok == 1
}

// URLVariants are the forms of fullURL a signature may have been made
// with: without its port, and with it (the scheme's default port added
// when it has none).
func URLVariants(fullURL string) []string {
	u, err := url.Parse(fullURL)
	if err != nil || u.Host == "" {
		return []string{fullURL}
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host = u.Host
		port = ""
	}
	without := *u
	without.Host = host
	with := *u
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
		with.Host = net.JoinHostPort(host, port)
	}
	a, b := without.String(), with.String()
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// Call is what a voice webhook or a status callback says of a call leg.
type Call struct {
	CallSid       string
	ParentCallSid string // set on the legs a <Dial> created (to an agent)
	AccountSid    string
	From, To      string
	// CallStatus: queued, initiated, ringing, in-progress, completed,
	// busy, failed, no-answer, canceled.
	CallStatus string
	// Direction: inbound, outbound-api, outbound-dial.
	Direction    string
	CallDuration string // seconds, on completed
	RecordingURL string
	Timestamp    string // RFC 1123 with a numeric zone, on status callbacks
}

// ParseCall reads a call's parameters.
func ParseCall(p url.Values) Call {
	return Call{
		CallSid: p.Get("CallSid"), ParentCallSid: p.Get("ParentCallSid"), AccountSid: p.Get("AccountSid"),
		From: p.Get("From"), To: p.Get("To"), CallStatus: strings.ToLower(p.Get("CallStatus")),
		Direction: strings.ToLower(p.Get("Direction")), CallDuration: p.Get("CallDuration"),
		RecordingURL: p.Get("RecordingUrl"), Timestamp: p.Get("Timestamp"),
	}
}

// Stage is a call status as the call center's events name it: ringing,
// answered or ended ("" for a status that says nothing new).
func (c Call) Stage() string {
	switch c.CallStatus {
	case "queued", "initiated", "ringing":
		return "ringing"
	case "in-progress", "answered":
		return "answered"
	case "completed", "busy", "failed", "no-answer", "canceled":
		return "ended"
	}
	return ""
}

// Endpoint is who a leg calls when it is not a telephone number: a Twilio
// Client ("client:alice") or a SIP address ("sip:alice@example.com"):
// "alice". "" for a number.
func Endpoint(to string) string {
	switch {
	case strings.HasPrefix(to, "client:"):
		return strings.TrimPrefix(to, "client:")
	case strings.HasPrefix(to, "sip:"):
		user, _, _ := strings.Cut(strings.TrimPrefix(to, "sip:"), "@")
		return user
	}
	return ""
}

// EmptyTwiML is a TwiML document that asks nothing of Twilio (the answer
// to a status callback).
const EmptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response/>`
