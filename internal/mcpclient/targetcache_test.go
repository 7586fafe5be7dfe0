package mcpclient

import (
	"context"
	"testing"
	"time"
)

func TestTargetCacheReusesUntilExpiryOrDrop(t *testing.T) {
	var c targetCache
	loads := 0
	load := func(context.Context, string) (*target, error) {
		loads++
		return &target{}, nil
	}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()

	for _, step := range []struct {
		name      string
		at        time.Time
		drop      bool
		wantLoads int
	}{
		{"first call loads", now, false, 1},
		{"within the TTL reuses", now.Add(targetCacheTTL - time.Millisecond), false, 1},
		{"after the TTL loads again", now.Add(targetCacheTTL), false, 2},
		{"after a drop loads again", now.Add(targetCacheTTL), true, 3},
	} {
		if step.drop {
			c.drop("calendar")
		}
		if _, err := c.get(ctx, "calendar", step.at, load); err != nil {
			t.Fatal(err)
		}
		if loads != step.wantLoads {
			t.Errorf("%s: got %d loads, want %d", step.name, loads, step.wantLoads)
		}
	}
}
