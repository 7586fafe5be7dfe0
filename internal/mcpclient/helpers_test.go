package mcpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

// Tokens of the gated test server. Only validToken is accepted.
const (
	validToken   = "valid-token-4f1c"
	invalidToken = "rejected-token-9a7e"
	// testProvider is the provider that gated test servers name.
	testProvider = "calendar-idp"
	// revokedText is the error result of the gated server's
	// upstream_revoked tool, as Google APIs phrase it.
	revokedText = "invalid_grant: Token has been expired or revoked."
)

// neededScopes are the scopes that the gated server's insufficient_scope
// challenge for admin_report names.
var neededScopes = []string{"calendar.admin", "reports.read"}

// gatedServer is an MCP server built with the go-sdk behind a handler
// that checks bearer tokens like an OAuth resource server (RFC 6750):
//
//   - no token: 401 with WWW-Authenticate: Bearer realm="calendar";
//   - a token other than validToken: 401 with error="invalid_token";
//   - a tools/call of admin_report: 403 with error="insufficient_scope";
//
// It records the headers of every request.
type gatedServer struct {
	URL string

	mu      sync.Mutex
	headers []http.Header
}

// gatedTools are the tools of the gated server, in its order.
var gatedTools = []string{"whoami", "events.create", "admin_report", "upstream_revoked", "slow", "mixed"}

// startGatedServer starts a gated server on 127.0.0.1 that speaks
// transport.
func startGatedServer(t *testing.T, transport Transport) *gatedServer {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "gated-calendar", Version: "1.0.0"}, nil)
	// release ends the slow tool's wait when the test ends, before the
	// server is closed, so that closing does not wait for it.
	release := make(chan struct{})
	object := map[string]any{"type": "object"}
	text := func(s string) []mcp.Content { return []mcp.Content{&mcp.TextContent{Text: s}} }

	server.AddTool(&mcp.Tool{Name: "whoami", Description: "Returns who the caller is.", InputSchema: object},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: text("you are alice")}, nil
		})
	server.AddTool(&mcp.Tool{Name: "events.create", Description: "Creates an event.", InputSchema: map[string]any{
		"type": "object", "properties": map[string]any{"title": map[string]any{"type": "string"}},
	}}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var in struct {
			Title string `json:"title"`
		}
		if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
			return nil, err
		}
		return &mcp.CallToolResult{Content: text("created " + in.Title)}, nil
	})
	server.AddTool(&mcp.Tool{Name: "admin_report", Description: "Needs more scopes.", InputSchema: object},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: text("the HTTP layer should have refused this call")}, nil
		})
	server.AddTool(&mcp.Tool{Name: "upstream_revoked", Description: "Fails like a revoked Google token.", InputSchema: object},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: text(revokedText), IsError: true}, nil
		})
	server.AddTool(&mcp.Tool{Name: "slow", Description: "Answers after 10 seconds.", InputSchema: object},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-release:
				return nil, errors.New("the test ended")
			case <-time.After(10 * time.Second):
				return &mcp.CallToolResult{Content: text("finally")}, nil
			}
		})
	server.AddTool(&mcp.Tool{Name: "mixed", Description: "Returns several content types.", InputSchema: object},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{
				Content: []mcp.Content{
					&mcp.TextContent{Text: "first"},
					&mcp.ImageContent{MIMEType: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}},
					&mcp.TextContent{Text: "second"},
				},
				StructuredContent: map[string]any{"count": 2},
				IsError:           true,
			}, nil
		})

	var mcpHandler http.Handler
	if transport == TransportSSE {
		mcpHandler = mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return server }, nil)
	} else {
		mcpHandler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	}

	g := &gatedServer{}
	srv := httptest.NewServer(g.guard(mcpHandler))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	g.URL = srv.URL + "/mcp"
	if transport == TransportSSE {
		g.URL = srv.URL + "/sse"
	}
	return g
}

// guard checks the bearer token before next runs.
func (g *gatedServer) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.headers = append(g.headers, r.Header.Clone())
		g.mu.Unlock()

		token, hasToken := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !hasToken:
			w.Header().Set("WWW-Authenticate", `Bearer realm="calendar"`)
			http.Error(w, "missing bearer token", http.StatusUnauthorized)
			return
		case token != validToken:
			w.Header().Set("WWW-Authenticate", `Bearer realm="calendar", error="invalid_token", error_description="The access token expired"`)
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}

		if r.Method == http.MethodPost {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "read body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var msg struct {
				Method string `json:"method"`
				Params struct {
					Name string `json:"name"`
				} `json:"params"`
			}
			if json.Unmarshal(body, &msg) == nil && msg.Method == "tools/call" && msg.Params.Name == "admin_report" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="calendar", error="insufficient_scope", scope="`+strings.Join(neededScopes, " ")+`"`)
				http.Error(w, "insufficient scope", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// seenHeaders returns the headers of every request so far.
func (g *gatedServer) seenHeaders() []http.Header {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]http.Header(nil), g.headers...)
}

// tokenMap is a TokenSource over a fixed map of user id to token. Users
// not in it have no token.
type tokenMap map[string]string

var errNotConnected = errors.New("test vault: user has not connected")

func (m tokenMap) AccessToken(_ context.Context, userID, providerID string) (string, error) {
	if providerID != testProvider {
		return "", errors.New("test vault: unknown provider " + providerID)
	}
	token, ok := m[userID]
	if !ok {
		return "", errNotConnected
	}
	return token, nil
}

// newTestRegistry returns a Registry on st with a fresh keyring, and
// registers testProvider in st.
func newTestRegistry(t *testing.T, st *store.Store, opts *Options) *Registry {
	t.Helper()
	key, err := keyring.Generate("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	addTestProvider(t, st)
	return NewRegistry(st, kr, opts)
}

// addTestProvider stores testProvider in st unless it is there.
func addTestProvider(t *testing.T, st *store.Store) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	err := st.CreateProvider(context.Background(), &store.Provider{
		ID: testProvider, DisplayName: "Calendar IdP", Type: "custom", ClientID: "toolgate",
		Enabled: true, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatal(err)
	}
}

// createServer registers a server and fails the test on error.
func createServer(t *testing.T, r *Registry, in CreateInput) *View {
	t.Helper()
	if in.DisplayName == "" {
		in.DisplayName = "Test server " + in.ID
	}
	v, err := r.Create(context.Background(), in)
	if err != nil {
		t.Fatalf("Create %q: %v", in.ID, err)
	}
	return v
}

// closedLoopbackURL returns an http URL on 127.0.0.1 whose port nothing
// listens on.
func closedLoopbackURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/mcp"
}

// forEachStore runs fn on a SQLite store and, when
// TOOLGATE_TEST_POSTGRES_URL is set, on a PostgreSQL store.
func forEachStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.NewPostgres(t)) })
}

func toolNames(cat *Catalog) []string {
	names := make([]string, len(cat.Tools))
	for i, tool := range cat.Tools {
		names[i] = tool.Name
	}
	return names
}

func mustParseURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
