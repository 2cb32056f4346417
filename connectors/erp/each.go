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

// Settled fills in the outcome of results a writer left unset: Failed
// where it set an error, Written where it did not. The ERP writers set
// NotFound (and, where they know it, Unchanged) themselves.
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
