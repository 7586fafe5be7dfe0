package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/toolgate/toolgate/internal/agent"
	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/mcpclient"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

// allRoutesServer returns a Server with every optional component set, so
// that every route is registered.
func allRoutesServer(t *testing.T) *Server {
	t.Helper()
	st := storetest.NewSQLite(t)
	key, err := keyring.Generate("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	external, _ := url.Parse("https://toolgate.example.com")
	providers := provider.NewRegistry(st, kr, &provider.Options{ExternalURL: external})
	tokenClient := oauthclient.New(nil, nil)
	tokens := vault.New(st, kr, providers, tokenClient, nil, nil)
	consents := consent.New(st, kr, providers, tokens, tokenClient, nil, nil)
	mcpServers := mcpclient.NewRegistry(st, kr, nil)
	models := llm.NewRegistry()
	scripted := llm.NewScripted()
	if err := models.Add(scripted, scripted.Models()...); err != nil {
		t.Fatal(err)
	}
	return New(&Options{
		DB:             st,
		Providers:      providers,
		MCPServers:     mcpServers,
		Consents:       consents,
		Vault:          tokens,
		ConsentStarter: consents,
		Audit:          st,
		Agent:          agent.New(st, models, &agent.MCPTools{Registry: mcpServers}, tokens, consents, nil),
		Models:         models,
		RequireAdmin:   fakeRequireAdmin,
	})
}

func TestUnknownAPIRoute(t *testing.T) {
	h := allRoutesServer(t).Handler()
	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		{http.MethodGet, "/api/v1/nothing-here", http.StatusNotFound, ""},
		{http.MethodPut, "/api/v1/openapi.json", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPut, "/api/v1/admin/providers/x", http.StatusMethodNotAllowed, "DELETE, GET, HEAD, PATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d", rec.Code, tt.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("content type: got %q, want %q", ct, problem.ContentType)
			}
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow: got %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestHealthAndReady(t *testing.T) {
	h := allRoutesServer(t).Handler()
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: got status %d, want 200", path, rec.Code)
		}
		var body map[string]string
		if err := json.NewDecoder(rec.Body).Decode(&body); err != nil || body["status"] != "ok" {
			t.Errorf("GET %s: got body %v (%v), want status ok", path, body, err)
		}
		if rec.Header().Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no X-Request-Id header", path)
		}
	}
}

func TestMetricsServed(t *testing.T) {
	rec := httptest.NewRecorder()
	allRoutesServer(t).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: got status %d, want 200", rec.Code)
	}
}
