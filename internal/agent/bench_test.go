package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/mcpclient"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

// BenchmarkToolCall measures what the runtime adds to one tool call. The
// runtime's path is Turn.runCall: the consent gate (vault lookup),
// mcpclient (server row, token, a fresh MCP session) and the result
// handling. It is compared with calling the same server directly with the
// MCP Go SDK client. Run it with
//
//	go test -run '^$' -bench BenchmarkToolCall -benchtime 2000x ./internal/agent
//
// Each case reports ns/op (wall time per call, which falls as concurrency
// rises) and the p50 and p99 latency of single calls. The server is a
// calendar-like MCP Go SDK server behind bearer-token checks on loopback,
// with a verifier that accepts one fixed token, so that the measured
// difference is the runtime's own. The vault holds a valid token and its
// cache is warm.
//
// The server is built once and serves every session, unlike
// internal/demo/calendar, which builds a new mcp.Server (and infers its
// tools' schemas) for every session, a cost that would dwarf what is
// measured here.
//
// The cases:
//   - gate: Turn.runCall, which is the path of every tool call of a turn;
//   - direct-fresh-session: Connect, CallTool, Close per call, as
//     mcpclient does (one session per operation);
//   - direct-reused-session: CallTool on a session each worker keeps open;
//   - paired: each worker alternates a gate call and a direct call with a
//     fresh session, so that both see the same load from the machine. It
//     reports both p50 latencies and their ratio (gate/direct), which
//     varies less between runs on a shared machine than the separate
//     cases do.
func BenchmarkToolCall(b *testing.B) {
	f := newBenchFixture(b)
	for _, workers := range []int{1, 64} {
		b.Run(fmt.Sprintf("paired/concurrency=%d", workers), func(b *testing.B) {
			gate, direct := &latencies{}, &latencies{}
			runConcurrently(b, workers, false, func(ctx context.Context, worker int) error {
				start := time.Now()
				if err := f.gatedCall(ctx); err != nil {
					return err
				}
				gate.add(time.Since(start))
				start = time.Now()
				if err := f.directCall(ctx); err != nil {
					return err
				}
				direct.add(time.Since(start))
				return nil
			})
			g, d := gate.percentile(50), direct.percentile(50)
			b.ReportMetric(float64(g.Nanoseconds()), "gate-p50-ns")
			b.ReportMetric(float64(d.Nanoseconds()), "direct-p50-ns")
			b.ReportMetric(float64(g)/float64(d), "p50-ratio")
		})
		b.Run(fmt.Sprintf("gate/concurrency=%d", workers), func(b *testing.B) {
			runConcurrently(b, workers, true, func(ctx context.Context, _ int) error { return f.gatedCall(ctx) })
		})
		b.Run(fmt.Sprintf("direct-fresh-session/concurrency=%d", workers), func(b *testing.B) {
			runConcurrently(b, workers, true, func(ctx context.Context, _ int) error { return f.directCall(ctx) })
		})
		b.Run(fmt.Sprintf("direct-reused-session/concurrency=%d", workers), func(b *testing.B) {
			sessions := make([]*mcp.ClientSession, workers)
			for i := range sessions {
				cs, err := f.connect(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				defer cs.Close()
				sessions[i] = cs
			}
			runConcurrently(b, workers, true, func(ctx context.Context, worker int) error {
				return checkCalendar(sessions[worker].CallTool(ctx, listEventsParams()))
			})
		})
	}
}

// benchToken is the only bearer token the benchmark's server accepts.
const benchToken = "bench-access-token"

type benchFixture struct {
	serverURL string
	turn      *Turn
	call      toolCall
	client    *mcp.Client
	http      *http.Client
}

func newBenchFixture(b *testing.B) *benchFixture {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)

	srv := httptest.NewServer(benchCalendarHandler())
	b.Cleanup(srv.Close)

	// Toolgate's side: store, keys, provider, vault with a valid token,
	// and the server registered with that provider.
	st := storetest.NewSQLite(b)
	key, err := keyring.Generate("k1")
	if err != nil {
		b.Fatal(err)
	}
	kr, err := keyring.New(key)
	if err != nil {
		b.Fatal(err)
	}
	external, _ := url.Parse("http://127.0.0.1:9")
	providers := provider.NewRegistry(st, kr, &provider.Options{ExternalURL: external})
	_, err = providers.Create(ctx, provider.CreateInput{
		ID: "corp", DisplayName: "Corp", Type: provider.TypeCustom, ClientID: "toolgate",
		AuthorizationServerMetadata: &provider.Metadata{
			Issuer: "http://127.0.0.1:9", AuthorizationEndpoint: "http://127.0.0.1:9/authorize",
			TokenEndpoint: "http://127.0.0.1:9/token", CodeChallengeMethodsSupported: []string{"S256"},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	tokens := vault.New(st, kr, providers, oauthclient.New(nil, nil), nil, nil)
	go tokens.RunCacheInvalidation(ctx)
	err = tokens.Save(ctx, "u1", "corp", &oauthclient.TokenResponse{
		AccessToken: benchToken, TokenType: "Bearer", ExpiresIn: 24 * time.Hour, ExpiresAt: time.Now().Add(24 * time.Hour),
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	servers := mcpclient.NewRegistry(st, kr, &mcpclient.Options{
		Tokens: mcpclient.TokenSourceFunc(func(ctx context.Context, userID, providerID string) (string, error) {
			tok, err := tokens.Token(ctx, userID, providerID, vault.TokenOptions{})
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}),
	})
	if _, err := servers.Create(ctx, mcpclient.CreateInput{ID: "cal", DisplayName: "Calendar", URL: srv.URL + "/mcp", ProviderID: "corp"}); err != nil {
		b.Fatal(err)
	}

	runner := New(st, fakeModels{}, &MCPTools{Registry: servers}, tokens, &fakeConsents{}, nil)
	spec := ToolSpec{Name: "cal__list_events", ServerID: "cal", Tool: "list_events", ProviderID: "corp"}
	f := &benchFixture{
		serverURL: srv.URL + "/mcp",
		turn: &Turn{
			r: runner, caller: Caller{UserID: "u1"}, tools: map[string]ToolSpec{spec.Name: spec},
			settings: settings{ToolTimeoutMillis: time.Minute.Milliseconds()}, prompted: map[string]bool{},
		},
		call:   toolCall{ID: "call_1", Name: spec.Name, ServerID: "cal", Tool: "list_events", Arguments: json.RawMessage(`{}`)},
		client: mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil),
		http:   &http.Client{Transport: &bearerTransport{base: http.DefaultTransport, token: benchToken}},
	}

	// Warm up: the listener connects, the cache fills, connections open.
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < 20 || time.Now().Before(deadline) && i < 200; i++ {
		if err := f.gatedCall(ctx); err != nil {
			b.Fatalf("gated call: %v", err)
		}
		if err := f.directCall(ctx); err != nil {
			b.Fatalf("direct call: %v", err)
		}
	}
	return f
}

func (f *benchFixture) gatedCall(ctx context.Context) error {
	res, need := f.turn.runCall(ctx, f.call, nil)
	switch {
	case need != nil:
		return fmt.Errorf("call needs consent for %s: %s", need.providerID, need.reason)
	case res.Status != StatusDone:
		return fmt.Errorf("call ended %s: %s", res.Status, res.Content)
	}
	return nil
}

func (f *benchFixture) connect(ctx context.Context) (*mcp.ClientSession, error) {
	return f.client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: f.serverURL, HTTPClient: f.http, DisableStandaloneSSE: true}, nil)
}

func (f *benchFixture) directCall(ctx context.Context) error {
	cs, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer cs.Close()
	return checkCalendar(cs.CallTool(ctx, listEventsParams()))
}

func listEventsParams() *mcp.CallToolParams {
	return &mcp.CallToolParams{Name: "list_events", Arguments: map[string]any{}}
}

func checkCalendar(res *mcp.CallToolResult, err error) error {
	switch {
	case err != nil:
		return err
	case res.IsError:
		return errors.New("list_events returned an error result")
	}
	return nil
}

// benchCalendarHandler serves one tool, list_events, which lists two
// events of the token's user, behind a bearer-token check that accepts
// only benchToken, as the demo calendar does.
func benchCalendarHandler() http.Handler {
	server := mcp.NewServer(&mcp.Implementation{Name: "bench-calendar", Version: "1"}, nil)
	type listInput struct{}
	mcp.AddTool(server, &mcp.Tool{Name: "list_events", Description: "List the events in the user's calendar."},
		func(_ context.Context, req *mcp.CallToolRequest, _ listInput) (*mcp.CallToolResult, any, error) {
			text := "2 events in the calendar of " + req.Extra.TokenInfo.UserID + ":\n- 2030-01-02 Team standup at 09:30\n- 2030-01-03 Review at 14:00\n"
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})
	verify := func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		if token != benchToken {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: "u1", Expiration: time.Now().Add(time.Hour)}, nil
	}
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	return auth.RequireBearerToken(verify, nil)(handler)
}

// bearerTransport adds the Authorization header, as mcpclient does.
type bearerTransport struct {
	base  http.RoundTripper
	token string
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(req)
}

// runConcurrently runs b.N calls of op on workers goroutines. With report
// set, it reports the p50 and p99 latency of one call.
func runConcurrently(b *testing.B, workers int, report bool, op func(ctx context.Context, worker int) error) {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var failure atomic.Value
	var wg sync.WaitGroup
	calls := &latencies{}

	b.ResetTimer()
	for w := range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				if err := op(ctx, w); err != nil {
					failure.CompareAndSwap(nil, err)
					return
				}
				calls.add(time.Since(start))
			}
		})
	}
	wg.Wait()
	b.StopTimer()

	if err, _ := failure.Load().(error); err != nil {
		b.Fatal(err)
	}
	if !report {
		return
	}
	for _, p := range []float64{50, 99} {
		b.ReportMetric(float64(calls.percentile(p).Nanoseconds()), fmt.Sprintf("p%g-ns", p))
	}
}

// latencies collects call durations from many goroutines.
type latencies struct {
	mu      sync.Mutex // guards samples
	samples []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples = append(l.samples, d)
}

// percentile returns the p-th percentile (0 to 100) of the samples.
func (l *latencies) percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) == 0 {
		return 0
	}
	slices.Sort(l.samples)
	return l.samples[min(len(l.samples)-1, int(float64(len(l.samples))*p/100))]
}
