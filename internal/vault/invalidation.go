package vault

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// notifyChannel is the store notification channel on which replicas
// announce writes to token rows. A payload is
// "<user id>\x1f<provider id>\x1f<generation>".
const notifyChannel = "toolgate_vault"

// notifyTimeout bounds the notification sent after a write. It runs even
// when the caller's context has ended, since the write has happened.
const notifyTimeout = 5 * time.Second

// published drops this replica's cache entry for the connection and
// notifies the other replicas that the row is now at generation. Call it after
// every write of a token row. A failed notification is logged: other
// replicas then serve their cached token for at most CacheTTL longer.
func (v *Vault) published(ctx context.Context, userID, providerID string, generation int64) {
	v.tokens.invalidate(cacheKey{userID, providerID}, -1)

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	payload := userID + "\x1f" + providerID + "\x1f" + strconv.FormatInt(generation, 10)
	if err := v.store.Notify(ctx, notifyChannel, payload); err != nil {
		v.logger.Warn("cache invalidation not sent", "user_id", userID, "provider_id", providerID,
			"generation", generation, "err", err)
	}
}

// RunCacheInvalidation listens for other replicas' writes and drops the
// matching cache entries, until ctx ends. The token cache serves reads
// only while this listener is connected, so run it for the life of the
// Vault. When the cache is disabled it only waits for ctx.
func (v *Vault) RunCacheInvalidation(ctx context.Context) {
	if v.tokens == nil {
		<-ctx.Done()
		return
	}
	v.logger.Info("cache invalidation listener starting")
	_ = v.store.Listen(ctx, notifyChannel, v.handleNotification, v.listenerLost)
	v.tokens.ready.Store(false)
	v.tokens.flush()
	v.logger.Info("cache invalidation listener stopped")
}

// listenerLost stops serving from the cache while the listener reconnects,
// because other replicas' writes go unheard meanwhile.
func (v *Vault) listenerLost() {
	v.tokens.ready.Store(false)
	v.tokens.flush()
	v.logger.Warn("cache invalidation listener lost its connection; reading tokens from the database until it reconnects")
}

// handleNotification applies one notification. The empty payload, sent
// after each (re)connection of the listener, drops every entry, because
// writes made while it was disconnected were not heard. A payload that
// does not parse does the same.
func (v *Vault) handleNotification(payload string) {
	if payload == "" {
		v.tokens.flush()
		if !v.tokens.ready.Swap(true) {
			v.logger.Info("cache invalidation listener connected")
		} else {
			v.logger.Info("cache invalidation listener reconnected")
		}
		return
	}

	parts := strings.Split(payload, "\x1f")
	var generation int64
	var err error
	if len(parts) == 3 {
		generation, err = strconv.ParseInt(parts[2], 10, 64)
	}
	if len(parts) != 3 || err != nil {
		v.tokens.flush()
	} else {
		v.tokens.invalidate(cacheKey{parts[0], parts[1]}, generation)
	}
	v.metrics.notifications.Inc()
}
