package consent

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
)

// Error codes that Toolgate itself gives a failed consent. The others come
// from the provider: RFC 6749 sections 4.1.2.1 and 5.2, or an
// oauthclient.Error's Code.
const (
	codeProviderUnavailable = "provider_unavailable"
	codeIssuerMismatch      = "issuer_mismatch"
	codeMissingCode         = "missing_code"
	// codeInternalError is a failure on Toolgate's side, such as a vault
	// that cannot save. The provider's "server_error" is its own.
	codeInternalError = "internal_error"
	// codeCancelled and codeExpired are what Status reports for a
	// cancelled consent and for one that expired while pending.
	codeCancelled = "cancelled"
	codeExpired   = "expired"
)

// Limits on what a provider's error parameters may put in the store and
// on pages.
const (
	maxErrorCodeLen        = 64
	maxErrorDescriptionLen = 256
	// maxStateLen is far above a real state's 43 characters; longer input
	// is rejected before it is hashed and looked up.
	maxStateLen = 512
)

// CallbackResult is the outcome of a callback that consumed its state.
type CallbackResult struct {
	ConsentID  string
	ProviderID string
	// Status is store.ConsentCompleted or store.ConsentFailed.
	Status string
	// Error and ErrorDescription are sanitized and empty on success.
	Error            string
	ErrorDescription string
	// RedirectURL is the URL to send the browser to: the consent's return
	// URL or /oauth-complete, with the outcome in its query.
	RedirectURL string
}

// Callback completes the consent named by the state in query, the
// authorization response at the redirect URI (RFC 6749 section 4.1.2),
// for the signed-in userID.
//
// Some errors leave the consent as it was. ErrSignInRequired means userID
// is empty and ErrUnknownState that no consent has the state. ErrWrongUser
// means userID did not start the consent. ErrStateUsed, ErrExpired and
// ErrFinished mean the state was consumed before or the consent can no
// longer complete.
//
// Otherwise the state is consumed, and the result reports whether the
// consent completed or failed. A provider error, a mismatched "iss" (RFC
// 9207) and a failed exchange all end the consent as failed. The result
// then sends the browser to a result page, never back to the provider.
func (s *Service) Callback(ctx context.Context, userID string, query url.Values) (*CallbackResult, error) {
	state := query.Get("state")
	if state == "" || len(state) > maxStateLen {
		return nil, ErrUnknownState
	}
	if userID == "" {
		return nil, ErrSignInRequired
	}
	stateHash := hashState(state)

	// Check who the consent belongs to before consuming anything, so that
	// another user's browser cannot spend the rightful user's state.
	c, err := s.store.GetConsentByState(ctx, stateHash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownState
	}
	if err != nil {
		return nil, fmt.Errorf("consent: callback: get consent by state: %w", err)
	}
	if c.UserID != userID {
		s.logger.Warn("consent callback by another user", "user_id", userID, "provider_id", c.ProviderID,
			"consent_id", c.ID)
		return nil, ErrWrongUser
	}
	if !c.StateUsedAt.IsZero() {
		return nil, ErrStateUsed
	}
	now := s.now()
	if err := checkOpen(c, now); err != nil {
		return nil, err
	}

	// Consume the state. Of concurrent callbacks only one gets past here.
	c, err = s.store.ClaimConsentState(ctx, stateHash, now)
	switch {
	case errors.Is(err, store.ErrStateUsed):
		return nil, ErrStateUsed
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrUnknownState
	case err != nil:
		return nil, fmt.Errorf("consent: callback: claim state: %w", err)
	}
	if err := checkOpen(c, now); err != nil {
		// A step-up cancelled the consent between the read and the claim.
		return nil, err
	}

	// The state is spent, so finish the consent even if the browser goes
	// away: a cancelled request must not leave it pending until it
	// expires.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), completionTimeout)
	defer cancel()
	return s.complete(ctx, c, query), nil
}

// complete handles a claimed authorization response: it checks the
// issuer, takes the provider's error or exchanges the code, saves the
// tokens and finishes the consent.
func (s *Service) complete(ctx context.Context, c *store.Consent, query url.Values) *CallbackResult {
	cfg, err := s.providers.Resolve(ctx, c.ProviderID)
	switch {
	case errors.Is(err, provider.ErrNotFound) || (err == nil && !cfg.Enabled):
		return s.fail(ctx, c, failure{code: codeProviderUnavailable, description: "the provider was removed or disabled"})
	case err != nil:
		return s.fail(ctx, c, failure{code: codeInternalError, cause: fmt.Errorf("resolve provider: %w", err)})
	}

	// RFC 9207 section 2.4: an iss that is present must name the provider.
	// NOTE: a response without iss is accepted, because provider.Config
	// does not carry authorization_response_iss_parameter_supported. With
	// that flag, a missing iss from a provider that sends one could be
	// rejected.
	if iss := query.Get("iss"); iss != "" && cfg.Issuer != "" && !provider.SameIssuer(iss, cfg.Issuer) {
		return s.fail(ctx, c, failure{code: codeIssuerMismatch,
			description: "the authorization response came from another issuer than the provider's"})
	}
	if code := query.Get("error"); code != "" {
		return s.fail(ctx, c, failure{code: sanitizeErrorCode(code),
			description: sanitizeDescription(query.Get("error_description"))})
	}
	code := query.Get("code")
	if code == "" {
		return s.fail(ctx, c, failure{code: codeMissingCode,
			description: "the provider sent neither an authorization code nor an error"})
	}

	verifier, err := s.keyring.Open(c.Verifier, store.ConsentVerifierAAD(c.ID))
	if err != nil {
		return s.fail(ctx, c, failure{code: codeInternalError, cause: fmt.Errorf("open verifier: %w", err)})
	}
	resp, err := s.exchanger.Exchange(ctx, cfg, code, string(verifier))
	if err != nil {
		return s.fail(ctx, c, exchangeFailure(err))
	}
	if resp == nil || resp.AccessToken == "" {
		return s.fail(ctx, c, failure{code: "missing_access_token",
			description: "the provider's token response had no access token"})
	}
	if err := s.tokens.Save(ctx, c.UserID, c.ProviderID, resp, c.Scopes); err != nil {
		return s.fail(ctx, c, failure{code: codeInternalError, cause: fmt.Errorf("save tokens: %w", err)})
	}

	now := s.now()
	if err := s.store.FinishConsent(ctx, c.ID, store.ConsentCompleted, "", "", now); err != nil {
		// The tokens are saved and belong to this user's approval, so the
		// user still sees success. ErrConflict means a step-up cancelled
		// the consent meanwhile; the replacing consent stays pending.
		s.logger.Warn("completed consent not recorded", "user_id", c.UserID, "provider_id", c.ProviderID,
			"consent_id", c.ID, "err", err)
	}
	s.metrics.completed.WithLabelValues(c.ProviderID).Inc()
	s.audit.Record(ctx, audit.Event{
		Action: audit.ConsentCompleted, ActorID: c.UserID, UserID: c.UserID, ProviderID: c.ProviderID,
		Outcome: audit.OK, Detail: map[string]any{"consent_id": c.ID, "scopes": strings.Join(grantedScopes(resp, c), " ")},
	})
	s.logger.Info("consent completed", "user_id", c.UserID, "provider_id", c.ProviderID, "consent_id", c.ID)
	return &CallbackResult{
		ConsentID:   c.ID,
		ProviderID:  c.ProviderID,
		Status:      store.ConsentCompleted,
		RedirectURL: s.finishRedirect(c.ID, c.ProviderID, c.ReturnURL, ""),
	}
}

// failure is the reason a consent failed. code and description are
// stored and shown to the user, while cause is only logged.
type failure struct {
	code        string
	description string
	cause       error
}

// fail ends c as failed, records and counts it, and returns the result
// that sends the browser to the outcome. A store error is logged: the
// user still learns the outcome, and Status reports the consent as
// pending until it expires.
func (s *Service) fail(ctx context.Context, c *store.Consent, f failure) *CallbackResult {
	if f.code == codeInternalError && f.description == "" {
		f.description = "Toolgate could not finish the connection; the server log has the details"
	}
	if err := s.store.FinishConsent(ctx, c.ID, store.ConsentFailed, f.code, f.description, s.now()); err != nil {
		s.logger.Error("failed consent not recorded", "user_id", c.UserID, "provider_id", c.ProviderID,
			"consent_id", c.ID, "err", err)
	}
	s.metrics.failed.WithLabelValues(c.ProviderID, reasonLabel(f.code)).Inc()
	s.audit.Record(ctx, audit.Event{
		Action: audit.ConsentFailed, ActorID: c.UserID, UserID: c.UserID, ProviderID: c.ProviderID,
		Outcome: audit.Failed, Detail: map[string]any{"consent_id": c.ID, "error": f.code},
	})
	if f.cause != nil {
		s.logger.Error("consent failed", "user_id", c.UserID, "provider_id", c.ProviderID, "consent_id", c.ID,
			"reason", f.code, "err", f.cause)
	} else {
		s.logger.Info("consent failed", "user_id", c.UserID, "provider_id", c.ProviderID, "consent_id", c.ID,
			"reason", f.code)
	}
	return &CallbackResult{
		ConsentID:        c.ID,
		ProviderID:       c.ProviderID,
		Status:           store.ConsentFailed,
		Error:            f.code,
		ErrorDescription: f.description,
		RedirectURL:      s.finishRedirect(c.ID, c.ProviderID, c.ReturnURL, f.code),
	}
}

// exchangeFailure turns an Exchanger error into a failure. The provider's
// own code and description pass through; any other error shows as a
// server error and is only logged.
func exchangeFailure(err error) failure {
	var oe *oauthclient.Error
	if !errors.As(err, &oe) || oe.Code == "" {
		return failure{code: codeInternalError, cause: fmt.Errorf("exchange code: %w", err)}
	}
	f := failure{code: sanitizeErrorCode(oe.Code), description: sanitizeDescription(oe.Description)}
	if oe.Kind == oauthclient.KindTransient {
		f.cause = fmt.Errorf("exchange code: %w", err)
	}
	return f
}

// grantedScopes returns the scopes the token response granted, or the
// consent's scopes when the response listed none.
func grantedScopes(resp *oauthclient.TokenResponse, c *store.Consent) []string {
	if resp.Scopes != nil {
		return resp.Scopes
	}
	return c.Scopes
}

// sanitizeErrorCode returns code when it is 1 to maxErrorCodeLen
// characters from A-Z, a-z, 0-9, '_', '.' and '-', and "invalid_error"
// otherwise. RFC 6749 codes all fit, and whatever the provider or a forged
// callback sends is then safe to store, show and use as a metric label.
func sanitizeErrorCode(code string) string {
	if code == "" || len(code) > maxErrorCodeLen || strings.ContainsFunc(code, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '.' || r == '-')
	}) {
		return "invalid_error"
	}
	return code
}

// sanitizeDescription keeps the characters RFC 6749 allows in
// error_description (printable ASCII except '"' and '\'), collapses runs
// of spaces and cuts the result to maxErrorDescriptionLen characters.
func sanitizeDescription(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			space = true
			continue
		}
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
		if b.Len() >= maxErrorDescriptionLen {
			break
		}
	}
	out := b.String()
	if len(out) > maxErrorDescriptionLen {
		out = out[:maxErrorDescriptionLen]
	}
	return out
}
