package vault_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

// Benchmarks run on the real clock, so that timing is not serialized on
// the test clock's mutex. Run them with, for example:
//
//	TOOLGATE_TEST_POSTGRES_URL=postgres://... go test -run '^$' -bench . -cpu 2 ./internal/vault

// latencies collects per-call durations from many goroutines.
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
}

func (l *latencies) add(local []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples = append(l.samples, local...)
}

// report adds the given percentiles of the samples to b's output, in
// nanoseconds.
func (l *latencies) report(b *testing.B, percentiles ...float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) == 0 {
		return
	}
	slices.Sort(l.samples)
	for _, p := range percentiles {
		i := min(len(l.samples)-1, int(float64(len(l.samples))*p/100))
		b.ReportMetric(float64(l.samples[i].Nanoseconds()), fmt.Sprintf("p%g-ns", p))
	}
}

// maxSamples bounds the samples one goroutine keeps, so that a long run
// does not measure its own memory growth.
const maxSamples = 1 << 20

func benchFixture(b *testing.B, st *store.Store, opts vault.Options, listen bool) *fixture {
	b.Helper()
	opts.Now = time.Now
	f := newFixture(b, st, fixtureOptions{clock: &clock{now: time.Now()}, vault: opts, listen: listen})
	f.connect(b, "alice", nil)
	if _, err := f.vault.Token(context.Background(), "alice", providerID, vault.TokenOptions{}); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkTokenCached measures reads of a valid token that the cache
// serves, from GOMAXPROCS goroutines, and reports p50 and p99 latency.
func BenchmarkTokenCached(b *testing.B) {
	f := benchFixture(b, storetest.NewSQLite(b), vault.Options{CacheTTL: time.Hour}, true)
	ctx := context.Background()
	var all latencies

	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			start := time.Now()
			tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
			elapsed := time.Since(start)
			if err != nil || tok.AccessToken != "at-0" {
				b.Errorf("Token: %v, %v", tok, err)
				return
			}
			if len(local) < maxSamples {
				local = append(local, elapsed)
			}
		}
		all.add(local)
	})
	b.StopTimer()
	all.report(b, 50, 99)
}

func BenchmarkTokenUncachedSQLite(b *testing.B) {
	benchmarkUncached(b, storetest.NewSQLite(b))
}

func BenchmarkTokenUncachedPostgres(b *testing.B) {
	benchmarkUncached(b, storetest.NewPostgres(b))
}

// benchmarkUncached measures sequential reads with the token cache
// disabled: one database read and the decryption of the row. The
// provider configuration stays cached, as in production.
func benchmarkUncached(b *testing.B, st *store.Store) {
	f := benchFixture(b, st, vault.Options{CacheTTL: -1}, false)
	ctx := context.Background()
	samples := make([]time.Duration, 0, min(b.N, maxSamples))
	var all latencies

	b.ResetTimer()
	for range b.N {
		start := time.Now()
		tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		elapsed := time.Since(start)
		if err != nil || tok.AccessToken != "at-0" {
			b.Fatalf("Token: %v, %v", tok, err)
		}
		if len(samples) < maxSamples {
			samples = append(samples, elapsed)
		}
	}
	b.StopTimer()
	all.add(samples)
	all.report(b, 50, 99)
}

// BenchmarkRefreshStampede measures 200 concurrent readers of an expired
// token, which share one refresh. One op is the whole stampede.
func BenchmarkRefreshStampede(b *testing.B) {
	const callers = 200
	f := benchFixture(b, storetest.NewSQLite(b), vault.Options{}, true)
	ctx := context.Background()
	before := f.idp.refreshes()

	for i := range b.N {
		b.StopTimer()
		refresh := fmt.Sprintf("bench-rt-%d", i)
		f.idp.set(func(idp *fakeIdP) { idp.validRefresh[refresh] = true })
		resp := &oauthclient.TokenResponse{AccessToken: "expired", RefreshToken: refresh, TokenType: "Bearer",
			ExpiresAt: time.Now().Add(-time.Second)}
		if err := f.vault.Save(ctx, "alice", providerID, resp, []string{"read", "write"}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
				if err != nil || tok.AccessToken == "expired" {
					b.Errorf("Token: %v, %v", tok, err)
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(f.idp.refreshes()-before)/float64(b.N), "refreshes/op")
}
