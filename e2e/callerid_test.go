package e2e

// A real SIP server asks the hub for callers' names: Kamailio, on INVITE,
// queries the hub's caller-id URL (http_client_query, a call-center key
// as bearer token) and puts the answer into an X-Caller-Name header;
// SIPp places the calls and answers them. Both come from Debian
// (kamailio, kamailio-utils-modules, sip-tester); ../shared/notes/
// telephony.md has the set-up and its pitfalls.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmhub/hub/store/storetest"
)

// kamailioModules is where Debian installs Kamailio's modules.
const kamailioModules = "/usr/lib/x86_64-linux-gnu/kamailio/modules"

// kamailioCfg routes every request to the SIPp answering the calls; an
// INVITE first asks the hub for the caller's name, for at most a second.
const kamailioCfg = `#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:{{SIP_PORT}}
mpath="{{MODULES}}/"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "xlog.so"
loadmodule "http_client.so"
modparam("http_client", "connection_timeout", 1)
request_route {
    if (is_method("INVITE")) {
        # One lookup per call: SIPp retransmits the INVITE while it waits.
        if (t_precheck_trans()) {
            t_check_trans();
            exit;
        }
        t_check_trans();
        sl_send_reply("100", "Trying");
        $var(name) = "";
        $var(rc) = http_client_query("http://{{HUB}}/api/v1/callerid?number=$(fU{s.urlencode.param})", "", "Authorization: Bearer {{KEY}}", "$var(name)");
        xlog("L_INFO", "callerid lookup of $fU: $var(rc) [$var(name)]\n");
        if ($var(rc) == 200 && $var(name) != "") {
            append_hf("X-Caller-Name: $var(name)\r\n");
        }
    }
    $du = "sip:127.0.0.1:{{UAS_PORT}}";
    t_relay();
    exit;
}
`

// freeUDPPort is a loopback UDP port nobody uses now.
func freeUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, port, _ := net.SplitHostPort(c.LocalAddr().String())
	return port
}

// startExternal starts a program that is not the hub, stopped with
// SIGTERM at the end of the test.
func startExternal(t *testing.T, name, dir string, path string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", name, p.tail(40))
		}
	})
	return p
}

// TestCallerIDKamailio: calls placed with SIPp through Kamailio carry the
// caller's name the hub answered: a known caller's (without the quotes
// its CRM name has), none for an unknown caller, and with the hub stopped
// or hanging the call still goes through, unnamed, within Kamailio's
// one-second lookup timeout.
func TestCallerIDKamailio(t *testing.T) {
	t.Parallel()
	kamailio, err1 := exec.LookPath("kamailio")
	sipp, err2 := exec.LookPath("sipp")
	_, err3 := os.Stat(filepath.Join(kamailioModules, "http_client.so"))
	if err1 != nil || err2 != nil || err3 != nil {
		storetest.Unavailable(t, "the caller-id test needs Kamailio and SIPp: apt-get install -y --no-install-recommends kamailio kamailio-utils-modules sip-tester")
		return
	}
	dir := t.TempDir()
	crm := newSQLite(t, dir, "crm.db")
	r := newCallRig(t, crm)
	crm.execScript(t, `
INSERT INTO customers (id, name, email, phone, country) VALUES
    (1, 'Acme Maschinenbau GmbH', 'einkauf@acme.example', '030 1234567', 'DE'),
    (2, 'Grace "Amazing" Hopper', 'grace@example.com', '+1 202 555 0143', 'US')
`)
	r.start()
	r.waitPop("030 1234567", "Acme Maschinenbau GmbH", 30*time.Second)
	r.waitPop("+1 202 555 0143", `Grace "Amazing" Hopper`, 10*time.Second)

	sipPort, uasPort := freeUDPPort(t), freeUDPPort(t)
	cfg := strings.NewReplacer("{{SIP_PORT}}", sipPort, "{{UAS_PORT}}", uasPort, "{{MODULES}}", kamailioModules,
		"{{HUB}}", r.httpAddr, "{{KEY}}", callKey).Replace(kamailioCfg)
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(kamailio, "-c", "-f", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("kamailio -c: %v\n%s", err, out)
	}
	runDir := filepath.Join(dir, "kamailio")
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	kam := startExternal(t, "kamailio", dir, kamailio, "-DD", "-E", "-f", cfgPath, "-Y", runDir, "-P", filepath.Join(runDir, "kamailio.pid"), "-m", "64", "-M", "8")
	waitFor(t, "Kamailio to listen", 15*time.Second, 50*time.Millisecond, []*proc{kam}, func() (bool, string) {
		return strings.Contains(kam.out.String(), "SO_RCVBUF is finally"), "starting"
	})

	// One SIPp answers every call and logs what reached it.
	msgs := filepath.Join(dir, "uas.msg")
	const calls = 5
	startExternal(t, "sipp uas", dir, sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", uasPort, "-m", fmt.Sprint(calls),
		"-nostdin", "-trace_msg", "-message_file", msgs)
	// The caller's scenario: SIPp's own uac with the From user a key.
	uac, err := exec.Command(sipp, "-sd", "uac").Output()
	if !strings.Contains(string(uac), "<scenario") { // it prints the scenario and exits 99
		t.Fatalf("sipp -sd uac: %v\n%s", err, uac)
	}
	scenario := filepath.Join(dir, "uac.xml")
	if err := os.WriteFile(scenario, []byte(strings.ReplaceAll(string(uac), "sip:sipp@", "sip:[caller]@")), 0o600); err != nil {
		t.Fatal(err)
	}
	call := func(caller string) time.Duration {
		t.Helper()
		start := time.Now()
		cmd := exec.Command(sipp, "-sf", scenario, "-i", "127.0.0.1", "-p", freeUDPPort(t), "-m", "1", "-nostdin",
			"-timeout", "15s", "-key", "caller", caller, "-s", "1001", "127.0.0.1:"+sipPort)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the call from %s did not go through: %v\n%s", caller, err, tailLines(string(out), 30))
		}
		return time.Since(start)
	}
	named := func(caller string) (string, bool) {
		t.Helper()
		b, _ := os.ReadFile(msgs)
		return callerName(string(b), caller)
	}

	if took := call("+49301234567"); took > 3*time.Second {
		t.Errorf("a known caller's call took %s", took)
	}
	if name, ok := named("+49301234567"); !ok || name != "Acme Maschinenbau GmbH" {
		t.Errorf("known caller: X-Caller-Name %q (INVITE seen %v), want Acme Maschinenbau GmbH", name, ok)
	}
	call("+12025550143")
	if name, ok := named("+12025550143"); !ok || name != "Grace Amazing Hopper" {
		t.Errorf("a name with quotes: X-Caller-Name %q (INVITE seen %v), want Grace Amazing Hopper", name, ok)
	}
	call("+49309999999")
	if name, ok := named("+49309999999"); !ok || name != "" {
		t.Errorf("unknown caller: X-Caller-Name %q (INVITE seen %v), want none", name, ok)
	}

	// The hub stops: Kamailio's lookup is refused, the call goes on.
	r.hub.stop(t)
	took := call("+4930111111")
	if name, ok := named("+4930111111"); !ok || name != "" {
		t.Errorf("hub stopped: X-Caller-Name %q (INVITE seen %v), want none", name, ok)
	}
	t.Logf("MEASURE with the hub stopped a call took %s", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("with the hub stopped a call took %s", took)
	}
	// Something hangs on the hub's address: Kamailio gives up after its
	// one-second timeout, and the call goes on.
	ln, err := net.Listen("tcp", r.httpAddr)
	if err != nil {
		t.Fatalf("hold the hub's address: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // never answer
		}
	}()
	took = call("+4930222222")
	if name, ok := named("+4930222222"); !ok || name != "" {
		t.Errorf("hub hanging: X-Caller-Name %q (INVITE seen %v), want none", name, ok)
	}
	t.Logf("MEASURE with the hub hanging a call took %s", took.Round(time.Millisecond))
	if took < time.Second || took > 4*time.Second {
		t.Errorf("with the hub hanging a call took %s, want Kamailio's 1 s timeout and a little", took)
	}
	if !strings.Contains(kam.out.String(), ": 28 []") || !strings.Contains(kam.out.String(), ": 7 []") {
		t.Errorf("Kamailio's log lacks the refused (7) and the timed-out (28) lookup:\n%s", kam.tail(20))
	}
}

// callerName finds, in a SIPp message log, the INVITE from caller and its
// X-Caller-Name header ("" when it has none); ok is false when no such
// INVITE reached the callee.
func callerName(log, caller string) (name string, ok bool) {
	log = strings.ReplaceAll(log, "\r", "")
	from := regexp.MustCompile(`(?m)^From:.*<sip:` + regexp.QuoteMeta(caller) + `@`)
	for _, block := range strings.Split(log, "\nINVITE ")[1:] {
		block, _, _ = strings.Cut(block, "\n\n")
		if !from.MatchString(block) {
			continue
		}
		for _, line := range strings.Split(block, "\n") {
			if v, found := strings.CutPrefix(line, "X-Caller-Name: "); found {
				return v, true
			}
		}
		return "", true
	}
	return "", false
}
