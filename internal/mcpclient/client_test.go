package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/testpeers"
)

func TestEverythingListAndEcho(t *testing.T) {
	t.Parallel()
	peer := testpeers.StartEverything(t)
	st := storetest.NewSQLite(t)
	r := newTestRegistry(t, st, nil)
	createServer(t, r, CreateInput{ID: "everything", URL: peer.URL})
	ctx := context.Background()

	cat, err := r.Client().ToolsFor(ctx, "alice", nil)
	if err != nil {
		t.Fatalf("ToolsFor: %v", err)
	}
	if len(cat.Skipped) != 0 {
		t.Fatalf("ToolsFor skipped %+v, want no skipped server", cat.Skipped)
	}
	server, tool, ok := cat.ResolveToolName("everything__echo")
	if !ok || server != "everything" || tool != "echo" {
		t.Fatalf("ResolveToolName(everything__echo): got %q, %q, %v; want everything, echo, true (tools %v)", server, tool, ok, toolNames(cat))
	}
	for _, tool := range cat.Tools {
		if !modelNamePattern.MatchString(tool.Name) {
			t.Errorf("tool %q of server-everything: model name %q does not match %s", tool.ToolName, tool.Name, modelNamePattern)
		}
	}

	// The catalog is cached in the store.
	stored, err := st.GetMCPServer(ctx, "everything")
	if err != nil {
		t.Fatal(err)
	}
	if stored.ToolsFetchedAt.IsZero() || !strings.Contains(string(stored.Tools), `"name":"echo"`) {
		t.Errorf("stored catalog: got fetched %v, tools %.200s; want a fetch time and echo", stored.ToolsFetchedAt, stored.Tools)
	}

	res, err := r.Client().CallTool(ctx, "alice", server, tool, json.RawMessage(`{"message":"hello from Toolgate"}`))
	if err != nil {
		t.Fatalf("CallTool echo: %v", err)
	}
	if res.IsError || !strings.Contains(res.Text, "hello from Toolgate") {
		t.Errorf("echo: got %+v, want a text containing the message", res)
	}
}

func TestGatedCatalogCachedAndOffered(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		gated := startGatedServer(t, TransportStreamableHTTP)
		clock := time.Now()
		opts := &Options{Tokens: tokenMap{"admin": validToken}, Now: func() time.Time { return clock }}
		r := newTestRegistry(t, st, opts)
		createServer(t, r, CreateInput{ID: "calendar", URL: gated.URL, ProviderID: testProvider})
		ctx := context.Background()

		// Before any fetch, a user without a token gets no tools and a
		// reason.
		cat, err := r.Client().ToolsFor(ctx, "bob", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(cat.Tools) != 0 || len(cat.Skipped) != 1 {
			t.Fatalf("ToolsFor before any fetch: got tools %v and skipped %+v, want none and calendar", toolNames(cat), cat.Skipped)
		}
		var tokenErr *TokenError
		if !errors.As(cat.Skipped[0].Err, &tokenErr) || !errors.Is(cat.Skipped[0].Err, errNotConnected) {
			t.Errorf("skip reason: got %v, want a *TokenError wrapping the vault's error", cat.Skipped[0].Err)
		}

		// The admin's refresh fetches with the admin's token and caches.
		v, err := r.RefreshTools(ctx, "calendar", "admin")
		if err != nil {
			t.Fatalf("RefreshTools: %v", err)
		}
		var names []string
		for _, tool := range v.Tools {
			names = append(names, tool.Name)
		}
		if want := slices.Sorted(slices.Values(gatedTools)); !slices.Equal(names, want) {
			t.Errorf("RefreshTools: got tools %v, want %v", names, want)
		}
		if v.ToolsFetchedAt == nil {
			t.Error("RefreshTools: tools_fetched_at is nil")
		}

		// Another replica on the same database offers the cached tools to a
		// user without a token, before and after the catalog goes stale.
		replica := NewRegistry(st, r.keyring, &Options{Now: func() time.Time { return clock }})
		for _, age := range []time.Duration{0, time.Hour} {
			clock = clock.Add(age)
			cat, err = replica.Client().ToolsFor(ctx, "bob", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(cat.Tools) != len(gatedTools) || len(cat.Skipped) != 0 {
				t.Errorf("ToolsFor on the replica after %v: got tools %v and skipped %+v, want all %d tools",
					age, toolNames(cat), cat.Skipped, len(gatedTools))
			}
			server, tool, ok := cat.ResolveToolName(ToolName("calendar", "events.create"))
			if !ok || server != "calendar" || tool != "events.create" {
				t.Errorf("ResolveToolName of the altered name: got %q, %q, %v", server, tool, ok)
			}
		}
		stored, err := st.GetMCPServer(ctx, "calendar")
		if err != nil {
			t.Fatal(err)
		}
		if stored.LastError != "" {
			t.Errorf("last_error after a user without a token listed tools: got %q, want empty", stored.LastError)
		}
	})
}

func TestCallGatedTool(t *testing.T) {
	for _, transport := range []Transport{TransportStreamableHTTP, TransportSSE} {
		t.Run(string(transport), func(t *testing.T) {
			t.Parallel()
			gated := startGatedServer(t, transport)
			r := newTestRegistry(t, storetest.NewSQLite(t), &Options{
				Tokens: tokenMap{"alice": validToken, "mallory": invalidToken},
			})
			createServer(t, r, CreateInput{ID: "calendar", URL: gated.URL, Transport: transport, ProviderID: testProvider})
			client := r.Client()
			ctx := context.Background()

			res, err := client.CallTool(ctx, "alice", "calendar", "events.create", json.RawMessage(`{"title":"Dentist"}`))
			if err != nil {
				t.Fatalf("CallTool with a valid token: %v", err)
			}
			if res.Text != "created Dentist" || res.IsError {
				t.Errorf("CallTool with a valid token: got %+v, want text %q", res, "created Dentist")
			}

			_, err = client.CallTool(ctx, "mallory", "calendar", "whoami", nil)
			var authErr *AuthError
			if !errors.As(err, &authErr) || !errors.Is(err, ErrAuth) {
				t.Fatalf("CallTool with a rejected token: got %v, want an *AuthError", err)
			}
			if authErr.Source != SourceHTTP || authErr.Status != http.StatusUnauthorized || authErr.Code != "invalid_token" {
				t.Errorf("auth error: got source %q status %d code %q, want http, 401, invalid_token", authErr.Source, authErr.Status, authErr.Code)
			}
			if authErr.Description != "The access token expired" {
				t.Errorf("auth error description: got %q, want the challenge's error_description", authErr.Description)
			}

			_, err = client.CallTool(ctx, "alice", "calendar", "admin_report", nil)
			var scopeErr *InsufficientScopeError
			if !errors.As(err, &scopeErr) {
				t.Fatalf("CallTool of admin_report: got %v, want an *InsufficientScopeError", err)
			}
			if !slices.Equal(scopeErr.Scopes, neededScopes) {
				t.Errorf("scopes: got %q, want %q", scopeErr.Scopes, neededScopes)
			}
			if errors.Is(err, ErrAuth) {
				t.Error("an insufficient scope error matches ErrAuth, want it apart, because a refresh cannot fix it")
			}

			_, err = client.CallTool(ctx, "alice", "calendar", "upstream_revoked", nil)
			if !errors.As(err, &authErr) {
				t.Fatalf("CallTool of upstream_revoked: got %v, want an *AuthError", err)
			}
			if authErr.Source != SourceToolResult || authErr.Description != revokedText {
				t.Errorf("auth error from a result: got source %q description %q, want tool_result and %q", authErr.Source, authErr.Description, revokedText)
			}
		})
	}
}

func TestCallResultContent(t *testing.T) {
	t.Parallel()
	gated := startGatedServer(t, TransportStreamableHTTP)
	r := newTestRegistry(t, storetest.NewSQLite(t), &Options{Tokens: tokenMap{"alice": validToken}})
	createServer(t, r, CreateInput{ID: "calendar", URL: gated.URL, ProviderID: testProvider})

	res, err := r.Client().CallTool(context.Background(), "alice", "calendar", "mixed", nil)
	if err != nil {
		t.Fatalf("CallTool mixed: %v", err)
	}
	if res.Text != "first\nsecond" {
		t.Errorf("text: got %q, want %q", res.Text, "first\nsecond")
	}
	if !slices.Equal(res.NonText, []string{"image (image/png, 4 bytes)"}) {
		t.Errorf("non-text parts: got %q, want the image noted", res.NonText)
	}
	if !res.IsError {
		t.Error("IsError: got false, want true")
	}
	if string(res.Structured) != `{"count":2}` {
		t.Errorf("structured: got %s, want {\"count\":2}", res.Structured)
	}
}

func TestCallFailures(t *testing.T) {
	t.Parallel()
	gated := startGatedServer(t, TransportStreamableHTTP)
	r := newTestRegistry(t, storetest.NewSQLite(t), &Options{Tokens: tokenMap{"alice": validToken}})
	createServer(t, r, CreateInput{ID: "calendar", URL: gated.URL, ProviderID: testProvider})
	createServer(t, r, CreateInput{ID: "off", URL: gated.URL, ProviderID: testProvider, Enabled: new(false)})
	client := r.Client()
	ctx := context.Background()

	requestsBefore := len(gated.seenHeaders())
	_, err := client.CallTool(ctx, "bob", "calendar", "whoami", nil)
	var tokenErr *TokenError
	if !errors.As(err, &tokenErr) || !errors.Is(err, errNotConnected) || tokenErr.ProviderID != testProvider {
		t.Errorf("CallTool for a user without a token: got %v, want a *TokenError for %s wrapping the vault's error", err, testProvider)
	}
	if n := len(gated.seenHeaders()) - requestsBefore; n != 0 {
		t.Errorf("CallTool for a user without a token sent %d requests, want 0", n)
	}

	_, err = client.CallTool(ctx, "alice", "calendar", "no_such_tool", nil)
	var callErr *CallError
	if !errors.As(err, &callErr) || !strings.Contains(callErr.Message, "no_such_tool") {
		t.Errorf("CallTool of an unknown tool: got %v, want a *CallError naming the tool", err)
	}

	if _, err := client.CallTool(ctx, "alice", "missing", "whoami", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("CallTool on an unknown server: got %v, want ErrNotFound", err)
	}
	if _, err := client.CallTool(ctx, "alice", "off", "whoami", nil); !errors.Is(err, ErrDisabled) {
		t.Errorf("CallTool on a disabled server: got %v, want ErrDisabled", err)
	}
	if _, err := client.CallTool(ctx, "alice", "calendar", "whoami", json.RawMessage(`[1]`)); err == nil {
		t.Error("CallTool with array arguments: got nil error, want a rejection")
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = client.CallTool(canceled, "alice", "calendar", "whoami", nil)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Errorf("CallTool with a canceled context: got %v, want context.Canceled and not unavailable", err)
	}
}

func TestUnavailableServers(t *testing.T) {
	t.Parallel()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><html><body><h1>Welcome to our website</h1></body></html>")
	}))
	t.Cleanup(html.Close)
	badJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc": "2.0", "id": `)
	}))
	t.Cleanup(badJSON.Close)
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice when the client gives
		// up, which ends r.Context().
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(hang.Close)
	gated := startGatedServer(t, TransportStreamableHTTP)

	r := newTestRegistry(t, storetest.NewSQLite(t), &Options{Tokens: tokenMap{"alice": validToken}})
	tests := []struct {
		name      string
		in        CreateInput
		tool      string
		wantKind  string
		maxTime   time.Duration
		wantWords string // in describe's text
	}{
		{"closed port", CreateInput{URL: closedLoopbackURL(t)}, "whoami", KindUnreachable, 2 * time.Second, "connection refused"},
		{"html page", CreateInput{URL: html.URL + "/mcp"}, "whoami", KindProtocol, 5 * time.Second, "text/html"},
		{"html page over sse", CreateInput{URL: html.URL + "/sse", Transport: TransportSSE}, "whoami", KindProtocol, 5 * time.Second, "text/html"},
		{"invalid json", CreateInput{URL: badJSON.URL + "/mcp"}, "whoami", KindProtocol, 5 * time.Second, "not valid MCP"},
		{"not found", CreateInput{URL: notFound.URL + "/mcp"}, "whoami", KindHTTPStatus, 5 * time.Second, "HTTP 404"},
		{"connect hangs", CreateInput{URL: hang.URL + "/mcp", Timeout: "1s"}, "whoami", KindTimeout, 4 * time.Second, "timeout"},
		{"tool hangs", CreateInput{URL: gated.URL, ProviderID: testProvider, Timeout: "1s"}, "slow", KindTimeout, 4 * time.Second, "timeout"},
	}
	for i, tt := range tests {
		tt.in.ID = fmt.Sprintf("s%d", i)
		createServer(t, r, tt.in)
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := r.Client().CallTool(context.Background(), "alice", tt.in.ID, tt.tool, nil)
			elapsed := time.Since(start)

			var unavailable *UnavailableError
			if !errors.As(err, &unavailable) || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("CallTool: got %v, want an *UnavailableError", err)
			}
			if unavailable.Kind != tt.wantKind {
				t.Errorf("kind: got %q, want %q (error %v)", unavailable.Kind, tt.wantKind, err)
			}
			if errors.Is(err, ErrAuth) {
				t.Errorf("error %v matches ErrAuth, want it apart", err)
			}
			if elapsed > tt.maxTime {
				t.Errorf("CallTool took %v, want at most %v", elapsed, tt.maxTime)
			}
			if words := Describe(err); !strings.Contains(words, tt.wantWords) {
				t.Errorf("describe: got %q, want it to mention %q", words, tt.wantWords)
			}
		})
	}
}

func TestStaticHeadersSent(t *testing.T) {
	t.Parallel()
	const apiKey = "static-key-canary-77d2"
	gated := startGatedServer(t, TransportStreamableHTTP)
	st := storetest.NewSQLite(t)
	r := newTestRegistry(t, st, nil)
	v := createServer(t, r, CreateInput{
		ID: "keyed", URL: gated.URL,
		// Without a provider, a static Authorization header is allowed.
		Headers: map[string]Secret{"x-api-key": apiKey, "Authorization": "Bearer " + validToken},
	})
	if !slices.Equal(v.HeaderNames, []string{"Authorization", "X-Api-Key"}) {
		t.Errorf("header names: got %q, want the canonical names, sorted", v.HeaderNames)
	}
	encoded, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(encoded), apiKey) || strings.Contains(string(encoded), validToken) {
		t.Errorf("view contains a header value: %s", encoded)
	}
	stored, err := st.GetMCPServer(context.Background(), "keyed")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored.Headers, apiKey) || !strings.HasPrefix(stored.Headers, "tg1:") {
		t.Errorf("stored headers: got %q, want a sealed value", stored.Headers)
	}

	res, err := r.Client().CallTool(context.Background(), "anyone", "keyed", "whoami", nil)
	if err != nil {
		t.Fatalf("CallTool with a static Authorization header: %v", err)
	}
	if res.Text != "you are alice" {
		t.Errorf("whoami: got %q", res.Text)
	}
	seen := gated.seenHeaders()
	if len(seen) == 0 {
		t.Fatal("the server saw no request")
	}
	for i, h := range seen {
		if got := h.Get("X-Api-Key"); got != apiKey {
			t.Errorf("request %d: X-Api-Key %q, want the static value", i, got)
		}
	}
}

func TestCredentialsStayOnOrigin(t *testing.T) {
	t.Parallel()
	var gotAuth, gotKey string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotKey = r.Header.Get("Authorization"), r.Header.Get("X-Api-Key")
	}))
	t.Cleanup(other.Close)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(origin.Close)

	originURL := mustParseURL(t, origin.URL+"/mcp")
	rec := &exchangeRecorder{}
	client := sessionHTTPClient(http.DefaultClient, originURL, map[string]string{"X-Api-Key": "k"}, "secret-token", rec)

	// A request to another origin carries neither credential.
	resp, err := client.Get(other.URL + "/direct")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotAuth != "" || gotKey != "" {
		t.Errorf("request to another origin: got Authorization %q and X-Api-Key %q, want neither", gotAuth, gotKey)
	}

	// A redirect off the origin is refused.
	_, err = client.Get(origin.URL + "/mcp")
	var redirect *redirectError
	if !errors.As(err, &redirect) {
		t.Errorf("redirect to another origin: got %v, want a *redirectError", err)
	}
	if last, ok := rec.last(); !ok || last.status != http.StatusTemporaryRedirect {
		t.Errorf("recorder: got %+v, %v; want the 307 recorded", last, ok)
	}
}

func TestToolsForFiltersServers(t *testing.T) {
	t.Parallel()
	peer := startGatedServer(t, TransportStreamableHTTP)
	st := storetest.NewSQLite(t)
	r := newTestRegistry(t, st, &Options{Tokens: tokenMap{"admin": validToken}})
	ctx := context.Background()
	for _, in := range []CreateInput{
		{ID: "open", URL: peer.URL, ProviderID: testProvider},
		{ID: "staff-only", URL: peer.URL, ProviderID: testProvider, AllowedRoles: []string{"staff"}},
		{ID: "disabled", URL: peer.URL, ProviderID: testProvider, Enabled: new(false)},
	} {
		createServer(t, r, in)
		if _, err := r.RefreshTools(ctx, in.ID, "admin"); err != nil {
			t.Fatalf("RefreshTools %s: %v", in.ID, err)
		}
	}

	tests := []struct {
		roles       []string
		wantServers []string
	}{
		{nil, []string{"open"}},
		{[]string{"guest", "staff"}, []string{"open", "staff-only"}},
	}
	for _, tt := range tests {
		cat, err := r.Client().ToolsFor(ctx, "bob", tt.roles)
		if err != nil {
			t.Fatal(err)
		}
		var servers []string
		for _, tool := range cat.Tools {
			if !slices.Contains(servers, tool.ServerID) {
				servers = append(servers, tool.ServerID)
			}
		}
		if !slices.Equal(servers, tt.wantServers) {
			t.Errorf("ToolsFor with roles %q: got servers %q, want %q", tt.roles, servers, tt.wantServers)
		}
	}
}

func TestToolsForRecordsOutageAndBacksOff(t *testing.T) {
	t.Parallel()
	st := storetest.NewSQLite(t)
	clock := time.Now()
	r := newTestRegistry(t, st, &Options{Now: func() time.Time { return clock }})
	createServer(t, r, CreateInput{ID: "down", URL: closedLoopbackURL(t)})
	ctx := context.Background()

	cat, err := r.Client().ToolsFor(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Skipped) != 1 || !errors.Is(cat.Skipped[0].Err, ErrUnavailable) {
		t.Fatalf("ToolsFor: got skipped %+v, want the server unavailable", cat.Skipped)
	}
	stored, err := st.GetMCPServer(ctx, "down")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stored.LastError, "could not reach the server") || stored.LastErrorAt.IsZero() {
		t.Errorf("last_error: got %q at %v, want the outage recorded", stored.LastError, stored.LastErrorAt)
	}

	// Within the retry delay the server is not tried again; the skip
	// reason then is the recorded state, not a fresh error.
	if r.Client().needsFetch(stored) {
		t.Error("needsFetch right after a failure: got true, want false")
	}
	clock = clock.Add(defaultCatalogRetry + time.Second)
	if !r.Client().needsFetch(stored) {
		t.Error("needsFetch after the retry delay: got false, want true")
	}
}

func TestRefreshToolsKeepsCacheOnFailure(t *testing.T) {
	t.Parallel()
	gated := startGatedServer(t, TransportStreamableHTTP)
	st := storetest.NewSQLite(t)
	tokens := tokenMap{"admin": validToken}
	r := newTestRegistry(t, st, &Options{Tokens: tokens})
	createServer(t, r, CreateInput{ID: "calendar", URL: gated.URL, ProviderID: testProvider})
	ctx := context.Background()

	first, err := r.RefreshTools(ctx, "calendar", "admin")
	if err != nil {
		t.Fatal(err)
	}
	tokens["admin"] = invalidToken
	_, err = r.RefreshTools(ctx, "calendar", "admin")
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("RefreshTools with a rejected token: got %v, want ErrAuth", err)
	}
	v, err := r.Get(ctx, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Tools) != len(first.Tools) || v.ToolsFetchedAt == nil || !v.ToolsFetchedAt.Equal(*first.ToolsFetchedAt) {
		t.Errorf("after the failed refresh: got %d tools fetched at %v, want the cached %d from %v",
			len(v.Tools), v.ToolsFetchedAt, len(first.Tools), first.ToolsFetchedAt)
	}
	if !strings.Contains(v.LastError, "HTTP 401") {
		t.Errorf("last_error: got %q, want the 401 described", v.LastError)
	}

	// A configuration change during a fetch discards the fetched catalog.
	tokens["admin"] = validToken
	target, err := r.client.loadTarget(ctx, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Update(ctx, "calendar", PatchInput{DisplayName: new("Renamed")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.client.refresh(ctx, target, "admin"); !errors.Is(err, ErrConfigChanged) {
		t.Errorf("refresh with a configuration that changed: got %v, want ErrConfigChanged", err)
	}
}

func TestTestConnection(t *testing.T) {
	t.Parallel()
	gated := startGatedServer(t, TransportStreamableHTTP)
	r := newTestRegistry(t, storetest.NewSQLite(t), &Options{Tokens: tokenMap{"admin": validToken, "mallory": invalidToken}})
	createServer(t, r, CreateInput{ID: "calendar", URL: gated.URL, ProviderID: testProvider})
	createServer(t, r, CreateInput{ID: "down", URL: closedLoopbackURL(t)})
	ctx := context.Background()

	tests := []struct {
		name, server, user string
		wantOK             bool
		wantKind           string
		wantWords          string
	}{
		{"ok", "calendar", "admin", true, "", ""},
		{"rejected token", "calendar", "mallory", false, "auth", "HTTP 401 invalid_token"},
		{"no token", "calendar", "bob", false, "token", "connect an account"},
		{"unreachable", "down", "admin", false, KindUnreachable, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.TestConnection(ctx, tt.server, tt.user)
			if err != nil {
				t.Fatalf("TestConnection: %v", err)
			}
			if res.OK != tt.wantOK || res.Kind != tt.wantKind {
				t.Errorf("got ok %v kind %q, want %v and %q (error %q)", res.OK, res.Kind, tt.wantOK, tt.wantKind, res.Error)
			}
			if !strings.Contains(res.Error, tt.wantWords) {
				t.Errorf("error: got %q, want it to mention %q", res.Error, tt.wantWords)
			}
			if tt.wantOK && (res.ToolCount != len(gatedTools) || res.Server == nil || res.Server.Name != "gated-calendar") {
				t.Errorf("got %d tools and server %+v, want %d tools from gated-calendar", res.ToolCount, res.Server, len(gatedTools))
			}
		})
	}
	if _, err := r.TestConnection(ctx, "missing", "admin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("TestConnection of an unknown server: got %v, want ErrNotFound", err)
	}
}

func TestCallerDeadlineIsTimeout(t *testing.T) {
	t.Parallel()
	gated := startGatedServer(t, TransportStreamableHTTP)
	r := newTestRegistry(t, storetest.NewSQLite(t), &Options{Tokens: tokenMap{"alice": validToken}})
	createServer(t, r, CreateInput{ID: "calendar", URL: gated.URL, ProviderID: testProvider})

	// The server allows 30 seconds, the caller only half a second.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Client().CallTool(ctx, "alice", "calendar", "slow", nil)
	var unavailable *UnavailableError
	if !errors.As(err, &unavailable) || unavailable.Kind != KindTimeout {
		t.Fatalf("CallTool past the caller's deadline: got %v, want an *UnavailableError of kind timeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not match context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("CallTool took %v, want about the caller's 500ms", elapsed)
	}
}
