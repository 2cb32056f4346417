package bench

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/crmhub/hub/reconcile/sqlsum"
)

// TestReconcileBenchFindsTheSeededDifferences runs `hub bench reconcile`
// small: every comparing phase must report exactly the seeded keys with
// their classes. Times are printed, not asserted.
func TestReconcileBenchFindsTheSeededDifferences(t *testing.T) {
	dsn := postgresDSN(t)
	res, err := RunReconcile(context.Background(), ReconcileOptions{PostgresDSN: dsn, Orders: 20000, DiffPercent: 2}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + res.String())
	want := map[sqlsum.Class]int{sqlsum.OnlyLeft: 100, sqlsum.OnlyRight: 100, sqlsum.Changed: 200}
	for c, n := range want {
		if res.Seeded[c] != n {
			t.Errorf("seeded %d %v, want %d", res.Seeded[c], c, n)
		}
	}
	if !res.Floor.Measured || res.Floor.Wall <= 0 {
		t.Errorf("floor not measured: %+v", res.Floor)
	}
	phases := []Phase{res.Checksum}
	if res.Stream.Measured {
		phases = append(phases, res.Stream)
	}
	if res.NearEqual != 40 || res.Checksum.Candidates != 440 {
		t.Errorf("near-equal totals %d, checksum candidates %d; want 40 and 440 (the differences and the near-equal ones)",
			res.NearEqual, res.Checksum.Candidates)
	}
	for _, p := range phases {
		if !p.Measured || p.Found != 400 || p.Wrong != 0 {
			t.Errorf("%s: found %d, wrong %d (measured %v, %s); want 400 found, 0 wrong", p.Name, p.Found, p.Wrong, p.Measured, p.Note)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h:5432/test?sslmode=disable": "postgres://u@h:5432/x?sslmode=disable",
		"postgres://u@h:5432/test":                 "postgres://u@h:5432/x",
		"postgres://u@h:5432":                      "postgres://u@h:5432/x",
		"postgres://u@h?sslmode=disable":           "postgres://u@h/x?sslmode=disable",
	} {
		if got, err := withDatabase(in, "x"); err != nil || got != want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// postgresDSN is the PostgreSQL the bench tests create their schemas in:
// HUB_TEST_POSTGRES_DSN, or a skip (a failure with HUB_REQUIRE_SERVICES=1).
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("HUB_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("HUB_REQUIRE_SERVICES") == "1" {
			t.Fatal("HUB_TEST_POSTGRES_DSN is not set and HUB_REQUIRE_SERVICES=1")
		}
		t.Skip("HUB_TEST_POSTGRES_DSN is not set")
	}
	return dsn
}
