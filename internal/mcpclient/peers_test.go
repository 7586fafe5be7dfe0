package mcpclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/testpeers"
)

// TestProtectedPeer runs against the MCP server of test/peers, built with
// the MCP TypeScript SDK, which accepts only access tokens that a real
// OpenID provider issued for its URL.
func TestProtectedPeer(t *testing.T) {
	t.Parallel()
	const redirectURI = "http://127.0.0.1:9/callback" // never requested
	app := testpeers.Client{ID: "toolgate", Secret: "toolgate-secret", RedirectURIs: []string{redirectURI}}
	resourceServer := testpeers.Client{ID: "calendar-rs", Secret: "calendar-rs-secret"}
	alice := testpeers.User{ID: "alice", Password: "alice-pw", Roles: []string{"staff"}}
	idp := testpeers.StartIDP(t, testpeers.IDPConfig{Clients: []testpeers.Client{app, resourceServer}, Users: []testpeers.User{alice}})
	peer := testpeers.StartProtectedMCP(t, idp, resourceServer)

	token := signInForResource(t, idp, app, redirectURI, alice, peer.URL)
	r := newTestRegistry(t, storetest.NewSQLite(t), &Options{Tokens: tokenMap{"alice": token, "mallory": "not-a-token"}})
	createServer(t, r, CreateInput{ID: "calendar", URL: peer.URL, ProviderID: testProvider})
	ctx := context.Background()

	v, err := r.RefreshTools(ctx, "calendar", "alice")
	if err != nil {
		t.Fatalf("RefreshTools as alice: %v", err)
	}
	var names []string
	for _, tool := range v.Tools {
		names = append(names, tool.Name)
	}
	for _, want := range []string{"list_events", "create_event", "whoami"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("catalog: got %v, want it to contain %s", names, want)
		}
	}

	cat, err := r.Client().ToolsFor(ctx, "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := cat.ResolveToolName("calendar__whoami"); !ok {
		t.Errorf("ToolsFor a user without a token: got %v, want the cached calendar__whoami", toolNames(cat))
	}

	res, err := r.Client().CallTool(ctx, "alice", "calendar", "whoami", nil)
	if err != nil {
		t.Fatalf("CallTool whoami as alice: %v", err)
	}
	if !strings.Contains(res.Text, `"sub":"alice"`) && !strings.Contains(res.Text, `"sub": "alice"`) {
		t.Errorf("whoami: got %q, want alice's subject", res.Text)
	}

	_, err = r.Client().CallTool(ctx, "mallory", "calendar", "whoami", nil)
	var authErr *AuthError
	if !errors.As(err, &authErr) {
		t.Fatalf("CallTool with an unknown token: got %v, want an *AuthError", err)
	}
	if authErr.Status != http.StatusUnauthorized || authErr.Code != "invalid_token" {
		t.Errorf("auth error: got status %d code %q, want 401 invalid_token", authErr.Status, authErr.Code)
	}
	if !strings.Contains(authErr.ResourceMetadata, "/.well-known/oauth-protected-resource") {
		t.Errorf("resource metadata: got %q, want the server's RFC 9728 metadata URL", authErr.ResourceMetadata)
	}
}

// signInForResource runs the authorization code flow with PKCE for user
// at idp through its login pages, with resource as the RFC 8707 resource
// indicator, and returns the access token.
func signInForResource(t *testing.T, idp *testpeers.IDP, app testpeers.Client, redirectURI string, user testpeers.User, resource string) string {
	t.Helper()
	conf := &oauth2.Config{
		ClientID: app.ID, ClientSecret: app.Secret, RedirectURL: redirectURI,
		Scopes: []string{"openid", "mcp:tools"},
		Endpoint: oauth2.Endpoint{
			AuthURL: idp.AuthorizationEndpoint, TokenURL: idp.TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
	verifier := oauth2.GenerateVerifier()
	resourceParam := oauth2.SetAuthURLParam("resource", resource)
	authorizeURL := conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), resourceParam)

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	redirect := idp.Login(t, &http.Client{Jar: jar, Timeout: 10 * time.Second}, authorizeURL, user.ID, user.Password, true)
	query := redirect.Query()
	if query.Get("error") != "" || query.Get("state") != "state-1" {
		t.Fatalf("authorization: got redirect %s, want a code with state-1", redirect.Redacted())
	}
	token, err := conf.Exchange(context.Background(), query.Get("code"), oauth2.VerifierOption(verifier), resourceParam)
	if err != nil {
		t.Fatalf("exchange code: %v", err)
	}
	return token.AccessToken
}
