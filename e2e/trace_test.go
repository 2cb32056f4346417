package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// traceJSON is the part of `hub trace --json` (the API's answer) the tests
// read.
type traceJSON struct {
	ID      string `json:"id"`
	Records []struct {
		Entity string `json:"entity"`
		HubID  string `json:"hub_id"`
		Links  []struct {
			System     string `json:"system"`
			ExternalID string `json:"external_id"`
			Version    string `json:"version"`
		} `json:"links"`
		Events []struct {
			Event      string `json:"event"`
			System     string `json:"system"`
			ExternalID string `json:"external_id"`
			Detail     string `json:"detail"`
		} `json:"events"`
		DeadLetters []deadLetter `json:"dead_letters"`
	} `json:"records"`
}

// TestTraceOrderByAnyID syncs two orders from a PostgreSQL CRM to a
// PostgreSQL ERP that numbers orders itself ("ERP-" and the order number)
// and refuses one of them (a check constraint). With the hub stopped,
// `hub trace` prints the same journey for the written order's CRM id, ERP
// id and hub id (published by the CRM, written to the ERP with the ERP's
// id), as text and as --json; the refused order's trace shows the failed
// attempt, the dead letter event and the dead letter itself; an unknown id
// exits 1.
func TestTraceOrderByAnyID(t *testing.T) {
	t.Parallel()
	crm, erp := pgPair(t)
	erp.execScript(t, `ALTER TABLE erp_orders ADD CONSTRAINT erp_orders_refused CHECK (order_no <> 'SO-REFUSED')`)
	r := newRig(t, rigOpts{crm: crm, erp: erp})
	r.allowDeadLetters = true
	rewrite(t, filepath.Join(r.dir, "mappings", "erp-order-out.yaml"),
		"  ext_ref: {from: id, required: true}",
		`  ext_ref: {from: order_no, required: true, transform: [{prefix: "ERP-"}]}`)

	cs := []customer{genCustomer(1), genCustomer(2)}
	good, bad := genOrder(5001, 2), genOrder(5002, 2)
	good.CustomerID, good.OrderNo = 1, "SO-005001"
	bad.CustomerID, bad.OrderNo = 2, "SO-REFUSED"
	insertCustomers(t, crm, cs)
	r.start()
	// The customers first, so that no order waits for its customer (which
	// the journal would show as a failed attempt).
	waitFor(t, "the customers in the ERP", time.Minute, 100*time.Millisecond, r.watching(), func() (bool, string) {
		n := erp.count(t, "erp_customers")
		return n == 2, strconv.Itoa(n) + " of 2"
	})
	insertOrders(t, crm, []order{good, bad}, 2)
	waitFor(t, "the good order in the ERP and the refused one dead-lettered", time.Minute, 200*time.Millisecond, r.watching(), func() (bool, string) {
		n := erp.count(t, "erp_orders WHERE ext_ref = 'ERP-SO-005001'")
		dead, _ := scrapeSum(r.httpAddr, "hub_dead_letters_total")
		return n == 1 && dead == 1, "ERP-SO-005001 rows: " + strconv.Itoa(n) + ", dead letters: " + strconv.FormatFloat(dead, 'f', 0, 64)
	})
	if dls := listDeadLetters(t, r.dir, r.cfg, "all"); dls.Total != 1 || dls.Items[0].Entity != "order" {
		t.Fatalf("dead letters %+v; want the refused order's only", dls)
	}
	r.hub.stop(t) // the journal is written on the way out; the traces below are stable

	// The hub id and the ERP's id, as the journal knows them.
	first := traceOf(t, r, "5001")
	if len(first.Records) != 1 || first.Records[0].Entity != "order" {
		t.Fatalf("hub trace 5001 --json: %+v; want one order", first)
	}
	hubID := first.Records[0].HubID
	ids := map[string]string{}
	for _, l := range first.Records[0].Links {
		ids[l.System] = l.ExternalID
	}
	if ids["crm"] != "5001" || ids["erp"] != "ERP-SO-005001" || hubID == "" || hubID == ids["erp"] {
		t.Fatalf("links %+v of hub id %s; want crm 5001 and erp ERP-SO-005001", first.Records[0].Links, hubID)
	}

	// Text: the same journey by each id.
	var texts []string
	for _, id := range []string{"5001", ids["erp"], hubID} {
		texts = append(texts, runHub(t, r.dir, "trace", id, "-c", r.cfg))
	}
	for i, id := range []string{ids["erp"], hubID} {
		if texts[i+1] != texts[0] {
			t.Errorf("hub trace %s differs from hub trace 5001:\n%s\nvs\n%s", id, texts[i+1], texts[0])
		}
	}
	out := texts[0]
	t.Logf("hub trace 5001:\n%s", out)
	for _, want := range []string{
		"order " + hubID,
		"id in crm          5001 (version ",
		"id in erp          ERP-SO-005001 (version ",
		"published     crm        id 5001 version ",
		"written       erp        id ERP-SO-005001 version ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("hub trace 5001 lacks %q", want)
		}
	}
	if p, w := strings.Index(out, "published"), strings.Index(out, "written"); p < 0 || w < p {
		t.Error("journey out of order: written before published")
	}
	if strings.Contains(out, "dead letter") || strings.Contains(out, "failed") {
		t.Error("the written order's trace shows a failure")
	}

	// JSON: the same record by each id, and the same steps.
	for _, id := range []string{ids["erp"], hubID} {
		tr := traceOf(t, r, id)
		if tr.ID != id {
			t.Errorf("hub trace %s --json: id %q", id, tr.ID)
		}
		tr.ID = first.ID
		a, _ := json.Marshal(tr)
		b, _ := json.Marshal(first)
		if string(a) != string(b) {
			t.Errorf("hub trace %s --json differs from hub trace 5001 --json:\n%s\nvs\n%s", id, a, b)
		}
	}
	var steps []string
	for _, e := range first.Records[0].Events {
		steps = append(steps, e.Event+" "+e.System+" "+e.ExternalID)
	}
	if got := strings.Join(steps, ", "); got != "published crm 5001, written erp ERP-SO-005001" {
		t.Errorf("journey (--json) %q; want published by the CRM, then written to the ERP with its id", got)
	}

	// The refused order: its attempt failed, it was dead-lettered, and the
	// dead letter is on its trace.
	refused := runHub(t, r.dir, "trace", "5002", "-c", r.cfg)
	t.Logf("hub trace 5002:\n%s", refused)
	for _, want := range []string{"published     crm        id 5002", "failed        erp", "dead_lettered erp", "erp_orders_refused",
		"(permanent, open) at write by erp"} {
		if !strings.Contains(refused, want) {
			t.Errorf("hub trace 5002 lacks %q", want)
		}
	}
	if strings.Contains(refused, "written ") {
		t.Error("hub trace 5002 says the refused order was written")
	}
	tr := traceOf(t, r, "5002")
	if len(tr.Records) != 1 || len(tr.Records[0].DeadLetters) != 1 {
		t.Fatalf("hub trace 5002 --json: %+v; want one record with one dead letter", tr)
	}
	d := tr.Records[0].DeadLetters[0]
	if d.Stage != "write" || d.Kind != "permanent" || d.Connector != "erp" || d.HubID != tr.Records[0].HubID || !strings.Contains(d.Error, "erp_orders_refused") {
		t.Errorf("dead letter %+v; want a permanent write failure at erp naming the constraint", d)
	}

	// Nothing known: exit 1.
	stdout, _, err := runHubCode(t, r.dir, "trace", "no-such-order", "-c", r.cfg)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stdout, `nothing known about "no-such-order"`) {
		t.Errorf("hub trace no-such-order: %v\n%s; want exit 1 and nothing known", err, stdout)
	}
}

// traceOf runs `hub trace ID --json`.
func traceOf(t *testing.T, r *rig, id string) traceJSON {
	t.Helper()
	out := runHub(t, r.dir, "trace", id, "-c", r.cfg, "--json")
	var tr traceJSON
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("hub trace %s --json: %v\n%s", id, err, out)
	}
	return tr
}
