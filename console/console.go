// Package console owns the hub's operations console: server-rendered pages
// under /console (overview, dead letters, record trace, reconciliation,
// mappings playground, screen-pop lookup, audit log, sign-in), with their templates
// and stylesheet embedded so the hub stays one binary. Access is the
// server's: every page is registered with the role it needs, and state
// changes are plain form POSTs behind the server's cross-origin protection.
//
// It may import server, store, pipeline, pipeline/api, reconcile and
// mapping; only the node imports it.
package console

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/pipeline/api"
	"github.com/crmhub/hub/server"
	"github.com/crmhub/hub/store"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Replayer is what the dead-letter page needs of the pipeline's replayer.
type Replayer interface {
	Replay(ctx context.Context, id int64, actor string) (string, error)
	Discard(ctx context.Context, id int64, actor, reason string) error
}

// Page is an extra page another feature adds to the console: its path under /console/, its title
// in the navigation, the least role that may open it and its handler, which
// renders with Console.Render.
type Page struct {
	Path    string // e.g. "reconciliation"
	Title   string
	Role    string
	Handler http.Handler
}

// Console serves the pages.
type Console struct {
	Store    *store.Store
	Replayer Replayer
	Ops      api.Operator // nil hides the connector states and the reload button
	// Recon is the node's reconciliation jobs (the reconciliation page,
	// whose run-now is the API's); nil hides the page.
	Recon  api.Reconciliations
	Server *server.Server
	Log    *slog.Logger
	// Mappings are the config's mapping files, by what uses them
	// ("source crm-orders", "sink erp/order").
	Mappings map[string]string
	// Extra pages, in the order given (see Page).
	Extra []Page
	// Sampler feeds the overview's per-minute charts; nil draws none.
	Sampler *Sampler

	pages map[string]*template.Template
}

// Register adds the console's routes to srv.
func (c *Console) Register(srv *server.Server) error {
	if err := c.parse(); err != nil {
		return err
	}
	c.Server = srv
	static, _ := fs.Sub(assets, "static")
	srv.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	srv.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusSeeOther))
	srv.Handle("GET "+server.LoginPath, http.HandlerFunc(c.loginPage))
	srv.Handle("POST "+server.LoginPath, http.HandlerFunc(c.login))
	page := func(pattern, role string, h http.HandlerFunc) {
		srv.HandleAccess(pattern, server.Access{Role: role, Page: true}, h)
	}
	page("POST /console/logout", server.RoleViewer, c.logout)
	page("GET /console/{$}", server.RoleViewer, c.overview)
	page("GET /console/deadletters", server.RoleViewer, c.deadLetters)
	page("POST /console/deadletters/replay", server.RoleOperator, c.actOnDeadLetters(false))
	page("POST /console/deadletters/discard", server.RoleOperator, c.actOnDeadLetters(true))
	page("GET /console/trace", server.RoleViewer, c.trace)
	page("GET /console/mappings", server.RoleViewer, c.mappings)
	// The playground's POST only maps a sample: not audited when it succeeds.
	srv.HandleAccess("POST /console/mappings", server.Access{Role: server.RoleViewer, Page: true, ReadOnly: true}, http.HandlerFunc(c.mappings))
	page("GET /console/screenpop", server.RoleViewer, c.screenPop)
	page("GET /console/audit", server.RoleOperator, c.audit)
	if c.Ops != nil {
		page("POST /console/reload", server.RoleAdmin, c.reload)
	}
	if c.Recon != nil {
		c.registerRecon(page)
	}
	for _, p := range c.Extra {
		srv.HandleAccess("/console/"+p.Path, server.Access{Role: p.Role, Page: true}, p.Handler)
	}
	return nil
}

// parse reads the embedded templates: each page with the layout.
func (c *Console) parse() error {
	funcs := template.FuncMap{
		"ago":   ago,
		"has":   strings.Contains,
		"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"query": func(kv ...string) template.URL { return template.URL(queryOf(kv...)) },
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	c.pages = map[string]*template.Template{}
	for _, n := range names {
		if strings.HasSuffix(n, "/layout.html") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return err
		}
		c.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return nil
}

// view is what every page template gets.
type view struct {
	Title, Nav       string
	User, Role       string
	CanOperate       bool
	IsAdmin          bool
	HasOps           bool
	Flash, Error     string
	Extra            []Page
	Data             any
	ReconciliationAt string // the reconciliation page's path ("": none)
	Refresh          int    // seconds after which the browser reloads the page (0: never)
}

// refresher is page data that has the browser reload the page while what it
// shows is under way (a reconciliation run still running).
type refresher interface{ RefreshSeconds() int }

// Render writes page name with data, for the console's pages and extra
// ones (name "" renders data as the body of a generic page).
func (c *Console) Render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	c.render(w, r, http.StatusOK, name, title, data, "", "")
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, name, title string, data any, flash, errMsg string) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	v := view{Title: title, Nav: name, Data: data, Flash: flash, Error: errMsg, Extra: c.Extra, HasOps: c.Ops != nil}
	if c.Recon != nil {
		v.ReconciliationAt = ReconPath
	}
	if rf, ok := data.(refresher); ok {
		v.Refresh = rf.RefreshSeconds()
	}
	if c.Server != nil {
		v.User, v.Role, _ = c.Server.Who(r)
	}
	v.CanOperate = server.RoleAtLeast(v.Role, server.RoleOperator)
	v.IsAdmin = server.RoleAtLeast(v.Role, server.RoleAdmin)
	if v.Flash == "" {
		v.Flash = r.URL.Query().Get("done")
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		c.Log.Error("console: render", "page", name, "err", err)
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", "Sign in", map[string]string{"Next": safeNext(r.URL.Query().Get("next"))}, "", "")
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	err := c.Server.Login(w, r, r.PostFormValue("user"), r.PostFormValue("password"), r.PostFormValue("code"))
	if err != nil {
		c.render(w, r, http.StatusUnauthorized, "login", "Sign in", map[string]string{"Next": next}, "", err.Error())
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	c.Server.Logout(w, r)
	http.Redirect(w, r, server.LoginPath, http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on the console.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/console/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return "/console/"
}

func (c *Console) reload(w http.ResponseWriter, r *http.Request) {
	res, err := c.Ops.Reload(r.Context(), server.Actor(r.Context()))
	msg := "reloaded: " + strings.Join(append(prefixed("applied ", res.Applied), prefixed("refused ", res.Refused)...), "; ")
	if len(res.Applied)+len(res.Refused) == 0 {
		msg = "reloaded: nothing changed"
	}
	if err != nil {
		msg = "reload failed: " + err.Error()
	}
	http.Redirect(w, r, "/console/?done="+url.QueryEscape(msg), http.StatusSeeOther)
}

func prefixed(p string, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = p + x
	}
	return out
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request) {
	entries, err := c.Store.ListAudit(r.Context(), 200)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "audit", "Audit log", nil, "", err.Error())
		return
	}
	c.Render(w, r, "audit", "Audit log", entries)
}

// ago says how long ago t was, in words a person reads at a glance.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return itoa(int(d.Hours())) + " h ago"
	}
	return itoa(int(d.Hours()/24)) + " days ago"
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
