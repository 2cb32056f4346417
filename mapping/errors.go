package mapping

import (
	"fmt"
	"strings"
)

// Problem is one mistake in a mapping spec, found when it is loaded.
type Problem struct {
	File  string
	Line  int
	Field string // target field, or the spec key, the problem is about
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every mistake found in a spec; Compile returns it as its
// error so callers can list them all.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// FieldError is one field of one record that could not be mapped.
type FieldError struct {
	Field  string // target path, e.g. lines[2].unit_price
	Reason string // e.g. `"12,50": not a decimal`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Reason }

// RecordError lists every field of a record that could not be mapped. It
// is permanent: the same record fails the same way again, so the pipeline
// dead-letters it with Error() as the reason.
type RecordError struct {
	Mapping string
	Errors  []FieldError
}

func (e *RecordError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	return strings.Join(parts, "; ")
}
