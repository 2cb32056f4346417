package erp

import "github.com/crmhub/hub/connectors"

// Each runs fn on all items at once; when that fails permanently for a
// batch of several (the ERP rolls the whole call back), it runs fn on each
// item alone, so one record the ERP refuses does not fail the others. It
// returns an error per item: all the same one for a retryable failure.
func Each[T any](items []T, fn func([]T) error) []error {
	errs := make([]error, len(items))
	if len(items) == 0 {
		return errs
	}
	err := fn(items)
	if err == nil {
		return errs
	}
	if k, _ := connectors.Classify(err); k != connectors.KindPermanent || len(items) == 1 {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i := range items {
		errs[i] = fn(items[i : i+1])
	}
	return errs
}

// SystemFault turns results of which one failed for a fault of the whole
// system (Unavailable: credentials refused, the database gone) into an
// error for the batch: no record is to blame, so none is answered Failed,
// and the runtime pauses instead of dead-lettering them. Records of the
// batch written before the fault are written again on the retry, which
// the writers' look-ups make harmless.
func SystemFault(res []connectors.Result, err error) ([]connectors.Result, error) {
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		if k, _ := connectors.Classify(r.Err); r.Err != nil && k == connectors.KindUnavailable {
			return nil, r.Err
		}
	}
	return res, nil
}

// Settled is a safety net behind the writers, which set every outcome
// themselves: it makes a result with an error Failed, and one left without
// an outcome and without an error Written.
func Settled(res []connectors.Result, err error) ([]connectors.Result, error) {
	for i := range res {
		if res[i].Outcome == connectors.Failed && res[i].Err == nil {
			res[i].Outcome = connectors.Written
		}
		if res[i].Err != nil {
			res[i].Outcome = connectors.Failed
		}
	}
	return res, err
}
