package vault

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/provider"
)

// The token cache rule. An entry serves a read without touching the
// database only while all of these hold:
//
//   - the invalidation listener is connected (RunCacheInvalidation), so
//     that writes by other replicas reach this one;
//   - the entry is younger than CacheTTL, a safety net for notifications
//     lost while the listener reconnects;
//   - the token is not yet due for refresh;
//   - the token has every scope the caller requires.
//
// A token handed to another process (TokenOptions.ActorID set, as for the
// token API) is also checked against the stored generation and status
// first, so a disconnect on another replica applies at once even when its
// notification is late or lost. In-process callers rely on the rule above.
//
// Entries are dropped when this replica writes the row, when another
// replica's write notification arrives, all at once when the listener's
// connection fails, and again when it reconnects. Every drop also bumps seq, and a fill stores its
// entry only if seq has not moved since the fill read the database, so a
// slow read cannot put back a row that a write replaced meanwhile.

type cacheKey struct {
	userID, providerID string
}

// entry is a usable token as this replica last read or wrote it.
type entry struct {
	token *Token
	// held lists the scopes the connection counts as holding (see
	// heldScopes).
	held []string
	// refreshAt is when the token becomes due for refresh; zero when its
	// expiry is unknown, which makes it never due.
	refreshAt time.Time
	filledAt  time.Time
}

// due reports whether the token should be refreshed at now.
func (e *entry) due(now time.Time) bool {
	return !e.refreshAt.IsZero() && !now.Before(e.refreshAt)
}

// tokenCache holds entries by (user, provider). It is safe for concurrent
// use. A nil *tokenCache caches nothing.
type tokenCache struct {
	ttl time.Duration
	// ready is set while the invalidation listener is connected.
	ready atomic.Bool

	// mu guards entries and every change of seq; seq may be loaded
	// without it.
	mu      sync.RWMutex
	entries map[cacheKey]*entry
	seq     atomic.Uint64
	// sweepAt is the entry count at which put next removes expired
	// entries, so that the map does not grow with stale ones.
	sweepAt int
}

const minSweepAt = 1024

func newTokenCache(ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, entries: map[cacheKey]*entry{}, sweepAt: minSweepAt}
}

// get returns a copy of the cached token for key if the cache rule
// allows serving it at now to a caller that requires minScopes.
func (c *tokenCache) get(key cacheKey, now time.Time, minScopes []string) (*Token, bool) {
	if c == nil || !c.ready.Load() {
		return nil, false
	}
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()

	if e == nil || now.Sub(e.filledAt) >= c.ttl || e.due(now) {
		return nil, false
	}
	for _, s := range minScopes {
		if !contains(e.held, s) {
			return nil, false
		}
	}
	t := *e.token
	return &t, true
}

// snapshot returns the sequence number to pass to putIf, taken before a
// fill reads the database or a write changes it.
func (c *tokenCache) snapshot() uint64 {
	if c == nil {
		return 0
	}
	return c.seq.Load()
}

// putIf stores e under key unless the cache was invalidated since seq was
// taken.
func (c *tokenCache) putIf(seq uint64, key cacheKey, e *entry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seq.Load() != seq {
		return
	}
	if len(c.entries) >= c.sweepAt {
		c.sweepLocked(e.filledAt)
	}
	c.entries[key] = e
}

// sweepLocked removes entries older than the TTL and sets the next sweep
// at twice the remaining count.
func (c *tokenCache) sweepLocked(now time.Time) {
	for k, e := range c.entries {
		if now.Sub(e.filledAt) >= c.ttl {
			delete(c.entries, k)
		}
	}
	c.sweepAt = max(minSweepAt, 2*len(c.entries))
}

// invalidate drops the entry for key if its generation is at most
// generation; a negative generation drops it whatever its generation. A
// status change keeps the generation, hence "at most".
func (c *tokenCache) invalidate(key cacheKey, generation int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq.Add(1)
	if e, ok := c.entries[key]; ok && (generation < 0 || e.token.Generation <= generation) {
		delete(c.entries, key)
	}
}

// flush drops every entry.
func (c *tokenCache) flush() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq.Add(1)
	clear(c.entries)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// configCache keeps resolved provider configurations for a short time,
// so that a token read resolves its provider without a database read and
// a decryption. A change an admin makes to a provider reaches a replica
// within the TTL. It is safe for concurrent use; a nil *configCache
// caches nothing. Cached configurations are shared and must not be
// modified.
type configCache struct {
	ttl     time.Duration
	mu      sync.RWMutex
	entries map[string]configEntry
}

type configEntry struct {
	cfg      *provider.Config
	filledAt time.Time
}

func newConfigCache(ttl time.Duration) *configCache {
	return &configCache{ttl: ttl, entries: map[string]configEntry{}}
}

func (c *configCache) get(providerID string, now time.Time) *provider.Config {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e, ok := c.entries[providerID]
	c.mu.RUnlock()
	if !ok || now.Sub(e.filledAt) >= c.ttl {
		return nil
	}
	return e.cfg
}

func (c *configCache) put(providerID string, cfg *provider.Config, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[providerID] = configEntry{cfg: cfg, filledAt: now}
}

func (c *configCache) forget(providerID string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, providerID)
}
