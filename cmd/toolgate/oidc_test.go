package main

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/toolgate/toolgate/internal/testpeers"
)

// freeLoopbackPort returns a port that was free a moment ago, for a server
// whose address must be known before it starts (here: to register its
// redirect URI at the OpenID provider).
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServeOIDCSignIn signs in through --auth=oidc against oidc-provider,
// an independent certified OpenID provider, and checks that roles come from
// the ID token's claim and gate the admin routes; bearer JWTs from the same
// provider are accepted and forged ones rejected.
func TestServeOIDCSignIn(t *testing.T) {
	testpeers.EnsureInstalled(t)
	port := freeLoopbackPort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	idp := testpeers.StartIDP(t, testpeers.IDPConfig{
		Clients: []testpeers.Client{{
			ID: "toolgate", Secret: "toolgate-signin-secret", AuthMethod: "client_secret_basic",
			RedirectURIs: []string{base + "/auth/callback"},
		}},
		Users: []testpeers.User{
			{ID: "alice", Password: "alice-pw", Name: "Alice", Email: "alice@example.test", Roles: []string{"toolgate-admin"}},
			{ID: "bob", Password: "bob-pw", Name: "Bob", Email: "bob@example.test", Roles: []string{"staff"}},
		},
	})

	t.Setenv("TOOLGATE_OIDC_CLIENT_SECRET", "toolgate-signin-secret")
	s := startServeOn(t, "127.0.0.1:"+strconv.Itoa(port),
		"--database", filepath.Join(t.TempDir(), "toolgate.db"), "--auth", "oidc",
		"--oidc-issuer", idp.Issuer, "--oidc-client-id", "toolgate")

	signIn := func(user, password string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(s.URL + "/auth/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		authorize, err := resp.Location()
		if err != nil {
			t.Fatalf("GET /auth/login: got status %d without a redirect to the provider", resp.StatusCode)
		}
		callback := idp.Login(t, c, authorize.String(), user, password, true)
		resp, err = c.Get(callback.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
			t.Fatalf("sign-in callback for %s: got status %d, want a redirect into the app", user, resp.StatusCode)
		}
		return c
	}

	alice := signIn("alice", "alice-pw")
	if status, body := do(t, alice, s, http.MethodGet, "/api/v1/admin/providers", ""); status != http.StatusOK {
		t.Errorf("admin (role from the ID token) GET providers: got %d %s, want 200", status, body)
	}
	bob := signIn("bob", "bob-pw")
	if status, _ := do(t, bob, s, http.MethodGet, "/api/v1/admin/providers", ""); status != http.StatusForbidden {
		t.Errorf("non-admin GET providers: got %d, want 403", status)
	}

	// Logout ends the session on the server: the old cookie stops working.
	if status, _ := do(t, bob, s, http.MethodPost, "/auth/logout", ""); status >= 400 {
		t.Errorf("logout: got %d", status)
	}
	if status, _ := do(t, bob, s, http.MethodGet, "/api/v1/admin/providers", ""); status != http.StatusUnauthorized {
		t.Errorf("GET after logout: got %d, want 401", status)
	}

	// A JWT from the same provider (here alice's ID token, whose audience is
	// the client id) is accepted as a bearer; the same token with a changed
	// signature is not.
	idToken := fetchIDToken(t, idp, base, "alice", "alice-pw")
	bearer := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/admin/providers", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := bearer(idToken); status != http.StatusOK {
		t.Errorf("bearer JWT from the provider: got %d, want 200", status)
	}
	parts := strings.Split(idToken, ".")
	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 1
	forged := parts[0] + "." + parts[1] + "." + string(sig)
	if status := bearer(forged); status != http.StatusUnauthorized {
		t.Errorf("forged bearer JWT: got %d, want 401", status)
	}
}

// fetchIDToken runs an authorization code flow for the toolgate client
// directly, as a test harness, and returns the ID token.
func fetchIDToken(t *testing.T, idp *testpeers.IDP, base, user, password string) string {
	t.Helper()
	cfg := &oauth2.Config{
		ClientID: "toolgate", ClientSecret: "toolgate-signin-secret",
		Endpoint:    oauth2.Endpoint{AuthURL: idp.AuthorizationEndpoint, TokenURL: idp.TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL: base + "/auth/callback", Scopes: []string{"openid", "profile", "email"},
	}
	verifier := oauth2.GenerateVerifier()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	callback := idp.Login(t, c, cfg.AuthCodeURL("state-for-test", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("nonce", "n-for-test")), user, password, true)
	tok, err := cfg.Exchange(context.Background(), callback.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange code for an ID token: %v", err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("token response has no id_token")
	}
	return idToken
}
