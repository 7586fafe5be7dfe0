package mcpclient

import "testing"

func TestIsAuthFailureText(t *testing.T) {
	positive := []string{
		"HTTP 401 Unauthorized",
		"401 Unauthorized",
		"invalid_token",
		"token expired",
		"The access token expired",
		"invalid_grant: Token has been expired or revoked",
		"UNAUTHENTICATED",
		"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
		"Bearer token is invalid",
		"status code 401",
		`{"error":"invalid_token"}`,
		"Authentication required",
		"token has been revoked",
		"expired_token",
		"Unauthenticated.",
		"Error: Unauthorized",
		"upstream answered HTTP/1.1 401",
		`{"status":401,"message":"Bad credentials"}`,
		"rpc error: code = Unauthenticated desc = missing bearer token",
		"jwt expired",
		`{"error":{"code":401,"message":"Request is missing credentials","status":"UNAUTHENTICATED"}}`,
		"Slack API error: invalid_auth",
		"Your access token has expired. Please reconnect.",
		"Unauthorized (401)",
		"calendar API failed: statusCode=401",
		"ExpiredToken: The security token included in the request is expired",
		"Authentication is required to list events",
		"Invalid access token",
	}
	negative := []string{
		"GET /v1/401/items failed with 500",
		"returned 4010 rows",
		"You are not authorized to view this calendar entry",
		"PERMISSION_DENIED",
		"403 Forbidden",
		"Unauthorized access attempts are logged weekly",
		"order #401 shipped",
		"token count exceeded",
		"rate limit exceeded",
		"invalid argument: date",
		"expired coupon",
		"session expired for game lobby",
		"the token field is required",
		"HTTP 404 Not Found",
		"insufficient funds",
		"Room 401 is free at 10:00",
		"HTTP 500 Internal Server Error (retry after 401 ms)",
		"Password reset token expired; request a new email",
		"Unauthenticated users see only public events",
		`HTTP 403: Bearer error="insufficient_scope"`,
		"error: invalid_client",
		"Flight UA401 is delayed",
		"tokenizer state expired",
		`the field "invalid_tokens_count" is missing`,
		"the parser found an invalid token at line 3",
		"",
	}

	for _, text := range positive {
		if !IsAuthFailureText(text) {
			t.Errorf("IsAuthFailureText(%q): got false, want true", text)
		}
	}
	for _, text := range negative {
		if IsAuthFailureText(text) {
			t.Errorf("IsAuthFailureText(%q): got true, want false", text)
		}
	}
	if len(positive) < 15 || len(negative) < 15 {
		t.Errorf("the table has %d positive and %d negative cases, want at least 15 of each", len(positive), len(negative))
	}
}

func TestClip(t *testing.T) {
	long := ""
	for range 100 {
		long += "ééé" // 6 bytes per repeat
	}
	got := clip(long)
	if len(got) > maxReportedText+len("…") {
		t.Errorf("clip: got %d bytes, want at most %d", len(got), maxReportedText+len("…"))
	}
	for i, r := range got {
		if r == '\uFFFD' {
			t.Fatalf("clip cut a rune at byte %d: %q", i, got)
		}
	}
	if got := clip("  short  "); got != "short" {
		t.Errorf("clip(short): got %q, want %q", got, "short")
	}
}
