package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
)

// revocationBatch is how many due revocations one pass claims.
const revocationBatch = 50

// enqueue stores t for RunRevocationRetries, sealed under its queue row's
// associated data. The first attempt, which failed with cause, counts.
func (v *Vault) enqueue(ctx context.Context, providerID, userID string, t revocation, cause error) error {
	id := randomID() + randomID()
	sealed, err := v.keyring.Seal([]byte(t.token), store.RevocationTokenAAD(id))
	if err != nil {
		return fmt.Errorf("vault: seal queued revocation: %w", err)
	}
	now := v.now()
	err = v.store.EnqueueRevocation(ctx, &store.Revocation{
		ID: id, ProviderID: providerID, UserID: userID, Token: sealed, TokenTypeHint: t.hint,
		Attempts: 1, NextAttemptAt: now.Add(v.revocationBackoff(1, cause)), LastError: errorCode(cause),
		CreatedAt: now,
	})
	if err != nil {
		return fmt.Errorf("vault: queue revocation: %w", err)
	}
	v.metrics.revocationQueue.Inc()
	v.logger.Info("revocation queued", "user_id", userID, "provider_id", providerID,
		"token_type_hint", t.hint, "err", cause)
	return nil
}

// RunRevocationRetries retries queued revocations until ctx ends: every
// RevocationPollInterval (plus jitter) it claims the due ones, so that
// replicas share the queue without sending one twice. A revocation that
// keeps failing is retried with exponential backoff (see
// revocationBackoff) and given up, with a failed revoke audit event,
// after RevocationMaxAttempts attempts or RevocationMaxAge.
func (v *Vault) RunRevocationRetries(ctx context.Context) {
	v.logger.Info("revocation retries starting")
	for {
		if _, err := v.processDueRevocations(ctx); err != nil && ctx.Err() == nil {
			v.logger.Error("revocation retry pass failed", "err", err)
		}
		if err := sleep(ctx, v.revocationPoll+v.jitter(v.revocationPoll/5)); err != nil {
			v.logger.Info("revocation retries stopped")
			return
		}
	}
}

// processDueRevocations claims the due revocations, attempts each once,
// and updates the queue gauge. It returns how many it attempted.
func (v *Vault) processDueRevocations(ctx context.Context) (int, error) {
	now := v.now()
	// The claim lasts long enough for every attempt of the batch, in case
	// they all time out.
	leaseUntil := now.Add(revocationBatch*v.client.Timeout() + v.leaseDuration)
	due, err := v.store.ClaimDueRevocations(ctx, now, leaseUntil, revocationBatch)
	if err != nil {
		return 0, fmt.Errorf("vault: claim due revocations: %w", err)
	}
	for i := range due {
		if err := v.retryRevocation(ctx, &due[i]); err != nil {
			v.logger.Error("queued revocation not updated", "user_id", due[i].UserID,
				"provider_id", due[i].ProviderID, "err", err)
		}
	}

	if n, err := v.store.CountRevocations(ctx); err == nil {
		v.metrics.revocationQueue.Set(float64(n))
	}
	return len(due), nil
}

// retryRevocation attempts one queued revocation and then deletes it
// (done or given up) or schedules the next attempt.
func (v *Vault) retryRevocation(ctx context.Context, r *store.Revocation) error {
	now := v.now()
	giveUp := func(reason string) error {
		v.logger.Warn("queued revocation given up", "user_id", r.UserID, "provider_id", r.ProviderID,
			"token_type_hint", r.TokenTypeHint, "attempts", r.Attempts, "reason", reason, "last_error", r.LastError)
		v.audit.Record(ctx, audit.Event{
			Action: audit.Revoke, ActorID: actorSystem, UserID: r.UserID, ProviderID: r.ProviderID, Outcome: audit.Failed,
			Detail: map[string]any{"trigger": "retry", r.TokenTypeHint: reason, "attempts": r.Attempts, "error": r.LastError},
		})
		return v.store.DeleteRevocation(ctx, r.ID)
	}

	cfg, err := v.providers.Resolve(ctx, r.ProviderID)
	if errors.Is(err, provider.ErrNotFound) {
		return giveUp(revokedNoProvider)
	}
	plain, openErr := v.keyring.Open(r.Token, store.RevocationTokenAAD(r.ID))
	if openErr != nil {
		v.logger.Error("queued revocation cannot be decrypted", "user_id", r.UserID, "provider_id", r.ProviderID, "err", openErr)
		return giveUp("undecryptable")
	}

	var outcome string
	if err == nil {
		outcome, err = v.attemptRevoke(ctx, cfg, string(plain), r.TokenTypeHint)
	} else {
		outcome, err = revokeRetry, fmt.Errorf("vault: resolve provider: %w", err)
	}
	attempts := r.Attempts + 1
	switch outcome {
	case revokedOK, revokedInvalid:
		v.audit.Record(ctx, audit.Event{
			Action: audit.Revoke, ActorID: actorSystem, UserID: r.UserID, ProviderID: r.ProviderID, Outcome: audit.OK,
			Detail: map[string]any{"trigger": "retry", r.TokenTypeHint: outcome, "attempts": attempts},
		})
		v.logger.Info("queued revocation done", "user_id", r.UserID, "provider_id", r.ProviderID,
			"token_type_hint", r.TokenTypeHint, "attempts", attempts)
		return v.store.DeleteRevocation(ctx, r.ID)
	case revokedUnsupported:
		r.Attempts = attempts
		return giveUp(revokedUnsupported)
	}

	r.Attempts, r.LastError = attempts, errorCode(err)
	if attempts >= v.revocationMaxAttempts || now.Sub(r.CreatedAt) >= v.revocationMaxAge {
		return giveUp("gave_up")
	}
	next := now.Add(v.revocationBackoff(attempts, err))
	return v.store.RetryRevocation(ctx, r.ID, attempts, next, r.LastError)
}

// errorCode returns the provider's error code of err, or a generic code.
// It never contains a secret, so it may be stored.
func errorCode(err error) string {
	var oe *oauthclient.Error
	if errors.As(err, &oe) {
		return oe.Code
	}
	if err == nil {
		return ""
	}
	return "error"
}
