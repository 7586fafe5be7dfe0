package vault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
)

// Timing of refreshes; the design note in vault.go explains the protocol.
const (
	// A replica waiting for another's refresh rereads the row every
	// pollMin plus up to pollJitter.
	pollMin    = 25 * time.Millisecond
	pollJitter = 75 * time.Millisecond
	// refreshPause is how long a replica makes no new refresh attempt
	// after a failed one while the old token is still valid.
	refreshPause = 5 * time.Second
	// flightGrace lets a lease holder that began just before the wait
	// ended finish its commit.
	flightGrace = 5 * time.Second
	// commitAttempts is how often a refresh's result is written before it
	// is given up. The provider may have rotated the refresh token, so
	// losing the result costs the user a new consent.
	commitAttempts = 3
)

// actorSystem is the audit actor of work no caller asked for.
const actorSystem = "system"

var (
	errWaitTimedOut = errors.New("vault: timed out waiting for another replica's refresh")
	// errRowMoved signals to refreshShared that a write landed during its
	// attempt, so it must reread the row.
	errRowMoved = errors.New("vault: token row moved")
)

// refresh returns a token newer than cur's, or cur's own token when a
// refresh is not possible now but it is still valid. Concurrent callers
// in this process share one attempt; forced attempts (after a rejected
// token) do not join unforced ones, whose result may be that token.
func (v *Vault) refresh(ctx context.Context, cfg *provider.Config, cur *opened, forced bool, actorID string) (*entry, error) {
	rec := cur.rec
	flightKey := rec.UserID + "\x1f" + rec.ProviderID
	if forced {
		flightKey += "\x1fforced"
	}
	start := time.Now()

	ch := v.flights.DoChan(flightKey, func() (any, error) {
		// The attempt outlives the caller that started it, because
		// other callers wait for its result.
		flightCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.waitTimeout+v.client.Timeout()+flightGrace)
		defer cancel()
		return v.refreshShared(flightCtx, cfg, rec.UserID, rec.ProviderID, rec.Generation, forced, actorID)
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("vault: wait for refresh: %w", ctx.Err())
	case res := <-ch:
		v.metrics.refreshWait.Observe(time.Since(start).Seconds())
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*entry), nil
	}
}

// refreshShared is one process's attempt: reread, take the lease or wait
// for its holder, refresh, commit. seen is the generation the caller
// read.
func (v *Vault) refreshShared(ctx context.Context, cfg *provider.Config, userID, providerID string, seen int64, forced bool, actorID string) (*entry, error) {
	key := cacheKey{userID, providerID}
	deadline := time.Now().Add(v.waitTimeout)
	for {
		seq := v.tokens.snapshot()
		cur, err := v.load(ctx, userID, providerID)
		if err != nil {
			return nil, err
		}
		now := v.now()
		e, err := v.usableEntry(cur, cfg, now)
		if err != nil {
			return nil, err
		}

		// A newer generation that is not due means another caller
		// refreshed; an unforced caller also accepts a token that turned
		// out not to be due.
		mustRefresh := forced && cur.rec.Generation <= seen
		if !mustRefresh && !e.due(now) {
			v.tokens.putIf(seq, key, e)
			return e, nil
		}
		if !mustRefresh && v.paused(key, now) && !expired(cur.rec, now) {
			return e, nil
		}

		until := now.Add(v.leaseDuration)
		acquired, err := v.store.AcquireRefreshLease(ctx, userID, providerID, cur.rec.Generation, v.replicaID, now, until)
		if err != nil {
			return nil, fmt.Errorf("vault: acquire refresh lease: %w", err)
		}
		if acquired {
			e, err := v.refreshHeld(ctx, cfg, cur, e, mustRefresh, actorID)
			if errors.Is(err, errRowMoved) {
				seen = cur.rec.Generation
				continue
			}
			return e, err
		}

		if !time.Now().Before(deadline) {
			v.logger.Warn("refresh wait timed out", "user_id", userID, "provider_id", providerID,
				"generation", cur.rec.Generation)
			return v.fallback(cur, e, mustRefresh, now, errWaitTimedOut)
		}
		if err := sleep(ctx, pollMin+v.jitter(pollJitter)); err != nil {
			return v.fallback(cur, e, mustRefresh, now, err)
		}
	}
}

// refreshHeld refreshes cur at the provider while this replica holds the
// row's lease, and commits the result. e is cur's entry, served when the
// refresh fails but the old token still works.
func (v *Vault) refreshHeld(ctx context.Context, cfg *provider.Config, cur *opened, e *entry, forced bool, actorID string) (*entry, error) {
	rec := cur.rec
	now := v.now()
	if cur.refreshToken == "" {
		if forced || expired(rec, now) {
			reason := StatusReasonExpired
			if forced {
				reason = StatusReasonTokenRejected
			}
			return nil, v.markReauth(ctx, rec, reason)
		}
		v.release(ctx, rec)
		return e, nil
	}

	resp, err := v.client.Refresh(ctx, cfg, cur.refreshToken)
	if err != nil {
		return v.refreshFailed(ctx, cur, e, forced, actorID, err)
	}

	merged, doc, err := v.merge(cur, resp, v.now())
	if err != nil {
		v.release(ctx, rec)
		return nil, err
	}
	seq := v.tokens.snapshot()
	generation, err := v.commit(ctx, merged)
	if errors.Is(err, store.ErrConflict) {
		return nil, v.refreshLost(ctx, cfg, rec, resp)
	}
	if err != nil {
		v.metrics.refreshes.WithLabelValues(outcomeFailure).Inc()
		v.logger.Error("refreshed token not stored", "user_id", rec.UserID, "provider_id", rec.ProviderID,
			"generation", rec.Generation, "err", err)
		v.release(ctx, rec)
		return nil, err
	}

	merged.Generation = generation
	v.published(ctx, rec.UserID, rec.ProviderID, generation)
	fresh := &entry{
		token: &Token{
			AccessToken: resp.AccessToken, TokenType: merged.TokenType, ExpiresAt: merged.ExpiresAt,
			Scopes: merged.Scopes, Extras: doc.Fields, Generation: generation,
		},
		held:      heldScopes(merged.Scopes, doc.RequestedScopes),
		refreshAt: v.refreshAt(merged),
		filledAt:  v.now(),
	}
	// published bumped the sequence once; any further bump is another
	// write, which this entry must not hide.
	v.tokens.putIf(seq+1, cacheKey{rec.UserID, rec.ProviderID}, fresh)

	v.metrics.refreshes.WithLabelValues(outcomeOK).Inc()
	v.audit.Record(ctx, audit.Event{
		Action: audit.RefreshOK, ActorID: actorOrSystem(actorID), UserID: rec.UserID, ProviderID: rec.ProviderID,
		Outcome: audit.OK, Detail: map[string]any{"generation": generation, "rotated": resp.RefreshToken != ""},
	})
	return fresh, nil
}

// merge applies a refresh response to the row and keeps what the
// response lacks. A missing refresh token keeps the old one, because not
// every provider rotates. A missing scope keeps the old scopes, and extra
// fields are updated one by one. The expiry is the response's, and
// unknown when it gave none. The generation is left for the
// compare-and-swap.
func (v *Vault) merge(cur *opened, resp *oauthclient.TokenResponse, now time.Time) (*store.TokenRecord, extrasDocument, error) {
	rec := *cur.rec
	var err error
	if rec.AccessToken, err = v.sealString(resp.AccessToken, store.TokenAccessAAD(rec.UserID, rec.ProviderID)); err != nil {
		return nil, extrasDocument{}, fmt.Errorf("vault: seal access token: %w", err)
	}
	if resp.RefreshToken != "" {
		if rec.RefreshToken, err = v.sealString(resp.RefreshToken, store.TokenRefreshAAD(rec.UserID, rec.ProviderID)); err != nil {
			return nil, extrasDocument{}, fmt.Errorf("vault: seal refresh token: %w", err)
		}
	}
	rec.TokenType = resp.TokenType
	rec.ExpiresAt = resp.ExpiresAt
	if resp.Scopes != nil {
		rec.Scopes = resp.Scopes
	}

	doc := extrasDocument{Fields: maps.Clone(cur.extras.Fields), RequestedScopes: cur.extras.RequestedScopes}
	if len(resp.Extras) > 0 {
		if doc.Fields == nil {
			doc.Fields = map[string]string{}
		}
		maps.Copy(doc.Fields, resp.Extras)
	}
	if rec.Extras, err = v.sealExtras(rec.UserID, rec.ProviderID, doc); err != nil {
		return nil, extrasDocument{}, err
	}
	rec.RefreshedAt = now
	return &rec, doc, nil
}

// commit stores a refresh with CompleteRefresh, retrying a failed write
// (but not a lost compare-and-swap) a few times.
func (v *Vault) commit(ctx context.Context, rec *store.TokenRecord) (int64, error) {
	var err error
	for attempt := 1; attempt <= commitAttempts; attempt++ {
		var generation int64
		generation, err = v.store.CompleteRefresh(ctx, rec)
		if err == nil || errors.Is(err, store.ErrConflict) {
			return generation, err
		}
		if attempt < commitAttempts {
			if sleepErr := sleep(ctx, time.Duration(attempt)*100*time.Millisecond); sleepErr != nil {
				break
			}
		}
	}
	return 0, fmt.Errorf("vault: store refreshed token: %w", err)
}

// refreshFailed handles a provider's refusal of a refresh. KindReauth
// marks the row needs_reauth. Otherwise the lease is released, the row
// kept, and the old token served while it has not expired and was not
// rejected by the caller.
func (v *Vault) refreshFailed(ctx context.Context, cur *opened, e *entry, forced bool, actorID string, err error) (*entry, error) {
	rec := cur.rec
	kind, code := oauthclient.KindFailure, "refresh_failed"
	var oe *oauthclient.Error
	if errors.As(err, &oe) {
		kind, code = oe.Kind, oe.Code
	}

	v.metrics.refreshes.WithLabelValues(kind.String()).Inc()
	v.audit.Record(ctx, audit.Event{
		Action: audit.RefreshFailed, ActorID: actorOrSystem(actorID), UserID: rec.UserID, ProviderID: rec.ProviderID,
		Outcome: audit.Failed, Detail: map[string]any{"error": code, "kind": kind.String(), "generation": rec.Generation},
	})
	v.logger.Warn("token refresh failed", "user_id", rec.UserID, "provider_id", rec.ProviderID,
		"generation", rec.Generation, "kind", kind.String(), "err", err)

	if kind == oauthclient.KindReauth {
		return nil, v.markReauth(ctx, rec, code)
	}
	v.release(ctx, rec)
	now := v.now()
	v.pause(cacheKey{rec.UserID, rec.ProviderID}, now)
	if !forced && !expired(rec, now) {
		return e, nil
	}
	if kind == oauthclient.KindTransient {
		return nil, fmt.Errorf("%w: %w", ErrTemporarilyUnavailable, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrRefreshFailed, err)
}

// markReauth sets the row needs_reauth at its generation, which also
// drops the lease, and returns the ConsentRequired error for it. When the
// row has moved on it returns errRowMoved instead.
func (v *Vault) markReauth(ctx context.Context, rec *store.TokenRecord, reason string) error {
	err := v.store.SetTokenStatus(ctx, rec.UserID, rec.ProviderID, rec.Generation, store.TokenNeedsReauth, reason, v.now())
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return errRowMoved
	}
	if err != nil {
		return fmt.Errorf("vault: mark needs reauth: %w", err)
	}
	v.published(ctx, rec.UserID, rec.ProviderID, rec.Generation)
	return &ConsentRequiredError{Reason: ReasonNeedsReauth, StatusReason: reason,
		Detail: "the provider no longer accepts the connection's grant; the user must consent again"}
}

// refreshLost handles a refresh whose compare-and-swap lost, because a
// disconnect or a new consent wrote the row during the provider request. The
// newer row is never overwritten. When the row was disconnected (or
// deleted), the tokens just obtained are revoked, because nothing would
// otherwise revoke them. After a new consent they are left to expire,
// since revoking them could revoke the new consent's grant too at
// providers that share one grant per client and user.
func (v *Vault) refreshLost(ctx context.Context, cfg *provider.Config, rec *store.TokenRecord, resp *oauthclient.TokenResponse) error {
	v.metrics.refreshes.WithLabelValues(outcomeLost).Inc()
	latest, err := v.store.GetToken(ctx, rec.UserID, rec.ProviderID)
	disconnected := errors.Is(err, store.ErrNotFound) || (err == nil && latest.Status == store.TokenRevoked)
	v.logger.Info("refresh lost to a newer write", "user_id", rec.UserID, "provider_id", rec.ProviderID,
		"generation", rec.Generation, "revoking_new_tokens", disconnected)
	if disconnected {
		results := v.revokeUpstream(ctx, cfg, rec.UserID, resp.AccessToken, resp.RefreshToken)
		v.recordRevoke(ctx, actorSystem, rec.UserID, rec.ProviderID, results, "refresh_after_disconnect")
	}
	return errRowMoved
}

// fallback serves the old token when the caller did not report it
// rejected and it has not expired, and otherwise returns
// ErrTemporarilyUnavailable wrapping cause.
func (v *Vault) fallback(cur *opened, e *entry, forced bool, now time.Time, cause error) (*entry, error) {
	if !forced && !expired(cur.rec, now) {
		return e, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrTemporarilyUnavailable, cause)
}

// release drops this replica's lease on the row. A failure only delays
// the next refresh until the lease expires, so it is logged.
func (v *Vault) release(ctx context.Context, rec *store.TokenRecord) {
	if err := v.store.ReleaseRefreshLease(ctx, rec.UserID, rec.ProviderID, v.replicaID); err != nil {
		v.logger.Warn("refresh lease not released", "user_id", rec.UserID, "provider_id", rec.ProviderID,
			"generation", rec.Generation, "err", err)
	}
}

func (v *Vault) pause(key cacheKey, now time.Time) {
	v.pauseMu.Lock()
	defer v.pauseMu.Unlock()
	for k, until := range v.pausedUntil {
		if !now.Before(until) {
			delete(v.pausedUntil, k)
		}
	}
	v.pausedUntil[key] = now.Add(refreshPause + v.jitter(refreshPause))
}

func (v *Vault) paused(key cacheKey, now time.Time) bool {
	v.pauseMu.Lock()
	defer v.pauseMu.Unlock()
	until, ok := v.pausedUntil[key]
	return ok && now.Before(until)
}

// expired reports whether the row's access token has expired at now. A
// token with unknown expiry never has.
func expired(rec *store.TokenRecord, now time.Time) bool {
	return !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt)
}

func actorOrSystem(actorID string) string {
	if actorID == "" {
		return actorSystem
	}
	return actorID
}

// sleep waits for d or until ctx ends, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
