package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Roles, in increasing power: each includes the ones before it.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

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

// HandleAuth registers a route that needs a bearer token of at least role.
// Tokens are compared in constant time, by their SHA-256, so neither the
// length nor the content leaks through timing.
func (s *Server) HandleAuth(pattern, role string, h http.Handler) {
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := s.authenticate(r)
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="hub"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid API token is required (Authorization: Bearer <token>)"})
		case roleRank(tok.Role) < roleRank(role):
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "token " + tok.Name + " has role " + tok.Role + "; this needs " + role})
		default:
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, tok.Name)))
		}
	}))
}

func (s *Server) authenticate(r *http.Request) (Token, bool) {
	given, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return Token{}, false
	}
	g := sha256.Sum256([]byte(given))
	var found Token
	match := 0
	for _, t := range s.cfg.Tokens {
		want := sha256.Sum256([]byte(t.Secret))
		if subtle.ConstantTimeCompare(g[:], want[:]) == 1 {
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
