package main

// Benchmarks of the token vault through the real server. The client, the
// servers and the database share the machine, and the figures include the
// HTTP stack, API token authentication, the audit write of each handout
// and the request log. Run them with, for example:
//
//	TOOLGATE_TEST_POSTGRES_URL=postgres://... go test -run '^$' -bench VaultTokenHTTP -cpu 2 ./cmd/toolgate
//	TOOLGATE_TEST_POSTGRES_URL=postgres://... go test -run '^$' -bench VaultRefreshStampede -cpu 2 -benchtime 5x ./cmd/toolgate
//
// BenchmarkVaultRefreshStampede waits for a token to expire before every
// stampede, about 2 s, so give it a fixed count such as -benchtime 5x.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// latencies collects request durations from many goroutines.
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
}

func (l *latencies) add(local []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples = append(l.samples, local...)
}

// report adds the percentiles of the samples to b's output, in
// microseconds.
func (l *latencies) report(b *testing.B, percentiles ...float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) == 0 {
		return
	}
	slices.Sort(l.samples)
	for _, p := range percentiles {
		i := min(len(l.samples)-1, int(float64(len(l.samples))*p/100))
		b.ReportMetric(float64(l.samples[i].Nanoseconds())/1e3, fmt.Sprintf("p%g-µs", p))
	}
}

// maxSamples bounds the samples one goroutine keeps, so that a long run
// does not measure its own memory growth.
const maxSamples = 1 << 20

// BenchmarkVaultTokenHTTP measures POST /api/v1/connectors/{id}/token for
// a valid token with a workload's API token over keep-alive connections,
// one request at a time and from GOMAXPROCS goroutines, on SQLite and on
// PostgreSQL. It reports p50 and p99 latency.
func BenchmarkVaultTokenHTTP(b *testing.B) {
	for _, db := range []struct {
		name     string
		postgres bool
	}{
		{"sqlite", false},
		{"postgres", true},
	} {
		b.Run(db.name, func(b *testing.B) {
			s := startVaultSetup(b, vaultSetupOptions{Postgres: db.postgres})
			a := s.replicas[0]
			s.connect(b, signIn(b, a, "bob"), a, a, "bob")
			agent := apiClient(b, s.workload, 16)
			want := fetchToken(b, agent, a, forBob).AccessToken

			read := func() (time.Duration, error) {
				start := time.Now()
				status, body, err := request(agent, a, http.MethodPost, tokenPath, forBob)
				elapsed := time.Since(start)
				switch {
				case err != nil:
					return 0, err
				case status != http.StatusOK || !strings.Contains(body, want):
					return 0, fmt.Errorf("token request: got %s, want 200 with the connected token", tokenOutcome(status, body))
				}
				return elapsed, nil
			}

			b.Run("sequential", func(b *testing.B) {
				var all latencies
				local := make([]time.Duration, 0, 1024)
				for b.Loop() {
					elapsed, err := read()
					if err != nil {
						b.Fatal(err)
					}
					if len(local) < maxSamples {
						local = append(local, elapsed)
					}
				}
				all.add(local)
				all.report(b, 50, 99)
			})

			b.Run("parallel", func(b *testing.B) {
				var all latencies
				b.RunParallel(func(pb *testing.PB) {
					local := make([]time.Duration, 0, 1024)
					defer func() { all.add(local) }()
					for pb.Next() {
						elapsed, err := read()
						if err != nil {
							b.Error(err)
							return
						}
						if len(local) < maxSamples {
							local = append(local, elapsed)
						}
					}
				})
				all.report(b, 50, 99)
			})
		})
	}
}

// BenchmarkVaultRefreshStampede measures a stampede: 200 concurrent token
// requests for one expired token, half to each of two replicas on one
// PostgreSQL database. One op is one stampede, from the first request sent
// to the last response read. The wait for the expiry is not timed. It
// reports the provider's refresh requests per stampede, which must be 1.
// As a baseline, each iteration then sends the same stampede for the fresh
// token and reports its duration as valid-ms/stampede.
func BenchmarkVaultRefreshStampede(b *testing.B) {
	// With a 2 s lifetime the refreshed token is due again after about
	// 1 s, so both stampedes of an iteration must end by then, or a second
	// refresh is legitimate.
	s := startVaultSetup(b, vaultSetupOptions{Postgres: true, Replicas: 2, AccessTokenTTL: 2 * time.Second, CountRefreshes: true})
	a := s.replicas[0]
	s.connect(b, signIn(b, a, "bob"), a, a, "bob")
	agent := apiClient(b, s.workload, stampedeSize)

	b.Run(fmt.Sprintf("requests=%d/replicas=%d", stampedeSize, len(s.replicas)), func(b *testing.B) {
		current := fetchToken(b, agent, a, forBob)
		refreshes := 0
		var expiredTime, validTime time.Duration
		b.StopTimer()
		for range b.N {
			time.Sleep(time.Until(current.ExpiresAt) + 50*time.Millisecond)
			before := s.proxy.count("refresh_token")

			b.StartTimer()
			start := time.Now()
			results := stampede(agent, s.replicas, stampedeSize, forBob)
			expiredTime += time.Since(start)
			b.StopTimer()

			refreshes += s.proxy.count("refresh_token") - before
			fresh := checkStampede(b, results, current.AccessToken)

			before = s.proxy.count("refresh_token")
			start = time.Now()
			results = stampede(agent, s.replicas, stampedeSize, forBob)
			validTime += time.Since(start)
			current = checkStampede(b, results, "")
			if n := s.proxy.count("refresh_token") - before; n > 0 {
				b.Logf("the baseline stampede refreshed %d times: the token became due during it, so valid-ms/stampede is too high", n)
			} else if current.AccessToken != fresh.AccessToken {
				b.Fatalf("the baseline stampede got another token than the one just refreshed, without a refresh")
			}
		}
		b.ReportMetric(float64(refreshes)/float64(b.N), "refreshes/stampede")
		b.ReportMetric(expiredTime.Seconds()*1e3/float64(b.N), "ms/stampede")
		b.ReportMetric(validTime.Seconds()*1e3/float64(b.N), "valid-ms/stampede")
	})
}

// checkStampede fails the benchmark unless every request got 200 and the
// same token, other than stale (empty means any), and returns that token.
func checkStampede(b *testing.B, results []stampedeResult, stale string) handedToken {
	b.Helper()
	first := results[0].token
	for i, res := range results {
		if res.err != nil || res.status != http.StatusOK {
			b.Fatalf("request %d to replica %d: got %s (%v), want 200", i, res.replica, tokenOutcome(res.status, res.body), res.err)
		}
		if res.token.AccessToken != first.AccessToken || res.token.AccessToken == stale {
			b.Fatalf("request %d to replica %d: got another token than request 0, or the expired one; want one new token for all", i, res.replica)
		}
	}
	return first
}
