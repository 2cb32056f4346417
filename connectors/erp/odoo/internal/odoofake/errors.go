package odoofake

import (
	"fmt"
	"net/http"
)

// pyErr is a Python exception as Odoo serializes it
// (odoo.http.serialize_exception): the fully qualified class name, the
// message, the arguments; status is the HTTP status the JSON-2 API gives
// it (exception.http_status, 500 for anything else) and code the JSON-RPC
// error code (200, or 100 for an expired session, 404 for NotFound).
type pyErr struct {
	name    string
	message string
	args    []any
	status  int
	code    int
	header  http.Header
}

func (e *pyErr) Error() string { return e.name + ": " + e.message }

// debug is a traceback in Python's shape, as serialize_exception sends it.
func (e *pyErr) debug() string {
	if e.name == "odoo.exceptions.AccessDenied" { // suppress_traceback()
		return e.name + ": " + e.message + "\n"
	}
	return "Traceback (most recent call last):\n" +
		"  File \"/opt/odoo/odoo/http.py\", line 2207, in _serve_db\n    return service_model.retrying(serve_func, env=self.env)\n" +
		"  File \"/opt/odoo/odoo/service/model.py\", line 181, in retrying\n    result = func()\n" +
		"  File \"/opt/odoo/odoo/models.py\", line 4791, in _validate_fields\n    check(self)\n" +
		e.name + ": " + e.message + "\n"
}

func odooErr(class string, status int, msg string) *pyErr {
	return &pyErr{name: "odoo.exceptions." + class, message: msg, args: []any{msg}, status: status, code: 200}
}

func userError(msg string) *pyErr       { return odooErr("UserError", 422, msg) }
func validationError(msg string) *pyErr { return odooErr("ValidationError", 422, msg) }
func missingError(msg string) *pyErr    { return odooErr("MissingError", 404, msg) }
func accessDenied() *pyErr              { return odooErr("AccessDenied", 403, "Access Denied") }

func builtin(class, msg string) *pyErr {
	return &pyErr{name: "builtins." + class, message: msg, args: []any{msg}, status: 500, code: 200}
}

func valueError(format string, args ...any) *pyErr {
	return builtin("ValueError", fmt.Sprintf(format, args...))
}

func typeError(format string, args ...any) *pyErr {
	return builtin("TypeError", fmt.Sprintf(format, args...))
}

// werkzeugErr is a werkzeug HTTPException: its arguments are the
// description and the code.
func werkzeugErr(class string, status int, msg string) *pyErr {
	e := &pyErr{name: "werkzeug.exceptions." + class, message: msg, args: []any{msg, status}, status: status, code: 200}
	if status == http.StatusNotFound {
		e.code = 404
	}
	return e
}

func sessionExpired() *pyErr {
	return &pyErr{name: "odoo.http.SessionExpiredException", message: "Session expired", args: []any{"Session expired"},
		status: 403, code: 100}
}
