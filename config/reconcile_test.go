package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reconcileConfig writes body as hub.yaml next to an (empty) mapping
// in.yaml and loads it.
func reconcileConfig(t *testing.T, body string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.yaml"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

const reconcileHead = `connectors:
  crm: {kind: sqlstore}
  erp: {kind: sqlstore}
sources:
  crm-orders: {connector: crm, entity: order, mapping: in.yaml}
reconcile:
`

func TestReconcileJobs(t *testing.T) {
	cfg, err := reconcileConfig(t, reconcileHead+`  orders:
    entity: order
    left: crm
    right: erp
    right_mapping: in.yaml
    key: number
    fields:
      total: tolerance 0.01
      status: case_insensitive
      order_date: days 2
      notes: ignore
    window_days: 30
    schedule: "*/5 * * * * *"
    time_zone: Europe/Berlin
`)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	j := cfg.Reconcile["orders"]
	if j.Repair != "report" || j.Amount != "total" || j.Currency != "currency" || j.WindowDays != 30 {
		t.Errorf("defaults: %+v", j)
	}
	if m := cfg.ReconcileMapping(j, "left"); m != filepath.Join(filepath.Dir(cfg.File), "in.yaml") {
		t.Errorf("left mapping from the source: %q", m)
	}
	if m := cfg.ReconcileMapping(j, "right"); !filepath.IsAbs(m) {
		t.Errorf("right mapping not made relative to the config: %q", m)
	}
	r, err := ParseFieldRule(j.Fields["total"])
	if err != nil || r.Kind != "tolerance" || r.Tolerance.String() != "0.01" {
		t.Errorf("total rule: %+v %v", r, err)
	}
	sched, err := j.Cron()
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 12, 3, 10, 0, 1, 0, time.UTC)
	if next := sched.Next(from); !next.Equal(time.Date(2026, 12, 3, 10, 0, 5, 0, time.UTC)) {
		t.Errorf("next run after %s: %s", from, next)
	}
	// A daily schedule runs at midnight in the job's zone.
	j.Schedule = "@daily"
	sched, _ = j.Cron()
	if next := sched.Next(from); !next.Equal(time.Date(2026, 12, 3, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("@daily in Berlin after %s: %s", from, next)
	}
}

func TestReconcileProblems(t *testing.T) {
	_, err := reconcileConfig(t, reconcileHead+`  same:
    entity: order
    left: crm
    right: crm
    fields: {total: exact}
  orders:
    entity: lead
    left: nope
    right: erp
    fields:
      total: tolerance -1
      date: days two
      status: fuzzy
    window_days: -1
    repair: owner_wins
    schedule: "61 * * * * *"
  nightly:
    entity: order
    left: crm
    right: erp
    fields: {total: exact}
    repair: whoever
    schedule: "@daily"
    time_zone: Mars/Olympus
`)
	probs, ok := ErrProblems(err)
	if !ok {
		t.Fatalf("want problems, got %v", err)
	}
	want := []string{
		`:10: reconcile.same.right: is "crm", like left`,
		`:13: reconcile.orders.entity: "lead" is not one of`,
		`:14: reconcile.orders.left: no connector named "nope"`,
		`:23: reconcile.nightly.right_mapping: is required: no source reads order from erp`,
		`:17: reconcile.orders.fields.total: "tolerance -1": the tolerance must be a non-negative decimal`,
		`:18: reconcile.orders.fields.date: "days two": days must be a whole number`,
		`:19: reconcile.orders.fields.status: "fuzzy" is not a rule`,
		`:20: reconcile.orders.window_days: must be 0`,
		`:21: reconcile.orders.repair: owner_wins needs entities.lead.owners`,
		`:22: reconcile.orders.schedule: "61 * * * * *": `,
		`:28: reconcile.nightly.repair: "whoever" is not one of report, left_wins`,
		`:30: reconcile.nightly.time_zone: "Mars/Olympus" is not a time zone`,
	}
	text := probs.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("problems lack %q:\n%s", w, text)
		}
	}
}

// TestReconcileChecksumProblems: a job's method and checksum columns are
// checked, each problem at its key and line.
func TestReconcileChecksumProblems(t *testing.T) {
	body := `connectors:
  crm: {kind: sqlstore}
  erp: {kind: tryton}
sources:
  crm-orders: {connector: crm, entity: order, mapping: in.yaml}
reconcile:
  orders:
    entity: order
    left: crm
    right: erp
    right_mapping: in.yaml
    key: order_no
    method: sometimes
    fields: {total: exact}
  summed:
    entity: order
    left: crm
    right: erp
    right_mapping: in.yaml
    key: order_no
    method: checksum
    window_days: 3
    fields: {total: "tolerance 0.01", notes: ignore}
    checksum:
      left:
        key: "id; DROP TABLE x"
        columns: {order_no: order_no, total: "total--", currency: currency, notes: notes}
      right:
        columns: {order_no: number}
`
	_, err := reconcileConfig(t, body)
	probs, ok := ErrProblems(err)
	if !ok {
		t.Fatalf("want problems, got %v", err)
	}
	want := []string{
		`:13: reconcile.orders.method: "sometimes" is not one of auto, stream, checksum`,
		`:22: reconcile.summed.window_days: cannot go with the checksum path`,
		`reconcile.summed.checksum.right: connector erp is tryton: the checksum path needs a sqlstore table`,
		`:26: reconcile.summed.checksum.left.key: "id; DROP TABLE x" is not a plain column name`,
		`:27: reconcile.summed.checksum.left.columns.total: "total--" is not a plain column name`,
		`:27: reconcile.summed.checksum.left.columns.notes: notes is not a compared field`,
		`reconcile.summed.checksum.right.columns: has no column for total`,
		`reconcile.summed.checksum.right.columns: has no column for currency`,
	}
	text := probs.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("problems lack %q:\n%s", w, text)
		}
	}
	// Method auto with no checksum columns is a stream job: nothing to say.
	cfg, err := reconcileConfig(t, reconcileHead+`  orders:
    entity: order
    left: crm
    right: erp
    right_mapping: in.yaml
    fields: {total: exact}
`)
	if err != nil || cfg.Reconcile["orders"].Method != "auto" {
		t.Errorf("default method: %v %+v", err, cfg.Reconcile["orders"])
	}
}
