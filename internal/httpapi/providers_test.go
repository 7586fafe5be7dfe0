package httpapi

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

// testRoleHeader carries the caller's role for fakeRequireAdmin: absent
// means anonymous, "admin" an admin, anything else a signed-in non-admin.
const testRoleHeader = "X-Test-Role"

// fakeRequireAdmin follows the contract of Options.RequireAdmin with a
// header in place of real authentication.
func fakeRequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get(testRoleHeader) {
		case "":
			problem.Write(w, r, nil, problem.New(http.StatusUnauthorized, "authentication_required", "sign in"))
		case "admin":
			next.ServeHTTP(w, r)
		default:
			problem.Write(w, r, nil, problem.New(http.StatusForbidden, "admin_required", "admins only"))
		}
	})
}

// newProvidersServer returns a test server with the provider routes on st.
func newProvidersServer(t *testing.T, st *store.Store, requireAdmin func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	key, err := keyring.Generate("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	external, err := url.Parse("https://toolgate.example.com")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(&Options{
		Providers:    provider.NewRegistry(st, kr, &provider.Options{ExternalURL: external}),
		RequireAdmin: requireAdmin,
	}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

// providerCall sends one request with the given role and returns the
// response with its body read.
func providerCall(t *testing.T, srv *httptest.Server, role, method, path, body string) (*http.Response, []byte) {
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
	if role != "" {
		req.Header.Set(testRoleHeader, role)
	}
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

func requireStatus(t *testing.T, resp *http.Response, body []byte, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: got status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
}

// problemBody is the part of a problem+json body the tests read.
type problemBody struct {
	Status int                  `json:"status"`
	Code   string               `json:"code"`
	Detail string               `json:"detail"`
	Errors []problem.FieldError `json:"errors"`
}

func decodeProblem(t *testing.T, resp *http.Response, body []byte) problemBody {
	t.Helper()
	mediaType, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mediaType != problem.ContentType {
		t.Errorf("content type: got %q, want %s", resp.Header.Get("Content-Type"), problem.ContentType)
	}
	var p problemBody
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", body, err)
	}
	return p
}

const (
	secretCanary   = "http-canary-secret-5d1e"
	googleProvider = `{
		"id": "google", "display_name": "Google", "type": "google",
		"client_id": "1234.apps.googleusercontent.com", "client_secret": "` + secretCanary + `",
		"scopes": ["openid", "email"]
	}`
)

func TestProvidersAPI(t *testing.T) {
	forEachProviderStore(t, func(t *testing.T, st *store.Store) {
		srv := newProvidersServer(t, st, fakeRequireAdmin)

		// Create.
		resp, body := providerCall(t, srv, "admin", http.MethodPost, "/api/v1/admin/providers", googleProvider)
		requireStatus(t, resp, body, http.StatusCreated)
		if loc := resp.Header.Get("Location"); loc != "/api/v1/admin/providers/google" {
			t.Errorf("Location: got %q, want /api/v1/admin/providers/google", loc)
		}
		if strings.Contains(string(body), secretCanary) {
			t.Errorf("create response contains the client secret: %s", body)
		}
		var created map[string]any
		if err := json.Unmarshal(body, &created); err != nil {
			t.Fatal(err)
		}
		if created["redirect_uri"] != "https://toolgate.example.com/oauth/callback" {
			t.Errorf("redirect_uri: got %v", created["redirect_uri"])
		}
		if created["client_secret_set"] != true {
			t.Errorf("client_secret_set: got %v, want true", created["client_secret_set"])
		}
		if _, ok := created["client_secret"]; ok {
			t.Error("create response has a client_secret member")
		}

		// List.
		resp, body = providerCall(t, srv, "admin", http.MethodGet, "/api/v1/admin/providers", "")
		requireStatus(t, resp, body, http.StatusOK)
		var list struct {
			Providers []provider.View `json:"providers"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Providers) != 1 || list.Providers[0].ID != "google" {
			t.Errorf("list: got %s, want the google provider", body)
		}
		if strings.Contains(string(body), secretCanary) {
			t.Errorf("list response contains the client secret: %s", body)
		}

		// Patch.
		resp, body = providerCall(t, srv, "admin", http.MethodPatch, "/api/v1/admin/providers/google",
			`{"display_name": "Google Workspace", "enabled": false}`)
		requireStatus(t, resp, body, http.StatusOK)
		var patched provider.View
		if err := json.Unmarshal(body, &patched); err != nil {
			t.Fatal(err)
		}
		if patched.DisplayName != "Google Workspace" || patched.Enabled {
			t.Errorf("patch: got display name %q and enabled %v", patched.DisplayName, patched.Enabled)
		}
		if !patched.ClientSecretSet || patched.ClientID != "1234.apps.googleusercontent.com" {
			t.Errorf("patch changed credentials: %s", body)
		}

		// Get.
		resp, body = providerCall(t, srv, "admin", http.MethodGet, "/api/v1/admin/providers/google", "")
		requireStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), `"display_name":"Google Workspace"`) {
			t.Errorf("get does not show the patch: %s", body)
		}

		// Delete, then the provider is gone.
		resp, body = providerCall(t, srv, "admin", http.MethodDelete, "/api/v1/admin/providers/google", "")
		requireStatus(t, resp, body, http.StatusNoContent)
		if len(body) != 0 {
			t.Errorf("delete: got body %s, want none", body)
		}
		resp, body = providerCall(t, srv, "admin", http.MethodGet, "/api/v1/admin/providers/google", "")
		requireStatus(t, resp, body, http.StatusNotFound)
		if p := decodeProblem(t, resp, body); p.Code != "not_found" {
			t.Errorf("code: got %q, want not_found", p.Code)
		}
		resp, body = providerCall(t, srv, "admin", http.MethodDelete, "/api/v1/admin/providers/google", "")
		requireStatus(t, resp, body, http.StatusNotFound)
	})
}

func TestProvidersRequireAdmin(t *testing.T) {
	routes := []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/admin/providers", ""},
		{http.MethodPost, "/api/v1/admin/providers", googleProvider},
		{http.MethodGet, "/api/v1/admin/providers/google", ""},
		{http.MethodPatch, "/api/v1/admin/providers/google", `{"enabled": false}`},
		{http.MethodDelete, "/api/v1/admin/providers/google", ""},
		{http.MethodGet, "/api/v1/admin/provider-presets", ""},
	}
	st := storetest.NewSQLite(t)
	srv := newProvidersServer(t, st, fakeRequireAdmin)
	unwired := newProvidersServer(t, st, nil)

	for _, r := range routes {
		name := r.method + " " + r.path
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
				t.Errorf("%s %s: got %d, want %d", name, c.label, resp.StatusCode, c.want)
			}
			decodeProblem(t, resp, body)
		}
	}

	providers, err := st.ListProviders(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(providers) != 0 {
		t.Errorf("rejected requests stored %d providers, want 0", len(providers))
	}
}

func TestProvidersValidationProblem(t *testing.T) {
	srv := newProvidersServer(t, storetest.NewSQLite(t), fakeRequireAdmin)

	cases := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		field  string
	}{
		{"bad id", http.MethodPost, "/api/v1/admin/providers",
			strings.Replace(googleProvider, `"id": "google"`, `"id": "Not/Valid"`, 1), 400, "id"},
		{"reserved parameter", http.MethodPost, "/api/v1/admin/providers",
			strings.Replace(googleProvider, `"scopes"`, `"custom_parameters": {"state": "x"}, "scopes"`, 1), 422, "custom_parameters.state"},
		{"unknown field", http.MethodPost, "/api/v1/admin/providers",
			strings.Replace(googleProvider, `"scopes"`, `"client_secret_set": true, "scopes"`, 1), 400, "client_secret_set"},
		{"rotation without secret", http.MethodPatch, "/api/v1/admin/providers/existing",
			`{"client_id": "new"}`, 422, "client_secret"},
		{"change id", http.MethodPatch, "/api/v1/admin/providers/existing",
			`{"id": "renamed"}`, 400, "id"},
		{"duplicate", http.MethodPost, "/api/v1/admin/providers",
			strings.Replace(googleProvider, `"id": "google"`, `"id": "existing"`, 1), 409, "id"},
	}

	resp, body := providerCall(t, srv, "admin", http.MethodPost, "/api/v1/admin/providers",
		strings.Replace(googleProvider, `"id": "google"`, `"id": "existing"`, 1))
	requireStatus(t, resp, body, http.StatusCreated)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := providerCall(t, srv, "admin", tc.method, tc.path, tc.body)
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
			if strings.Contains(string(body), secretCanary) {
				t.Errorf("problem contains the client secret: %s", body)
			}
		})
	}
}

func TestProviderPresetsRoute(t *testing.T) {
	srv := newProvidersServer(t, storetest.NewSQLite(t), fakeRequireAdmin)

	resp, body := providerCall(t, srv, "admin", http.MethodGet, "/api/v1/admin/provider-presets", "")
	requireStatus(t, resp, body, http.StatusOK)
	var out struct {
		Presets []provider.Preset `json:"presets"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Presets) != len(provider.Presets()) {
		t.Fatalf("got %d presets, want %d", len(out.Presets), len(provider.Presets()))
	}
	if out.Presets[0].Type != provider.TypeGoogle || len(out.Presets[0].ScopeHints) == 0 {
		t.Errorf("first preset: got %+v, want google with scope hints", out.Presets[0])
	}
}

func TestProviderRoutesAbsentWithoutRegistry(t *testing.T) {
	srv := httptest.NewServer(New(&Options{RequireAdmin: fakeRequireAdmin}).Handler())
	t.Cleanup(srv.Close)

	resp, body := providerCall(t, srv, "admin", http.MethodGet, "/api/v1/admin/providers", "")
	requireStatus(t, resp, body, http.StatusNotFound)
}

// forEachProviderStore runs fn against SQLite, and against PostgreSQL when
// TOOLGATE_TEST_POSTGRES_URL is set.
func forEachProviderStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.NewPostgres(t)) })
}
