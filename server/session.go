package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"
)

// LoginPath is where the console's login page lives; console pages send a
// visitor without a session there.
const LoginPath = "/console/login"

// SessionCookie is the name of the console's session cookie.
const SessionCookie = "hub_session"

// User is one console user: a bcrypt password hash and a TOTP secret
// (RFC 6238, base32, 30 s steps, 6 digits, SHA-1: what authenticator apps
// take from the enrolment QR code).
type User struct {
	Name         string
	Role         string
	PasswordHash string // bcrypt
	TOTPSecret   string // base32
}

// LoginPolicy bounds guessing: after MaxFailures failed logins for one
// user name (or four times as many from one address, which may be a
// whole office behind one NAT) within Lockout, further attempts for it
// are refused until Lockout has passed since the last failure.
type LoginPolicy struct {
	MaxFailures int           // default 5
	Lockout     time.Duration // default 15 min
	SessionTTL  time.Duration // idle timeout of a session; default 8 h
}

// Login refusals.
var (
	ErrBadLogin = errors.New("wrong user name, password or code")
	ErrLocked   = errors.New("too many failed logins: locked for a while")
)

// Login checks a user's password and TOTP code and, when both are right,
// opens a session and sets its cookie on w. Every attempt is audited with
// its outcome and the client's address.
func (s *Server) Login(w http.ResponseWriter, r *http.Request, name, password, code string) error {
	ip := ClientIP(r)
	if len(name) > 100 { // no user is named so; keep the audit log and the limiter small
		name = strings.ToValidUTF8(name[:100], "")
	}
	ev := AuditEvent{Actor: name, Action: "auth.login", Subject: "console"}
	if name == "" {
		ev.Actor = "anonymous"
	}
	if s.limiter.locked(name, ip) {
		ev.Outcome = "refused: locked out after repeated failures"
		s.audit(r, ev)
		return ErrLocked
	}
	u, known := s.users[name]
	hash := []byte(u.PasswordHash)
	if !known {
		hash = s.dummy
	}
	pwOK := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && known
	codeOK := pwOK && s.checkCode(u, code)
	if !codeOK {
		ev.Outcome = "refused: wrong user name or password"
		if pwOK {
			ev.Outcome = "refused: wrong or reused TOTP code"
		}
		if s.limiter.fail(name, ip) {
			ev.Outcome += "; now locked out"
		}
		s.audit(r, ev)
		return ErrBadLogin
	}
	s.limiter.reset(name, ip)
	id, err := s.sessions.open(u.Name, u.Role)
	if err != nil {
		ev.Outcome = "failed: " + err.Error()
		s.audit(r, ev)
		return err
	}
	http.SetCookie(w, s.cookie(r, id, int(s.policy.SessionTTL.Seconds())))
	ev.Outcome = "ok"
	s.audit(r, ev)
	return nil
}

// Logout closes the request's session and clears its cookie.
func (s *Server) Logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if sess, ok := s.sessions.get(r); ok {
			s.audit(r, AuditEvent{Actor: sess.user, Action: "auth.logout", Subject: "console", Outcome: "ok"})
		}
		s.sessions.close(c.Value)
	}
	http.SetCookie(w, s.cookie(r, "", -1))
}

// Who returns the name and role of the request's session or token, if any.
func (s *Server) Who(r *http.Request) (name, role string, ok bool) {
	p, ok := s.authenticate(r)
	return p.Name, p.Role, ok
}

func (s *Server) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || s.cfg.SecureCookies,
	}
}

// checkCode validates a TOTP code (one step of clock skew either way) and
// refuses a code already used, so a code seen over a shoulder cannot be
// replayed within its window.
func (s *Server) checkCode(u User, code string) bool {
	code = strings.TrimSpace(code)
	now := time.Now()
	ok, err := totp.ValidateCustom(code, u.TOTPSecret, now, totp.ValidateOpts{
		Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil || !ok {
		return false
	}
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	key := u.Name + "\x00" + code
	if t, used := s.sessions.usedCodes[key]; used && now.Sub(t) < 2*time.Minute {
		return false
	}
	for k, t := range s.sessions.usedCodes {
		if now.Sub(t) >= 2*time.Minute {
			delete(s.sessions.usedCodes, k)
		}
	}
	s.sessions.usedCodes[key] = now
	return true
}

// ClientIP is the request's peer address without the port.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// session is one signed-in user.
type session struct {
	user, role string
	last       time.Time
}

// sessionStore keeps sessions in memory, by the SHA-256 of their id (the
// cookie's value is never stored). Sessions end on idle timeout, logout
// or restart.
type sessionStore struct {
	mu        sync.Mutex
	ttl       time.Duration
	byDigest  map[[sha256.Size]byte]*session
	usedCodes map[string]time.Time
}

func newSessionStore(ttl time.Duration) *sessionStore {
	return &sessionStore{ttl: ttl, byDigest: map[[sha256.Size]byte]*session{}, usedCodes: map[string]time.Time{}}
}

func (st *sessionStore) open(user, role string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	for d, s := range st.byDigest {
		if now.Sub(s.last) > st.ttl {
			delete(st.byDigest, d)
		}
	}
	st.byDigest[sha256.Sum256([]byte(id))] = &session{user: user, role: role, last: now}
	return id, nil
}

func (st *sessionStore) get(r *http.Request) (session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return session{}, false
	}
	d := sha256.Sum256([]byte(c.Value))
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.byDigest[d]
	if !ok {
		return session{}, false
	}
	if time.Since(s.last) > st.ttl {
		delete(st.byDigest, d)
		return session{}, false
	}
	s.last = time.Now()
	return *s, true
}

func (st *sessionStore) close(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.byDigest, sha256.Sum256([]byte(id)))
}

// limiter counts failed logins per user name and per client address.
type limiter struct {
	mu    sync.Mutex
	max   int
	lock  time.Duration
	fails map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func newLimiter(max int, lock time.Duration) *limiter {
	return &limiter{max: max, lock: lock, fails: map[string]*failures{}}
}

func limiterKeys(name, ip string) []string { return []string{"user:" + name, "ip:" + ip} }

func (l *limiter) locked(name, ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range limiterKeys(name, ip) {
		if f, ok := l.fails[k]; ok && f.n >= l.limit(k) && time.Since(f.last) < l.lock {
			return true
		}
	}
	return false
}

// fail counts a failure; it reports whether that locks the user or address.
func (l *limiter) fail(name, ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.fails) > 10000 { // many names or addresses: forget the stale ones
		for k, f := range l.fails {
			if now.Sub(f.last) >= l.lock {
				delete(l.fails, k)
			}
		}
	}
	lockedNow := false
	for _, k := range limiterKeys(name, ip) {
		f, ok := l.fails[k]
		if !ok || now.Sub(f.last) >= l.lock {
			f = &failures{}
			l.fails[k] = f
		}
		f.n++
		f.last = now
		lockedNow = lockedNow || f.n >= l.limit(k)
	}
	return lockedNow
}

// limit is the failures a key may have: MaxFailures for a user name, four
// times that for an address.
func (l *limiter) limit(key string) int {
	if strings.HasPrefix(key, "ip:") {
		return 4 * l.max
	}
	return l.max
}

func (l *limiter) reset(name, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, "user:"+name)
}

// initLogin sets up users, sessions, the login limiter and cross-origin
// protection from cfg.
func (s *Server) initLogin(cfg Config) {
	p := cfg.Login
	if p.MaxFailures <= 0 {
		p.MaxFailures = 5
	}
	if p.Lockout <= 0 {
		p.Lockout = 15 * time.Minute
	}
	if p.SessionTTL <= 0 {
		p.SessionTTL = 8 * time.Hour
	}
	s.policy = p
	s.users = make(map[string]User, len(cfg.Users))
	for _, u := range cfg.Users {
		s.users[u.Name] = u
	}
	s.cfg.Users = nil
	// An unknown name is checked against a hash of the users' own cost,
	// so it takes as long as a known name with a wrong password.
	cost := bcrypt.MinCost
	for _, u := range cfg.Users {
		if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil {
			cost = max(cost, c)
		}
	}
	s.dummy, _ = bcrypt.GenerateFromPassword([]byte("no such user"), cost)
	s.sessions = newSessionStore(p.SessionTTL)
	s.limiter = newLimiter(p.MaxFailures, p.Lockout)
	// Every state-changing request from a browser must come from the
	// hub's own pages: Sec-Fetch-Site or Origin tell, and requests
	// without either (curl, a PBX, a shop's webhook) pass as before.
	s.csrf = http.NewCrossOriginProtection()
	s.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.audit(r, AuditEvent{Actor: "anonymous", Action: "http.refused", Outcome: "refused: 403 cross-origin request"})
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-origin request refused"})
	}))
}

// audit records e, filling in the subject and the client's address.
func (s *Server) audit(r *http.Request, e AuditEvent) {
	if s.cfg.Audit == nil {
		return
	}
	if e.Subject == "" {
		e.Subject = r.Method + " " + r.URL.Path
	}
	if p, ok := s.authenticate(r); ok && e.Actor == "anonymous" {
		e.Actor = p.Name
	}
	e.Remote = ClientIP(r)
	s.cfg.Audit(context.WithoutCancel(r.Context()), e)
}

// tokenDigest is the SHA-256 of a token: of its secret, or its configured
// hex digest.
func tokenDigest(t Token) [sha256.Size]byte {
	var d [sha256.Size]byte
	if t.Secret != "" {
		return sha256.Sum256([]byte(t.Secret))
	}
	b, err := hex.DecodeString(strings.TrimSpace(t.Digest))
	if err == nil && len(b) == sha256.Size {
		copy(d[:], b)
	} else {
		// An unusable digest admits nothing: no known input hashes to it.
		d = sha256.Sum256([]byte("invalid digest for token " + t.Name))
		d[0] ^= 0xff
	}
	return d
}

// guardOrigin is the mux behind the cross-origin check for requests a
// browser could be tricked into sending with the hub's credentials: those
// that carry a session cookie, and the console's own forms (the sign-in
// included). A bearer token or a webhook's signature is never sent by a
// browser on its own, so those requests pass as they come (a call
// center's web client on another origin keeps working).
func (s *Server) guardOrigin(r *http.Request) http.Handler {
	if _, err := r.Cookie(SessionCookie); err == nil || strings.HasPrefix(r.URL.Path, "/console/") {
		return s.csrf.Handler(s.mux)
	}
	return s.mux
}
