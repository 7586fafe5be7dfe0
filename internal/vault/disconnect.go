package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
)

// Outcomes of revoking one token upstream, as the revoke audit event
// records them per token type.
const (
	revokedOK          = "revoked"
	revokedInvalid     = "already_invalid" // the provider reports the token no longer works
	revokedQueued      = "queued"          // RunRevocationRetries will try again
	revokedUnsupported = "unsupported"     // the provider cannot revoke this kind of token
	revokedNoAPI       = "no_revocation_api"
	revokedByGrant     = "revoked_with_grant" // the grant revocation of the access token covers it
	revokedFailed      = "failed"
	revokedNoProvider  = "provider_missing"

	// revokeRetry is attemptRevoke's result for a failure worth retrying.
	revokeRetry = "retry"
)

// removeProviderPasses bounds how often RemoveProvider looks again for
// connections made while it was disconnecting the others.
const removeProviderPasses = 3

// Disconnect ends the user's connection to the provider. In order:
//
//  1. Pending consents of the user for the provider are cancelled, so
//     none completes into a new connection after this call.
//  2. The local row is wiped (RevokeToken) and other replicas notified.
//     From here no replica serves or refreshes the tokens, and a refresh
//     already in flight loses its compare-and-swap and revokes what it
//     obtained.
//  3. The old tokens are revoked at the provider: the refresh token
//     first, because at most providers it takes the grant's access tokens
//     along, then the access token, each whatever happened to the other.
//     A failure worth retrying is queued for RunRevocationRetries. A
//     provider that cannot revoke a token type gets one more attempt
//     without a type hint.
//
// The local tokens are gone whatever the provider returns. The revoke
// audit event names actorID and records each token's outcome.
// Disconnecting a connection that does not exist, or that is already
// disconnected, returns nil. The provider calls run even after ctx ends,
// since the user's intent is already recorded.
func (v *Vault) Disconnect(ctx context.Context, userID, providerID, actorID string) error {
	if userID == "" || providerID == "" {
		return errors.New("vault: disconnect: empty user or provider id")
	}
	now := v.now()

	var cancelErr error
	if _, err := v.store.CancelPendingConsents(ctx, userID, providerID, now); err != nil {
		cancelErr = fmt.Errorf("vault: disconnect: cancel pending consents: %w", err)
		v.logger.Error("pending consents not cancelled", "user_id", userID, "provider_id", providerID, "err", err)
	}

	old, err := v.store.RevokeToken(ctx, userID, providerID, now)
	if errors.Is(err, store.ErrNotFound) {
		return cancelErr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("vault: disconnect: %w", err), cancelErr)
	}
	v.published(ctx, userID, providerID, old.Generation+1)
	if old.Status == store.TokenRevoked {
		return cancelErr
	}

	cur, err := v.open(old)
	if err != nil {
		v.logger.Error("disconnected tokens not revoked upstream: cannot decrypt them", "user_id", userID,
			"provider_id", providerID, "generation", old.Generation, "err", err)
		v.recordRevoke(ctx, actorID, userID, providerID,
			map[string]string{oauthclient.HintRefreshToken: revokedFailed, oauthclient.HintAccessToken: revokedFailed}, "disconnect")
		return cancelErr
	}

	upstreamCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*v.client.Timeout())
	defer cancel()
	var results map[string]string
	cfg, err := v.providers.Resolve(upstreamCtx, providerID)
	switch {
	case errors.Is(err, provider.ErrNotFound):
		results = map[string]string{}
		for _, t := range tokensToRevoke(cur.accessToken, cur.refreshToken) {
			results[t.hint] = revokedNoProvider
		}
		v.logger.Warn("disconnected tokens not revoked upstream: provider deleted", "user_id", userID, "provider_id", providerID)
	case err != nil:
		// The queue needs only the provider's id; the retry resolves it.
		results = v.queueAll(upstreamCtx, providerID, userID, cur.accessToken, cur.refreshToken, err)
	default:
		results = v.revokeUpstream(upstreamCtx, cfg, userID, cur.accessToken, cur.refreshToken)
	}
	v.recordRevoke(ctx, actorID, userID, providerID, results, "disconnect")
	return cancelErr
}

// RemoveProvider disconnects every user of the provider, revoking their
// tokens upstream as Disconnect does, and then deletes the provider's
// token rows. Call it before an admin deletes a provider.
//
// NOTE: revocations still queued when the provider itself is deleted
// can no longer be sent, and RunRevocationRetries gives them up with a
// failed audit event. Disabling the provider, waiting for the queue, then
// deleting it avoids that.
func (v *Vault) RemoveProvider(ctx context.Context, providerID, actorID string) error {
	if providerID == "" {
		return errors.New("vault: remove provider: empty provider id")
	}

	var errs []error
	for pass := 0; pass < removeProviderPasses; pass++ {
		rows, err := v.store.ListProviderTokens(ctx, providerID)
		if err != nil {
			return fmt.Errorf("vault: remove provider: %w", err)
		}
		live := 0
		for _, row := range rows {
			if row.Status == store.TokenRevoked {
				continue
			}
			live++
			if err := v.Disconnect(ctx, row.UserID, providerID, actorID); err != nil {
				errs = append(errs, err)
			}
		}
		if live == 0 {
			break
		}
	}

	n, err := v.store.DeleteProviderTokens(ctx, providerID)
	if err != nil {
		errs = append(errs, fmt.Errorf("vault: remove provider: %w", err))
	}
	v.configs.forget(providerID)
	v.logger.Info("provider tokens removed", "provider_id", providerID, "rows", n)
	return errors.Join(errs...)
}

// revocation is one token to revoke with its RFC 7009 type hint.
type revocation struct {
	token, hint string
}

// tokensToRevoke lists the non-empty tokens, the refresh token first.
func tokensToRevoke(accessToken, refreshToken string) []revocation {
	var out []revocation
	if refreshToken != "" {
		out = append(out, revocation{refreshToken, oauthclient.HintRefreshToken})
	}
	if accessToken != "" {
		out = append(out, revocation{accessToken, oauthclient.HintAccessToken})
	}
	return out
}

// revokeUpstream revokes the tokens at the provider, the refresh token
// first, and returns each one's outcome keyed by type hint. GitHub's and
// Slack's styles revoke by access token and take the whole grant, so the
// refresh token is not sent to them.
func (v *Vault) revokeUpstream(ctx context.Context, cfg *provider.Config, userID, accessToken, refreshToken string) map[string]string {
	results := map[string]string{}
	style := revocationStyle(cfg)
	for _, t := range tokensToRevoke(accessToken, refreshToken) {
		switch {
		case style == provider.RevocationNone:
			results[t.hint] = revokedNoAPI
		case style != provider.RevocationRFC7009 && t.hint == oauthclient.HintRefreshToken && accessToken != "":
			results[t.hint] = revokedByGrant
		default:
			results[t.hint] = v.revokeOrQueue(ctx, cfg, userID, t)
		}
	}
	return results
}

// revokeOrQueue revokes one token, and queues it when the failure is
// worth retrying.
func (v *Vault) revokeOrQueue(ctx context.Context, cfg *provider.Config, userID string, t revocation) string {
	outcome, err := v.attemptRevoke(ctx, cfg, t.token, t.hint)
	if outcome != revokeRetry {
		if outcome == revokedUnsupported {
			v.logger.Warn("provider cannot revoke token type; it stays valid until it expires",
				"user_id", userID, "provider_id", cfg.ProviderID, "token_type_hint", t.hint)
		}
		return outcome
	}
	if err := v.enqueue(ctx, cfg.ProviderID, userID, t, err); err != nil {
		v.logger.Error("revocation not queued", "user_id", userID, "provider_id", cfg.ProviderID,
			"token_type_hint", t.hint, "err", err)
		return revokedFailed
	}
	return revokedQueued
}

// queueAll queues every token for a later attempt, for when the provider
// cannot even be resolved now.
func (v *Vault) queueAll(ctx context.Context, providerID, userID, accessToken, refreshToken string, cause error) map[string]string {
	results := map[string]string{}
	for _, t := range tokensToRevoke(accessToken, refreshToken) {
		results[t.hint] = revokedQueued
		if err := v.enqueue(ctx, providerID, userID, t, cause); err != nil {
			v.logger.Error("revocation not queued", "user_id", userID, "provider_id", providerID,
				"token_type_hint", t.hint, "err", err)
			results[t.hint] = revokedFailed
		}
	}
	return results
}

// attemptRevoke sends one revocation and classifies the result: revoked,
// already invalid (KindReauth), unsupported, or revokeRetry with the
// error. RFC 7009 section 2.1 lets a server search all token types
// whatever the hint, so unsupported_token_type for a hinted request gets
// one more attempt without the hint.
func (v *Vault) attemptRevoke(ctx context.Context, cfg *provider.Config, token, hint string) (string, error) {
	err := v.client.Revoke(ctx, cfg, token, hint)
	if err == nil {
		return revokedOK, nil
	}
	var oe *oauthclient.Error
	if !errors.As(err, &oe) {
		return revokeRetry, err
	}
	switch {
	case oe.Kind == oauthclient.KindReauth:
		return revokedInvalid, nil
	case oe.Code == "unsupported_token_type" && hint != "":
		return v.attemptRevoke(ctx, cfg, token, "")
	case oe.Code == "unsupported_token_type":
		return revokedUnsupported, nil
	default:
		return revokeRetry, err
	}
}

// revocationStyle returns the style the client uses for cfg, with an
// empty style read as the client reads it.
func revocationStyle(cfg *provider.Config) provider.RevocationStyle {
	switch {
	case cfg.RevocationStyle != "":
		return cfg.RevocationStyle
	case cfg.RevocationEndpoint != "":
		return provider.RevocationRFC7009
	default:
		return provider.RevocationNone
	}
}

// recordRevoke writes the revoke audit event. Its outcome is failed when
// a token could be neither revoked nor queued for a retry.
func (v *Vault) recordRevoke(ctx context.Context, actorID, userID, providerID string, results map[string]string, trigger string) {
	outcome := audit.OK
	detail := map[string]any{"trigger": trigger}
	for hint, result := range results {
		detail[hint] = result
		switch result {
		case revokedFailed, revokedUnsupported, revokedNoProvider:
			outcome = audit.Failed
		}
	}
	v.audit.Record(ctx, audit.Event{
		Action: audit.Revoke, ActorID: actorOrSystem(actorID), UserID: userID, ProviderID: providerID,
		Outcome: outcome, Detail: detail,
	})
}

// revocationBackoff returns the delay before attempt number attempts+1:
// 30 s doubling per attempt, at most an hour, plus up to a fifth of it as
// jitter, and never less than the provider's Retry-After.
func (v *Vault) revocationBackoff(attempts int, cause error) time.Duration {
	const base, limit = 30 * time.Second, time.Hour
	d := base
	for i := 1; i < attempts && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	var oe *oauthclient.Error
	if errors.As(cause, &oe) && oe.RetryAfter > d {
		d = oe.RetryAfter
	}
	return d + v.jitter(d/5)
}
