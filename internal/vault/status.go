package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
)

// Values of Status.Status.
const (
	StatusConnected    = store.TokenConnected
	StatusNeedsReauth  = store.TokenNeedsReauth
	StatusNotConnected = "not_connected"
	StatusRevoked      = store.TokenRevoked
)

// Status describes a user's connection to one provider. It never holds a
// token.
type Status struct {
	ProviderID string
	// Status is StatusConnected, StatusNeedsReauth, StatusNotConnected or
	// StatusRevoked.
	Status string
	// Reason is why a connection needs reauthentication or was revoked:
	// StatusReasonScopesChanged, StatusReasonExpired, a provider error
	// code such as invalid_grant, or "disconnected".
	Reason string
	// Scopes are the granted scopes; empty when not connected.
	Scopes []string
	// MissingScopes are the provider's configured scopes that the
	// connection's consent did not cover, for StatusReasonScopesChanged.
	MissingScopes []string
	// ExpiresAt is the access token's expiry; zero when unknown or not
	// connected.
	ExpiresAt   time.Time
	ConnectedAt time.Time
	RefreshedAt time.Time
	Generation  int64
}

// evaluate computes the status of an opened row. A connected row counts
// as needing reauthentication when cfg (nil skips this check) has scopes
// that its consent did not cover, or when its token has expired with no
// refresh token to renew it.
func evaluate(cur *opened, cfg *provider.Config, now time.Time) *Status {
	rec := cur.rec
	st := &Status{
		ProviderID: rec.ProviderID, Status: rec.Status, Reason: rec.Reason, Scopes: rec.Scopes,
		ExpiresAt: rec.ExpiresAt, ConnectedAt: rec.ConnectedAt, RefreshedAt: rec.RefreshedAt,
		Generation: rec.Generation,
	}
	if st.Scopes == nil {
		st.Scopes = []string{}
	}
	if rec.Status != store.TokenConnected {
		return st
	}

	if cfg != nil {
		held := heldScopes(rec.Scopes, cur.extras.RequestedScopes)
		if missing := missingScopes(cfg.Scopes, held); len(missing) > 0 {
			st.Status, st.Reason, st.MissingScopes = StatusNeedsReauth, StatusReasonScopesChanged, missing
			return st
		}
	}
	if cur.refreshToken == "" && !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt) {
		st.Status, st.Reason = StatusNeedsReauth, StatusReasonExpired
	}
	return st
}

// Status returns the user's connection to the provider, read from the
// database on every call, so that a disconnect made on any replica
// shows at once. It has no side effects: it never refreshes a token or starts a
// consent. It returns ErrProviderNotFound for an unknown provider.
func (v *Vault) Status(ctx context.Context, userID, providerID string) (*Status, error) {
	st, _, err := v.status(ctx, userID, providerID)
	return st, err
}

// status returns the connection's status and the scopes it counts as
// holding.
func (v *Vault) status(ctx context.Context, userID, providerID string) (*Status, []string, error) {
	if userID == "" || providerID == "" {
		return nil, nil, errors.New("vault: status: empty user or provider id")
	}
	cfg, err := v.providers.Resolve(ctx, providerID)
	if errors.Is(err, provider.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: %q", ErrProviderNotFound, providerID)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("vault: resolve provider %q: %w", providerID, err)
	}

	rec, err := v.store.GetToken(ctx, userID, providerID)
	if errors.Is(err, store.ErrNotFound) {
		return &Status{ProviderID: providerID, Status: StatusNotConnected, Scopes: []string{}}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("vault: read token: %w", err)
	}
	cur, err := v.open(rec)
	if err != nil {
		return nil, nil, err
	}
	return evaluate(cur, cfg, v.now()), heldScopes(rec.Scopes, cur.extras.RequestedScopes), nil
}

// Statuses returns the status of every connection the user has, keyed by
// provider id, read from the database. Providers the user never
// connected are absent. A row whose provider no longer exists is
// reported without the scopes check.
func (v *Vault) Statuses(ctx context.Context, userID string) (map[string]*Status, error) {
	if userID == "" {
		return nil, errors.New("vault: statuses: empty user id")
	}
	rows, err := v.store.ListUserTokens(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("vault: list tokens: %w", err)
	}

	now := v.now()
	out := make(map[string]*Status, len(rows))
	for i := range rows {
		rec := &rows[i]
		cfg, err := v.providers.Resolve(ctx, rec.ProviderID)
		if err != nil && !errors.Is(err, provider.ErrNotFound) {
			return nil, fmt.Errorf("vault: resolve provider %q: %w", rec.ProviderID, err)
		}
		cur, err := v.open(rec)
		if err != nil {
			return nil, err
		}
		out[rec.ProviderID] = evaluate(cur, cfg, now)
	}
	return out, nil
}

// Usable reports whether the user's connection to the provider can hand
// out a token with scopes now: connected, not needing reauthentication
// (scopes_changed included) and holding every scope. The consent flow
// uses it to decide whether the user is already connected. Like Status it reads the
// database and has no side effects.
func (v *Vault) Usable(ctx context.Context, userID, providerID string, scopes []string) (bool, error) {
	st, held, err := v.status(ctx, userID, providerID)
	if err != nil {
		return false, err
	}
	return st.Status == StatusConnected && len(missingScopes(scopes, held)) == 0, nil
}

// maxReasonLen caps a reason passed to MarkNeedsReauth.
const maxReasonLen = 64

// MarkNeedsReauth records that the connection's token at generation no
// longer works, for a caller whose request the provider rejected with
// 401 even after a ForceRefresh. reason is a short code such as
// "token_rejected" (1 to 64 printable ASCII characters). It returns an
// error wrapping ErrStaleGeneration when the connection has moved past
// generation (read the token again), and ConsentRequired(not_connected)
// when there is no connection.
func (v *Vault) MarkNeedsReauth(ctx context.Context, userID, providerID string, generation int64, reason string) error {
	if userID == "" || providerID == "" {
		return errors.New("vault: mark needs reauth: empty user or provider id")
	}
	if !validReason(reason) {
		return fmt.Errorf("vault: mark needs reauth: invalid reason %q: want 1 to %d printable ASCII characters", reason, maxReasonLen)
	}

	err := v.store.SetTokenStatus(ctx, userID, providerID, generation, store.TokenNeedsReauth, reason, v.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &ConsentRequiredError{Reason: ReasonNotConnected, Detail: "the user has not connected this provider"}
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("vault: mark needs reauth at generation %d: %w", generation, ErrStaleGeneration)
	case err != nil:
		return fmt.Errorf("vault: mark needs reauth: %w", err)
	}

	v.published(ctx, userID, providerID, generation)
	v.logger.Info("connection marked needs_reauth", "user_id", userID, "provider_id", providerID,
		"generation", generation, "reason", reason)
	return nil
}

func validReason(reason string) bool {
	if reason == "" || len(reason) > maxReasonLen {
		return false
	}
	for i := 0; i < len(reason); i++ {
		if reason[i] < 0x20 || reason[i] > 0x7e {
			return false
		}
	}
	return true
}
