package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/mcpclient"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

// adminUserHeader names the signed-in admin for fakeAdminIdentity.
const adminUserHeader = "X-Test-Admin-User"

const (
	mcpProviderID  = "calendar-idp"
	mcpAdminToken  = "admin-token-51ab"
	headerCanary   = "static-header-canary-0c3e"
	mcpServersBase = "/api/v1/admin/mcp-servers"
)

// fakeAdminIdentity follows the contract of Options.RequireAdmin like
// fakeRequireAdmin, and also stores an identity for the user named in
// adminUserHeader, so that handlers can act as that admin.
func fakeAdminIdentity(next http.Handler) http.Handler {
	return fakeRequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := &authn.Identity{UserID: r.Header.Get(adminUserHeader), Roles: []string{authn.DefaultAdminRole}}
		next.ServeHTTP(w, r.WithContext(authn.WithIdentity(r.Context(), id)))
	}))
}

// newMCPServersServer returns a test server with the MCP server routes on
// st. The user "admin" has mcpAdminToken at mcpProviderID, and no other
// user has a token.
func newMCPServersServer(t *testing.T, st *store.Store, requireAdmin func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	key, err := keyring.Generate("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	err = st.CreateProvider(context.Background(), &store.Provider{
		ID: mcpProviderID, DisplayName: "Calendar IdP", Type: "custom", ClientID: "toolgate", Enabled: true, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatal(err)
	}
	tokens := mcpclient.TokenSourceFunc(func(_ context.Context, userID, providerID string) (string, error) {
		if userID == "admin" && providerID == mcpProviderID {
			return mcpAdminToken, nil
		}
		return "", errors.New("test vault: not connected")
	})
	srv := httptest.NewServer(New(&Options{
		MCPServers:   mcpclient.NewRegistry(st, kr, &mcpclient.Options{Tokens: tokens}),
		RequireAdmin: requireAdmin,
	}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

// sdkServer is an MCP server built with the go-sdk that accepts only
// mcpAdminToken as bearer token and records the X-Api-Key header of each
// request.
type sdkServer struct {
	URL string

	mu      sync.Mutex
	apiKeys []string
}

func startSDKServer(t *testing.T) *sdkServer {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "sdk-calendar", Version: "2.0.0"}, nil)
	for _, name := range []string{"list_events", "create_event"} {
		server.AddTool(&mcp.Tool{Name: name, Description: "Calendar tool " + name, InputSchema: map[string]any{"type": "object"}},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
			})
	}
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)

	s := &sdkServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.apiKeys = append(s.apiKeys, r.Header.Get("X-Api-Key"))
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+mcpAdminToken {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/mcp"
	return s
}

func (s *sdkServer) seenAPIKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.apiKeys...)
}

// adminCall sends one request as the admin user "admin".
func adminCall(t *testing.T, srv *httptest.Server, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	return userCall(t, srv, "admin", method, path, body)
}

// userCall sends one request as an admin with the given user id.
func userCall(t *testing.T, srv *httptest.Server, user, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(testRoleHeader, "admin")
	req.Header.Set(adminUserHeader, user)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func TestMCPServersAPI(t *testing.T) {
	forEachProviderStore(t, func(t *testing.T, st *store.Store) {
		srv := newMCPServersServer(t, st, fakeAdminIdentity)
		create := `{"id": "calendar", "display_name": "Calendar", "url": "https://mcp.example.test/mcp",
			"provider_id": "` + mcpProviderID + `", "headers": {"x-api-key": "` + headerCanary + `"},
			"allowed_roles": ["staff"], "timeout": "45s"}`

		resp, body := adminCall(t, srv, http.MethodPost, mcpServersBase, create)
		requireStatus(t, resp, body, http.StatusCreated)
		if loc := resp.Header.Get("Location"); loc != mcpServersBase+"/calendar" {
			t.Errorf("Location: got %q, want %s/calendar", loc, mcpServersBase)
		}
		var created mcpclient.View
		if err := json.Unmarshal(body, &created); err != nil {
			t.Fatal(err)
		}
		if created.Transport != mcpclient.TransportStreamableHTTP || created.Timeout != "45s" || !created.Enabled {
			t.Errorf("create: got transport %q timeout %q enabled %v, want the default transport, 45s, enabled",
				created.Transport, created.Timeout, created.Enabled)
		}
		if len(created.HeaderNames) != 1 || created.HeaderNames[0] != "X-Api-Key" {
			t.Errorf("header_names: got %q, want [X-Api-Key]", created.HeaderNames)
		}
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
		if _, ok := raw["headers"]; ok {
			t.Errorf("create response has a headers member: %s", body)
		}
		for _, member := range []string{"tools", "tools_fetched_at", "last_error"} {
			if _, ok := raw[member]; !ok {
				t.Errorf("create response lacks %s: %s", member, body)
			}
		}

		resp, body = adminCall(t, srv, http.MethodGet, mcpServersBase, "")
		requireStatus(t, resp, body, http.StatusOK)
		var list struct {
			MCPServers []mcpclient.View `json:"mcp_servers"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.MCPServers) != 1 || list.MCPServers[0].ID != "calendar" {
			t.Errorf("list: got %s, want the calendar server", body)
		}

		resp, body = adminCall(t, srv, http.MethodPatch, mcpServersBase+"/calendar",
			`{"display_name": "Team calendar", "enabled": false, "transport": "sse"}`)
		requireStatus(t, resp, body, http.StatusOK)
		var patched mcpclient.View
		if err := json.Unmarshal(body, &patched); err != nil {
			t.Fatal(err)
		}
		if patched.DisplayName != "Team calendar" || patched.Enabled || patched.Transport != mcpclient.TransportSSE {
			t.Errorf("patch: got %+v", patched)
		}
		if len(patched.HeaderNames) != 1 || patched.ProviderID != mcpProviderID {
			t.Errorf("patch changed fields it was not given: %s", body)
		}

		resp, body = adminCall(t, srv, http.MethodGet, mcpServersBase+"/calendar", "")
		requireStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), `"display_name":"Team calendar"`) {
			t.Errorf("get does not show the patch: %s", body)
		}

		resp, body = adminCall(t, srv, http.MethodDelete, mcpServersBase+"/calendar", "")
		requireStatus(t, resp, body, http.StatusNoContent)
		resp, body = adminCall(t, srv, http.MethodGet, mcpServersBase+"/calendar", "")
		requireStatus(t, resp, body, http.StatusNotFound)
		if p := decodeProblem(t, resp, body); p.Code != "not_found" {
			t.Errorf("code: got %q, want not_found", p.Code)
		}
		resp, body = adminCall(t, srv, http.MethodDelete, mcpServersBase+"/calendar", "")
		requireStatus(t, resp, body, http.StatusNotFound)

		stored, err := st.ListMCPServers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 0 {
			t.Errorf("after delete the store holds %d servers, want 0", len(stored))
		}
	})
}

func TestMCPServersRequireAdmin(t *testing.T) {
	routes := []struct{ method, path, body string }{
		{http.MethodGet, mcpServersBase, ""},
		{http.MethodPost, mcpServersBase, `{"id": "x", "display_name": "X", "url": "https://mcp.example.test/mcp"}`},
		{http.MethodGet, mcpServersBase + "/x", ""},
		{http.MethodPatch, mcpServersBase + "/x", `{"enabled": false}`},
		{http.MethodDelete, mcpServersBase + "/x", ""},
		{http.MethodPost, mcpServersBase + "/x/refresh-tools", ""},
		{http.MethodPost, mcpServersBase + "/x/test", ""},
	}
	st := storetest.NewSQLite(t)
	srv := newMCPServersServer(t, st, fakeAdminIdentity)
	unwired := newMCPServersServer(t, st, nil)

	for _, r := range routes {
		for _, c := range []struct {
			label string
			srv   *httptest.Server
			role  string
			want  int
		}{
			{"anonymous", srv, "", http.StatusUnauthorized},
			{"as a non-admin", srv, "user", http.StatusForbidden},
			{"without RequireAdmin", unwired, "admin", http.StatusUnauthorized},
		} {
			resp, body := providerCall(t, c.srv, c.role, r.method, r.path, r.body)
			if resp.StatusCode != c.want {
				t.Errorf("%s %s %s: got %d, want %d", r.method, r.path, c.label, resp.StatusCode, c.want)
			}
			decodeProblem(t, resp, body)
		}
	}

	servers, err := st.ListMCPServers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 0 {
		t.Errorf("rejected requests stored %d servers, want 0", len(servers))
	}
}

func TestMCPServersValidationProblem(t *testing.T) {
	st := storetest.NewSQLite(t)
	srv := newMCPServersServer(t, st, fakeAdminIdentity)
	valid := `{"id": "existing", "display_name": "Existing", "url": "https://mcp.example.test/mcp"}`
	resp, body := adminCall(t, srv, http.MethodPost, mcpServersBase, valid)
	requireStatus(t, resp, body, http.StatusCreated)
	with := func(old, new string) string {
		return strings.Replace(strings.Replace(valid, `"existing"`, `"fresh"`, 1), old, new, 1)
	}

	cases := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		field  string
	}{
		{"bad id", http.MethodPost, mcpServersBase, with(`"fresh"`, `"Fresh_1"`), 400, "id"},
		{"missing display name", http.MethodPost, mcpServersBase, with(`"Existing"`, `""`), 400, "display_name"},
		{"http on a public host", http.MethodPost, mcpServersBase, with("https://mcp.example.test", "http://mcp.example.test"), 400, "url"},
		{"unknown transport", http.MethodPost, mcpServersBase, with(`"url"`, `"transport": "stdio", "url"`), 400, "transport"},
		{"timeout out of range", http.MethodPost, mcpServersBase, with(`"url"`, `"timeout": "10m", "url"`), 400, "timeout"},
		{"timeout not a duration", http.MethodPost, mcpServersBase, with(`"url"`, `"timeout": 30, "url"`), 400, "timeout"},
		{"hop-by-hop header", http.MethodPost, mcpServersBase, with(`"url"`, `"headers": {"Transfer-Encoding": "chunked"}, "url"`), 400, "headers.Transfer-Encoding"},
		{"authorization header with provider", http.MethodPost, mcpServersBase,
			with(`"url"`, `"provider_id": "`+mcpProviderID+`", "headers": {"Authorization": "Bearer `+headerCanary+`"}, "url"`), 400, "headers.Authorization"},
		{"header value with a line break", http.MethodPost, mcpServersBase,
			with(`"url"`, `"headers": {"X-Key": "`+headerCanary+`\r\nX-Evil: 1"}, "url"`), 400, "headers.X-Key"},
		{"unknown provider", http.MethodPost, mcpServersBase, with(`"url"`, `"provider_id": "nobody", "url"`), 422, "provider_id"},
		{"read-only field", http.MethodPost, mcpServersBase, with(`"url"`, `"tools": [], "url"`), 400, "tools"},
		{"duplicate", http.MethodPost, mcpServersBase, valid, 409, "id"},
		{"change id", http.MethodPatch, mcpServersBase + "/existing", `{"id": "renamed"}`, 400, "id"},
		{"patch bad url", http.MethodPatch, mcpServersBase + "/existing", `{"url": "ftp://mcp.example.test"}`, 400, "url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := adminCall(t, srv, tc.method, tc.path, tc.body)
			requireStatus(t, resp, body, tc.status)
			p := decodeProblem(t, resp, body)
			if p.Status != tc.status {
				t.Errorf("body status: got %d, want %d", p.Status, tc.status)
			}
			if len(p.Errors) == 0 {
				t.Fatalf("no errors in %s", body)
			}
			if p.Errors[0].Field != tc.field {
				t.Errorf("errors[0].field: got %q, want %q", p.Errors[0].Field, tc.field)
			}
			if p.Detail == "" || p.Errors[0].Detail == "" {
				t.Errorf("empty detail in %s", body)
			}
			if strings.Contains(string(body), headerCanary) {
				t.Errorf("problem repeats a header value: %s", body)
			}
		})
	}

	servers, err := st.ListMCPServers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 1 {
		t.Errorf("rejected requests changed the stored servers: got %d, want only the existing one", len(servers))
	}
	if resp, body := adminCall(t, srv, http.MethodPatch, mcpServersBase+"/missing", `{"enabled": false}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("PATCH of an unknown server: got %d, want 404; body %s", resp.StatusCode, body)
	}
}

func TestMCPServerRefreshAndTest(t *testing.T) {
	sdk := startSDKServer(t)
	st := storetest.NewSQLite(t)
	srv := newMCPServersServer(t, st, fakeAdminIdentity)
	create := `{"id": "calendar", "display_name": "Calendar", "url": "` + sdk.URL + `",
		"provider_id": "` + mcpProviderID + `", "headers": {"X-Api-Key": "` + headerCanary + `"}}`
	resp, body := adminCall(t, srv, http.MethodPost, mcpServersBase, create)
	requireStatus(t, resp, body, http.StatusCreated)

	// The admin's own token fetches the catalog, which is stored.
	resp, body = adminCall(t, srv, http.MethodPost, mcpServersBase+"/calendar/refresh-tools", "")
	requireStatus(t, resp, body, http.StatusOK)
	var refreshed mcpclient.View
	if err := json.Unmarshal(body, &refreshed); err != nil {
		t.Fatal(err)
	}
	if len(refreshed.Tools) != 2 || refreshed.Tools[0].ModelName != "calendar__create_event" || refreshed.ToolsFetchedAt == nil {
		t.Errorf("refresh-tools: got %s, want two tools and a fetch time", body)
	}
	if strings.Contains(string(body), headerCanary) {
		t.Errorf("refresh-tools response contains the header value: %s", body)
	}
	keys := sdk.seenAPIKeys()
	if len(keys) == 0 || keys[0] != headerCanary {
		t.Errorf("X-Api-Key seen by the server: got %q, want the static value on every request", keys)
	}
	resp, body = adminCall(t, srv, http.MethodGet, mcpServersBase+"/calendar", "")
	requireStatus(t, resp, body, http.StatusOK)
	if !strings.Contains(string(body), `"name":"list_events"`) {
		t.Errorf("the stored catalog is not in GET: %s", body)
	}

	resp, body = adminCall(t, srv, http.MethodPost, mcpServersBase+"/calendar/test", "")
	requireStatus(t, resp, body, http.StatusOK)
	var result mcpclient.TestResult
	if err := json.Unmarshal(body, &result); err != nil {
		t.Fatal(err)
	}
	if !result.OK || result.ToolCount != 2 || result.Server == nil || result.Server.Name != "sdk-calendar" {
		t.Errorf("test: got %s, want ok with 2 tools from sdk-calendar", body)
	}

	// An admin without a token at the provider.
	resp, body = userCall(t, srv, "other-admin", http.MethodPost, mcpServersBase+"/calendar/refresh-tools", "")
	requireStatus(t, resp, body, http.StatusConflict)
	if p := decodeProblem(t, resp, body); p.Code != "connection_required" || !strings.Contains(p.Detail, mcpProviderID) {
		t.Errorf("refresh without a token: got code %q detail %q, want connection_required naming the provider", p.Code, p.Detail)
	}
	resp, body = userCall(t, srv, "other-admin", http.MethodPost, mcpServersBase+"/calendar/test", "")
	requireStatus(t, resp, body, http.StatusOK)
	if err := json.Unmarshal(body, &result); err != nil {
		t.Fatal(err)
	}
	if result.OK || result.Kind != "token" || result.Error == "" {
		t.Errorf("test without a token: got %s, want ok false, kind token and an error", body)
	}

	// An unreachable server: 502, and the failure is kept in last_error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/mcp"
	ln.Close()
	resp, body = adminCall(t, srv, http.MethodPost, mcpServersBase, `{"id": "down", "display_name": "Down", "url": "`+closedURL+`"}`)
	requireStatus(t, resp, body, http.StatusCreated)
	resp, body = adminCall(t, srv, http.MethodPost, mcpServersBase+"/down/refresh-tools", "")
	requireStatus(t, resp, body, http.StatusBadGateway)
	if p := decodeProblem(t, resp, body); p.Code != "mcp_server_unavailable" || !strings.Contains(p.Detail, "could not reach") {
		t.Errorf("refresh of an unreachable server: got code %q detail %q", p.Code, p.Detail)
	}
	resp, body = adminCall(t, srv, http.MethodGet, mcpServersBase+"/down", "")
	requireStatus(t, resp, body, http.StatusOK)
	var down mcpclient.View
	if err := json.Unmarshal(body, &down); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(down.LastError, "could not reach") || down.LastErrorAt == nil {
		t.Errorf("last_error: got %q at %v, want the failure recorded", down.LastError, down.LastErrorAt)
	}

	resp, body = adminCall(t, srv, http.MethodPost, mcpServersBase+"/missing/test", "")
	requireStatus(t, resp, body, http.StatusNotFound)
}
