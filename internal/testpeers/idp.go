package testpeers

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// IDPConfig configures the OpenID provider that StartIDP runs.
type IDPConfig struct {
	// Clients are the registered OAuth clients. A client without
	// RedirectURIs can only authenticate at the introspection and
	// revocation endpoints, which suits a resource server.
	Clients []Client

	// Users are the accounts that can sign in on the login page.
	Users []User

	// AccessTokenTTL is the lifetime of access tokens, in whole seconds.
	// Zero means one hour.
	AccessTokenTTL time.Duration
}

// Client is an OAuth client registered at the IdP. A client with redirect
// URIs may use the authorization_code and refresh_token grants.
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string

	// AuthMethod is the token endpoint authentication method:
	// "client_secret_basic" (the default when empty) or "client_secret_post".
	AuthMethod string
}

// User is an account at the IdP. ID is the subject (sub) and the username on
// the login page. Empty Name and Email default to ID and ID@example.test.
type User struct {
	ID, Password, Name, Email string
	Roles                     []string
}

// IDP is a running oidc-provider. Its endpoints come from its discovery
// document. It is stopped when the test that started it ends.
type IDP struct {
	Issuer                string
	AuthorizationEndpoint string
	TokenEndpoint         string
	UserinfoEndpoint      string
	IntrospectionEndpoint string
	RevocationEndpoint    string
	JWKSURI               string

	clients map[string]Client
}

// idpConfigFile is the JSON that test/peers/idp.mjs reads with --config.
type idpConfigFile struct {
	Clients        []idpClientJSON `json:"clients"`
	Users          []idpUserJSON   `json:"users"`
	AccessTokenTTL int64           `json:"access_token_ttl,omitempty"`
}

type idpClientJSON struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

type idpUserJSON struct {
	ID       string   `json:"id"`
	Password string   `json:"password"`
	Name     string   `json:"name,omitempty"`
	Email    string   `json:"email,omitempty"`
	Roles    []string `json:"roles"`
}

// StartIDP starts test/peers/idp.mjs with cfg and waits until it serves its
// discovery document. The IdP's behaviour (PKCE, refresh token rotation,
// claims, test hooks) is described at the top of idp.mjs.
func StartIDP(t testing.TB, cfg IDPConfig) *IDP {
	t.Helper()

	if cfg.AccessTokenTTL < 0 || cfg.AccessTokenTTL%time.Second != 0 {
		t.Fatalf("testpeers: IDPConfig.AccessTokenTTL %v: want a positive whole number of seconds, or zero for one hour", cfg.AccessTokenTTL)
	}

	file := idpConfigFile{AccessTokenTTL: int64(cfg.AccessTokenTTL / time.Second)}
	clients := make(map[string]Client, len(cfg.Clients))
	for _, c := range cfg.Clients {
		if c.AuthMethod == "" {
			c.AuthMethod = "client_secret_basic"
		}
		clients[c.ID] = c
		file.Clients = append(file.Clients, idpClientJSON{
			ClientID:                c.ID,
			ClientSecret:            c.Secret,
			RedirectURIs:            c.RedirectURIs,
			TokenEndpointAuthMethod: c.AuthMethod,
		})
	}
	for _, u := range cfg.Users {
		file.Users = append(file.Users, idpUserJSON{ID: u.ID, Password: u.Password, Name: u.Name, Email: u.Email, Roles: u.Roles})
	}

	data, err := json.Marshal(file)
	if err != nil {
		t.Fatalf("testpeers: encode IdP config: %v", err)
	}
	configPath := filepath.Join(t.TempDir(), "idp.json")
	if err := os.WriteFile(configPath, data, 0o600); err != nil {
		t.Fatalf("testpeers: write IdP config: %v", err)
	}

	issuer := startNode(t, "idp", nil, "idp.mjs", "--port", "0", "--config", configPath)

	p := &IDP{Issuer: issuer, clients: clients}
	p.discover(t)
	return p
}

func (p *IDP) discover(t testing.TB) {
	t.Helper()

	var doc struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		UserinfoEndpoint      string `json:"userinfo_endpoint"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
		RevocationEndpoint    string `json:"revocation_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
	}
	getJSON(t, p.Issuer+"/.well-known/openid-configuration", &doc)
	if doc.Issuer != p.Issuer {
		t.Fatalf("testpeers: IdP discovery document has issuer %q, want %q", doc.Issuer, p.Issuer)
	}

	p.AuthorizationEndpoint = doc.AuthorizationEndpoint
	p.TokenEndpoint = doc.TokenEndpoint
	p.UserinfoEndpoint = doc.UserinfoEndpoint
	p.IntrospectionEndpoint = doc.IntrospectionEndpoint
	p.RevocationEndpoint = doc.RevocationEndpoint
	p.JWKSURI = doc.JWKSURI
}

// RevokeGrants revokes every grant of the account and the tokens issued
// under them, as a user removing an app's access in the provider's account
// page would. It uses the IdP's test hook POST /__test/revoke-grants.
func (p *IDP) RevokeGrants(t testing.TB, accountID string) {
	t.Helper()

	hook := p.Issuer + "/__test/revoke-grants?account=" + url.QueryEscape(accountID)
	resp, err := http.Post(hook, "", nil)
	if err != nil {
		t.Fatalf("testpeers: revoke grants of %s: %v", accountID, err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testpeers: revoke grants of %s: HTTP %d: %s", accountID, resp.StatusCode, body)
	}
}

// Introspect reports whether token is active, as the introspection endpoint
// (RFC 7662) returns it. The request authenticates as the client with the
// method the client is registered with, and with client_secret_basic for a
// client that StartIDP was not given.
func (p *IDP) Introspect(t testing.TB, clientID, clientSecret, token string) (active bool) {
	t.Helper()

	req := p.clientRequest(t, p.IntrospectionEndpoint, clientID, clientSecret, url.Values{"token": {token}})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("testpeers: introspect token: %v", err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testpeers: introspect token: HTTP %d: %s", resp.StatusCode, body)
	}

	var result struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(body, &result); err != nil {
		t.Fatalf("testpeers: decode introspection response %q: %v", body, err)
	}
	return result.Active
}

// clientRequest builds a form POST to endpoint that authenticates as the
// client.
func (p *IDP) clientRequest(t testing.TB, endpoint, clientID, clientSecret string, form url.Values) *http.Request {
	t.Helper()

	method := p.clients[clientID].AuthMethod
	if method == "client_secret_post" {
		form.Set("client_id", clientID)
		form.Set("client_secret", clientSecret)
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("testpeers: build request to %s: %v", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if method != "client_secret_post" {
		// RFC 6749 section 2.3.1 form-encodes both parts before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	}
	return req
}

func getJSON(t testing.TB, target string, v any) {
	t.Helper()

	resp, err := http.Get(target)
	if err != nil {
		t.Fatalf("testpeers: GET %s: %v", target, err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testpeers: GET %s: HTTP %d: %s", target, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("testpeers: decode %s: %v", target, err)
	}
}

func readBody(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("testpeers: read response from %s: %v", resp.Request.URL, err)
	}
	return body
}
