package oauthclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/provider"
)

// How a provider's error code is classified. RFC 6749 section 5.2 defines
// the token endpoint codes, RFC 6750 section 3.1 invalid_token, RFC 7009
// section 2.2.1 unsupported_token_type, and OpenID Connect Core section
// 3.1.2.6 the interaction codes. The rest are Slack's Web API codes, which
// its token and auth.revoke methods return with "ok": false.
//
// unauthorized_client is KindFailure, not KindReauth, because it means the client
// registration may not use this grant type (a refresh token grant that
// the app does not allow, say). Consenting again yields a grant of the
// same type that fails the same way, so only an admin who changes the
// app's registration can fix it, and sending users to consent again would
// loop.
//
// Codes missing from the table are KindFailure.
var codeKinds = map[string]Kind{
	// The grant or token is gone: the user must consent again.
	"invalid_grant":        KindReauth,
	"invalid_token":        KindReauth,
	"access_denied":        KindReauth,
	"interaction_required": KindReauth,
	"login_required":       KindReauth,
	"consent_required":     KindReauth,
	// Slack's names for the same.
	"invalid_refresh_token": KindReauth,
	"invalid_code":          KindReauth,
	"code_already_used":     KindReauth,
	"token_revoked":         KindReauth,
	"token_expired":         KindReauth,
	"invalid_auth":          KindReauth,
	"account_inactive":      KindReauth,

	// The provider cannot serve the request now: retry later.
	"temporarily_unavailable": KindTransient,
	"server_error":            KindTransient,
	"slow_down":               KindTransient,
	// Slack's names for the same.
	"ratelimited":         KindTransient,
	"internal_error":      KindTransient,
	"fatal_error":         KindTransient,
	"service_unavailable": KindTransient,
	"request_timeout":     KindTransient,
}

// kindOfCode returns the Kind of a provider error code.
func kindOfCode(code string) Kind {
	if kind, ok := codeKinds[code]; ok {
		return kind
	}
	return KindFailure
}

// Limits of the provider text an Error repeats.
const (
	maxCodeLen        = 64
	maxDescriptionLen = 200
	// maxRetryAfter caps a Retry-After header, so that a provider cannot
	// park a retry for days.
	maxRetryAfter = time.Hour
)

// transportError classifies a request that got no response: always
// transient. Err keeps the cause so that callers can test for
// context.Canceled.
func transportError(op string, err error) *Error {
	code := "transport_error"
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		code = "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		code = "timeout"
	}
	return &Error{Kind: KindTransient, Op: op, Code: code, Err: err}
}

// checkResponse parses res and returns its document, or the *Error that
// the response amounts to. The document is never nil when the error is. Checks run in this order:
//
//  1. A body over the size limit is transient.
//  2. HTTP 5xx and 429 are transient, whatever the body contains, with the
//     body's error code when it has one.
//  3. A redirect is a failure: the endpoint URL is wrong.
//  4. A body that is neither JSON nor form-encoded (an HTML error page) is
//     transient.
//  5. An "error" member classifies by its code, whatever the status,
//     because some providers (GitHub) send errors with HTTP 200.
//  6. With quirks.OKField, "ok": false is a failure.
//  7. Any other status outside 2xx is a failure.
//
// sent lists secret values of the request; no Code or Description
// repeats one, nor a token found in the body.
func (c *Client) checkResponse(op string, quirks provider.Quirks, res *response, sent []string) (*document, *Error) {
	if res.tooLarge {
		return nil, &Error{Kind: KindTransient, Op: op, Code: "response_too_large", HTTPStatus: res.status,
			Description: "the response body exceeds the size limit"}
	}
	doc, parseErr := parseDocument(res.header.Get("Content-Type"), res.body)
	secrets := append(doc.tokenValues(), sent...)
	status := res.status
	fail := func(kind Kind, code, description string) *Error {
		return &Error{Kind: kind, Op: op, Code: code, HTTPStatus: status,
			Description: sanitize(description, maxDescriptionLen, secrets)}
	}

	if status >= 500 || status == http.StatusTooManyRequests {
		code, description := doc.errorFields()
		if code == "" {
			code = "http_" + strconv.Itoa(status)
		}
		e := fail(KindTransient, sanitizeCode(code, secrets), description)
		e.RetryAfter = parseRetryAfter(res.header.Get("Retry-After"), c.now())
		return nil, e
	}
	if status >= 300 && status < 400 {
		return nil, fail(KindFailure, "unexpected_redirect",
			fmt.Sprintf("the endpoint returned HTTP %d, a redirect; configure the final URL", status))
	}
	if parseErr != nil {
		return nil, fail(KindTransient, "non_json_response", parseErr.Error())
	}
	if code, description := doc.errorFields(); code != "" {
		code = sanitizeCode(code, secrets)
		return nil, fail(kindOfCode(code), code, description)
	}
	if quirks.OKField {
		if ok, present := doc.boolean("ok"); present && !ok {
			return nil, fail(KindFailure, "ok_false", `the response has "ok": false without an error code`)
		}
	}
	if status < 200 || status > 299 {
		return nil, fail(KindFailure, "http_"+strconv.Itoa(status), "")
	}
	return doc, nil
}

// parseRetryAfter reads a Retry-After header (RFC 9110 section 10.2.3):
// delay seconds or an HTTP date. It returns zero when the header is
// absent or invalid, and at most maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = maxRetryAfter
		if secs < int64(maxRetryAfter/time.Second) {
			d = time.Duration(secs) * time.Second
		}
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// sanitizeCode makes a provider error code safe to store and show: at
// most maxCodeLen printable ASCII characters, and "[redacted]" when it
// contains a secret.
func sanitizeCode(code string, secrets []string) string {
	clean := sanitize(code, maxCodeLen, secrets)
	if strings.Contains(clean, redactedMark) {
		return redactedMark
	}
	return clean
}

const redactedMark = "[redacted]"

// minPartialSecret is the length of the shortest piece of a secret that
// sanitize masks when the whole secret does not appear.
const minPartialSecret = 16

// sanitize makes provider text safe to store, log and show. It replaces
// every occurrence of a secret with "[redacted]" and drops characters
// outside printable ASCII (tabs and line breaks become spaces). It then
// cuts the text to limit bytes and masks any remaining run of
// minPartialSecret or more bytes that is part of a secret, for a provider
// that echoes the start of a token.
func sanitize(s string, limit int, secrets []string) string {
	s = redact(s, secrets)
	b := make([]byte, 0, min(len(s), 4*limit))
	for i := 0; i < len(s) && len(b) < 4*limit; i++ {
		switch c := s[i]; {
		case c == '\t' || c == '\n' || c == '\r':
			b = append(b, ' ')
		case c >= 0x20 && c <= 0x7e:
			b = append(b, c)
		}
	}
	// Dropping characters can join the pieces of a secret again.
	s = strings.TrimSpace(redact(string(b), secrets))
	if len(s) > limit {
		s = s[:limit]
	}
	return maskPartialSecrets(s, secrets)
}

func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redactedMark)
		}
	}
	return s
}

// maskPartialSecrets replaces each run of s that contains a piece of a
// secret at least minPartialSecret bytes long with "[redacted]".
func maskPartialSecrets(s string, secrets []string) string {
	if len(s) < minPartialSecret {
		return s
	}
	masked := make([]bool, len(s))
	found := false
	for _, secret := range secrets {
		if len(secret) < minPartialSecret {
			continue
		}
		for i := 0; i+minPartialSecret <= len(s); i++ {
			if strings.Contains(secret, s[i:i+minPartialSecret]) {
				for j := i; j < i+minPartialSecret; j++ {
					masked[j] = true
				}
				found = true
			}
		}
	}
	if !found {
		return s
	}

	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if !masked[i] {
			out.WriteByte(s[i])
			continue
		}
		if i == 0 || !masked[i-1] {
			out.WriteString(redactedMark)
		}
	}
	return out.String()
}
