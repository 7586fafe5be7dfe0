package mcpclient

import (
	"context"
	"sync"
	"time"
)

// targetCacheTTL is how long a tool call reuses a server's configuration
// read from the store. An admin's change made on this replica applies at
// once (Registry.Update and Delete drop the entry); one made on another
// replica applies within this time.
const targetCacheTTL = 2 * time.Second

// targetCache keeps recently read server configurations for tool calls,
// which otherwise read the store on every call. It is safe for concurrent
// use.
type targetCache struct {
	mu      sync.Mutex // guards entries
	entries map[string]cachedTarget
}

type cachedTarget struct {
	target *target
	until  time.Time
}

// get returns serverID's configuration, from the cache while it is fresh
// and from load otherwise.
func (c *targetCache) get(ctx context.Context, serverID string, now time.Time, load func(context.Context, string) (*target, error)) (*target, error) {
	c.mu.Lock()
	e, ok := c.entries[serverID]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.target, nil
	}

	t, err := load(ctx, serverID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]cachedTarget{}
	}
	c.entries[serverID] = cachedTarget{target: t, until: now.Add(targetCacheTTL)}
	c.mu.Unlock()
	return t, nil
}

// drop forgets serverID's configuration.
func (c *targetCache) drop(serverID string) {
	c.mu.Lock()
	delete(c.entries, serverID)
	c.mu.Unlock()
}
