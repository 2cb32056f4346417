package connectors

import (
	"errors"
	"time"
)

// ErrorKind classifies a failure for the runtime's retry policy.
type ErrorKind int

// The kinds of failure.
const (
	// KindRetryable failures (timeouts, 5xx, 429, broken connections) are
	// retried with backoff. One that keeps failing a whole batch past the
	// retry policy makes the runtime try the records one by one, to tell
	// a record that fails from a system that does.
	KindRetryable ErrorKind = iota
	// KindPermanent failures are the record's fault (validation, a
	// constraint on one row, a 4xx about the record): it goes to the
	// dead-letter store with the reason.
	KindPermanent
	// KindUnavailable failures hit every record the same way until a
	// person or time fixes the system (a missing table or column,
	// credentials refused, a host name that does not resolve). The runner
	// that met one opens its circuit: it pauses, retries with backoff,
	// shows in readiness and metrics, and dead-letters nothing.
	KindUnavailable
)

func (k ErrorKind) String() string {
	switch k {
	case KindPermanent:
		return "permanent"
	case KindUnavailable:
		return "unavailable"
	}
	return "retryable"
}

// Error is a classified failure.
type Error struct {
	Kind ErrorKind
	// RetryAfter is the wait a system asked for (429 Retry-After), or 0.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as the record's fault: not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindPermanent, Err: err}
}

// Retryable marks err as transient; after is the wait the system asked for.
func Retryable(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindRetryable, RetryAfter: after, Err: err}
}

// Unavailable marks err as a fault of the whole system that will not pass
// by retrying soon (see KindUnavailable).
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindUnavailable, Err: err}
}

// Classify returns the kind of err. Unclassified errors are retryable: a
// failure nobody understood should be retried, then looked at record by
// record, not dropped at once.
func Classify(err error) (ErrorKind, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, e.RetryAfter
	}
	return KindRetryable, 0
}
