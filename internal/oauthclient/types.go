// Package oauthclient talks to OAuth 2 providers' token and revocation
// endpoints on behalf of the consent flow and the vault: authorization code
// exchange with a PKCE verifier (RFC 6749 section 4.1.3, RFC 7636), refresh
// (RFC 6749 section 6) and revocation (RFC 7009, and the vendor variants
// named by provider.RevocationStyle).
//
// Providers do not all answer as the RFCs say. Responses are parsed by
// their Content-Type (JSON or form-encoded), and every failure is
// classified into a Kind, so callers decide between asking the user to
// consent again, retrying later, or reporting a failure.
package oauthclient

import (
	"fmt"
	"time"
)

// TokenResponse is a successful token endpoint response.
type TokenResponse struct {
	AccessToken  string
	RefreshToken string // empty when the response had none
	TokenType    string // "Bearer" when the response had none
	// ExpiresIn is the lifetime the response gave, zero when it gave none.
	ExpiresIn time.Duration
	// ExpiresAt is the receipt time plus ExpiresIn, zero when ExpiresIn is
	// zero.
	ExpiresAt time.Time
	// Scopes are the scopes the response lists as granted, or nil when
	// the response had no scope member.
	Scopes []string
	// IDToken is the OpenID Connect ID token, if any.
	IDToken string
	// Extras holds the response members named by
	// provider.Quirks.ExtraTokenFields, such as Salesforce's instance_url.
	Extras map[string]string
}

// Kind classifies a failed request to a provider.
type Kind int

const (
	// KindReauth means the grant is no longer valid (invalid_grant and
	// similar): the user must consent again.
	KindReauth Kind = iota + 1
	// KindTransient means the provider could not answer now (HTTP 5xx,
	// a timeout, an HTML or other non-JSON body, temporarily_unavailable):
	// retry later and keep the token.
	KindTransient
	// KindFailure means the provider answered with an error that neither
	// retrying nor consenting again fixes, such as invalid_client, or a
	// success status without an access token.
	KindFailure
)

func (k Kind) String() string {
	switch k {
	case KindReauth:
		return "reauth"
	case KindTransient:
		return "transient"
	case KindFailure:
		return "failure"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// Error is a failed token or revocation request. Code and Description are
// the provider's RFC 6749 section 5.2 error fields, sanitized: printable
// ASCII only and length-limited, so they are safe to store and show. They
// never contain a token, code or secret.
type Error struct {
	Kind Kind
	// Op is "exchange", "refresh" or "revoke".
	Op string
	// Code is the provider's error code, or a Toolgate code such as
	// "http_503", "timeout", "non_json_response" or "missing_access_token".
	Code        string
	Description string
	// HTTPStatus is the response status, zero when no response arrived.
	HTTPStatus int
	// RetryAfter is the delay a transient response requested in its
	// Retry-After header, at most one hour; zero when it gave none.
	RetryAfter time.Duration
	// Err is the underlying transport error, if any.
	Err error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("oauthclient: %s: %s (%s)", e.Op, e.Code, e.Kind)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }
