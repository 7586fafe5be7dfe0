package problem

import (
	"fmt"
	"net/http"
)

// FieldErrors collects the invalid fields of one request in two kinds:
// malformed values (400) and well-formed values that the rules do not
// accept (422). The zero value is ready to use.
type FieldErrors struct {
	invalid      []FieldError // 400
	unacceptable []FieldError // 422
}

// Add records a field error with status 400 or 422.
func (f *FieldErrors) Add(status int, field, detail string) {
	fe := FieldError{Field: field, Detail: detail}
	if status == http.StatusBadRequest {
		f.invalid = append(f.invalid, fe)
	} else {
		f.unacceptable = append(f.unacceptable, fe)
	}
}

// Invalidf records a malformed value (400).
func (f *FieldErrors) Invalidf(field, format string, args ...any) {
	f.Add(http.StatusBadRequest, field, fmt.Sprintf(format, args...))
}

// Unacceptablef records a value the rules do not accept (422).
func (f *FieldErrors) Unacceptablef(field, format string, args ...any) {
	f.Add(http.StatusUnprocessableEntity, field, fmt.Sprintf(format, args...))
}

// Result returns the status and the fields to report, or 0 and nil when
// nothing was recorded. When there are both kinds only the 400s are
// reported, because a 422 rule may read a value that a 400 is about.
func (f *FieldErrors) Result() (int, []FieldError) {
	switch {
	case len(f.invalid) > 0:
		return http.StatusBadRequest, f.invalid
	case len(f.unacceptable) > 0:
		return http.StatusUnprocessableEntity, f.unacceptable
	default:
		return 0, nil
	}
}
