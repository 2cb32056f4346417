package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/crmhub/hub/store/storetest"
)

// The demo's console user and secrets, as the test sets them in the
// environment: the secret-grep at the end looks for every one of them.
const (
	consolePassword = "e2e-console-pass-7731"
	consoleTOTP     = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
	saslPassword    = "e2e-kafka-sasl-pass-4419"
	dsnPassword     = "e2e-dsn-pass-9902"
)

// TestConsoleInChromium drives the console in headless Chromium against the
// demo: sign in with a TOTP code (a wrong one first), see the failed order
// on the dead-letter page, try its mapping in the playground, fix the
// mapping, reload, replay it from the page, see it delivered in its trace
// by its CRM id, look a caller up, read the audit log. Each page is
// screenshotted into docs/console/. Then every configured secret is
// looked for in everything the run showed: the hub's log, each page,
// the API's answers; none may appear.
func TestConsoleInChromium(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("the console's browser test needs Debian's chromium: apt-get install chromium")
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Fatal("the test uses the sqlite3 client: apt-get install sqlite3")
	}
	_, self, _, _ := runtime.Caller(0)
	repo := filepath.Dir(filepath.Dir(self))
	dir := t.TempDir()
	copyDir(t, filepath.Join(repo, "configs"), filepath.Join(dir, "configs"))

	hash := strings.TrimSpace(runHubStdin(t, dir, consolePassword+"\n", "users", "hash-password", "--cost", "10"))
	stateDSN := strings.Replace(storetest.PostgresDSN(t), "postgres://postgres@", "postgres://postgres:"+dsnPassword+"@", 1)
	if !strings.Contains(stateDSN, dsnPassword) {
		t.Fatalf("state DSN %q has no password to hide", stateDSN)
	}
	httpAddr := freeAddr(t)
	kafkaAddr := freeAddr(t)
	env := []string{"HUB_HTTP_ADDR=" + httpAddr, "HUB_KAFKA_EMBEDDED_ADDR=" + kafkaAddr,
		"HUB_DEMO_PASSWORD_HASH=" + hash, "HUB_DEMO_TOTP_SECRET=" + consoleTOTP,
		"HUB_STATE_DSN=" + stateDSN, "HUB_LOG_LEVEL=debug",
		"HUB_KAFKA_SASL_MECHANISM=PLAIN", "HUB_KAFKA_SASL_USERNAME=hub", "HUB_KAFKA_SASL_PASSWORD=" + saslPassword,
		"HUB_DEMO_KAFKA_SASL_MECHANISM=plain", // the demo's analytics topic is on the same broker
		"HUB_DEMO_TOKEN=e2e-operator-token-0001", "HUB_DEMO_ADMIN_TOKEN=e2e-admin-token-0001",
		"HUB_DEMO_CALLCENTER_KEY=e2e-callcenter-key-0001", "HUB_DEMO_SHOPIFY_SECRET=e2e-shopify-hmac-key-0001"}
	secrets := []string{consolePassword, consoleTOTP, hash, saslPassword, dsnPassword,
		"e2e-operator-token-0001", "e2e-admin-token-0001", "e2e-callcenter-key-0001", "e2e-shopify-hmac-key-0001"}
	hub := startProc(t, "hub (demo)", dir, env, "run", "-c", "configs/demo.yaml")
	base := "http://" + httpAddr
	waitHTTP(t, hub, base+"/readyz", 200, time.Minute)

	// An order whose total has a decimal comma: the demo's mapping refuses it.
	sqliteCLI(t, dir, "data/demo/crm.db", "INSERT INTO orders (id, customer_id, order_no, order_date, total) VALUES (3, 1, 'SO-1003', '2026-12-01', '12,50'); INSERT INTO order_lines (order_id, line_no, sku, qty, unit_price) VALUES (3, 1, 'BOOK-7', '1', '12.50');")

	ctx := browser(t, chromium)
	// The screenshots: docs/console/ of the repository with
	// HUB_UPDATE_SCREENSHOTS=1, a temporary folder otherwise.
	shots := t.TempDir()
	if os.Getenv("HUB_UPDATE_SCREENSHOTS") == "1" {
		shots = filepath.Join(repo, "docs", "console")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	var shown []string // every page's HTML, for the secret grep
	page := func(name string) string {
		t.Helper()
		html := get(t, ctx, "read "+name, chromedp.OuterHTML(chromedp.CSS("html")))
		png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		shown = append(shown, html)
		return html
	}
	text := func(sel string) string {
		t.Helper()
		return get(t, ctx, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
	}
	watching := []*proc{hub}

	// No session: the console sends the visitor to sign in.
	run(t, ctx, "open the console", chromedp.Navigate(base+"/console/deadletters"), chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)))
	// signIn submits the form and waits for what follows: after (an
	// error on the form, or the signed-in header).
	signIn := func(code, after string) {
		run(t, ctx, "sign in",
			chromedp.SetValue(chromedp.CSS(`input[name=user]`), "demo"),
			chromedp.SetValue(chromedp.CSS(`input[name=password]`), consolePassword),
			chromedp.SetValue(chromedp.CSS(`input[name=code]`), code),
			chromedp.Click(chromedp.CSS(`form.login button`)),
			chromedp.WaitVisible(chromedp.CSS(after)))
	}
	now, err := totp.GenerateCode(consoleTOTP, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wrong := fmt.Sprintf("%06d", (atoi(now)+500000)%1000000)
	signIn(wrong, "p.error")
	if got := text("p.error"); !strings.Contains(got, "wrong user name, password or code") {
		t.Fatalf("a wrong TOTP code: the page says %q", got)
	}
	page("login")
	code, _ := totp.GenerateCode(consoleTOTP, time.Now())
	signIn(code, "form.who")

	// The dead-letter page shows the refused order: the error beside its payload.
	waitFor(t, "the order's dead letter on the page", 30*time.Second, 500*time.Millisecond, watching, func() (bool, string) {
		run(t, ctx, "reload the dead letters", chromedp.Navigate(base+"/console/deadletters"))
		html := get(t, ctx, "read the dead letters", chromedp.OuterHTML(chromedp.CSS(`main`)))
		return strings.Contains(html, `total: "12,50": not a decimal`) && strings.Contains(html, "SO-1003"), html
	})
	page("deadletters")

	// The playground: the dead letter's payload fails as it did (opened
	// from the dead letter), the fixed mapping maps it (pasted).
	run(t, ctx, "try the dead letter in the playground", chromedp.Click(chromedp.CSS(`a[href^="/console/mappings?dl="]`)),
		chromedp.WaitVisible(chromedp.CSS(`ul.fielderrors`)))
	if got := text("ul.fielderrors"); !strings.Contains(got, "total") || !strings.Contains(got, "not a decimal") {
		t.Fatalf("the playground with the demo's mapping shows %q, want the total's field error", got)
	}
	payload := get(t, ctx, "read the sample", chromedp.Value(chromedp.CSS(`textarea[name=sample]`)))
	if !strings.Contains(payload, `"12,50"`) {
		t.Fatalf("the playground's sample from the dead letter: %q", payload)
	}
	tryMapping := func() {
		run(t, ctx, "try the mapping", chromedp.Navigate(base+"/console/mappings?name="+urlQuery("source crm-orders")),
			chromedp.SetValue(chromedp.CSS(`textarea[name=sample]`), payload),
			chromedp.Click(chromedp.CSS(`#try`)), chromedp.WaitReady(chromedp.CSS(`main`)))
	}
	rewrite(t, filepath.Join(dir, "configs", "demo", "mappings", "crm-order-in.yaml"),
		"total: {from: total, type: decimal", `total: {from: total, transform: [{replace: {pattern: ",", with: "."}}], type: decimal`)
	tryMapping()
	if got := text("pre.output"); !strings.Contains(got, `"total": "12.50"`) {
		t.Fatalf("the playground with the fixed mapping shows %q, want the total 12.50", got)
	}
	page("mappings")

	// Reload (admin), then replay the dead letter from its page.
	run(t, ctx, "reload", chromedp.Navigate(base+"/console/"), chromedp.Click(chromedp.CSS(`form[action="/console/reload"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
	if got := text("p.flash"); !strings.Contains(got, "crm-orders.mapping") {
		t.Fatalf("after the reload the overview says %q", got)
	}
	run(t, ctx, "replay", chromedp.Navigate(base+"/console/deadletters"),
		chromedp.Click(chromedp.CSS(`tr[id^=dl-] input[type=checkbox]`)),
		chromedp.Click(chromedp.CSS(`#replay`)), chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
	if got := text("p.flash"); !strings.Contains(got, "replayed") || strings.Contains(got, "not replayed") {
		t.Fatalf("after the replay the page says %q", got)
	}
	waitFor(t, "SO-1003 in the ERP", 30*time.Second, 300*time.Millisecond, watching, func() (bool, string) {
		out := sqliteCLI(t, dir, "data/demo/erp.db", "SELECT order_no, total FROM erp_orders WHERE order_no = 'SO-1003';")
		return strings.Contains(out, "SO-1003|12.5"), out
	})

	// Its trace, by the CRM's id: written to the ERP.
	waitFor(t, "the order's trace shows its write to the ERP", 30*time.Second, 500*time.Millisecond, watching, func() (bool, string) {
		run(t, ctx, "trace", chromedp.Navigate(base+"/console/trace?entity=order&id=3"))
		html := get(t, ctx, "read the trace", chromedp.OuterHTML(chromedp.CSS(`main`)))
		return strings.Contains(html, `<td>erp</td>`) && strings.Contains(html, `class="event written"`) && strings.Contains(html, `class="state replayed"`), html
	})
	page("trace")

	// Reconciliation: SO-1001's total edited by hand in the ERP; a run
	// started from the console reports it with both values.
	sqliteCLI(t, dir, "data/demo/erp.db", "UPDATE erp_orders SET total = '1205.00' WHERE order_no = 'SO-1001';")
	run(t, ctx, "reconciliation", chromedp.Navigate(base+"/console/reconciliation"), chromedp.WaitVisible(chromedp.CSS(`#job-crm-erp-orders`)))
	if got := text("#job-crm-erp-orders"); !strings.Contains(got, "0 30 2 * * *") || !strings.Contains(got, "Europe/Berlin") || !strings.Contains(got, "order: crm ↔ erp") {
		t.Errorf("the reconciliation page's job row: %q", got)
	}
	run(t, ctx, "run now", chromedp.Click(chromedp.CSS(`#job-crm-erp-orders button`)), chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
	started := regexp.MustCompile(`run (\d+) of crm-erp-orders started`).FindStringSubmatch(text("p.flash"))
	if started == nil {
		t.Fatalf("after run now the page says %q", text("p.flash"))
	}
	waitFor(t, "the run's difference on its page", 60*time.Second, 500*time.Millisecond, watching, func() (bool, string) {
		run(t, ctx, "reload the run", chromedp.Navigate(base+"/console/reconciliation/runs/"+started[1]))
		html := get(t, ctx, "read the run", chromedp.OuterHTML(chromedp.CSS(`main`)))
		return strings.Contains(html, `<span class="state diffs">diffs</span>`) && strings.Contains(html, "<b>SO-1001</b>") &&
			strings.Contains(html, `<dt>total</dt><dd class="left">1250`) && strings.Contains(html, `<dt>total</dt><dd class="right">1205`), html
	})
	page("reconcile")
	run(t, ctx, "the jobs after the run", chromedp.Navigate(base+"/console/reconciliation"), chromedp.WaitVisible(chromedp.CSS(`#run-`+started[1])))
	// SO-1003, whose CRM mapping was fixed and reloaded above, is compared
	// through the fixed mapping: the reload reaches the job's next run.
	if got := text("#job-crm-erp-orders"); !strings.Contains(got, "run "+started[1]) || !strings.Contains(got, "field_mismatch 1") || strings.Contains(got, "missing_left") {
		t.Errorf("the job's last result after the run: %q", got)
	}
	page("reconcile-jobs")

	// Screen-pop and overview (its charts need a minute or two of samples;
	// the page says so until then), and the audit log.
	run(t, ctx, "screen-pop", chromedp.Navigate(base+"/console/screenpop?phone="+urlQuery("+49 30 1234567")), chromedp.WaitReady(chromedp.CSS(`main`)))
	if html := page("screenpop"); !strings.Contains(html, "Acme Maschinenbau GmbH") {
		t.Errorf("the screen-pop of +49 30 1234567 does not show Acme:\n%s", html)
	}
	run(t, ctx, "overview", chromedp.Navigate(base+"/console/"), chromedp.WaitReady(chromedp.CSS(`main`)))
	if html := page("overview"); !strings.Contains(html, "crm-orders") || !strings.Contains(html, "running") {
		t.Errorf("the overview lists no running crm-orders:\n%s", html)
	}
	run(t, ctx, "audit", chromedp.Navigate(base+"/console/audit"), chromedp.WaitReady(chromedp.CSS(`main`)))
	audit := page("audit")
	for _, want := range []string{"refused: wrong or reused TOTP code", "auth.login", "POST /console/deadletters/replay", "dlq.replay", "config.reload",
		"POST /console/reconciliation/run", "recon.run"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log has no %q", want)
		}
	}

	// The API, as an operator's script and a call center see it.
	for _, c := range []struct{ path, token string }{
		{"/api/v1/status", "e2e-operator-token-0001"}, {"/api/v1/dlq?status=all", "e2e-operator-token-0001"},
		{"/api/v1/audit", "e2e-admin-token-0001"}, {"/api/v1/trace/3?entity=order", "e2e-operator-token-0001"},
		{"/api/v1/screenpop?phone=%2B49301234567", "e2e-callcenter-key-0001"}, {"/readyz", ""}, {"/metrics", ""},
	} {
		shown = append(shown, httpGet(t, base+c.path, c.token))
	}
	hub.stop(t)
	shown = append(shown, hub.out.String())
	for _, s := range secrets {
		for i, out := range shown {
			if strings.Contains(out, s) {
				t.Errorf("secret %q appears in output %d of the run:\n%s", s, i, excerpt(out, s))
			}
		}
	}
}

// browser starts headless Chromium for the test, with the flags this
// machine's closed network needs.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1366, 860), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs browser actions, each step bounded so a missing element fails
// the test instead of hanging it.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// get runs one browser action that answers a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

func sqliteCLI(t *testing.T, dir, db, sql string) string {
	t.Helper()
	cmd := exec.Command("sqlite3", "-cmd", ".timeout 10000", db, sql)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s: %v\n%s", db, err, out)
	}
	return string(out)
}

func runHubStdin(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(hubBinary(t), args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hub %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

func httpGet(t *testing.T, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

func urlQuery(s string) string {
	r := strings.NewReplacer(" ", "%20", "+", "%2B", "/", "%2F")
	return r.Replace(s)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func excerpt(s, needle string) string {
	i := strings.Index(s, needle)
	lo, hi := max(i-200, 0), min(i+len(needle)+200, len(s))
	return s[lo:hi]
}

// TestReadmeConsole runs the README's console commands as written: the
// demo user's current code (valid for the demo's secret), a new user's
// enrolment with its QR code as a PNG, and a password's bcrypt hash.
func TestReadmeConsole(t *testing.T) {
	t.Parallel()
	_, self, _, _ := runtime.Caller(0)
	repo := filepath.Dir(filepath.Dir(self))
	lines := readmeSection(t, repo, "### The console")
	if len(lines) != 3 {
		t.Fatalf("README's console section has %d command lines, want 3: %q", len(lines), lines)
	}
	dir := t.TempDir()
	copyDir(t, filepath.Join(repo, "configs"), filepath.Join(dir, "configs"))
	shell := "hub() { " + hubBinary(t) + ` "$@"; }` + "\nexport PASSWORD='a long enough password'\n"
	outs := make([]string, len(lines))
	for i, line := range lines {
		cmd := exec.Command("bash", "-c", shell+line)
		cmd.Dir = dir
		cmd.Env = childEnv(nil)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("$ %s: %v\n%s", line, err, b)
		}
		outs[i] = strings.TrimSpace(string(b))
	}
	if ok := totp.Validate(outs[0], "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"); !ok {
		t.Errorf("hub users code printed %q, not the demo secret's current code", outs[0])
	}
	png, err := os.ReadFile(filepath.Join(dir, "alice-totp.png"))
	if err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Errorf("hub users enroll --png: %d bytes, %v", len(png), err)
	}
	if !strings.Contains(outs[1], "totp_secret: ") {
		t.Errorf("hub users enroll printed no secret:\n%s", outs[1])
	}
	if err := bcrypt.CompareHashAndPassword([]byte(outs[2]), []byte("a long enough password")); err != nil {
		t.Errorf("hub users hash-password printed %q: %v", outs[2], err)
	}
}
