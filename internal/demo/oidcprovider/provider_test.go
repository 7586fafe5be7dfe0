package oidcprovider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/toolgate/toolgate/internal/demo/calendar"
	"github.com/toolgate/toolgate/internal/demo/oidcprovider"
	"github.com/toolgate/toolgate/internal/demo/oidcprovider/oidcprovidertest"
)

// The fixture's accounts. The redirect URI is never opened: the tests
// read the code from the URL the provider redirects to.
const (
	appID          = "toolgate"
	appSecret      = "app-secret-with-:-and-%-chars"
	otherAppID     = "other-app"
	otherAppSecret = "other-app-secret"
	resourceID     = "calendar-mcp"
	resourceSecret = "calendar-secret"
	redirectURI    = "http://127.0.0.1:9/oauth/callback"
)

// clock is a settable clock for the provider's storage.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a provider on a loopback port with a client for the test.
type fixture struct {
	issuer   string
	clock    *clock
	provider *gooidc.Provider
	config   *oauth2.Config
	// Endpoints from the discovery document.
	introspection string
	revocation    string
}

func start(t *testing.T) *fixture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	clk := &clock{now: time.Now()}
	p, err := oidcprovider.New(issuer, &oidcprovider.Options{
		Users: []oidcprovider.User{
			{ID: "alice", Password: "alice-pw", Name: "Alice Example", Email: "alice@example.test"},
			{ID: "bob", Password: "bob-pw", Name: "Bob Example", Email: "bob@example.test"},
		},
		Clients: []oidcprovider.Client{
			{ID: appID, Secret: appSecret, Name: "Toolgate", RedirectURIs: []string{redirectURI}, Scopes: []string{"calendar"}},
			{ID: otherAppID, Secret: otherAppSecret, RedirectURIs: []string{redirectURI}},
		},
		ResourceServers:       []oidcprovider.ResourceServer{{ID: resourceID, Secret: resourceSecret, Scopes: []string{"calendar"}}},
		Scopes:                []oidcprovider.Scope{{Name: "calendar", Description: "Read and change your calendar"}},
		InsecureShowPasswords: true,
		Now:                   clk.Now,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	discovered, err := gooidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("discover %s: %v", issuer, err)
	}
	var endpoints struct {
		Introspection string `json:"introspection_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
	}
	if err := discovered.Claims(&endpoints); err != nil {
		t.Fatal(err)
	}
	endpoint := discovered.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	return &fixture{
		issuer: issuer, clock: clk, provider: discovered,
		config: &oauth2.Config{
			ClientID: appID, ClientSecret: appSecret, Endpoint: endpoint, RedirectURL: redirectURI,
			Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "calendar", gooidc.ScopeOfflineAccess},
		},
		introspection: endpoints.Introspection,
		revocation:    endpoints.Revocation,
	}
}

// browser returns a client with its own cookie jar, as a browser has.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// authorization is one authorization request's secrets.
type authorization struct {
	url, state, nonce, verifier string
}

func (f *fixture) newAuthorization() authorization {
	a := authorization{state: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier()}
	a.url = f.config.AuthCodeURL(a.state, oauth2.S256ChallengeOption(a.verifier), gooidc.Nonce(a.nonce))
	return a
}

// code signs in as user, approves, and returns the authorization code.
func (f *fixture) code(t *testing.T, a authorization, user, password string) string {
	t.Helper()
	callback := oidcprovidertest.Login(t, browser(t), a.url, user, password, true)
	if got := callback.Scheme + "://" + callback.Host + callback.Path; got != redirectURI {
		t.Fatalf("redirect after consent: got %s, want %s", got, redirectURI)
	}
	q := callback.Query()
	if q.Get("state") != a.state {
		t.Fatalf("redirect state: got %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("code") == "" {
		t.Fatalf("redirect after consent has no code: %s", callback)
	}
	return q.Get("code")
}

// tokens runs a whole authorization as user and returns the tokens.
func (f *fixture) tokens(t *testing.T, user, password string) *oauth2.Token {
	t.Helper()
	a := f.newAuthorization()
	tok, err := f.config.Exchange(context.Background(), f.code(t, a, user, password), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("exchange code: %v", err)
	}
	return tok
}

// post sends a form to endpoint with client_secret_basic and returns the
// status and the decoded JSON body.
func post(t *testing.T, endpoint, clientID, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" {
		// RFC 6749 section 2.3.1 form-encodes both parts first.
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(body) > 0 && json.Unmarshal(body, &out) != nil {
		out = map[string]any{"raw": string(body)}
	}
	return resp.StatusCode, out
}

// introspect returns the introspection response for token, asked by the
// resource server.
func (f *fixture) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	status, body := post(t, f.introspection, resourceID, resourceSecret, url.Values{"token": {token}})
	if status != http.StatusOK {
		t.Fatalf("introspect: got status %d %v, want 200", status, body)
	}
	return body
}

func (f *fixture) refresh(t *testing.T, refreshToken string) (int, map[string]any) {
	t.Helper()
	return post(t, f.config.Endpoint.TokenURL, appID, appSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

func TestDiscoveryDocument(t *testing.T) {
	f := start(t)
	var doc struct {
		CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
		TokenAuthMethods     []string `json:"token_endpoint_auth_methods_supported"`
		ResponseTypes        []string `json:"response_types_supported"`
		GrantTypes           []string `json:"grant_types_supported"`
		Scopes               []string `json:"scopes_supported"`
		JWKS                 string   `json:"jwks_uri"`
		DeviceAuthorization  string   `json:"device_authorization_endpoint"`
	}
	if err := f.provider.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.CodeChallengeMethods, []string{"S256"}) {
		t.Errorf("code_challenge_methods_supported: got %q, want [S256]", doc.CodeChallengeMethods)
	}
	if !slices.Equal(doc.TokenAuthMethods, []string{"client_secret_basic", "client_secret_post"}) {
		t.Errorf("token_endpoint_auth_methods_supported: got %q, want [client_secret_basic client_secret_post]", doc.TokenAuthMethods)
	}
	if !slices.Equal(doc.ResponseTypes, []string{"code"}) {
		t.Errorf("response_types_supported: got %q, want [code]", doc.ResponseTypes)
	}
	if !slices.Equal(doc.GrantTypes, []string{"authorization_code", "refresh_token"}) {
		t.Errorf("grant_types_supported: got %q, want [authorization_code refresh_token]", doc.GrantTypes)
	}
	if doc.DeviceAuthorization != "" {
		t.Errorf("device_authorization_endpoint: got %q, want none", doc.DeviceAuthorization)
	}
	if !slices.Contains(doc.Scopes, "calendar") || !slices.Contains(doc.Scopes, "offline_access") {
		t.Errorf("scopes_supported: got %q, want calendar and offline_access among them", doc.Scopes)
	}
	if f.introspection == "" || f.revocation == "" || doc.JWKS == "" {
		t.Errorf("discovery: introspection %q, revocation %q, jwks_uri %q: want all three", f.introspection, f.revocation, doc.JWKS)
	}

	// RFC 8414 metadata is the same document.
	resp, err := http.Get(f.issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var metadata struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&metadata); err != nil {
		t.Fatalf("decode authorization server metadata: %v", err)
	}
	if metadata.Issuer != f.issuer || metadata.TokenEndpoint != f.config.Endpoint.TokenURL {
		t.Errorf("authorization server metadata: got issuer %q, token endpoint %q; want %q, %q",
			metadata.Issuer, metadata.TokenEndpoint, f.issuer, f.config.Endpoint.TokenURL)
	}
}

func TestClientSecretPost(t *testing.T) {
	f := start(t)
	a := f.newAuthorization()
	config := *f.config
	config.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	tok, err := config.Exchange(context.Background(), f.code(t, a, "alice", "alice-pw"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("exchange with client_secret_post: %v", err)
	}
	if got := f.introspect(t, tok.AccessToken); got["sub"] != "alice" {
		t.Errorf("introspection: got %v, want sub alice", got)
	}
}

func TestAuthorizationCodeFlow(t *testing.T) {
	f := start(t)
	a := f.newAuthorization()
	tok, err := f.config.Exchange(context.Background(), f.code(t, a, "bob", "bob-pw"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("exchange code: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("token response: access token set %t, refresh token set %t; want both", tok.AccessToken != "", tok.RefreshToken != "")
	}
	if !tok.Expiry.After(time.Now()) {
		t.Errorf("token expiry: got %v, want a time in the future", tok.Expiry)
	}

	// The ID token verifies against the JWKS from discovery.
	rawIDToken, _ := tok.Extra("id_token").(string)
	idToken, err := f.provider.Verifier(&gooidc.Config{ClientID: appID}).Verify(context.Background(), rawIDToken)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idToken.Subject != "bob" {
		t.Errorf("ID token sub: got %q, want bob", idToken.Subject)
	}
	if idToken.Nonce != a.nonce {
		t.Errorf("ID token nonce: got %q, want %q", idToken.Nonce, a.nonce)
	}
	if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("ID token at_hash: %v", err)
	}
	var claims struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := idToken.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Name != "Bob Example" || claims.Email != "bob@example.test" {
		t.Errorf("ID token claims: got name %q email %q, want Bob Example, bob@example.test", claims.Name, claims.Email)
	}

	info, err := f.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if info.Subject != "bob" || info.Email != "bob@example.test" {
		t.Errorf("userinfo: got sub %q email %q, want bob, bob@example.test", info.Subject, info.Email)
	}
}

func TestIntrospection(t *testing.T) {
	f := start(t)
	tok := f.tokens(t, "bob", "bob-pw")

	got := f.introspect(t, tok.AccessToken)
	if got["active"] != true {
		t.Fatalf("introspection by the resource server: got %v, want active", got)
	}
	if got["sub"] != "bob" {
		t.Errorf("introspection sub: got %v, want bob", got["sub"])
	}
	if got["client_id"] != appID {
		t.Errorf("introspection client_id: got %v, want %s", got["client_id"], appID)
	}
	if scope, _ := got["scope"].(string); !slices.Contains(strings.Fields(scope), "calendar") {
		t.Errorf("introspection scope: got %q, want calendar among them", scope)
	}
	if aud, _ := got["aud"].([]any); !slices.Contains(aud, any(resourceID)) {
		t.Errorf("introspection aud: got %v, want %s among them", got["aud"], resourceID)
	}

	// The calendar server's verifier accepts the token and finds the user.
	verify := calendar.IntrospectionVerifier(f.introspection, resourceID, resourceSecret, resourceID, nil)
	info, err := verify(context.Background(), tok.AccessToken, nil)
	if err != nil {
		t.Fatalf("calendar verifier: %v", err)
	}
	if info.UserID != "bob" {
		t.Errorf("calendar verifier user: got %q, want bob", info.UserID)
	}

	// A client that is neither the token's client nor in its audience
	// learns nothing.
	status, other := post(t, f.introspection, otherAppID, otherAppSecret, url.Values{"token": {tok.AccessToken}})
	if status != http.StatusOK || other["active"] != false {
		t.Errorf("introspection by another client: got %d %v, want 200 with active false", status, other)
	}
	status, _ = post(t, f.introspection, resourceID, "wrong-secret", url.Values{"token": {tok.AccessToken}})
	if status != http.StatusUnauthorized {
		t.Errorf("introspection with a wrong secret: got %d, want 401", status)
	}
	if got := f.introspect(t, tok.RefreshToken); got["active"] != false {
		t.Errorf("introspection of a refresh token: got %v, want active false", got)
	}

	f.clock.Advance(oidcprovider.DefaultAccessTokenTTL + time.Second)
	if got := f.introspect(t, tok.AccessToken); got["active"] != false {
		t.Errorf("introspection after expiry: got %v, want active false", got)
	}
}

func TestCodeExchangeRequiresVerifier(t *testing.T) {
	f := start(t)
	a := f.newAuthorization()
	code := f.code(t, a, "bob", "bob-pw")

	_, err := f.config.Exchange(context.Background(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("exchange with a wrong verifier: got %v, want invalid_grant", err)
	}
	// The failed attempt consumed the code.
	if _, err := f.config.Exchange(context.Background(), code, oauth2.VerifierOption(a.verifier)); err == nil {
		t.Errorf("exchange with the right verifier after a failed attempt: got tokens, want an error")
	}

	b := f.newAuthorization()
	if _, err := f.config.Exchange(context.Background(), f.code(t, b, "bob", "bob-pw")); err == nil {
		t.Errorf("exchange without a verifier: got tokens, want an error")
	}
}

func TestCodeReplayRevokesGrant(t *testing.T) {
	f := start(t)
	a := f.newAuthorization()
	code := f.code(t, a, "bob", "bob-pw")
	tok, err := f.config.Exchange(context.Background(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("first exchange: %v", err)
	}

	if _, err := f.config.Exchange(context.Background(), code, oauth2.VerifierOption(a.verifier)); err == nil {
		t.Fatalf("second exchange of one code: got tokens, want an error")
	}
	if got := f.introspect(t, tok.AccessToken); got["active"] != false {
		t.Errorf("access token after the code was replayed: got %v, want active false", got)
	}
	if status, body := f.refresh(t, tok.RefreshToken); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("refresh after the code was replayed: got %d %v, want 400 invalid_grant", status, body)
	}
}

func TestCodeExpires(t *testing.T) {
	f := start(t)
	a := f.newAuthorization()
	code := f.code(t, a, "bob", "bob-pw")
	f.clock.Advance(3 * time.Minute)
	if _, err := f.config.Exchange(context.Background(), code, oauth2.VerifierOption(a.verifier)); err == nil {
		t.Errorf("exchange of a code 3 minutes old: got tokens, want an error")
	}
}

func TestAuthorizationRequiresS256(t *testing.T) {
	f := start(t)
	verifier := oauth2.GenerateVerifier()
	tests := []struct {
		name   string
		params []oauth2.AuthCodeOption
	}{
		{"no challenge", nil},
		{"plain method", []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("code_challenge", verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain"),
		}},
		{"no method", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := oidcprovidertest.Get(t, browser(t), f.config.AuthCodeURL("s1", tt.params...))
			if page.Location == nil {
				t.Fatalf("authorize: got status %d without a redirect, want a redirect with an error\n%s", page.Status, page.Body)
			}
			q := page.Location.Query()
			if q.Get("error") != "invalid_request" || q.Get("state") != "s1" {
				t.Errorf("authorize redirect: got %s, want error=invalid_request and state=s1", page.Location)
			}
		})
	}
}

func TestPromptNoneNeedsLogin(t *testing.T) {
	f := start(t)
	a := f.newAuthorization()
	page := oidcprovidertest.Get(t, browser(t), a.url+"&prompt=none")
	if page.Location == nil || page.Location.Query().Get("error") != "login_required" {
		t.Errorf("authorize with prompt=none: got status %d, location %v; want a redirect with error=login_required", page.Status, page.Location)
	}
}

func TestDenyReturnsAccessDenied(t *testing.T) {
	f := start(t)
	a := f.newAuthorization()
	callback := oidcprovidertest.Login(t, browser(t), a.url, "bob", "bob-pw", false)
	q := callback.Query()
	if q.Get("error") != "access_denied" {
		t.Errorf("redirect after deny: got error %q, want access_denied (%s)", q.Get("error"), callback)
	}
	if q.Get("state") != a.state {
		t.Errorf("redirect after deny: got state %q, want %q", q.Get("state"), a.state)
	}
	if q.Has("code") {
		t.Errorf("redirect after deny carries a code: %s", callback)
	}
}

func TestLoginPage(t *testing.T) {
	f := start(t)
	a := f.newAuthorization()
	c := browser(t)
	page := oidcprovidertest.Open(t, c, a.url)
	for _, want := range []string{"Demo credentials", "alice", "bob-pw", "Toolgate"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("login page does not show %q", want)
		}
	}

	form := page.Form(t, "login")
	form.Fields.Set("username", "bob")
	form.Fields.Set("password", "alice-pw")
	wrong := oidcprovidertest.Submit(t, c, form, "", "")
	if wrong.Status != http.StatusUnauthorized {
		t.Errorf("wrong password: got status %d, want 401", wrong.Status)
	}
	if !strings.Contains(wrong.Body, "Wrong username or password") {
		t.Errorf("wrong password: the page shows no error:\n%s", wrong.Body)
	}
	retry := wrong.Form(t, "login")
	if retry.Fields.Get("username") != "bob" {
		t.Errorf("form after a wrong password: got username %q, want bob kept", retry.Fields.Get("username"))
	}

	// Another browser cannot continue this sign-in.
	other := oidcprovidertest.Submit(t, browser(t), form, "", "")
	if other.Status != http.StatusForbidden {
		t.Errorf("form posted from another browser: got status %d, want 403", other.Status)
	}

	retry.Fields.Set("password", "bob-pw")
	if ok := oidcprovidertest.Submit(t, c, retry, "", ""); ok.Location == nil || ok.Location.Path != "/consent" {
		t.Errorf("right password: got status %d, location %v; want a redirect to /consent", ok.Status, ok.Location)
	}
}

func TestLoginAttemptsAreLimited(t *testing.T) {
	f := start(t)
	c := browser(t)
	form := oidcprovidertest.Open(t, c, f.newAuthorization().url).Form(t, "login")
	form.Fields.Set("username", "bob")
	form.Fields.Set("password", "guess")
	var last *oidcprovidertest.Page
	for range 5 {
		last = oidcprovidertest.Submit(t, c, form, "", "")
	}
	if last.Status != http.StatusTooManyRequests {
		t.Errorf("fifth wrong password: got status %d, want 429", last.Status)
	}
	form.Fields.Set("password", "bob-pw")
	if after := oidcprovidertest.Submit(t, c, form, "", ""); after.Status != http.StatusBadRequest {
		t.Errorf("right password after the limit: got status %d, want 400 (the request is gone)", after.Status)
	}
}

func TestRefreshRotation(t *testing.T) {
	f := start(t)
	tok := f.tokens(t, "bob", "bob-pw")

	status, first := f.refresh(t, tok.RefreshToken)
	if status != http.StatusOK {
		t.Fatalf("refresh: got %d %v, want 200", status, first)
	}
	rotated, _ := first["refresh_token"].(string)
	if rotated == "" || rotated == tok.RefreshToken {
		t.Fatalf("refresh: got refresh token %q, want a new one", rotated)
	}
	newAccess, _ := first["access_token"].(string)
	if got := f.introspect(t, newAccess); got["active"] != true || got["sub"] != "bob" {
		t.Errorf("access token from the refresh: got %v, want active for bob", got)
	}

	// The old refresh token is spent. Presenting it again revokes the
	// grant, so the rotated token and its access token stop working too.
	if status, body := f.refresh(t, tok.RefreshToken); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("reuse of the old refresh token: got %d %v, want 400 invalid_grant", status, body)
	}
	if status, body := f.refresh(t, rotated); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("rotated refresh token after reuse: got %d %v, want 400 invalid_grant", status, body)
	}
	if got := f.introspect(t, newAccess); got["active"] != false {
		t.Errorf("access token after reuse: got %v, want active false", got)
	}
}

func TestRefreshOnlyOnceConcurrently(t *testing.T) {
	f := start(t)
	tok := f.tokens(t, "bob", "bob-pw")

	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i], _ = f.refresh(t, tok.RefreshToken) })
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == http.StatusOK {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent refreshes with one token: got %d successes (%v), want exactly 1", n, ok, statuses)
	}
}

func TestRefreshNarrowsScopes(t *testing.T) {
	f := start(t)
	tok := f.tokens(t, "bob", "bob-pw")
	status, body := post(t, f.config.Endpoint.TokenURL, appID, appSecret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "scope": {"openid"}})
	if status != http.StatusOK {
		t.Fatalf("refresh with a narrower scope: got %d %v, want 200", status, body)
	}
	access, _ := body["access_token"].(string)
	got := f.introspect(t, access)
	if got["active"] != false {
		t.Errorf("openid-only token introspected by the calendar server: got %v, want active false (not in its audience)", got)
	}
	rotated, _ := body["refresh_token"].(string)
	if status, body := f.refresh(t, rotated); status != http.StatusOK || !strings.Contains(body["scope"].(string), "calendar") {
		t.Errorf("next refresh: got %d %v, want 200 with the grant's full scope", status, body)
	}
}

func TestRevocation(t *testing.T) {
	f := start(t)

	t.Run("refresh token revokes the grant", func(t *testing.T) {
		tok := f.tokens(t, "bob", "bob-pw")
		status, body := post(t, f.revocation, appID, appSecret, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}})
		if status != http.StatusOK {
			t.Fatalf("revoke refresh token: got %d %v, want 200", status, body)
		}
		if got := f.introspect(t, tok.AccessToken); got["active"] != false {
			t.Errorf("access token after revoking the refresh token: got %v, want active false", got)
		}
		if status, body := f.refresh(t, tok.RefreshToken); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("refresh with a revoked token: got %d %v, want 400 invalid_grant", status, body)
		}
	})

	t.Run("access token alone", func(t *testing.T) {
		tok := f.tokens(t, "bob", "bob-pw")
		status, body := post(t, f.revocation, appID, appSecret, url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}})
		if status != http.StatusOK {
			t.Fatalf("revoke access token: got %d %v, want 200", status, body)
		}
		if got := f.introspect(t, tok.AccessToken); got["active"] != false {
			t.Errorf("revoked access token: got %v, want active false", got)
		}
		if status, body := f.refresh(t, tok.RefreshToken); status != http.StatusOK {
			t.Errorf("refresh after revoking only the access token: got %d %v, want 200", status, body)
		}
	})

	t.Run("another client's token", func(t *testing.T) {
		tok := f.tokens(t, "bob", "bob-pw")
		status, body := post(t, f.revocation, otherAppID, otherAppSecret, url.Values{"token": {tok.RefreshToken}})
		if status != http.StatusBadRequest || body["error"] != "unauthorized_client" {
			t.Errorf("revoke by another client: got %d %v, want 400 unauthorized_client", status, body)
		}
		if status, _ := f.refresh(t, tok.RefreshToken); status != http.StatusOK {
			t.Errorf("refresh after another client's revocation attempt: got %d, want 200", status)
		}
	})

	t.Run("unknown token", func(t *testing.T) {
		if status, body := post(t, f.revocation, appID, appSecret, url.Values{"token": {"no-such-token"}}); status != http.StatusOK {
			t.Errorf("revoke an unknown token: got %d %v, want 200 (RFC 7009 section 2.2)", status, body)
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name   string
		issuer string
		opts   *oidcprovider.Options
	}{
		{"http on another host", "http://example.test", nil},
		{"issuer with path", "http://127.0.0.1:1/idp", nil},
		{"user id with colon", "http://127.0.0.1:1", &oidcprovider.Options{Users: []oidcprovider.User{{ID: "a:b", Password: "x"}}}},
		{"client without redirect", "http://127.0.0.1:1", &oidcprovider.Options{Clients: []oidcprovider.Client{{ID: "c", Secret: "s"}}}},
		{"shared id", "http://127.0.0.1:1", &oidcprovider.Options{
			Clients:         []oidcprovider.Client{{ID: "c", Secret: "s", RedirectURIs: []string{redirectURI}}},
			ResourceServers: []oidcprovider.ResourceServer{{ID: "c", Secret: "s", Scopes: []string{"x"}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := oidcprovider.New(tt.issuer, tt.opts); err == nil {
				t.Errorf("New(%q): got no error, want one", tt.issuer)
			}
		})
	}
}
