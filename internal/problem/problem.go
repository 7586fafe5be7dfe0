// Package problem renders API errors as RFC 9457 problem details
// (application/problem+json). Handlers return a *Error; one writer logs its
// cause and sends only the client-facing fields, so internals and secrets
// never reach a response body.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// ContentType is the media type of a problem response.
const ContentType = "application/problem+json"

// FieldError describes one invalid input field.
type FieldError struct {
	// Field is the JSON name of the field, with a dotted path for nested
	// fields ("authorization_server_metadata.token_endpoint").
	Field string `json:"field"`
	// Detail says what is wrong and how to fix it.
	Detail string `json:"detail"`
}

// Error is an error with an HTTP status and a message safe to show the
// client. Cause, if set, is logged and never sent.
type Error struct {
	Status int
	// Code is a stable machine-readable identifier such as "invalid_field".
	Code string
	// Detail is a sentence for the client: what failed and what to do.
	Detail string
	// Fields lists invalid input fields, for validation errors.
	Fields []FieldError
	// Extra members are added to the body as is (for example
	// "consent_required").
	Extra map[string]any
	Cause error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an Error with a status, code and detail.
func New(status int, code, detail string) *Error {
	return &Error{Status: status, Code: code, Detail: detail}
}

// BadRequest returns a 400 naming one invalid field.
func BadRequest(field, detail string) *Error {
	return &Error{
		Status: http.StatusBadRequest, Code: "invalid_field",
		Detail: fmt.Sprintf("%s: %s", field, detail),
		Fields: []FieldError{{Field: field, Detail: detail}},
	}
}

// Invalid returns an error with the given status listing invalid fields.
func Invalid(status int, fields ...FieldError) *Error {
	detail := "invalid request"
	if len(fields) == 1 {
		detail = fmt.Sprintf("%s: %s", fields[0].Field, fields[0].Detail)
	} else if len(fields) > 1 {
		detail = fmt.Sprintf("%d fields are invalid; see errors", len(fields))
	}
	return &Error{Status: status, Code: "invalid_field", Detail: detail, Fields: fields}
}

// Internal wraps an unexpected error as a 500 whose body says nothing about
// the cause.
func Internal(cause error) *Error {
	return &Error{
		Status: http.StatusInternalServerError, Code: "internal_error",
		Detail: "internal error; the server log has the details", Cause: cause,
	}
}

// Write renders err. A *Error anywhere in err's chain is sent as it says;
// any other error becomes a 500. Server errors and causes are logged on
// logger with the request's method and path.
func Write(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var p *Error
	if !errors.As(err, &p) {
		p = Internal(err)
	}
	if logger != nil && (p.Status >= 500 || p.Cause != nil) {
		level := slog.LevelWarn
		if p.Status >= 500 {
			level = slog.LevelError
		}
		logger.Log(r.Context(), level, "request failed",
			"method", r.Method, "path", r.URL.Path, "status", p.Status, "code", p.Code, "err", err)
	}

	body := map[string]any{
		"type":   "about:blank",
		"title":  http.StatusText(p.Status),
		"status": p.Status,
		"code":   p.Code,
		"detail": p.Detail,
	}
	if len(p.Fields) > 0 {
		body["errors"] = p.Fields
	}
	for k, v := range p.Extra {
		if _, taken := body[k]; !taken {
			body[k] = v
		}
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(body)
}
