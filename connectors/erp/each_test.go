package erp

import (
	"errors"
	"testing"

	"github.com/crmhub/hub/connectors"
)

func TestEach(t *testing.T) {
	var calls [][]int
	refuse3 := func(items []int) error {
		calls = append(calls, append([]int(nil), items...))
		for _, i := range items {
			if i == 3 {
				return connectors.Permanent(errors.New("3 refused"))
			}
		}
		return nil
	}
	errs := Each([]int{1, 2, 3, 4}, refuse3)
	if len(calls) != 5 || errs[0] != nil || errs[1] != nil || errs[2] == nil || errs[3] != nil {
		t.Fatalf("permanent: calls %v, errs %v; want the batch, then each alone with only 3 failing", calls, errs)
	}
	calls = nil
	down := connectors.Retryable(errors.New("503"), 0)
	errs = Each([]int{1, 2}, func(items []int) error { calls = append(calls, items); return down })
	if len(calls) != 1 || !errors.Is(errs[0], down) || !errors.Is(errs[1], down) {
		t.Fatalf("retryable: calls %v, errs %v; want one call and the error for both", calls, errs)
	}
	if errs := Each([]int{}, refuse3); len(errs) != 0 {
		t.Fatalf("empty: %v", errs)
	}
}

func TestSystemFault(t *testing.T) {
	refused := connectors.Unavailable(errors.New("HTTP 401"))
	bad := connectors.Permanent(errors.New("name is required"))
	res, err := SystemFault([]connectors.Result{{Outcome: connectors.Written}, {Err: bad}, {Err: refused}}, nil)
	if res != nil || !errors.Is(err, refused) {
		t.Fatalf("a record refused for the system's fault: %v, %v; want the batch to fail with it", res, err)
	}
	res, err = SystemFault([]connectors.Result{{Outcome: connectors.Written}, {Err: bad}}, nil)
	if err != nil || len(res) != 2 {
		t.Fatalf("a record's own fault: %v, %v; want the results as they are", res, err)
	}
	down := connectors.Retryable(errors.New("503"), 0)
	if res, err := SystemFault(nil, down); res != nil || !errors.Is(err, down) {
		t.Fatalf("a batch error: %v, %v", res, err)
	}
}
