package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Roles, in increasing power: each includes the ones before it.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// RoleCallCenter is the role of call-center systems (a PBX's caller-name
// lookup, a CTI or an agent desktop). It stands outside the ranking: it
// includes none of the roles above, and they do not include it; it may
// call only the routes that admit it by name (Access.Also), the
// screen-pop, caller-id and call-event routes.
const RoleCallCenter = "callcenter"

// Roles are every role a token may have.
func Roles() []string { return []string{RoleViewer, RoleOperator, RoleAdmin, RoleCallCenter} }

func roleRank(r string) int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Token is one API credential. The server keeps only its SHA-256: give
// Secret (hashed at New and then dropped) or Digest (the hex SHA-256 that
// `hub users hash-token` prints, so the config never holds the token).
type Token struct {
	Name   string // the actor recorded in the audit log
	Role   string
	Secret string
	Digest string // hex SHA-256 of the token
}

type actorKey struct{}

// Actor returns the name of the token that authorised the request.
func Actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok {
		return a
	}
	return ""
}

// Access says which tokens may call a route.
type Access struct {
	// Role is the least of the ranked roles admitted (viewer admits
	// operator and admin too); "" admits none of them.
	Role string
	// Also are roles outside the ranking admitted as well (callcenter).
	Also []string
	// ReadOnly marks a POST route that changes nothing (a form that only
	// computes an answer): its successful calls are not audited.
	ReadOnly bool
	// Page redirects a GET without a credential to the console's login
	// page instead of answering 401 (console pages).
	Page bool
	// Plain answers a refusal with its status code and an empty
	// text/plain body instead of a JSON error, and so every error on the
	// route, whoever writes it: for clients that show whatever body they
	// get (a PBX puts a caller-name lookup's whole body into the display).
	Plain bool
}

// admits reports whether a token of role may call a route.
func (a Access) admits(role string) bool {
	if a.Role != "" && roleRank(role) >= roleRank(a.Role) && roleRank(role) > 0 {
		return true
	}
	return slices.Contains(a.Also, role)
}

// wants says in words who may call a route.
func (a Access) wants() string {
	who := append([]string(nil), a.Also...)
	if a.Role != "" {
		who = append([]string{a.Role + " or above"}, who...)
	}
	return strings.Join(who, " or ")
}

// HandleAuth registers a route that needs a bearer token of at least role.
// Tokens are compared in constant time, by their SHA-256, so neither the
// length nor the content leaks through timing.
func (s *Server) HandleAuth(pattern, role string, h http.Handler) {
	s.HandleAccess(pattern, Access{Role: role}, h)
}

// HandleAccess registers a route that needs a credential admitted by a:
// a bearer token or a console session (see HandleAuth). Every refusal is
// audited, and so is every state-changing request that gets through, with
// its outcome (the status code) when an operator or admin made it.
func (s *Server) HandleAccess(pattern string, a Access, h http.Handler) {
	var guarded http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := s.authenticate(r)
		switch {
		case !ok:
			s.audit(r, AuditEvent{Actor: "anonymous", Action: "http.refused", Outcome: "refused: 401 no valid credential"})
			if a.Page && r.Method == http.MethodGet {
				http.Redirect(w, r, LoginPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="hub"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid API token (Authorization: Bearer <token>) or console session is required"})
		case !a.admits(who.Role):
			msg := who.Name + " has role " + who.Role + "; this needs " + a.wants()
			s.audit(r, AuditEvent{Actor: who.Name, Action: "http.refused", Outcome: "refused: 403 " + msg})
			writeJSON(w, http.StatusForbidden, map[string]string{"error": msg})
		default:
			ctx := context.WithValue(r.Context(), actorKey{}, who.Name)
			ctx = context.WithValue(ctx, roleKey{}, who.Role)
			// Operators' and admins' state-changing requests are audited
			// with their outcome; reads, and call-center systems' call
			// events, are not.
			if safeMethod(r.Method) || a.ReadOnly || !RoleAtLeast(who.Role, RoleOperator) {
				h.ServeHTTP(w, r.WithContext(ctx))
				return
			}
			rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
			h.ServeHTTP(rec, r.WithContext(ctx))
			s.audit(r, AuditEvent{Actor: who.Name, Action: "http.request", Outcome: strconv.Itoa(rec.code) + " " + http.StatusText(rec.code)})
		}
	})
	if a.Plain {
		guarded = PlainErrors(guarded)
	}
	s.mux.Handle(pattern, guarded)
	s.routes = append(s.routes, Route{Pattern: pattern, Access: a})
}

// Route is a guarded route and who may call it; tests walk them all.
type Route struct {
	Pattern string
	Access  Access
}

// Routes are the guarded routes registered so far, in order.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// Admits reports whether role may call a route guarded by a.
func (a Access) Admits(role string) bool { return a.admits(role) }

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

type roleKey struct{}

// Role returns the role of the credential that authorised the request.
func Role(ctx context.Context) string {
	r, _ := ctx.Value(roleKey{}).(string)
	return r
}

// RoleAtLeast reports whether role includes want (viewer < operator < admin).
func RoleAtLeast(role, want string) bool {
	return roleRank(role) > 0 && roleRank(role) >= roleRank(want)
}

// PlainErrors makes every error answer of h (status 400 and above) a
// text/plain one with an empty body: whatever h or a guard in front of it
// would have written is dropped.
func PlainErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&plainWriter{ResponseWriter: w}, r)
	})
}

// plainWriter drops the body of an error answer.
type plainWriter struct {
	http.ResponseWriter
	failed bool
}

func (p *plainWriter) WriteHeader(code int) {
	if code >= 400 {
		p.failed = true
		h := p.Header()
		h.Del("Content-Length")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
	}
	p.ResponseWriter.WriteHeader(code)
}

func (p *plainWriter) Write(b []byte) (int, error) {
	if p.failed {
		return len(b), nil
	}
	return p.ResponseWriter.Write(b)
}

func (p *plainWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// principal is who a request authenticated as.
type principal struct{ Name, Role string }

// authenticate accepts a bearer token or else a console session cookie.
func (s *Server) authenticate(r *http.Request) (principal, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		t, ok := s.tokenOf(h)
		return principal{t.Name, t.Role}, ok
	}
	if sess, ok := s.sessions.get(r); ok {
		return principal{sess.user, sess.role}, true
	}
	return principal{}, false
}

// tokenOf finds the token of an Authorization header. Tokens are compared
// in constant time, by their SHA-256, so neither the length nor the
// content leaks through timing.
func (s *Server) tokenOf(header string) (Token, bool) {
	given, ok := bearer(header)
	if !ok {
		return Token{}, false
	}
	g := sha256.Sum256([]byte(given))
	var found Token
	match := 0
	for i, t := range s.tokens {
		if subtle.ConstantTimeCompare(g[:], s.digests[i][:]) == 1 {
			found, match = t, 1
		}
	}
	return found, match == 1
}

// WriteJSON writes v as indented JSON with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) { writeJSON(w, code, v) }

// bearer returns the token of an "Authorization: Bearer <token>" header.
// The scheme is case-insensitive (RFC 9110, 11.1) and may be followed by
// more than one space.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
