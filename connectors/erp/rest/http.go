package rest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// maxErrorBody is how much of a failing reply is kept to find the
// server's message in.
const maxErrorBody = 64 << 10

// The erp core keeps only a short, redacted start of a failing reply in
// its HTTPError; the server's own message (Frappe's _server_messages comes
// after a long traceback) can lie beyond it. captureTransport keeps the
// body of failing replies for the request whose context carries a
// *capture, so the connector reads the message from the whole body.
type captureKey struct{}

type capture struct {
	mu     sync.Mutex
	status int
	ctype  string
	body   []byte
}

func (c *capture) get() (int, string, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.ctype, c.body
}

type captureTransport struct{ base http.RoundTripper }

func (t captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	c, ok := req.Context().Value(captureKey{}).(*capture)
	if !ok {
		return resp, nil
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr == nil {
		c.mu.Lock()
		c.status, c.ctype, c.body = resp.StatusCode, resp.Header.Get("Content-Type"), body
		c.mu.Unlock()
	}
	return resp, nil
}

// APIError is a failing reply with the server's own message.
type APIError struct {
	Op     string
	Status int
	// Type is the server's error class or code (Frappe's exc_type,
	// WooCommerce's code), when it gives one.
	Type string
	// Message is the server's message (Frappe's _server_messages or
	// exception, a generic message or error member, or the text of a
	// non-JSON body).
	Message string
	http    *erp.HTTPError
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Type != "" {
		s += ": " + e.Type
	}
	switch {
	case e.Message != "":
		s += ": " + e.Message
	case e.Type == "" && e.http != nil && e.http.Body != "":
		s += ": " + e.http.Body // nothing understood: the start of the reply
	}
	return s
}

// Unwrap returns the core's *erp.HTTPError.
func (e *APIError) Unwrap() error { return e.http }

// do sends req and turns a failing reply into an *APIError with the
// server's message, classified as the core classified it.
func do(ctx context.Context, cl *erp.Client, req erp.Request) (*erp.Response, error) {
	cp := &capture{}
	resp, err := cl.Do(context.WithValue(ctx, captureKey{}, cp), req)
	if err == nil {
		return resp, nil
	}
	var he *erp.HTTPError
	if !errors.As(err, &he) {
		return nil, err
	}
	ae := &APIError{Op: he.Op, Status: he.Status, http: he}
	if status, ctype, body := cp.get(); status == he.Status {
		ae.Type, ae.Message = serverMessage(body, ctype)
	}
	kind, after := connectors.Classify(err)
	return nil, &connectors.Error{Kind: kind, RetryAfter: after, Err: ae}
}

// statusOf is the HTTP status of a failed call, or 0.
func statusOf(err error) int {
	var he *erp.HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

// serverMessage finds the error class and message in a failing reply:
// Frappe's exc_type, _server_messages and exception; a generic message,
// error (text or {message}), error_description, detail, title or errors
// list; WooCommerce's code; or the text of a non-JSON body.
func serverMessage(body []byte, ctype string) (typ, msg string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", ""
	}
	v, err := mapping.ParseJSON(body)
	if err != nil || v.Kind() != mapping.Object {
		if err == nil && v.Kind() == mapping.String {
			return "", clip(erp.HTMLText(v.Str()))
		}
		return "", clip(erp.HTMLText(string(body)))
	}
	str := func(k string) string {
		if x := v.Get(k); x.Kind() == mapping.String {
			return strings.TrimSpace(x.Str())
		}
		return ""
	}
	typ = str("exc_type")
	var msgs []string
	add := func(s string) {
		s = erp.HTMLText(s)
		if s == "" {
			return
		}
		for _, m := range msgs {
			if m == s {
				return
			}
		}
		msgs = append(msgs, s)
	}
	// Frappe: "_server_messages" is a JSON string holding a list of JSON
	// strings, each an object with "message" (or a bare text).
	if sm := str("_server_messages"); sm != "" {
		if list, err := mapping.ParseJSON([]byte(sm)); err == nil {
			for _, el := range list.Elems() {
				s := el.Str()
				if o, err := mapping.ParseJSON([]byte(s)); err == nil && o.Kind() == mapping.Object {
					add(o.Get("message").Str())
				} else {
					add(s)
				}
			}
		}
	}
	if exc := str("exception"); exc != "" && len(msgs) == 0 {
		// "frappe.exceptions.ValidationError: Customer Name is mandatory"
		cls, rest, found := strings.Cut(exc, ": ")
		if found && !strings.ContainsAny(cls, " \t") {
			if typ == "" {
				typ = cls[strings.LastIndex(cls, ".")+1:]
			}
			add(rest)
		} else if !strings.ContainsAny(exc, " \t") {
			if typ == "" {
				typ = exc[strings.LastIndex(exc, ".")+1:]
			}
		} else {
			add(exc)
		}
	}
	if len(msgs) == 0 {
		for _, k := range []string{"message", "error_description", "detail", "title"} {
			if s := str(k); s != "" {
				add(s)
				break
			}
		}
	}
	errMember := v.Get("error")
	switch errMember.Kind() {
	case mapping.String:
		if len(msgs) == 0 && str("error_description") == "" {
			add(errMember.Str())
		} else if typ == "" {
			typ = strings.TrimSpace(errMember.Str())
		}
	case mapping.Object:
		if len(msgs) == 0 {
			add(errMember.Get("message").Str())
		}
		if typ == "" {
			typ = text(errMember.Get("code"))
		}
	}
	if len(msgs) == 0 {
		for _, el := range v.Get("errors").Elems() {
			if el.Kind() == mapping.Object {
				add(el.Get("message").Str())
			} else {
				add(el.Str())
			}
		}
	}
	if typ == "" {
		if c := v.Get("code"); c.Kind() == mapping.String {
			typ = strings.TrimSpace(c.Str())
		}
	}
	return typ, clip(strings.Join(msgs, "; "))
}

const maxMessage = 500

func clip(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// failsBatch reports a failure after which the rest of a batch would fail
// the same way: the system refusing the credentials or the rights
// (Unavailable: 401, 403, a host name that does not resolve) or asking to
// slow down (429) once the core's retries are spent.
func failsBatch(err error) bool {
	k, _ := connectors.Classify(err)
	return k == connectors.KindUnavailable || statusOf(err) == http.StatusTooManyRequests
}
