package main

import "errors"

// exitError carries the process exit code a command wants.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitErr wraps err so that main exits with code.
func exitErr(code int, err error) error { return &exitError{code: code, err: err} }

// exitCode is the exit code for err: its own, or 1.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
