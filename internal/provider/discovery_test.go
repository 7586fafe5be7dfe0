package provider_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

// metadataJSON returns a discovery document for issuer whose endpoints sit
// under base.
func metadataJSON(issuer, base string) string {
	return fmt.Sprintf(`{
		"issuer": %q,
		"authorization_endpoint": %q,
		"token_endpoint": %q,
		"revocation_endpoint": %q,
		"userinfo_endpoint": %q,
		"jwks_uri": %q,
		"token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
		"code_challenge_methods_supported": ["S256"],
		"scopes_supported": ["openid", "email"],
		"response_types_supported": ["code"]
	}`, issuer, base+"/authorize", base+"/token", base+"/revoke", base+"/userinfo", base+"/jwks")
}

// newDocServer serves body at path with the given status and content type,
// and records the Accept header of the last request.
func newDocServer(t *testing.T, path string, status int, contentType string, body func(base string) string) (*httptest.Server, *string) {
	t.Helper()
	var accept string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		accept = r.Header.Get("Accept")
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		fmt.Fprint(w, body(srv.URL))
	}))
	t.Cleanup(srv.Close)
	return srv, &accept
}

func discoveryInput(id, discoveryURL string) provider.CreateInput {
	return provider.CreateInput{
		ID: id, DisplayName: "Discovered", Type: provider.TypeCustom,
		ClientID: "toolgate", ClientSecret: "discovered-secret", DiscoveryURL: discoveryURL,
	}
}

func TestDiscoveryOpenIDConfiguration(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		srv, accept := newDocServer(t, "/.well-known/openid-configuration", 200, "application/json; charset=utf-8",
			func(base string) string { return metadataJSON(base, base) })
		reg := newRegistry(t, st, nil)

		v := mustCreate(t, reg, discoveryInput("oidc", srv.URL+"/.well-known/openid-configuration"))
		if *accept != "application/json" {
			t.Errorf("Accept header: got %q, want application/json", *accept)
		}
		md := v.AuthorizationServerMetadata
		if md == nil {
			t.Fatal("view has no metadata")
		}
		if md.Issuer != srv.URL {
			t.Errorf("issuer: got %q, want %q", md.Issuer, srv.URL)
		}
		if md.TokenEndpoint != srv.URL+"/token" {
			t.Errorf("token endpoint: got %q, want %q", md.TokenEndpoint, srv.URL+"/token")
		}
		if v.DiscoveryURL != srv.URL+"/.well-known/openid-configuration" {
			t.Errorf("discovery url: got %q", v.DiscoveryURL)
		}
		if v.Endpoints.RevocationStyle != provider.RevocationRFC7009 {
			t.Errorf("revocation style: got %q, want rfc7009", v.Endpoints.RevocationStyle)
		}

		// The resolved metadata is stored, not fetched again.
		srv.Close()
		cfg, err := reg.Resolve(context.Background(), "oidc")
		if err != nil {
			t.Fatalf("resolve: %v", err)
		}
		if cfg.UserinfoEndpoint != md.UserinfoEndpoint {
			t.Errorf("userinfo endpoint: got %q, want %q", cfg.UserinfoEndpoint, md.UserinfoEndpoint)
		}
		if cfg.AuthMethod != provider.AuthClientSecretPost {
			t.Errorf("auth method: got %q, want client_secret_post, the only secret method listed", cfg.AuthMethod)
		}
	})
}

func TestDiscoveryIssuerForms(t *testing.T) {
	cases := []struct {
		name       string
		path       string // served document path
		issuerPath string // issuer path the document states
	}{
		{"openid configuration under a path", "/realms/acme/.well-known/openid-configuration", "/realms/acme"},
		{"oauth server at the root", "/.well-known/oauth-authorization-server", ""},
		{"oauth server path-inserted", "/.well-known/oauth-authorization-server/tenant-a", "/tenant-a"},
		{"root issuer with trailing slash", "/.well-known/openid-configuration", "/"},
		{"root issuer without trailing slash", "/.well-known/openid-configuration", ""},
		{"root issuer slash on oauth form", "/.well-known/oauth-authorization-server", "/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newDocServer(t, tc.path, 200, "application/json",
				func(base string) string { return metadataJSON(base+tc.issuerPath, base) })
			reg := newRegistry(t, storetest.NewSQLite(t), nil)

			v, err := reg.Create(context.Background(), discoveryInput("form", srv.URL+tc.path))
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if got, want := v.AuthorizationServerMetadata.Issuer, srv.URL+tc.issuerPath; got != want {
				t.Errorf("stored issuer: got %q, want the document's %q", got, want)
			}
		})
	}
}

func TestDiscoveryFailures(t *testing.T) {
	const wellKnown = "/.well-known/openid-configuration"
	cases := []struct {
		name        string
		status      int
		contentType string
		body        func(base string) string
		wantDetail  []string
	}{
		{"issuer mismatch", 200, "application/json",
			func(base string) string { return metadataJSON("https://other.example.com", base) },
			[]string{"issuer mismatch", `"https://other.example.com"`}},
		{"non-root issuer with extra slash", 200, "application/json",
			func(base string) string { return metadataJSON(base+"/x/", base) },
			[]string{"issuer mismatch"}},
		{"server error", 500, "application/json",
			func(string) string { return `{"error":"boom"}` },
			[]string{"HTTP 500"}},
		{"not found", 404, "text/plain",
			func(string) string { return "not found" },
			[]string{"HTTP 404"}},
		{"html body", 200, "text/html; charset=utf-8",
			func(string) string { return "<html><body>Sign in</body></html>" },
			[]string{`content type "text/html; charset=utf-8"`, "not JSON"}},
		{"json content type with html body", 200, "application/json",
			func(string) string { return "<html></html>" },
			[]string{"valid JSON"}},
		{"json array", 200, "application/json",
			func(string) string { return "[]" },
			[]string{"valid JSON"}},
		{"oversized body", 200, "application/json",
			func(base string) string {
				return `{"issuer":"` + base + `","padding":"` + strings.Repeat("x", 1<<20) + `"}`
			},
			[]string{"more than 1048576 bytes"}},
		{"insecure endpoint in document", 200, "application/json",
			func(base string) string {
				return strings.Replace(metadataJSON(base, base), base+"/token", "http://auth.example.com/token", 1)
			},
			[]string{"token_endpoint", "uses http"}},
		{"document without S256", 200, "application/json",
			func(base string) string {
				return strings.Replace(metadataJSON(base, base), `["S256"]`, `["plain"]`, 1)
			},
			[]string{"code_challenge_methods_supported"}},
	}

	forEachStore(t, func(t *testing.T, st *store.Store) {
		reg := newRegistry(t, st, nil)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				srv, _ := newDocServer(t, wellKnown, tc.status, tc.contentType, tc.body)

				_, err := reg.Create(context.Background(), discoveryInput("failing", srv.URL+wellKnown))
				ve := requireValidation(t, err, http.StatusUnprocessableEntity, "discovery_url")
				for _, want := range tc.wantDetail {
					if !strings.Contains(ve.Fields[0].Detail, want) {
						t.Errorf("detail %q does not contain %q", ve.Fields[0].Detail, want)
					}
				}
				if _, err := reg.Get(context.Background(), "failing"); !errors.Is(err, provider.ErrNotFound) {
					t.Errorf("after a failed discovery: got %v, want ErrNotFound", err)
				}
			})
		}
	})
}

func TestDiscoveryIssuerMismatchNamesBoth(t *testing.T) {
	srv, _ := newDocServer(t, "/.well-known/openid-configuration", 200, "application/json",
		func(base string) string { return metadataJSON("https://evil.example.com", base) })
	reg := newRegistry(t, storetest.NewSQLite(t), nil)

	_, err := reg.Create(context.Background(), discoveryInput("mismatch", srv.URL+"/.well-known/openid-configuration"))
	ve := requireValidation(t, err, http.StatusUnprocessableEntity, "discovery_url")
	for _, want := range []string{`"https://evil.example.com"`, fmt.Sprintf("%q", srv.URL)} {
		if !strings.Contains(ve.Fields[0].Detail, want) {
			t.Errorf("detail %q does not name %s", ve.Fields[0].Detail, want)
		}
	}
}

func TestDiscoveryTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	reg := newRegistry(t, storetest.NewSQLite(t), &provider.Options{DiscoveryTimeout: 200 * time.Millisecond})

	start := time.Now()
	_, err := reg.Create(context.Background(), discoveryInput("slow", srv.URL+"/.well-known/openid-configuration"))
	elapsed := time.Since(start)

	ve := requireValidation(t, err, http.StatusUnprocessableEntity, "discovery_url")
	if !strings.Contains(ve.Fields[0].Detail, "timed out after 200ms") {
		t.Errorf("detail %q does not say it timed out after 200ms", ve.Fields[0].Detail)
	}
	if elapsed > 5*time.Second {
		t.Errorf("create took %s; the timeout is 200ms", elapsed)
	}
}

func TestDiscoverySlowBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"issuer":`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	reg := newRegistry(t, storetest.NewSQLite(t), &provider.Options{DiscoveryTimeout: 200 * time.Millisecond})

	_, err := reg.Create(context.Background(), discoveryInput("slow", srv.URL+"/.well-known/openid-configuration"))
	ve := requireValidation(t, err, http.StatusUnprocessableEntity, "discovery_url")
	if !strings.Contains(ve.Fields[0].Detail, "timed out") {
		t.Errorf("detail %q does not say it timed out", ve.Fields[0].Detail)
	}
}

func TestDiscoveryUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/.well-known/openid-configuration"
	srv.Close()
	reg := newRegistry(t, storetest.NewSQLite(t), nil)

	_, err := reg.Create(context.Background(), discoveryInput("gone", url))
	ve := requireValidation(t, err, http.StatusUnprocessableEntity, "discovery_url")
	if !strings.Contains(ve.Fields[0].Detail, "could not fetch") {
		t.Errorf("detail %q does not say the fetch failed", ve.Fields[0].Detail)
	}
}

func TestDiscoveryRedirects(t *testing.T) {
	const wellKnown = "/.well-known/openid-configuration"
	target, _ := newDocServer(t, wellKnown, 200, "application/json",
		func(base string) string { return metadataJSON(base, base) })

	t.Run("to another host", func(t *testing.T) {
		srv := httptest.NewServer(http.RedirectHandler(target.URL+wellKnown, http.StatusFound))
		t.Cleanup(srv.Close)
		reg := newRegistry(t, storetest.NewSQLite(t), nil)

		_, err := reg.Create(context.Background(), discoveryInput("redirected", srv.URL+wellKnown))
		ve := requireValidation(t, err, http.StatusUnprocessableEntity, "discovery_url")
		if !strings.Contains(ve.Fields[0].Detail, "another host") {
			t.Errorf("detail %q does not mention the other host", ve.Fields[0].Detail)
		}
	})

	t.Run("on the same host", func(t *testing.T) {
		mux := http.NewServeMux()
		var srv *httptest.Server
		mux.Handle("/old"+wellKnown, http.RedirectHandler(wellKnown, http.StatusMovedPermanently))
		mux.HandleFunc(wellKnown, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, metadataJSON(srv.URL+"/old", srv.URL))
		})
		srv = httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		reg := newRegistry(t, storetest.NewSQLite(t), nil)

		if _, err := reg.Create(context.Background(), discoveryInput("moved", srv.URL+"/old"+wellKnown)); err != nil {
			t.Errorf("create: %v", err)
		}
	})
}

func TestUpdateDiscoveryURL(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		const wellKnown = "/.well-known/openid-configuration"
		good, _ := newDocServer(t, wellKnown, 200, "application/json",
			func(base string) string { return metadataJSON(base, base) })
		bad, _ := newDocServer(t, wellKnown, 200, "application/json",
			func(base string) string { return metadataJSON("https://elsewhere.example.com", base) })
		reg := newRegistry(t, st, nil)
		mustCreate(t, reg, customInput("custom"))

		before, err := st.GetProvider(ctx, "custom")
		if err != nil {
			t.Fatal(err)
		}
		_, err = reg.Update(ctx, "custom", provider.PatchInput{DiscoveryURL: ptr(bad.URL + wellKnown)})
		requireValidation(t, err, http.StatusUnprocessableEntity, "discovery_url")
		requireUnchanged(t, st, before)

		v, err := reg.Update(ctx, "custom", provider.PatchInput{DiscoveryURL: ptr(good.URL + wellKnown)})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if v.AuthorizationServerMetadata.Issuer != good.URL {
			t.Errorf("issuer: got %q, want %q", v.AuthorizationServerMetadata.Issuer, good.URL)
		}
		if v.DiscoveryURL != good.URL+wellKnown {
			t.Errorf("discovery url: got %q", v.DiscoveryURL)
		}
		after, err := st.GetProvider(ctx, "custom")
		if err != nil {
			t.Fatal(err)
		}
		if after.ClientSecret != before.ClientSecret {
			t.Error("sealed client secret changed on a discovery update")
		}

		// Switching back to explicit metadata clears the discovery URL.
		v, err = reg.Update(ctx, "custom", provider.PatchInput{AuthorizationServerMetadata: customInput("x").AuthorizationServerMetadata})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if v.DiscoveryURL != "" {
			t.Errorf("discovery url: got %q, want it cleared", v.DiscoveryURL)
		}
		if v.AuthorizationServerMetadata.Issuer != "https://issuer.example.com" {
			t.Errorf("issuer: got %q, want the explicit one", v.AuthorizationServerMetadata.Issuer)
		}
	})
}
