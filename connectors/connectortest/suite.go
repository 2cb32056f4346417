package connectortest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
)

// prompt is how soon a call must return once its context is cancelled.
const prompt = 3 * time.Second

// Run runs the suite on the connector h builds: the checks of every
// capability it declares, then the checks of a system that is down.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("connectortest: the harness has no New")
	}
	s := &suite{h: h, conn: h.New(t)}
	t.Run("Contract", s.contract)
	if w, ok := s.conn.(connectors.Writer); ok {
		s.w = w
		t.Run("Write", func(t *testing.T) {
			for _, spec := range w.Writes() {
				t.Run(spec.Entity, func(t *testing.T) { s.writer(t, spec) })
			}
		})
	}
	if r, ok := s.conn.(connectors.Reader); ok {
		s.r = r
		t.Run("Read", func(t *testing.T) {
			for _, spec := range r.Reads() {
				t.Run(spec.Entity, func(t *testing.T) { s.reader(t, spec) })
			}
		})
	}
	if sc, ok := s.conn.(connectors.Scanner); ok {
		s.sc = sc
		t.Run("Scan", func(t *testing.T) {
			for _, entity := range sc.Scans() {
				t.Run(entity, func(t *testing.T) { s.scanner(t, entity) })
			}
		})
	}
	t.Run("Down", s.down) // last: it breaks the system
}

// suite is one Run.
type suite struct {
	h    Harness
	conn connectors.Connector
	w    connectors.Writer
	r    connectors.Reader
	sc   connectors.Scanner
}

// need skips the check unless the harness has what it takes.
func need(t *testing.T, what string, have bool) {
	t.Helper()
	if !have {
		t.Skipf("the harness has no %s", what)
	}
}

// contract checks what every connector declares.
func (s *suite) contract(t *testing.T) {
	if s.conn.Name() == "" {
		t.Error("Name is empty")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.conn.Check(ctx); err != nil {
		t.Errorf("Check of a healthy system: %v", err)
	}
	seen := map[string]bool{}
	if s.w != nil {
		for _, spec := range s.w.Writes() {
			if spec.Entity == "" || seen["w"+spec.Entity] {
				t.Errorf("Writes: empty or repeated entity %q", spec.Entity)
			}
			seen["w"+spec.Entity] = true
		}
	}
	if s.sc != nil {
		scans := s.sc.Scans()
		if slices.ContainsFunc(scans, func(e string) bool { return e == "" }) || len(slices.Compact(slices.Sorted(slices.Values(scans)))) != len(scans) {
			t.Errorf("Scans: empty or repeated entity in %v", scans)
		}
	}
}

// kindOf is the kind of err.
func kindOf(err error) connectors.ErrorKind {
	k, _ := connectors.Classify(err)
	return k
}

// cancelled is a context that is done already.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// quick runs fn and fails t unless it returns within prompt.
func quick(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(prompt):
		t.Fatalf("%s did not return within %s of its context being cancelled", what, prompt)
	}
}
