package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/pipeline/api"
	"github.com/crmhub/hub/server"
	"github.com/crmhub/hub/store"
	"github.com/crmhub/hub/store/storetest"
)

const (
	testTOTP     = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	testPassword = "correct horse battery"
)

// fakeOps stands in for the running node: the routes' access is what is
// tested here, not what the node does.
type fakeOps struct{}

func (fakeOps) Status(context.Context) (pipeline.NodeStatus, error) {
	return pipeline.NodeStatus{Node: "test"}, nil
}
func (fakeOps) Pause(context.Context, string, bool, string, string) ([]string, error) {
	return nil, api.ErrNoRunner
}
func (fakeOps) CursorOf(context.Context, string) (pipeline.Cursor, error) {
	return pipeline.Cursor{}, api.ErrNoRunner
}
func (fakeOps) SetCursor(context.Context, string, *time.Time, string) (pipeline.Cursor, error) {
	return pipeline.Cursor{}, api.ErrNoRunner
}
func (fakeOps) Reload(context.Context, string) (pipeline.ReloadResult, error) {
	return pipeline.ReloadResult{}, nil
}

// storeRecon stands in for the node's reconciliation jobs: one job,
// "orders", whose run-now records a run in the state store that stays
// running (as the node's does while it compares).
type storeRecon struct{ st *store.Store }

func (f *storeRecon) ReconJobInfos() []pipeline.ReconJobInfo {
	next := time.Date(2031, 1, 2, 1, 30, 0, 0, time.UTC)
	running := false
	if last, err := f.st.LastReconRun(context.Background(), "orders"); err == nil {
		running = last.Status == store.ReconRunning
	}
	return []pipeline.ReconJobInfo{{Name: "orders", Entity: "order", Left: "crm", Right: "erp", Repair: "report",
		Schedule: "0 30 2 * * *", TimeZone: "Europe/Berlin", NextRun: &next, Running: running}}
}

func (f *storeRecon) RunReconcile(ctx context.Context, job, _ string) (int64, error) {
	if job != "orders" {
		return 0, fmt.Errorf("%w %q", pipeline.ErrNoJob, job)
	}
	if f.ReconJobInfos()[0].Running {
		return 0, pipeline.ErrRunning
	}
	return f.st.StartReconRun(ctx, job)
}

type rig struct {
	t   *testing.T
	st  *store.Store
	srv *server.Server
	ts  *httptest.Server
}

// newRig serves the API and the console with one token and one user of
// each role, auditing into a SQLite state store.
func newRig(t *testing.T, tlsOn bool) *rig {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	adminDigest := sha256.Sum256([]byte("admin-token-0123456789"))
	cfg := server.Config{
		Tokens: []server.Token{
			{Name: "t-viewer", Role: server.RoleViewer, Secret: "viewer-token-0123456789"},
			{Name: "t-operator", Role: server.RoleOperator, Secret: "operator-token-0123456789"},
			{Name: "t-admin", Role: server.RoleAdmin, Digest: hex.EncodeToString(adminDigest[:])}, // stored hashed
			{Name: "t-callcenter", Role: server.RoleCallCenter, Secret: "callcenter-token-0123456789"},
		},
		Login: server.LoginPolicy{MaxFailures: 3, Lockout: time.Minute},
		Audit: func(ctx context.Context, e server.AuditEvent) {
			if err := st.AppendAudit(ctx, e.Actor, e.Action, e.Subject, "from "+e.Remote+": "+e.Outcome); err != nil {
				t.Error(err)
			}
		},
	}
	for _, role := range []string{server.RoleViewer, server.RoleOperator, server.RoleAdmin} {
		cfg.Users = append(cfg.Users, server.User{Name: "u-" + role, Role: role, PasswordHash: string(hash), TOTPSecret: testTOTP})
	}
	log := slog.New(slog.DiscardHandler)
	srv := server.New(cfg, log, prometheus.NewRegistry())
	rep := &pipeline.Replayer{Store: st, Log: log}
	recon := &storeRecon{st: st}
	(&api.API{Store: st, Replayer: rep, Ops: fakeOps{}, Recon: recon}).Register(srv)
	c := &Console{Store: st, Replayer: rep, Ops: fakeOps{}, Recon: recon, Log: log, Mappings: map[string]string{}}
	if err := c.Register(srv); err != nil {
		t.Fatal(err)
	}
	var ts *httptest.Server
	if tlsOn {
		ts = httptest.NewTLSServer(srv.Handler())
	} else {
		ts = httptest.NewServer(srv.Handler())
	}
	t.Cleanup(ts.Close)
	return &rig{t: t, st: st, srv: srv, ts: ts}
}

// client returns an HTTP client that keeps cookies and does not follow
// redirects.
func (r *rig) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *r.ts.Client() // a copy: the test server hands out one client
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// login signs a user in with the current code (or the one given).
func (r *rig) login(c *http.Client, user, password, code string) *http.Response {
	r.t.Helper()
	if code == "" {
		var err error
		if code, err = totp.GenerateCode(testTOTP, time.Now()); err != nil {
			r.t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, r.ts.URL+server.LoginPath,
		strings.NewReader(url.Values{"user": {user}, "password": {password}, "code": {code}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", r.ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// lastAudit is the newest audit entry.
func (r *rig) lastAudit() store.AuditEntry {
	r.t.Helper()
	es, err := r.st.ListAudit(context.Background(), 1)
	if err != nil || len(es) == 0 {
		r.t.Fatalf("audit log: %v %v", es, err)
	}
	return es[0]
}

func (r *rig) auditCount() int {
	es, err := r.st.ListAudit(context.Background(), 10000)
	if err != nil {
		r.t.Fatal(err)
	}
	return len(es)
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestEveryRouteEveryRole calls every guarded route of the API and the
// console with no credential, with each token and with each user's
// session: no credential gets 401 (a console page: the login page), a
// role the route does not admit gets 403, an admitted one neither; every
// refusal leaves an audit entry naming who, the route and where from.
func TestEveryRouteEveryRole(t *testing.T) {
	r := newRig(t, false)
	sessions := map[string]*http.Client{}
	code, err := totp.GenerateCode(testTOTP, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{server.RoleViewer, server.RoleOperator, server.RoleAdmin} {
		c := r.client()
		if resp := r.login(c, "u-"+role, testPassword, code); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login of u-%s: %s", role, resp.Status)
		}
		sessions[role] = c
	}
	// Each user's code was used once; a second use within its window is
	// refused (a code seen over a shoulder cannot be replayed).
	if resp := r.login(r.client(), "u-viewer", testPassword, code); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a reused TOTP code: %s, want 401", resp.Status)
	}

	type who struct {
		name, role, token string
		session           *http.Client
	}
	callers := []who{
		{name: "anonymous"},
		{name: "t-viewer", role: server.RoleViewer, token: "viewer-token-0123456789"},
		{name: "t-operator", role: server.RoleOperator, token: "operator-token-0123456789"},
		{name: "t-admin", role: server.RoleAdmin, token: "admin-token-0123456789"},
		{name: "t-callcenter", role: server.RoleCallCenter, token: "callcenter-token-0123456789"},
	}
	for _, role := range []string{server.RoleViewer, server.RoleOperator, server.RoleAdmin} {
		callers = append(callers, who{name: "u-" + role, role: role, session: sessions[role]})
	}
	routes := r.srv.Routes()
	// Logout last: it ends the sessions the other routes are called with.
	sort.SliceStable(routes, func(i, j int) bool {
		return !strings.HasSuffix(routes[i].Pattern, "/logout") && strings.HasSuffix(routes[j].Pattern, "/logout")
	})
	if len(routes) < 25 {
		t.Fatalf("only %d guarded routes registered", len(routes))
	}
	for _, rt := range routes {
		method, pattern, _ := strings.Cut(rt.Pattern, " ")
		path := pathParam.ReplaceAllString(strings.TrimSuffix(pattern, "{$}"), "1")
		for _, c := range callers {
			req, _ := http.NewRequest(method, r.ts.URL+path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			client := r.client()
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			if c.session != nil {
				client = c.session
				req.Header.Set("Sec-Fetch-Site", "same-origin")
			}
			before := r.auditCount()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code := resp.StatusCode
			switch {
			case c.role == "":
				want := http.StatusUnauthorized
				if rt.Access.Page && method == http.MethodGet {
					want = http.StatusSeeOther
					if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, server.LoginPath) {
						t.Errorf("%s with no credential: sent to %q, want the login page", rt.Pattern, loc)
					}
				}
				if code != want {
					t.Errorf("%s with no credential: %d, want %d", rt.Pattern, code, want)
				}
			case !rt.Access.Admits(c.role):
				if code != http.StatusForbidden {
					t.Errorf("%s as %s (%s): %d, want 403", rt.Pattern, c.name, c.role, code)
				}
			default:
				if code == http.StatusUnauthorized || code == http.StatusForbidden {
					t.Errorf("%s as %s (%s): %d, want it admitted", rt.Pattern, c.name, c.role, code)
				}
				continue
			}
			if r.auditCount() != before+1 {
				t.Errorf("%s refused to %s: %d audit entries added, want 1", rt.Pattern, c.name, r.auditCount()-before)
				continue
			}
			e := r.lastAudit()
			if e.Actor != c.name || e.Action != "http.refused" || e.Subject != method+" "+path || !strings.Contains(e.Detail, "from 127.0.0.1: refused") {
				t.Errorf("%s refused to %s: audit entry %+v", rt.Pattern, c.name, e)
			}
		}
	}
}

// TestViewerCannotReplay: the viewer's token and the viewer's session both
// get 403 on a replay, and the dead letter stays open.
func TestViewerCannotReplay(t *testing.T) {
	r := newRig(t, false)
	ctx := context.Background()
	id, err := r.st.AddDeadLetter(ctx, store.DeadLetter{Connector: "crm-orders", Entity: "order", RecordKey: "3",
		Stage: pipeline.StageSourceMap, Kind: store.KindPermanent, Error: "total: not a decimal", Attempts: 1, Payload: []byte(`{"id":3}`)})
	if err != nil {
		t.Fatal(err)
	}
	ids := itoa(int(id))
	req, _ := http.NewRequest(http.MethodPost, r.ts.URL+"/api/v1/dlq/"+ids+"/replay", nil)
	req.Header.Set("Authorization", "Bearer viewer-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the viewer's token replaying: %s, want 403", resp.Status)
	}
	c := r.client()
	r.login(c, "u-viewer", testPassword, "")
	form := url.Values{"id": {ids}}
	req, _ = http.NewRequest(http.MethodPost, r.ts.URL+"/console/deadletters/replay", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the viewer's session replaying from the console: %s, want 403", resp.Status)
	}
	if e := r.lastAudit(); e.Actor != "u-viewer" || e.Action != "http.refused" || !strings.Contains(e.Detail, "403") {
		t.Errorf("the refusal's audit entry: %+v", e)
	}
	d, err := r.st.GetDeadLetter(ctx, id)
	if err != nil || d.Status != store.StatusOpen {
		t.Errorf("the dead letter after the refused replays: %+v %v, want open", d.Status, err)
	}
}

// TestCrossOriginPostRefused: a page of another site that makes a signed-in
// operator's browser post a discard is refused, audited, and changes
// nothing; the same post from the console's own page goes through.
func TestCrossOriginPostRefused(t *testing.T) {
	r := newRig(t, false)
	ctx := context.Background()
	id, err := r.st.AddDeadLetter(ctx, store.DeadLetter{Connector: "crm-orders", Entity: "order", RecordKey: "4",
		Stage: pipeline.StageSourceMap, Kind: store.KindPermanent, Error: "bad", Attempts: 1, Payload: []byte(`{"id":4}`)})
	if err != nil {
		t.Fatal(err)
	}
	c := r.client()
	r.login(c, "u-operator", testPassword, "")
	post := func(site, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, r.ts.URL+"/console/deadletters/discard",
			strings.NewReader(url.Values{"id": {itoa(int(id))}, "reason": {"forged"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", site)
		req.Header.Set("Origin", origin)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("cross-site", "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("a cross-site POST with the operator's session: %d, want 403", code)
	}
	if e := r.lastAudit(); e.Action != "http.refused" || !strings.Contains(e.Detail, "cross-origin") || e.Actor != "u-operator" {
		t.Errorf("the cross-origin refusal's audit entry: %+v", e)
	}
	if d, _ := r.st.GetDeadLetter(ctx, id); d.Status != store.StatusOpen {
		t.Errorf("after the forged discard the dead letter is %s, want open", d.Status)
	}
	// A bearer token is no ambient credential: a cross-site client that
	// holds one (a call center's web app) is not refused for its origin.
	req, _ := http.NewRequest(http.MethodPost, r.ts.URL+"/api/v1/dlq/"+itoa(int(id))+"/discard", nil)
	req.Header.Set("Authorization", "Bearer viewer-token-0123456789")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://cti.example")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden || !strings.Contains(r.lastAudit().Detail, "403 t-viewer has role viewer") {
		t.Errorf("a cross-site POST with a viewer's bearer token: %v %v, want 403 for the role, not the origin (audit %+v)", resp, err, r.lastAudit())
	}
	if code := post("same-origin", r.ts.URL); code != http.StatusSeeOther {
		t.Errorf("the console's own discard: %d, want 303", code)
	}
	if d, _ := r.st.GetDeadLetter(ctx, id); d.Status != store.StatusDiscarded {
		t.Errorf("after the console's discard the dead letter is %s, want discarded", d.Status)
	}
}

// TestLoginRefusalsAndLockout: a wrong TOTP code, a wrong password and an
// unknown user are refused alike and audited with the reason; after
// MaxFailures the user is locked out even with the right code.
func TestLoginRefusalsAndLockout(t *testing.T) {
	r := newRig(t, false)
	now, _ := totp.GenerateCode(testTOTP, time.Now())
	wrong := itoa((atoiTest(now) + 500000) % 1000000)
	for len(wrong) < 6 {
		wrong = "0" + wrong
	}
	cases := []struct{ user, password, code, audit string }{
		{"u-admin", testPassword, wrong, "refused: wrong or reused TOTP code"},
		{"u-admin", "wrong password", now, "refused: wrong user name or password"},
		{"nobody", testPassword, now, "refused: wrong user name or password"},
	}
	for _, c := range cases {
		if resp := r.login(r.client(), c.user, c.password, c.code); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("login %s/%q/%s: %s, want 401", c.user, c.password, c.code, resp.Status)
		}
		if e := r.lastAudit(); e.Action != "auth.login" || e.Actor != c.user || !strings.Contains(e.Detail, c.audit) {
			t.Errorf("login %s/%q: audit entry %+v, want %q", c.user, c.password, e, c.audit)
		}
	}
	// u-admin failed twice; the third failure locks it (MaxFailures 3).
	r.login(r.client(), "u-admin", "still wrong", now)
	if e := r.lastAudit(); !strings.Contains(e.Detail, "now locked out") {
		t.Errorf("the third failure's audit entry: %+v", e)
	}
	resp := r.login(r.client(), "u-admin", testPassword, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the right password and code while locked out: %s, want 401", resp.Status)
	}
	if e := r.lastAudit(); !strings.Contains(e.Detail, "locked out") {
		t.Errorf("the locked-out attempt's audit entry: %+v", e)
	}
}

// TestSessionCookie: HttpOnly, SameSite=Strict, Secure over TLS; the
// session opens pages and the API, and logout ends it.
func TestSessionCookie(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		r := newRig(t, tlsOn)
		c := r.client()
		resp := r.login(c, "u-operator", testPassword, "")
		var ck *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == server.SessionCookie {
				ck = k
			}
		}
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != tlsOn {
			t.Fatalf("tls %v: session cookie %+v, want HttpOnly, SameSite=Strict, Secure %v", tlsOn, ck, tlsOn)
		}
		get := func(path string) int {
			resp, err := c.Get(r.ts.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := get("/api/v1/status"); code != http.StatusOK {
			t.Errorf("tls %v: the API with a session: %d", tlsOn, code)
		}
		if code := get("/console/audit"); code != http.StatusOK {
			t.Errorf("tls %v: the audit page with a session: %d", tlsOn, code)
		}
		req, _ := http.NewRequest(http.MethodPost, r.ts.URL+"/console/logout", nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: %v %v", resp, err)
		}
		if code := get("/api/v1/status"); code != http.StatusUnauthorized {
			t.Errorf("tls %v: the API after logout: %d, want 401", tlsOn, code)
		}
	}
}

func atoiTest(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
