package problem

import (
	"net/http"
	"testing"
)

func TestFieldErrorsResult(t *testing.T) {
	var empty FieldErrors
	if status, fields := empty.Result(); status != 0 || fields != nil {
		t.Errorf("empty: got %d %v, want 0 and nil", status, fields)
	}

	var only422 FieldErrors
	only422.Unacceptablef("client_id", "send it with %s", "client_secret")
	if status, fields := only422.Result(); status != http.StatusUnprocessableEntity || len(fields) != 1 || fields[0].Detail != "send it with client_secret" {
		t.Errorf("422 only: got %d %v", status, fields)
	}

	var both FieldErrors
	both.Unacceptablef("provider_id", "unknown")
	both.Invalidf("id", "bad")
	both.Add(http.StatusBadRequest, "url", "missing")
	status, fields := both.Result()
	if status != http.StatusBadRequest {
		t.Errorf("both kinds: got status %d, want 400", status)
	}
	if len(fields) != 2 || fields[0].Field != "id" || fields[1].Field != "url" {
		t.Errorf("both kinds: got fields %v, want id and url only", fields)
	}
}
