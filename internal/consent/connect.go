package consent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
)

// Paths of the browser pages of a consent flow.
const (
	// ConnectPath is followed by the consent id.
	ConnectPath = "/connect/"
	// CallbackPath is the redirect URI's path (see provider.Registry).
	CallbackPath = "/oauth/callback"
	// CompletePath is the landing page when a consent has no return URL.
	CompletePath = "/oauth-complete"
)

// stateBytes is the number of random bytes in a state: 256 bits.
const stateBytes = 32

// reservedParameters are the authorization request parameters that
// AuthorizeRedirect sets itself, so a provider's AuthorizeParameters never
// override them. The provider registry rejects them as custom parameters
// too. nonce is listed because Toolgate does not check ID tokens here and
// must not pretend to.
var reservedParameters = []string{
	"response_type", "client_id", "client_secret", "redirect_uri", "scope", "state",
	"code_challenge", "code_challenge_method", "nonce",
}

// AuthorizeRedirect serves /connect/{consentID} for the signed-in userID.
// It writes a new state and PKCE verifier for the consent, which makes any
// earlier state of it unknown, and returns the provider's authorization
// URL to redirect the browser to.
//
// It returns ErrNotFound for an unknown consent, ErrWrongUser when userID
// did not start it (nothing is changed then), ErrExpired or ErrFinished
// when it can no longer complete, and ErrProviderUnavailable, after
// failing the consent, when its provider was deleted or disabled.
func (s *Service) AuthorizeRedirect(ctx context.Context, consentID, userID string) (string, error) {
	if userID == "" {
		return "", ErrSignInRequired
	}
	c, err := s.store.GetConsent(ctx, consentID)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("consent: connect: get consent: %w", err)
	}
	if c.UserID != userID {
		s.logger.Warn("consent link opened by another user", "user_id", userID, "provider_id", c.ProviderID,
			"consent_id", c.ID)
		return "", ErrWrongUser
	}
	now := s.now()
	if err := checkOpen(c, now); err != nil {
		return "", err
	}

	cfg, err := s.providers.Resolve(ctx, c.ProviderID)
	if errors.Is(err, provider.ErrNotFound) || (err == nil && !cfg.Enabled) {
		s.fail(ctx, c, failure{code: codeProviderUnavailable, description: "the provider was removed or disabled"})
		return "", ErrProviderUnavailable
	}
	if err != nil {
		return "", fmt.Errorf("consent: connect: resolve provider %q: %w", c.ProviderID, err)
	}

	state := newState()
	verifier := oauth2.GenerateVerifier()
	sealed, err := s.keyring.Seal([]byte(verifier), store.ConsentVerifierAAD(c.ID))
	if err != nil {
		return "", fmt.Errorf("consent: connect: seal verifier: %w", err)
	}
	authURL, err := authorizationURL(cfg, c.Scopes, state, verifier)
	if err != nil {
		return "", err
	}
	if err := s.store.SetConsentState(ctx, c.ID, hashState(state), sealed, "", now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// The consent finished or expired since it was read.
			return "", s.closedReason(ctx, c.ID)
		}
		return "", fmt.Errorf("consent: connect: set state: %w", err)
	}

	s.logger.Debug("consent sent to provider", "user_id", userID, "provider_id", c.ProviderID, "consent_id", c.ID)
	return authURL, nil
}

// closedReason rereads a consent that stopped being pending and unexpired
// and returns ErrFinished or ErrExpired.
func (s *Service) closedReason(ctx context.Context, consentID string) error {
	c, err := s.store.GetConsent(ctx, consentID)
	if err != nil {
		return fmt.Errorf("consent: reread consent: %w", err)
	}
	if err := checkOpen(c, s.now()); err != nil {
		return err
	}
	return ErrFinished
}

// authorizationURL builds the authorization request (RFC 6749 section
// 4.1.1, RFC 7636 section 4.3). Query parameters already in the
// endpoint's URL are kept, the provider's AuthorizeParameters are added,
// and the reserved parameters are set last so that nothing overrides
// them.
func authorizationURL(cfg *provider.Config, scopes []string, state, verifier string) (string, error) {
	u, err := url.Parse(cfg.AuthorizationEndpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("consent: authorization endpoint of provider %q is not an absolute URL", cfg.ProviderID)
	}
	scopeParameter := cfg.ScopeParameter
	if scopeParameter == "" {
		scopeParameter = "scope"
	}
	separator := cfg.ScopeSeparator
	if separator == "" {
		separator = " "
	}
	reserved := func(name string) bool {
		lower := strings.ToLower(name)
		return slices.Contains(reservedParameters, lower) || lower == strings.ToLower(scopeParameter)
	}

	q := u.Query()
	for name := range q {
		if reserved(name) {
			q.Del(name)
		}
	}
	for name, value := range cfg.AuthorizeParameters {
		if !reserved(name) {
			q.Set(name, value)
		}
	}
	q.Set("response_type", "code")
	q.Set("client_id", cfg.ClientID)
	q.Set("redirect_uri", cfg.RedirectURI)
	q.Set("state", state)
	q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))
	q.Set("code_challenge_method", "S256")
	if len(scopes) > 0 {
		q.Set(scopeParameter, strings.Join(scopes, separator))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// newState returns stateBytes random bytes in unpadded base64url.
func newState() string {
	var b [stateBytes]byte
	rand.Read(b[:]) // Since Go 1.24, rand.Read never returns an error.
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashState returns the SHA-256 of state as lowercase hex, the form the
// store keeps.
func hashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}
