package testpeers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"github.com/toolgate/toolgate/internal/testpeers"
)

// The redirect URI is never requested: Login returns the redirect instead.
const redirectURI = "http://127.0.0.1:9/callback"

var (
	appClient = testpeers.Client{ID: "toolgate", Secret: "toolgate-secret", RedirectURIs: []string{redirectURI}}
	rsClient  = testpeers.Client{ID: "calendar-rs", Secret: "calendar-rs-secret"}
	alice     = testpeers.User{ID: "alice", Password: "alice-pw", Name: "Alice Example", Email: "alice@example.test", Roles: []string{"admin", "dev"}}
	bob       = testpeers.User{ID: "bob", Password: "bob-pw", Roles: []string{"viewer"}}
)

func startIDP(t *testing.T, accessTokenTTL time.Duration) *testpeers.IDP {
	t.Helper()
	return testpeers.StartIDP(t, testpeers.IDPConfig{
		Clients:        []testpeers.Client{appClient, rsClient},
		Users:          []testpeers.User{alice, bob},
		AccessTokenTTL: accessTokenTTL,
	})
}

func oauthConfig(idp *testpeers.IDP, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     appClient.ID,
		ClientSecret: appClient.Secret,
		RedirectURL:  redirectURI,
		Scopes:       scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   idp.AuthorizationEndpoint,
			TokenURL:  idp.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
}

func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("cookiejar.New: %v", err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// signIn runs the authorization code flow with PKCE S256 for user and returns
// the token response. A non-empty resource is sent as the RFC 8707 resource
// indicator in both the authorization and the token request.
func signIn(t *testing.T, idp *testpeers.IDP, user testpeers.User, resource string, scopes ...string) *oauth2.Token {
	t.Helper()

	conf := oauthConfig(idp, scopes...)
	verifier := oauth2.GenerateVerifier()
	state := "state-" + user.ID
	authOptions := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	exchangeOptions := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	if resource != "" {
		authOptions = append(authOptions, oauth2.SetAuthURLParam("resource", resource))
		exchangeOptions = append(exchangeOptions, oauth2.SetAuthURLParam("resource", resource))
	}

	redirect := idp.Login(t, newBrowser(t), conf.AuthCodeURL(state, authOptions...), user.ID, user.Password, true)
	query := redirect.Query()
	if got := query.Get("error"); got != "" {
		t.Fatalf("authorization failed: error=%s error_description=%s", got, query.Get("error_description"))
	}
	if got := query.Get("state"); got != state {
		t.Fatalf("redirect state = %q, want %q", got, state)
	}

	token, err := conf.Exchange(context.Background(), query.Get("code"), exchangeOptions...)
	if err != nil {
		t.Fatalf("exchange code: %v", err)
	}
	return token
}

func refresh(idp *testpeers.IDP, refreshToken string) (*oauth2.Token, error) {
	source := oauthConfig(idp).TokenSource(context.Background(), &oauth2.Token{RefreshToken: refreshToken})
	return source.Token()
}

func wantInvalidGrant(t *testing.T, err error) {
	t.Helper()
	var retrieveErr *oauth2.RetrieveError
	if !errors.As(err, &retrieveErr) {
		t.Fatalf("refresh error = %v, want an OAuth error response with invalid_grant", err)
	}
	if retrieveErr.ErrorCode != "invalid_grant" {
		t.Fatalf("refresh error code = %q (%s), want invalid_grant", retrieveErr.ErrorCode, retrieveErr.ErrorDescription)
	}
}

// idTokenClaims decodes the ID token's payload without checking its
// signature, which is enough to see what the IdP put in it.
func idTokenClaims(t *testing.T, token *oauth2.Token) map[string]any {
	t.Helper()
	raw, ok := token.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatalf("token response has no id_token")
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token has %d parts, want 3", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode id_token payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("unmarshal id_token payload: %v", err)
	}
	return claims
}

func TestIDPAuthorizationCode(t *testing.T) {
	t.Parallel()
	idp := startIDP(t, 0)

	token := signIn(t, idp, alice, "", "openid", "email", "profile")

	if token.AccessToken == "" {
		t.Errorf("access_token is empty")
	}
	if token.RefreshToken == "" {
		t.Errorf("refresh_token is empty, want one without offline_access")
	}
	if got := token.Type(); got != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", got)
	}

	claims := idTokenClaims(t, token)
	want := map[string]any{
		"iss":   idp.Issuer,
		"aud":   appClient.ID,
		"sub":   alice.ID,
		"email": alice.Email,
		"name":  alice.Name,
	}
	for name, value := range want {
		if claims[name] != value {
			t.Errorf("id_token %s = %v, want %v", name, claims[name], value)
		}
	}
	roles, _ := claims["roles"].([]any)
	if got := fmtList(roles); got != "admin,dev" {
		t.Errorf("id_token roles = %q, want admin,dev", got)
	}

	if !idp.Introspect(t, rsClient.ID, rsClient.Secret, token.AccessToken) {
		t.Errorf("introspection reports the new access token inactive")
	}
}

func TestIDPRequiresPKCE(t *testing.T) {
	t.Parallel()
	idp := startIDP(t, 0)

	authorizeURL := oauthConfig(idp, "openid").AuthCodeURL("no-pkce")
	redirect := idp.Login(t, newBrowser(t), authorizeURL, alice.ID, alice.Password, true)

	if got := redirect.Query().Get("error"); got != "invalid_request" {
		t.Fatalf("redirect error = %q (%s), want invalid_request", got, redirect.Query().Get("error_description"))
	}
}

func TestIDPConsentDenied(t *testing.T) {
	t.Parallel()
	idp := startIDP(t, 0)

	conf := oauthConfig(idp, "openid", "email")
	verifier := oauth2.GenerateVerifier()
	authorizeURL := conf.AuthCodeURL("deny-state", oauth2.S256ChallengeOption(verifier))
	redirect := idp.Login(t, newBrowser(t), authorizeURL, alice.ID, alice.Password, false)

	query := redirect.Query()
	if got := query.Get("error"); got != "access_denied" {
		t.Errorf("redirect error = %q, want access_denied", got)
	}
	if got := query.Get("state"); got != "deny-state" {
		t.Errorf("redirect state = %q, want deny-state", got)
	}
	if query.Has("code") {
		t.Errorf("redirect carries a code after consent was denied")
	}
	if got := redirect.Scheme + "://" + redirect.Host + redirect.Path; got != redirectURI {
		t.Errorf("redirect goes to %q, want %q", got, redirectURI)
	}
}

func TestIDPRefreshRotates(t *testing.T) {
	t.Parallel()
	idp := startIDP(t, 0)
	first := signIn(t, idp, alice, "", "openid")

	second, err := refresh(idp, first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh with the first refresh token: %v", err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh returned refresh token %q, want a new one", second.RefreshToken)
	}
	if second.AccessToken == first.AccessToken {
		t.Errorf("refresh returned the same access token")
	}

	_, err = refresh(idp, first.RefreshToken)
	wantInvalidGrant(t, err)

	// oidc-provider treats reuse of a rotated refresh token as replay and
	// revokes the whole grant, so the newest refresh token is dead as well.
	_, err = refresh(idp, second.RefreshToken)
	wantInvalidGrant(t, err)
	if idp.Introspect(t, rsClient.ID, rsClient.Secret, second.AccessToken) {
		t.Errorf("access token is still active after refresh token replay")
	}
}

func TestIDPRevocation(t *testing.T) {
	t.Parallel()
	idp := startIDP(t, 0)
	token := signIn(t, idp, alice, "", "openid")

	if !idp.Introspect(t, rsClient.ID, rsClient.Secret, token.RefreshToken) {
		t.Fatalf("introspection reports the refresh token inactive before revocation")
	}

	// RFC 7009 section 2.1: only the client the token was issued to may
	// revoke it.
	status, body := revokeToken(t, idp, rsClient, token.RefreshToken)
	if status != http.StatusBadRequest || !strings.Contains(body, "unauthorized_client") {
		t.Errorf("revocation by another client: status %d, body %s, want 400 with unauthorized_client", status, body)
	}
	if !idp.Introspect(t, rsClient.ID, rsClient.Secret, token.RefreshToken) {
		t.Fatalf("another client's revocation request revoked the refresh token")
	}

	if status, body := revokeToken(t, idp, appClient, token.RefreshToken); status != http.StatusOK {
		t.Fatalf("revocation by the token's client: status %d, body %s, want 200", status, body)
	}

	if idp.Introspect(t, rsClient.ID, rsClient.Secret, token.RefreshToken) {
		t.Errorf("introspection reports the revoked refresh token active")
	}
	_, err := refresh(idp, token.RefreshToken)
	wantInvalidGrant(t, err)
}

func TestIDPRevokeGrants(t *testing.T) {
	t.Parallel()
	idp := startIDP(t, 0)
	aliceToken := signIn(t, idp, alice, "", "openid")
	bobToken := signIn(t, idp, bob, "", "openid")

	idp.RevokeGrants(t, alice.ID)

	if idp.Introspect(t, rsClient.ID, rsClient.Secret, aliceToken.AccessToken) {
		t.Errorf("alice's access token is active after her grants were revoked")
	}
	_, err := refresh(idp, aliceToken.RefreshToken)
	wantInvalidGrant(t, err)

	if !idp.Introspect(t, rsClient.ID, rsClient.Secret, bobToken.AccessToken) {
		t.Errorf("bob's access token is inactive after alice's grants were revoked")
	}
	if _, err := refresh(idp, bobToken.RefreshToken); err != nil {
		t.Errorf("refresh bob's token after alice's grants were revoked: %v", err)
	}
}

func TestIDPAccessTokenExpires(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	idp := startIDP(t, ttl)

	token := signIn(t, idp, alice, "", "openid")
	if got := time.Until(token.Expiry); got <= 0 || got > ttl {
		t.Fatalf("access token expires in %v, want within %v", got, ttl)
	}
	if !idp.Introspect(t, rsClient.ID, rsClient.Secret, token.AccessToken) {
		t.Fatalf("introspection reports the new access token inactive")
	}

	time.Sleep(ttl + time.Second)

	if idp.Introspect(t, rsClient.ID, rsClient.Secret, token.AccessToken) {
		t.Errorf("introspection reports the access token active %v after its expiry", time.Since(token.Expiry).Round(time.Millisecond))
	}
	if _, err := refresh(idp, token.RefreshToken); err != nil {
		t.Errorf("refresh after the access token expired: %v", err)
	}
}

func TestProtectedMCPRequiresToken(t *testing.T) {
	t.Parallel()
	idp := startIDP(t, 0)
	server := testpeers.StartProtectedMCP(t, idp, rsClient)

	resp := postInitialize(t, server.URL, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("initialize without a token: status %d, want 401", resp.StatusCode)
	}

	endpoint, err := url.Parse(server.URL)
	if err != nil {
		t.Fatalf("parse MCP URL: %v", err)
	}
	metadataURL := endpoint.Scheme + "://" + endpoint.Host + "/.well-known/oauth-protected-resource" + endpoint.Path
	challenge := resp.Header.Get("WWW-Authenticate")
	if want := `resource_metadata="` + metadataURL + `"`; !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, want) {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with %s", challenge, want)
	}

	var metadata struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	getJSON(t, metadataURL, &metadata)
	if metadata.Resource != server.URL {
		t.Errorf("metadata resource = %q, want %q", metadata.Resource, server.URL)
	}
	if !slices.Equal(metadata.AuthorizationServers, []string{idp.Issuer}) {
		t.Errorf("metadata authorization_servers = %q, want [%q]", metadata.AuthorizationServers, idp.Issuer)
	}
}

func TestProtectedMCPRejectsBadTokens(t *testing.T) {
	t.Parallel()
	idp := startIDP(t, 0)
	server := testpeers.StartProtectedMCP(t, idp, rsClient)

	withoutResource := signIn(t, idp, alice, "", "openid")
	forServer := signIn(t, idp, alice, server.URL, "openid", "mcp:tools")
	revoked := signIn(t, idp, bob, server.URL, "openid", "mcp:tools")
	idp.RevokeGrants(t, bob.ID)

	// The tokens other than the revoked one are live, so a 401 below comes
	// from the server's own checks.
	for name, token := range map[string]string{"without resource": withoutResource.AccessToken, "refresh": forServer.RefreshToken} {
		if !idp.Introspect(t, rsClient.ID, rsClient.Secret, token) {
			t.Fatalf("the %s token is inactive at the IdP", name)
		}
	}

	tests := []struct {
		name  string
		token string
	}{
		{"unknown token", "not-a-token"},
		{"token without resource", withoutResource.AccessToken},
		{"refresh token", forServer.RefreshToken},
		{"revoked token", revoked.AccessToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := postInitialize(t, server.URL, tt.token)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", resp.StatusCode)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\"", got)
			}
		})
	}

	// The valid token shows that the rejections above are about the tokens.
	if resp := postInitialize(t, server.URL, forServer.AccessToken); resp.StatusCode != http.StatusOK {
		t.Errorf("initialize with a valid token: status %d, want 200", resp.StatusCode)
	}
}

func TestProtectedMCPSessionBoundToUser(t *testing.T) {
	t.Parallel()
	idp := startIDP(t, 0)
	server := testpeers.StartProtectedMCP(t, idp, rsClient)
	aliceToken := signIn(t, idp, alice, server.URL, "openid", "mcp:tools").AccessToken
	bobToken := signIn(t, idp, bob, server.URL, "openid", "mcp:tools").AccessToken

	resp := postInitialize(t, server.URL, aliceToken)
	sessionID := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sessionID == "" {
		t.Fatalf("initialize as alice: status %d, session id %q, want 200 and a session id", resp.StatusCode, sessionID)
	}

	tests := []struct {
		name       string
		token      string
		wantStatus int
	}{
		{"owner", aliceToken, http.StatusOK},
		{"other user", bobToken, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
			req, err := http.NewRequest(http.MethodPost, server.URL, strings.NewReader(body))
			if err != nil {
				t.Fatalf("build tools/list request: %v", err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+tt.token)
			req.Header.Set("Mcp-Session-Id", sessionID)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST tools/list: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("tools/list in alice's session: status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestProtectedMCPToolsPerUser(t *testing.T) {
	t.Parallel()
	idp := startIDP(t, 0)
	server := testpeers.StartProtectedMCP(t, idp, rsClient)

	aliceSession := connectMCP(t, server.URL, signIn(t, idp, alice, server.URL, "openid", "mcp:tools").AccessToken)
	bobSession := connectMCP(t, server.URL, signIn(t, idp, bob, server.URL, "openid", "mcp:tools").AccessToken)

	tools, err := aliceSession.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	for _, want := range []string{"list_events", "create_event", "whoami"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list = %v, want it to contain %s", names, want)
		}
	}

	callTool(t, aliceSession, "create_event", map[string]any{"title": "Dentist", "date": "2026-03-14"})

	var aliceEvents, bobEvents struct {
		User   string `json:"user"`
		Events []struct {
			Title string `json:"title"`
			Date  string `json:"date"`
		} `json:"events"`
	}
	decodeResult(t, callTool(t, aliceSession, "list_events", nil), &aliceEvents)
	decodeResult(t, callTool(t, bobSession, "list_events", nil), &bobEvents)

	if aliceEvents.User != alice.ID || len(aliceEvents.Events) != 1 || aliceEvents.Events[0].Title != "Dentist" {
		t.Errorf("alice's list_events = %+v, want her one event Dentist", aliceEvents)
	}
	if bobEvents.User != bob.ID || len(bobEvents.Events) != 0 {
		t.Errorf("bob's list_events = %+v, want no events", bobEvents)
	}

	var whoami struct {
		Sub      string   `json:"sub"`
		Roles    []string `json:"roles"`
		ClientID string   `json:"client_id"`
		Scopes   []string `json:"scopes"`
	}
	decodeResult(t, callTool(t, aliceSession, "whoami", nil), &whoami)
	if whoami.Sub != alice.ID || !slices.Equal(whoami.Roles, alice.Roles) || whoami.ClientID != appClient.ID {
		t.Errorf("whoami = %+v, want sub %s, roles %v, client_id %s", whoami, alice.ID, alice.Roles, appClient.ID)
	}
	if !slices.Equal(whoami.Scopes, []string{"mcp:tools"}) {
		t.Errorf("whoami scopes = %v, want [mcp:tools]", whoami.Scopes)
	}
}

func TestEverythingListsTools(t *testing.T) {
	t.Parallel()
	server := testpeers.StartEverything(t)

	session := connectMCP(t, server.URL, "")
	tools, err := session.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if !slices.Contains(names, "echo") {
		t.Fatalf("tools/list = %v, want it to contain echo", names)
	}

	result := callTool(t, session, "echo", map[string]any{"message": "hello from Go"})
	text := resultText(t, result)
	if !strings.Contains(text, "hello from Go") {
		t.Errorf("echo returned %q, want it to contain the message", text)
	}
}

// revokeToken sends a revocation request (RFC 7009) for a refresh token as
// client and returns the response status and body.
func revokeToken(t *testing.T, idp *testpeers.IDP, client testpeers.Client, token string) (int, string) {
	t.Helper()

	form := url.Values{"token": {token}, "token_type_hint": {"refresh_token"}}
	req, err := http.NewRequest(http.MethodPost, idp.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("build revocation request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ID, client.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("revoke refresh token: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read revocation response: %v", err)
	}
	return resp.StatusCode, string(body)
}

// bearerTransport adds an Authorization header to every request.
type bearerTransport struct {
	token string
}

func (b bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(req)
}

// connectMCP opens an MCP session to endpoint with the Go MCP SDK, sending
// token as bearer token unless it is empty.
func connectMCP(t *testing.T, endpoint, token string) *mcp.ClientSession {
	t.Helper()

	httpClient := &http.Client{Timeout: 30 * time.Second}
	if token != "" {
		httpClient.Transport = bearerTransport{token: token}
	}
	transport := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: httpClient, DisableStandaloneSSE: true}
	client := mcp.NewClient(&mcp.Implementation{Name: "testpeers-test", Version: "1.0.0"}, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, err := client.Connect(ctx, transport, nil)
	if err != nil {
		t.Fatalf("connect to MCP server %s: %v", endpoint, err)
	}
	t.Cleanup(func() { session.Close() })
	return session
}

func callTool(t *testing.T, session *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()

	// A nil map would be sent as "arguments": null, which the TypeScript SDK
	// rejects, so a call without arguments sends an empty object.
	if args == nil {
		args = map[string]any{}
	}
	result, err := session.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	if result.IsError {
		t.Fatalf("tools/call %s returned a tool error: %s", name, resultText(t, result))
	}
	return result
}

func resultText(t *testing.T, result *mcp.CallToolResult) string {
	t.Helper()
	if len(result.Content) == 0 {
		t.Fatalf("tool result has no content")
	}
	text, ok := result.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("tool result content is %T, want text", result.Content[0])
	}
	return text.Text
}

func decodeResult(t *testing.T, result *mcp.CallToolResult, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(resultText(t, result)), v); err != nil {
		t.Fatalf("decode tool result: %v", err)
	}
}

// postInitialize sends an MCP initialize request over plain HTTP, with token
// as bearer token unless it is empty. The body is closed before it returns.
func postInitialize(t *testing.T, endpoint, token string) *http.Response {
	t.Helper()

	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"testpeers-test","version":"1.0.0"}}}`
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatalf("build initialize request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST initialize: %v", err)
	}
	resp.Body.Close()
	return resp
}

func getJSON(t *testing.T, target string, v any) {
	t.Helper()
	resp, err := http.Get(target)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200", target, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", target, err)
	}
}

func fmtList(values []any) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i], _ = v.(string)
	}
	return strings.Join(parts, ",")
}
