package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/store"
)

// Save stores the tokens of a completed consent as the user's connection
// to the provider, replacing any earlier connection whole, and makes it
// connected. The consent flow calls it after a successful code exchange.
//
// The granted scopes are the response's, or requestedScopes when the
// response listed none. requestedScopes are kept too: they decide
// whether an admin has since added scopes (StatusReasonScopesChanged),
// and count as held (see heldScopes).
//
// Save keeps nothing of an earlier connection, not even its refresh
// token when the response has none, because the new consent may be for
// another account at the provider. It does not revoke the earlier
// tokens either: providers that keep one grant per client and user would
// revoke the new tokens with them.
func (v *Vault) Save(ctx context.Context, userID, providerID string, resp *oauthclient.TokenResponse, requestedScopes []string) error {
	if userID == "" || providerID == "" {
		return errors.New("vault: save: empty user or provider id")
	}
	if resp == nil || resp.AccessToken == "" {
		return errors.New("vault: save: token response has no access token")
	}

	requested := uniqueScopes(requestedScopes)
	granted := resp.Scopes
	if granted == nil {
		granted = requested
	}
	rec := &store.TokenRecord{
		UserID: userID, ProviderID: providerID, TokenType: resp.TokenType, ExpiresAt: resp.ExpiresAt,
		Scopes: uniqueScopes(granted), ConnectedAt: v.now(),
	}
	if rec.TokenType == "" {
		rec.TokenType = "Bearer"
	}
	var err error
	if rec.AccessToken, err = v.sealString(resp.AccessToken, store.TokenAccessAAD(userID, providerID)); err != nil {
		return fmt.Errorf("vault: save: seal access token: %w", err)
	}
	if rec.RefreshToken, err = v.sealString(resp.RefreshToken, store.TokenRefreshAAD(userID, providerID)); err != nil {
		return fmt.Errorf("vault: save: seal refresh token: %w", err)
	}
	doc := extrasDocument{Fields: resp.Extras, RequestedScopes: requested}
	if rec.Extras, err = v.sealExtras(userID, providerID, doc); err != nil {
		return fmt.Errorf("vault: save: %w", err)
	}

	generation, err := v.store.PutToken(ctx, rec)
	if err != nil {
		return fmt.Errorf("vault: save: %w", err)
	}
	v.published(ctx, userID, providerID, generation)
	v.logger.Info("connection saved", "user_id", userID, "provider_id", providerID, "generation", generation)
	return nil
}
