package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

// testIdentityHeader names, for testAuthenticate, which of testIdentities
// makes the request; absent means anonymous.
const testIdentityHeader = "X-Test-Identity"

var testIdentities = map[string]*authn.Identity{
	"alice": {UserID: "alice", Roles: []string{"staff"}, Method: authn.MethodSession},
	"bob":   {UserID: "bob", Roles: []string{"contractor"}, Method: authn.MethodSession},
	"agent": {UserID: "svc-agent", Roles: []string{"workload"}, Method: authn.MethodAPIToken, APITokenID: "tok1"},
	"admin": {UserID: "root", Roles: []string{authn.DefaultAdminRole}, Method: authn.MethodSession},
}

// testAuthenticate puts the identity named by testIdentityHeader into the
// request context, as authn's middleware would.
func testAuthenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := testIdentities[r.Header.Get(testIdentityHeader)]; id != nil {
			r = r.WithContext(authn.WithIdentity(r.Context(), id))
		}
		next.ServeHTTP(w, r)
	})
}

// testRequireAdmin follows the contract of Options.RequireAdmin with the
// injected identity.
func testRequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := authn.FromContext(r.Context())
		switch {
		case !ok:
			problem.Write(w, r, nil, problem.New(http.StatusUnauthorized, "authentication_required", "sign in"))
		case !id.IsAdmin():
			problem.Write(w, r, nil, problem.New(http.StatusForbidden, "admin_required", "admins only"))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// fakeStarter records consent starts and returns a fixed consent.
type fakeStarter struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeStarter) StartConsent(ctx context.Context, userID, providerID string, scopes []string) (string, string, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s %v", userID, providerID, scopes))
	return "cns_1", "https://toolgate.example.com/connect/cns_1", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), nil
}

// connectorsEnv is a Server with the connector and audit routes on a
// SQLite store, and a loopback token endpoint for refreshes.
type connectorsEnv struct {
	server  *Server
	srv     *httptest.Server
	st      *store.Store
	vault   *vault.Vault
	starter *fakeStarter

	mu sync.Mutex
	// refreshStatus, when set, is the status of every refresh response.
	refreshStatus int
}

func newConnectorsEnv(t *testing.T, withStarter bool) *connectorsEnv {
	t.Helper()
	env := &connectorsEnv{st: storetest.NewSQLite(t)}
	idp := httptest.NewServer(http.HandlerFunc(env.serveToken))
	t.Cleanup(idp.Close)

	key, err := keyring.Generate("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	external, _ := url.Parse("https://toolgate.example.com")
	reg := provider.NewRegistry(env.st, kr, &provider.Options{ExternalURL: external})
	disabled := false
	for _, in := range []provider.CreateInput{
		{ID: "acme", DisplayName: "Acme"},
		{ID: "staffonly", DisplayName: "Staff tools", AllowedRoles: []string{"staff"}},
		{ID: "off", DisplayName: "Switched off", Enabled: &disabled},
	} {
		in.Type, in.ClientID, in.ClientSecret, in.Scopes = provider.TypeCustom, "client", "secret", []string{"read", "write"}
		in.AuthorizationServerMetadata = &provider.Metadata{
			Issuer: idp.URL, AuthorizationEndpoint: idp.URL + "/authorize", TokenEndpoint: idp.URL + "/token",
			TokenEndpointAuthMethodsSupported: []string{"client_secret_post"},
		}
		if _, err := reg.Create(context.Background(), in); err != nil {
			t.Fatalf("create provider %s: %v", in.ID, err)
		}
	}

	client := oauthclient.New(nil, nil)
	env.vault = vault.New(env.st, kr, reg, client, audit.New(env.st, nil), &vault.Options{CacheTTL: -1})
	opts := &Options{
		Providers: reg, Vault: env.vault, Audit: env.st,
		Authenticate: testAuthenticate, RequireAdmin: testRequireAdmin,
	}
	if withStarter {
		env.starter = &fakeStarter{}
		opts.ConsentStarter = env.starter
	}
	env.server = New(opts)
	env.srv = httptest.NewServer(env.server.Handler())
	t.Cleanup(env.srv.Close)
	return env
}

func (env *connectorsEnv) serveToken(w http.ResponseWriter, r *http.Request) {
	env.mu.Lock()
	status := env.refreshStatus
	env.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if status != 0 {
		w.Header().Set("Retry-After", "42")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":"temporarily_unavailable"}`)
		return
	}
	_, _ = io.WriteString(w, `{"access_token":"refreshed-token","token_type":"Bearer","expires_in":3600}`)
}

// connect saves a token for userID at providerID that expires at
// expiresAt (zero: unknown).
func (env *connectorsEnv) connect(t *testing.T, userID, providerID string, expiresAt time.Time) {
	t.Helper()
	resp := &oauthclient.TokenResponse{AccessToken: "token-of-" + userID, RefreshToken: "refresh-of-" + userID,
		TokenType: "Bearer", ExpiresAt: expiresAt, Scopes: []string{"read", "write"}}
	if err := env.vault.Save(context.Background(), userID, providerID, resp, []string{"read", "write"}); err != nil {
		t.Fatal(err)
	}
}

// call sends a request as the named identity ("" for anonymous) and
// returns the response with its body read.
func (env *connectorsEnv) call(t *testing.T, as, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, env.srv.URL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if as != "" {
		req.Header.Set(testIdentityHeader, as)
	}
	resp, err := env.srv.Client().Do(req)
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

func decodeBody[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

func wantStatus(t *testing.T, resp *http.Response, data []byte, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: got status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, data)
	}
}

func TestConnectorRoutesRequireSignIn(t *testing.T) {
	env := newConnectorsEnv(t, false)
	for _, route := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/connectors"},
		{http.MethodGet, "/api/v1/connectors/acme/status"},
		{http.MethodDelete, "/api/v1/connectors/acme/connection"},
		{http.MethodPost, "/api/v1/connectors/acme/token"},
	} {
		resp, data := env.call(t, "", route.method, route.path, "")
		wantStatus(t, resp, data, http.StatusUnauthorized)
	}
}

// TestConnectorRoutesDocumented checks that every route of a server with
// the vault and the audit trail is in openapi.json with its method.
func TestConnectorRoutesDocumented(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	env := newConnectorsEnv(t, true)
	for _, pattern := range env.server.patterns {
		method, path, _ := strings.Cut(pattern, " ")
		rel, ok := strings.CutPrefix(path, "/api/v1")
		if !ok {
			continue
		}
		if _, ok := doc.Paths[rel][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is not in openapi.json", pattern)
		}
	}
}

func TestListConnectors(t *testing.T) {
	env := newConnectorsEnv(t, false)
	env.connect(t, "alice", "acme", time.Now().Add(time.Hour))

	type listBody struct {
		Connectors []map[string]any `json:"connectors"`
	}
	resp, data := env.call(t, "alice", http.MethodGet, "/api/v1/connectors", "")
	wantStatus(t, resp, data, http.StatusOK)
	list := decodeBody[listBody](t, data).Connectors
	if len(list) != 2 || list[0]["provider_id"] != "acme" || list[1]["provider_id"] != "staffonly" {
		t.Fatalf("alice's connectors: got %v, want acme and staffonly (not the disabled one)", list)
	}
	if list[0]["status"] != "connected" || list[0]["display_name"] != "Acme" || list[0]["type"] != "custom" {
		t.Errorf("acme: got %v, want connected with its display name and type", list[0])
	}
	if _, ok := list[0]["expires_at"]; !ok {
		t.Errorf("acme: got %v, want expires_at", list[0])
	}
	if list[1]["status"] != "not_connected" {
		t.Errorf("staffonly: got status %v, want not_connected", list[1]["status"])
	}
	if _, ok := list[1]["connected_at"]; ok {
		t.Errorf("staffonly: got connected_at in %v, want none for a provider never connected", list[1])
	}

	resp, data = env.call(t, "bob", http.MethodGet, "/api/v1/connectors", "")
	wantStatus(t, resp, data, http.StatusOK)
	list = decodeBody[listBody](t, data).Connectors
	if len(list) != 1 || list[0]["provider_id"] != "acme" || list[0]["status"] != "not_connected" {
		t.Errorf("bob's connectors: got %v, want acme alone, not connected (staffonly needs the staff role)", list)
	}
}

func TestConnectorStatusRoute(t *testing.T) {
	env := newConnectorsEnv(t, false)
	expires := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	env.connect(t, "alice", "acme", expires)

	resp, data := env.call(t, "alice", http.MethodGet, "/api/v1/connectors/acme/status", "")
	wantStatus(t, resp, data, http.StatusOK)
	body := decodeBody[map[string]any](t, data)
	if body["status"] != "connected" || body["expires_at"] != expires.Format(time.RFC3339) {
		t.Errorf("status: got %v, want connected expiring %s", body, expires.Format(time.RFC3339))
	}
	if body["connected_at"] == nil {
		t.Errorf("status: got %v, want connected_at", body)
	}

	// The expired token was not refreshed by reading its status.
	tok, err := env.st.GetToken(context.Background(), "alice", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Generation != 1 || !tok.RefreshedAt.IsZero() {
		t.Errorf("row: generation %d refreshed at %v, want unchanged", tok.Generation, tok.RefreshedAt)
	}

	resp, data = env.call(t, "bob", http.MethodGet, "/api/v1/connectors/acme/status", "")
	wantStatus(t, resp, data, http.StatusOK)
	body = decodeBody[map[string]any](t, data)
	if body["status"] != "not_connected" || body["expires_at"] != nil || body["connected_at"] != nil {
		t.Errorf("bob's status: got %v, want not_connected with null times", body)
	}

	for _, tt := range []struct{ as, path string }{
		{"alice", "/api/v1/connectors/nope/status"},
		{"bob", "/api/v1/connectors/staffonly/status"},
		{"alice", "/api/v1/connectors/off/status"},
	} {
		resp, data := env.call(t, tt.as, http.MethodGet, tt.path, "")
		wantStatus(t, resp, data, http.StatusNotFound)
	}
}

func TestConnectorTokenRoute(t *testing.T) {
	env := newConnectorsEnv(t, false)
	env.connect(t, "alice", "acme", time.Now().Add(time.Hour))

	resp, data := env.call(t, "alice", http.MethodPost, "/api/v1/connectors/acme/token", "")
	wantStatus(t, resp, data, http.StatusOK)
	body := decodeBody[map[string]any](t, data)
	if body["access_token"] != "token-of-alice" || body["token_type"] != "Bearer" {
		t.Errorf("body: got %v, want alice's bearer token", body)
	}
	if body["expires_at"] == nil || body["scopes"] == nil {
		t.Errorf("body: got %v, want expires_at and scopes", body)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", got)
	}

	events, err := env.st.ListAudit(context.Background(), store.AuditFilter{Action: audit.TokenIssued, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].ActorID != "alice" || events[0].UserID != "alice" {
		t.Errorf("token_issued events: got %+v, want one by alice for alice", events)
	}
}

func TestConnectorTokenConsentRequired(t *testing.T) {
	t.Run("with consent starter", func(t *testing.T) {
		env := newConnectorsEnv(t, true)
		env.connect(t, "alice", "acme", time.Time{})

		resp, data := env.call(t, "bob", http.MethodPost, "/api/v1/connectors/acme/token", "{}")
		wantStatus(t, resp, data, http.StatusConflict)
		body := decodeBody[map[string]any](t, data)
		if body["consent_required"] != true || body["reason"] != "not_connected" {
			t.Errorf("body: got %v, want consent_required with reason not_connected", body)
		}
		if body["consent_id"] != "cns_1" || body["authorization_url"] != "https://toolgate.example.com/connect/cns_1" {
			t.Errorf("body: got %v, want the started consent's id and URL", body)
		}

		resp, data = env.call(t, "alice", http.MethodPost, "/api/v1/connectors/acme/token", `{"min_scopes":["read","admin"]}`)
		wantStatus(t, resp, data, http.StatusConflict)
		body = decodeBody[map[string]any](t, data)
		if body["reason"] != "scopes_missing" || fmt.Sprint(body["missing_scopes"]) != "[admin]" {
			t.Errorf("body: got %v, want scopes_missing [admin]", body)
		}
		want := []string{"bob acme []", "alice acme [read admin]"}
		if fmt.Sprint(env.starter.calls) != fmt.Sprint(want) {
			t.Errorf("consent starts: got %q, want %q", env.starter.calls, want)
		}
	})
	t.Run("without consent starter", func(t *testing.T) {
		env := newConnectorsEnv(t, false)
		resp, data := env.call(t, "bob", http.MethodPost, "/api/v1/connectors/acme/token", "")
		wantStatus(t, resp, data, http.StatusConflict)
		body := decodeBody[map[string]any](t, data)
		if body["consent_required"] != true {
			t.Errorf("body: got %v, want consent_required", body)
		}
		if _, ok := body["authorization_url"]; ok {
			t.Errorf("body: got %v, want no authorization_url without a consent starter", body)
		}
	})
}

func TestConnectorTokenWorkload(t *testing.T) {
	env := newConnectorsEnv(t, false)
	env.connect(t, "alice", "acme", time.Now().Add(time.Hour))

	resp, data := env.call(t, "agent", http.MethodPost, "/api/v1/connectors/acme/token", `{"user_id":"alice"}`)
	wantStatus(t, resp, data, http.StatusOK)
	if body := decodeBody[map[string]any](t, data); body["access_token"] != "token-of-alice" {
		t.Errorf("workload: got %v, want alice's token", body)
	}
	events, err := env.st.ListAudit(context.Background(), store.AuditFilter{Action: audit.TokenIssued, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].ActorID != "api_token:tok1" || events[0].UserID != "alice" {
		t.Errorf("token_issued events: got %+v, want actor api_token:tok1 for user alice", events)
	}

	resp, data = env.call(t, "bob", http.MethodPost, "/api/v1/connectors/acme/token", `{"user_id":"alice"}`)
	wantStatus(t, resp, data, http.StatusForbidden)
	resp, data = env.call(t, "alice", http.MethodPost, "/api/v1/connectors/acme/token", `{"user_id":"alice"}`)
	wantStatus(t, resp, data, http.StatusOK)
}

func TestConnectorTokenInvalidInput(t *testing.T) {
	env := newConnectorsEnv(t, false)
	env.connect(t, "alice", "acme", time.Now().Add(time.Hour))
	tests := []struct {
		body, field string
	}{
		{`{"min_scopes":["read",""]}`, "min_scopes[1]"},
		{`{"min_scopes":["read write"]}`, "min_scopes[0]"},
		{`{"user_id":" alice"}`, "user_id"},
		{`{"generation":3}`, "generation"},
		{`{"force_refresh":true,"generation":-1}`, "generation"},
		{`{"scopes":["read"]}`, "scopes"},
		{`{"min_scopes":"read"}`, "min_scopes"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			resp, data := env.call(t, "alice", http.MethodPost, "/api/v1/connectors/acme/token", tt.body)
			wantStatus(t, resp, data, http.StatusBadRequest)
			var body struct {
				Errors []problem.FieldError `json:"errors"`
			}
			if err := json.Unmarshal(data, &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Field != tt.field {
				t.Errorf("body: got %s, want one error naming %s", data, tt.field)
			}
		})
	}
	events, err := env.st.ListAudit(context.Background(), store.AuditFilter{Action: audit.TokenIssued, Limit: 10})
	if err != nil || len(events) != 0 {
		t.Errorf("token_issued events after rejected requests: got %d, %v; want none", len(events), err)
	}
}

func TestConnectorTokenProviderUnavailable(t *testing.T) {
	env := newConnectorsEnv(t, false)
	env.connect(t, "alice", "acme", time.Now().Add(-time.Minute))
	env.mu.Lock()
	env.refreshStatus = http.StatusServiceUnavailable
	env.mu.Unlock()

	resp, data := env.call(t, "alice", http.MethodPost, "/api/v1/connectors/acme/token", "")
	wantStatus(t, resp, data, http.StatusServiceUnavailable)
	if got := resp.Header.Get("Retry-After"); got != "42" {
		t.Errorf("Retry-After: got %q, want the provider's 42", got)
	}
	if strings.Contains(string(data), "token-of-alice") || strings.Contains(string(data), "refresh-of-alice") {
		t.Errorf("body %s contains a token", data)
	}

	env.mu.Lock()
	env.refreshStatus = 0
	env.mu.Unlock()
	resp, data = env.call(t, "alice", http.MethodPost, "/api/v1/connectors/acme/token", "")
	wantStatus(t, resp, data, http.StatusOK)
	if body := decodeBody[map[string]any](t, data); body["access_token"] != "refreshed-token" {
		t.Errorf("after recovery: got %v, want the refreshed token", body)
	}
}

func TestDisconnectRoute(t *testing.T) {
	env := newConnectorsEnv(t, false)
	env.connect(t, "alice", "acme", time.Now().Add(time.Hour))

	for i := range 2 {
		resp, data := env.call(t, "alice", http.MethodDelete, "/api/v1/connectors/acme/connection", "")
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("disconnect %d: got status %d, want 204; body %s", i+1, resp.StatusCode, data)
		}
	}
	resp, data := env.call(t, "alice", http.MethodGet, "/api/v1/connectors/acme/status", "")
	wantStatus(t, resp, data, http.StatusOK)
	if body := decodeBody[map[string]any](t, data); body["status"] != "revoked" {
		t.Errorf("status after disconnect: got %v, want revoked", body)
	}
	resp, data = env.call(t, "alice", http.MethodPost, "/api/v1/connectors/acme/token", "")
	wantStatus(t, resp, data, http.StatusConflict)
	if body := decodeBody[map[string]any](t, data); body["reason"] != "revoked" {
		t.Errorf("token after disconnect: got %v, want reason revoked", body)
	}

	// A disabled provider can still be disconnected; an unknown one is 404.
	resp, data = env.call(t, "alice", http.MethodDelete, "/api/v1/connectors/off/connection", "")
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("disconnect from a disabled provider: got %d, want 204; body %s", resp.StatusCode, data)
	}
	resp, data = env.call(t, "alice", http.MethodDelete, "/api/v1/connectors/nope/connection", "")
	wantStatus(t, resp, data, http.StatusNotFound)
}
