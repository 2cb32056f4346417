package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
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

// Token is one API credential.
type Token struct {
	Name   string // the actor recorded in the audit log
	Role   string
	Secret string
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

// HandleAccess registers a route that needs a bearer token admitted by a
// (see HandleAuth).
func (s *Server) HandleAccess(pattern string, a Access, h http.Handler) {
	var guarded http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := s.authenticate(r)
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="hub"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid API token is required (Authorization: Bearer <token>)"})
		case !a.admits(tok.Role):
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "token " + tok.Name + " has role " + tok.Role + "; this needs " + a.wants()})
		default:
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, tok.Name)))
		}
	})
	if a.Plain {
		guarded = PlainErrors(guarded)
	}
	s.mux.Handle(pattern, guarded)
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

func (s *Server) authenticate(r *http.Request) (Token, bool) {
	given, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return Token{}, false
	}
	g := sha256.Sum256([]byte(given))
	var found Token
	match := 0
	for i, t := range s.cfg.Tokens {
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
