package vault

import (
	"errors"
	"strings"
)

// Errors returned by Vault methods. Callers compare with errors.Is.
var (
	// ErrConsentRequired means the user must (again) consent before a
	// token can be handed out. The error is a *ConsentRequiredError.
	ErrConsentRequired = errors.New("vault: consent required")
	// ErrTemporarilyUnavailable means the access token has expired (or
	// the provider rejected it) and a refresh failed for a reason that
	// may pass, such as HTTP 503 or a timeout. The error wraps the
	// *oauthclient.Error when there is one. Retry later.
	ErrTemporarilyUnavailable = errors.New("vault: provider temporarily unavailable")
	// ErrRefreshFailed means the provider rejected the refresh for a
	// reason that neither retrying nor a new consent fixes, such as
	// invalid_client: an admin must fix the provider's configuration.
	ErrRefreshFailed = errors.New("vault: refresh failed")
	// ErrProviderNotFound means no provider has the id.
	ErrProviderNotFound = errors.New("vault: provider not found")
	// ErrProviderDisabled means an admin switched the provider off, so
	// its tokens are not handed out.
	ErrProviderDisabled = errors.New("vault: provider disabled")
	// ErrStaleGeneration means the connection has moved to a newer
	// generation than the caller's, so the caller's view is out of date:
	// read the token again.
	ErrStaleGeneration = errors.New("vault: stale generation")
)

// Values of ConsentRequiredError.Reason.
const (
	ReasonNotConnected  = "not_connected"
	ReasonNeedsReauth   = "needs_reauth"
	ReasonScopesMissing = "scopes_missing"
	ReasonRevoked       = "revoked"
)

// Values of Status.Reason that the vault sets. A needs_reauth status may
// also carry the provider's error code, such as invalid_grant.
const (
	// StatusReasonScopesChanged means an admin added scopes to the
	// provider that the connection's consent did not cover.
	StatusReasonScopesChanged = "scopes_changed"
	// StatusReasonExpired means the access token expired and there is no
	// refresh token to renew it with.
	StatusReasonExpired = "expired"
	// StatusReasonTokenRejected means a caller reported the access token
	// rejected (ForceRefresh) and there is no refresh token to renew it
	// with.
	StatusReasonTokenRejected = "token_rejected"
)

// ConsentRequiredError is the reason a token cannot be handed out until
// the user consents again. errors.Is(err, ErrConsentRequired) matches it.
type ConsentRequiredError struct {
	// Reason is ReasonNotConnected, ReasonNeedsReauth,
	// ReasonScopesMissing or ReasonRevoked.
	Reason string
	// StatusReason is the stored or computed reason behind
	// ReasonNeedsReauth, such as StatusReasonScopesChanged or the
	// provider's error code (invalid_grant); empty otherwise.
	StatusReason string
	// Detail is a sentence for people. It contains no secret.
	Detail string
	// MissingScopes lists the scopes the connection lacks, for
	// ReasonScopesMissing and for StatusReasonScopesChanged.
	MissingScopes []string
}

func (e *ConsentRequiredError) Error() string {
	msg := "vault: consent required: " + e.Reason
	if e.StatusReason != "" {
		msg += " (" + e.StatusReason + ")"
	}
	if len(e.MissingScopes) > 0 {
		msg += ": missing scopes " + strings.Join(e.MissingScopes, " ")
	}
	return msg
}

// Is makes errors.Is(err, ErrConsentRequired) true.
func (e *ConsentRequiredError) Is(target error) bool { return target == ErrConsentRequired }
