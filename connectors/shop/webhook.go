// Package shop holds what the web-shop connectors (shop/shopify,
// shop/woocommerce) share: the webhook intake. A delivery is a signed POST;
// Hook reads at most a bounded body, verifies its HMAC-SHA256 signature in
// constant time before anything parses it, checks its content type and
// topic, drops a delivery whose id it has just taken (Seen), and answers 200
// only once the shop's own code has handed the records to the hub's Ingest
// and they are durable. Every answer has its own status and reason and is
// counted in Metrics.
//
// It imports the connector contract and the mapping values only: never the
// pipeline, the store or another connector.
package shop

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/mapping"
)

// Sign is the signature both shops send: base64(HMAC-SHA256(secret, body)).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is Sign(secret, body), compared in constant
// time. An empty secret verifies nothing.
func Verify(secret, body []byte, sig string) bool {
	if len(secret) == 0 {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// The outcomes a webhook answer is counted under.
const (
	OutcomeAccepted     = "accepted"      // 200: durable (published, unchanged or dead-lettered)
	OutcomeDuplicate    = "duplicate"     // 200: a delivery id taken moments ago
	OutcomePing         = "ping"          // 200: a shop checking the URL
	OutcomeBadSignature = "bad_signature" // 401
	OutcomeMalformed    = "malformed"     // 400
	OutcomeTooLarge     = "too_large"     // 413
	OutcomeContentType  = "content_type"  // 415
	OutcomeUnknownTopic = "unknown_topic" // 422
	OutcomeUnavailable  = "unavailable"   // 503: not durable, the shop should send it again
)

// Reply is a webhook's answer.
type Reply struct {
	Status  int      `json:"-"`
	Outcome string   `json:"outcome"`
	Reason  string   `json:"reason,omitempty"`
	Records []Result `json:"records,omitempty"`
}

// Result is what became of one record of a delivery.
type Result struct {
	Entity  string `json:"entity"`
	Key     string `json:"key"`
	Outcome string `json:"outcome"`
	HubID   string `json:"hub_id,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

func fail(status int, outcome, format string, args ...any) Reply {
	return Reply{Status: status, Outcome: outcome, Reason: fmt.Sprintf(format, args...)}
}

// Malformed is the 400 reply for a body the shop's code cannot read.
func Malformed(format string, args ...any) Reply {
	return fail(http.StatusBadRequest, OutcomeMalformed, format, args...)
}

// Unavailable is the 503 reply when the records are not durable.
func Unavailable(err error) Reply {
	return fail(http.StatusServiceUnavailable, OutcomeUnavailable, "not taken, send it again: %v", err)
}

// Delivery is a verified delivery, parsed.
type Delivery struct {
	Topic string
	ID    string // the delivery id ("" when the shop sent none)
	Body  mapping.Value
}

// Hook is one shop connector's webhook endpoint.
type Hook struct {
	Connector string
	Secret    []byte
	// MaxBytes caps a delivery's body.
	MaxBytes int64
	// SignatureHeader, TopicHeader and IDHeader name the shop's headers.
	SignatureHeader, TopicHeader, IDHeader string
	// Topics are the topics taken; any other is answered 422.
	Topics []string
	// Ping answers what is not a delivery but a shop checking the URL
	// (WooCommerce's unsigned creation ping); nil when the shop sends none.
	Ping func(r *http.Request, body []byte) bool
	// DeliveryKey is what a delivery is deduplicated by; nil takes the
	// IDHeader (a shop whose delivery ids are not unique per delivery
	// adds to it).
	DeliveryKey func(r *http.Request) string
	// Take hands a verified delivery's records to the hub and says how it
	// went: 200 once they are durable.
	Take    func(ctx context.Context, d Delivery) Reply
	Seen    *Seen
	Metrics *Metrics
	Log     *slog.Logger
}

// ServeHTTP answers one delivery.
func (h *Hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rep := h.serve(r)
	if rep.Status >= 500 {
		w.Header().Set("Retry-After", "5")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.Status)
	_ = json.NewEncoder(w).Encode(rep)
	h.Metrics.observe(h.Connector, rep.Outcome, time.Since(start))
	if rep.Status != http.StatusOK && h.Log != nil {
		h.Log.Warn("webhook refused", "status", rep.Status, "outcome", rep.Outcome, "reason", rep.Reason,
			"topic", r.Header.Get(h.TopicHeader), "delivery", r.Header.Get(h.IDHeader))
	}
}

func (h *Hook) serve(r *http.Request) Reply {
	body, rep, ok := h.read(r)
	if !ok {
		return rep
	}
	if h.Ping != nil && h.Ping(r, body) {
		return Reply{Status: http.StatusOK, Outcome: OutcomePing}
	}
	sig := r.Header.Get(h.SignatureHeader)
	switch {
	case sig == "":
		return fail(http.StatusUnauthorized, OutcomeBadSignature, "no %s header", h.SignatureHeader)
	case !Verify(h.Secret, body, sig):
		return fail(http.StatusUnauthorized, OutcomeBadSignature, "%s does not match the body (is the webhook secret the shop's?)", h.SignatureHeader)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return fail(http.StatusUnsupportedMediaType, OutcomeContentType, "content type %q: a delivery is application/json", r.Header.Get("Content-Type"))
	}
	d := Delivery{Topic: r.Header.Get(h.TopicHeader), ID: r.Header.Get(h.IDHeader)}
	if h.DeliveryKey != nil && d.ID != "" {
		d.ID = h.DeliveryKey(r)
	}
	if !h.takes(d.Topic) {
		return fail(http.StatusUnprocessableEntity, OutcomeUnknownTopic, "topic %q is not taken here (takes %s)", d.Topic, strings.Join(h.Topics, ", "))
	}
	if d.ID != "" && h.Seen.Has(d.ID) {
		return Reply{Status: http.StatusOK, Outcome: OutcomeDuplicate, Reason: "delivery " + d.ID + " was taken already"}
	}
	v, err := mapping.ParseJSON(body)
	if err != nil {
		return Malformed("the body is not JSON: %v", err)
	}
	if v.Kind() != mapping.Object {
		return Malformed("the body is a JSON %s, not an object", v.Kind())
	}
	d.Body = v
	rep = h.Take(r.Context(), d)
	if rep.Status == http.StatusOK && d.ID != "" {
		h.Seen.Add(d.ID)
	}
	return rep
}

// read reads the body, at most MaxBytes of it.
func (h *Hook) read(r *http.Request) ([]byte, Reply, bool) {
	if r.ContentLength > h.MaxBytes {
		return nil, fail(http.StatusRequestEntityTooLarge, OutcomeTooLarge, "the body is %d bytes, over the %d this webhook takes (max_body_bytes)", r.ContentLength, h.MaxBytes), false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.MaxBytes+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, fail(http.StatusRequestEntityTooLarge, OutcomeTooLarge, "the body is over the %d bytes the hub takes (http.max_body_bytes)", mbe.Limit), false
	case err != nil:
		return nil, Malformed("reading the body: %v", err), false
	case int64(len(body)) > h.MaxBytes:
		return nil, fail(http.StatusRequestEntityTooLarge, OutcomeTooLarge, "the body is over the %d bytes this webhook takes (max_body_bytes)", h.MaxBytes), false
	}
	return body, Reply{}, true
}

func (h *Hook) takes(topic string) bool {
	for _, t := range h.Topics {
		if t == topic {
			return true
		}
	}
	return false
}

// Topics lists the keys of a topic -> entity table, sorted.
func Topics(table map[string]string) []string {
	out := make([]string, 0, len(table))
	for t := range table {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
