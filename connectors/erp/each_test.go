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
