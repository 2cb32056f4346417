package connectortest

import (
	"context"
	"testing"
	"time"

	"github.com/crmhub/hub/connectors"
)

// down breaks the system: Check, Write, Read and Scan fail with an error
// that is not Permanent (Unavailable where the harness says so) and Write
// answers no record Failed for it; once restored, Check passes and a
// write goes through.
func (s *suite) down(t *testing.T) {
	need(t, "Break", s.h.Break != nil)
	recs := map[string]connectors.WriteRecord{} // made while the system works
	if s.w != nil && s.h.Sample != nil {
		for _, spec := range s.w.Writes() {
			recs[spec.Entity] = s.upsert(t, spec.Entity, iDown, 1).Rec
		}
	}
	restore := s.h.Break(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.wantDown(t, "Check", s.conn.Check(ctx))
	if s.w != nil && s.h.Sample != nil {
		for _, spec := range s.w.Writes() {
			rec := recs[spec.Entity]
			res, err := s.w.Write(ctx, spec.Entity, []connectors.WriteRecord{rec})
			if err == nil {
				t.Errorf("Write %s to a broken system: results %+v, want an error for the batch", spec.Entity, res)
				continue
			}
			s.wantDown(t, "Write "+spec.Entity, err)
		}
	}
	if s.r != nil {
		for _, spec := range s.r.Reads() {
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := s.r.Read(rctx, spec.Entity, "", 10)
			rcancel()
			s.wantDown(t, "Read "+spec.Entity, err)
		}
	}
	if s.sc != nil {
		for _, e := range s.sc.Scans() {
			_, err := s.sc.Scan(ctx, e, "", 10)
			s.wantDown(t, "Scan "+e, err)
		}
	}
	if restore == nil {
		return
	}
	restore()
	if err := s.conn.Check(ctx); err != nil {
		t.Fatalf("Check after the system was restored: %v", err)
	}
	for entity, rec := range recs {
		r := s.write(t, entity, rec)[0]
		wantOutcome(t, "write "+entity+" after the restore", r, connectors.Written)
	}
}

// wantDown fails t unless err is the error of a broken system.
func (s *suite) wantDown(t *testing.T, what string, err error) {
	t.Helper()
	k := kindOf(err)
	switch {
	case err == nil:
		t.Errorf("%s on a broken system: no error", what)
	case k == connectors.KindPermanent:
		t.Errorf("%s on a broken system: %v is permanent: records would be dead-lettered for the system's fault", what, err)
	case s.h.BreakUnavailable && k != connectors.KindUnavailable:
		t.Errorf("%s on a broken system: %v is %v, want unavailable", what, err, k)
	default:
		t.Logf("%s on a broken system: %v: %v", what, k, err)
	}
}
