package consent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
)

// Limits on the extra scopes of a Start request. maxScopeLen matches the
// provider registry's limit on configured scopes.
const (
	maxExtraScopes = 50
	maxScopeLen    = 256
)

// consentIDPrefix starts every consent id, so that a consent id is easy to
// tell from other ids in logs and URLs.
const consentIDPrefix = "cns_"

// StartInput is the body of a Start request. The zero value requests the
// provider's configured scopes and no return URL.
type StartInput struct {
	// ReturnURL is the page the browser goes to when the consent ends.
	// checkReturnURL lists what is accepted. Empty means /oauth-complete.
	ReturnURL string `json:"return_url,omitempty"`
	// Scopes are requested on top of the provider's configured scopes,
	// for a step-up.
	Scopes []string `json:"scopes,omitempty"`
	// Force starts a consent even when the vault has a usable token, for
	// example to connect a different account.
	Force bool `json:"force,omitempty"`
}

// StartResult is the result of Start. When Connected is true the other
// fields are empty.
type StartResult struct {
	Connected bool   `json:"connected"`
	ConsentID string `json:"consent_id,omitempty"`
	// AuthorizationURL is Toolgate's /connect/{consent_id} page, which the
	// user opens in a browser signed in to Toolgate as the same user.
	AuthorizationURL string    `json:"authorization_url,omitempty"`
	ExpiresAt        time.Time `json:"expires_at,omitzero"`
}

// Start begins a consent of userID, whose roles are roles, for the
// provider providerID, or reports that none is needed.
//
// It returns ErrNotFound unless the provider exists, is enabled and is
// open to one of the roles, and an *InputError for a bad return URL or scope.
// When the vault has a usable token covering the provider's scopes and
// in.Scopes, and in.Force is false, the result is Connected. Otherwise a
// pending, unexpired consent of the user for the provider that covers
// those scopes is returned as it is, return URL included. A pending one
// that does not cover them is cancelled (a step-up), and the new consent
// requests the union of its scopes and the needed ones. A client that
// waited for the old consent is then covered by the new one.
func (s *Service) Start(ctx context.Context, userID string, roles []string, providerID string, in StartInput) (*StartResult, error) {
	if userID == "" {
		return nil, ErrSignInRequired
	}
	returnURL, err := s.checkReturnURL(in.ReturnURL)
	if err != nil {
		return nil, err
	}

	cfg, err := s.providerFor(ctx, providerID, roles)
	if err != nil {
		return nil, err
	}
	if err := checkScopes(in.Scopes, cfg.ScopeSeparator); err != nil {
		return nil, err
	}
	needed := unionScopes(cfg.Scopes, in.Scopes)

	if !in.Force {
		usable, err := s.tokens.Usable(ctx, userID, providerID, needed)
		if err != nil {
			return nil, fmt.Errorf("consent: start: check vault: %w", err)
		}
		if usable {
			return &StartResult{Connected: true}, nil
		}
	}

	now := s.now()
	pending, err := s.store.FindPendingConsent(ctx, userID, providerID, now)
	switch {
	case err == nil && coversScopes(pending.Scopes, needed):
		return s.startResult(pending), nil
	case err == nil:
		needed = unionScopes(pending.Scopes, needed)
		if _, err := s.store.CancelPendingConsents(ctx, userID, providerID, now); err != nil {
			return nil, fmt.Errorf("consent: start: cancel pending consents: %w", err)
		}
		s.logger.Info("consent step-up cancelled pending consent", "user_id", userID, "provider_id", providerID,
			"consent_id", pending.ID)
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("consent: start: find pending consent: %w", err)
	}

	c := &store.Consent{
		ID:         newConsentID(),
		UserID:     userID,
		ProviderID: providerID,
		Scopes:     needed,
		ReturnURL:  returnURL,
		Status:     store.ConsentPending,
		CreatedAt:  now,
		ExpiresAt:  now.Add(s.ttl),
	}
	if err := s.store.CreateConsent(ctx, c); err != nil {
		return nil, fmt.Errorf("consent: start: create consent: %w", err)
	}
	if winner := s.settleConcurrentStart(ctx, c, now); winner != c {
		return s.startResult(winner), nil
	}

	s.metrics.started.WithLabelValues(providerID).Inc()
	s.audit.Record(ctx, audit.Event{
		Action: audit.ConsentStarted, ActorID: userID, UserID: userID, ProviderID: providerID,
		Outcome: audit.OK, Detail: map[string]any{"consent_id": c.ID, "scopes": strings.Join(c.Scopes, " ")},
	})
	s.logger.Info("consent started", "user_id", userID, "provider_id", providerID, "consent_id", c.ID)
	return s.startResult(c), nil
}

// settleConcurrentStart keeps two concurrent Starts, on one replica or on
// two, from leaving two flows: when a newer pending consent than c covers
// c's scopes, c is cancelled and the newer one returned. Otherwise, and
// when the store cannot tell, c is returned and stays.
func (s *Service) settleConcurrentStart(ctx context.Context, c *store.Consent, now time.Time) *store.Consent {
	newest, err := s.store.FindPendingConsent(ctx, c.UserID, c.ProviderID, now)
	if err != nil || newest.ID == c.ID || !coversScopes(newest.Scopes, c.Scopes) {
		return c
	}
	if err := s.store.FinishConsent(ctx, c.ID, store.ConsentCancelled, "", "", now); err != nil {
		s.logger.Warn("duplicate consent not cancelled", "user_id", c.UserID, "provider_id", c.ProviderID,
			"consent_id", c.ID, "err", err)
		return c
	}
	return newest
}

// providerFor resolves providerID and checks that the user may connect it.
func (s *Service) providerFor(ctx context.Context, providerID string, roles []string) (*provider.Config, error) {
	cfg, err := s.providers.Resolve(ctx, providerID)
	if errors.Is(err, provider.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("consent: resolve provider %q: %w", providerID, err)
	}
	if !cfg.Enabled {
		return nil, ErrNotFound
	}
	if len(cfg.AllowedRoles) > 0 && !slices.ContainsFunc(roles, func(role string) bool {
		return slices.Contains(cfg.AllowedRoles, role)
	}) {
		return nil, ErrNotFound
	}
	return cfg, nil
}

func (s *Service) startResult(c *store.Consent) *StartResult {
	return &StartResult{
		ConsentID:        c.ID,
		AuthorizationURL: s.externalPath(ConnectPath + url.PathEscape(c.ID)),
		ExpiresAt:        c.ExpiresAt,
	}
}

// checkScopes validates extra scopes as RFC 6749 section 3.3 scope
// tokens. A scope must not contain the provider's separator either, so
// that joining the scopes cannot split one into two.
func checkScopes(scopes []string, separator string) error {
	if len(scopes) > maxExtraScopes {
		return &InputError{Field: "scopes", Detail: fmt.Sprintf("too many scopes: %d; the limit is %d", len(scopes), maxExtraScopes)}
	}
	for i, scope := range scopes {
		field := fmt.Sprintf("scopes[%d]", i)
		switch {
		case scope == "" || len(scope) > maxScopeLen:
			return &InputError{Field: field, Detail: fmt.Sprintf("want 1 to %d characters", maxScopeLen)}
		case strings.ContainsFunc(scope, func(r rune) bool { return !isScopeChar(r) }):
			return &InputError{Field: field, Detail: "contains a character outside printable ASCII, a space, '\"' or '\\'; send one scope per array element"}
		case separator != "" && strings.Contains(scope, separator):
			return &InputError{Field: field, Detail: fmt.Sprintf("contains the provider's scope separator %q; send one scope per array element", separator)}
		}
	}
	return nil
}

// isScopeChar reports whether r may appear in a scope token: %x21,
// %x23-5B or %x5D-7E (RFC 6749 section 3.3).
func isScopeChar(r rune) bool {
	return r == 0x21 || (r >= 0x23 && r <= 0x5b) || (r >= 0x5d && r <= 0x7e)
}

// unionScopes returns a's scopes followed by those of b that a lacks, in
// order and without repeats.
func unionScopes(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	for _, scope := range slices.Concat(a, b) {
		if !slices.Contains(out, scope) {
			out = append(out, scope)
		}
	}
	return out
}

// coversScopes reports whether have contains every scope of want.
func coversScopes(have, want []string) bool {
	for _, scope := range want {
		if !slices.Contains(have, scope) {
			return false
		}
	}
	return true
}

// newConsentID returns consentIDPrefix followed by 128 random bits in
// unpadded base64url.
func newConsentID() string {
	var b [16]byte
	rand.Read(b[:]) // Since Go 1.24, rand.Read never returns an error.
	return consentIDPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// StartConsent starts a consent of userID for providerID with extra
// scopes, taking the user's roles from their last sign-in. It serves
// callers that act for a user without holding the user's identity, such as
// a workload asking for a user's token, and returns the consent's id, URL
// and expiry. When the user already has a usable token it returns empty
// values and no error.
func (s *Service) StartConsent(ctx context.Context, userID, providerID string, scopes []string) (string, string, time.Time, error) {
	var roles []string
	u, err := s.store.GetUser(ctx, userID)
	switch {
	case err == nil:
		roles = u.Roles
	case !errors.Is(err, store.ErrNotFound):
		return "", "", time.Time{}, fmt.Errorf("consent: load user %q: %w", userID, err)
	}
	res, err := s.Start(ctx, userID, roles, providerID, StartInput{Scopes: scopes})
	if err != nil {
		return "", "", time.Time{}, err
	}
	return res.ConsentID, res.AuthorizationURL, res.ExpiresAt, nil
}
