package connectors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type nopConn struct{ name string }

func (c nopConn) Name() string              { return c.name }
func (nopConn) Start(context.Context) error { return nil }
func (nopConn) Check(context.Context) error { return nil }
func (nopConn) Close() error                { return nil }

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if err := r.Register(Kind{Name: "sqlstore", New: func(p Params) (Connector, error) { return nopConn{p.Name}, nil }}); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(Kind{Name: "bad", New: func(p Params) (Connector, error) { return nil, errors.New("table: is required") }}); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(Kind{Name: "sqlstore", New: func(Params) (Connector, error) { return nil, nil }}); err == nil {
		t.Error("second registration of a kind must fail")
	}
	if got := strings.Join(r.Kinds(), ","); got != "bad,sqlstore" {
		t.Errorf("kinds = %s", got)
	}
	c, err := r.New("sqlstore", Params{Name: "crm"})
	if err != nil || c.Name() != "crm" {
		t.Fatalf("New = %v, %v", c, err)
	}
	if _, err := r.New("nope", Params{Name: "x"}); err == nil || !strings.Contains(err.Error(), `unknown connector kind "nope"`) {
		t.Errorf("unknown kind error = %v", err)
	}
	if _, err := r.New("bad", Params{Name: "erp"}); err == nil || err.Error() != "connector erp (bad): table: is required" {
		t.Errorf("factory error = %v", err)
	}
}

func TestClassify(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		err   error
		kind  ErrorKind
		after time.Duration
	}{
		{base, KindRetryable, 0},
		{Permanent(base), KindPermanent, 0},
		{Retryable(base, 3*time.Second), KindRetryable, 3 * time.Second},
		{fmt.Errorf("write order 7: %w", Permanent(base)), KindPermanent, 0},
	}
	for _, tt := range tests {
		k, a := Classify(tt.err)
		if k != tt.kind || a != tt.after {
			t.Errorf("Classify(%v) = %v %v, want %v %v", tt.err, k, a, tt.kind, tt.after)
		}
		if !errors.Is(tt.err, base) {
			t.Errorf("%v does not unwrap to its cause", tt.err)
		}
	}
	if Permanent(nil) != nil || Retryable(nil, 0) != nil {
		t.Error("wrapping nil must stay nil")
	}
}
