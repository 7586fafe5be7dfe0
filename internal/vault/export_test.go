package vault

import (
	"context"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// ProcessDueRevocations runs one pass of RunRevocationRetries, so that
// tests need not wait for its poll interval.
func (v *Vault) ProcessDueRevocations(ctx context.Context) (int, error) {
	return v.processDueRevocations(ctx)
}

// CacheReady reports whether the token cache serves reads, which it does
// once the invalidation listener has connected.
func (v *Vault) CacheReady() bool {
	return v.tokens != nil && v.tokens.ready.Load()
}

// NotificationsReceived returns how many write notifications the cache
// invalidation listener has applied.
func (v *Vault) NotificationsReceived() int {
	return int(testutil.ToFloat64(v.metrics.notifications))
}
