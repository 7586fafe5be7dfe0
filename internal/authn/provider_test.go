package authn_test

// A real OpenID provider for the tests, built on zitadel's op package with a
// small in-memory op.Storage. The provider's login page signs in whichever
// user the test chose with setNextUser, without a form, and every user carries
// the claims the test gave it, so the tests control the roles or groups claim.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// opUser is a user of the test provider. Claims are added to its ID tokens,
// userinfo and JWT access tokens.
type opUser struct {
	ID                string
	Name              string
	PreferredUsername string
	Email             string
	Claims            map[string]any
}

// testProvider is an OpenID provider listening on 127.0.0.1.
type testProvider struct {
	Issuer  string
	storage *opStorage
}

// Client ids registered at every test provider.
const (
	webClientID      = "toolgate"
	webClientSecret  = "toolgate-secret"
	machineClientID  = "agent-runner"
	machineSecret    = "agent-runner-secret"
	providerKeyID    = "test-key-1"
	providerLoginURL = "/login"
)

// startProvider starts a provider whose web client accepts redirects to
// toolgateURL + "/auth/callback" and sign-out redirects to toolgateURL + "/".
// Users are added with addUser.
func startProvider(t *testing.T, toolgateURL string) *testProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	st := &opStorage{
		key:      key,
		users:    map[string]*opUser{},
		requests: map[string]*opAuthRequest{},
		codes:    map[string]string{},
		clients: map[string]*opClient{
			webClientID: {
				id: webClientID, secret: webClientSecret,
				redirectURIs:   []string{toolgateURL + "/auth/callback"},
				postLogoutURIs: []string{toolgateURL + "/"},
				grantTypes:     []oidc.GrantType{oidc.GrantTypeCode},
			},
			machineClientID: {
				id: machineClientID, secret: machineSecret,
				grantTypes: []oidc.GrantType{oidc.GrantTypeClientCredentials},
			},
		},
	}

	var handler http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)

	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
	}, st, op.StaticIssuer(srv.URL), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("start OpenID provider: %v", err)
	}
	callbackURL := op.AuthCallbackURL(provider)
	mux := http.NewServeMux()
	mux.Handle(providerLoginURL, op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("authRequestID")
		if err := st.completeLogin(id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, callbackURL(r.Context(), id), http.StatusFound)
	}))
	mux.Handle("/", provider)
	handler = mux

	return &testProvider{Issuer: srv.URL, storage: st}
}

// addUser registers u at the provider.
func (p *testProvider) addUser(u *opUser) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	p.storage.users[u.ID] = u
}

// setNextUser makes the login page sign in the user with id.
func (p *testProvider) setNextUser(id string) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	p.storage.nextUser = id
}

// setNonce makes the provider put nonce into ID tokens instead of the one
// in the authorization request.
func (p *testProvider) setNonce(nonce string) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	p.storage.nonce = nonce
}

// setClientSecret changes the web client's secret at the provider, so that
// Toolgate's code exchange fails.
func (p *testProvider) setClientSecret(secret string) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	p.storage.clients[webClientID].secret = secret
}

// terminated returns the subjects whose provider sessions were ended through
// the end_session_endpoint.
func (p *testProvider) terminated() []string {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	return slices.Clone(p.storage.ended)
}

// sign signs claims with key under kid, as the tests' forged and altered
// tokens need.
func sign(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.Sign(mustJSON(t, claims))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tok.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// clientCredentialsToken gets a JWT access token for the machine client from
// the provider's token endpoint, with audience Toolgate's client id.
func (p *testProvider) clientCredentialsToken(t *testing.T) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}
	req, err := http.NewRequest(http.MethodPost, p.Issuer+"/oauth/token", stringsReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(machineClientID, machineSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	decodeJSON(t, resp, &body)
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("client credentials token: status %d, want 200 with an access_token", resp.StatusCode)
	}
	return body.AccessToken
}

// opStorage is a minimal in-memory op.Storage: authorization code flow with
// PKCE, client credentials, JWT access tokens, end session.
type opStorage struct {
	mu       sync.Mutex
	key      *rsa.PrivateKey
	clients  map[string]*opClient
	users    map[string]*opUser
	nextUser string
	requests map[string]*opAuthRequest
	codes    map[string]string // code → request id
	ended    []string
	// nonce, if set, replaces the nonce of every authorization request, as
	// a provider that mixes up sign-ins would.
	nonce string
}

var (
	_ op.Storage                  = (*opStorage)(nil)
	_ op.ClientCredentialsStorage = (*opStorage)(nil)
)

var errNotFound = errors.New("test provider: not found")

func (s *opStorage) completeLogin(requestID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests[requestID]
	if !ok {
		return fmt.Errorf("unknown auth request %q", requestID)
	}
	if _, ok := s.users[s.nextUser]; !ok {
		return fmt.Errorf("test provider: next user %q is not registered", s.nextUser)
	}
	req.subject, req.done, req.authTime = s.nextUser, true, time.Now()
	return nil
}

func (s *opStorage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := &opAuthRequest{id: rand.Text(), AuthRequest: *r}
	if s.nonce != "" {
		req.Nonce = s.nonce
	}
	s.requests[req.id] = req
	return req, nil
}

func (s *opStorage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req, ok := s.requests[id]; ok {
		return req, nil
	}
	return nil, errNotFound
}

func (s *opStorage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req, ok := s.requests[s.codes[code]]; ok {
		return req, nil
	}
	return nil, errNotFound
}

func (s *opStorage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *opStorage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, reqID := range s.codes {
		if reqID == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *opStorage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return rand.Text(), time.Now().Add(5 * time.Minute), nil
}

func (s *opStorage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("test provider: refresh tokens are not supported")
}

func (s *opStorage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *opStorage) TerminateSession(_ context.Context, userID, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = append(s.ended, userID)
	return nil
}

func (s *opStorage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return nil
}

func (s *opStorage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	return opSigningKey{s.key}, nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{opPublicKey{&s.key.PublicKey}}, nil
}

func (s *opStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	return nil, errNotFound
}

func (s *opStorage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if c, ok := s.clients[id]; ok && c.secret == secret {
		return nil
	}
	return errors.New("test provider: wrong client credentials")
}

func (s *opStorage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, userID, _ string, _ []string) error {
	return s.fillUserinfo(info, userID)
}

func (s *opStorage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, _, subject, _ string) error {
	return s.fillUserinfo(info, subject)
}

func (s *opStorage) fillUserinfo(info *oidc.UserInfo, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return errNotFound
	}
	info.Subject = u.ID
	info.Name = u.Name
	info.PreferredUsername = u.PreferredUsername
	info.Email = u.Email
	for k, v := range u.Claims {
		info.AppendClaims(k, v)
	}
	return nil
}

func (s *opStorage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("test provider: introspection is not supported")
}

func (s *opStorage) GetPrivateClaimsFromScopes(_ context.Context, userID, _ string, _ []string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[userID]; ok {
		return u.Claims, nil
	}
	return nil, nil
}

func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

func (s *opStorage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

func (s *opStorage) Health(context.Context) error { return nil }

func (s *opStorage) ClientCredentials(_ context.Context, id, secret string) (op.Client, error) {
	if c, ok := s.clients[id]; ok && c.secret == secret {
		return c, nil
	}
	return nil, errors.New("test provider: wrong client credentials")
}

func (s *opStorage) ClientCredentialsTokenRequest(_ context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	return &oidc.JWTTokenRequest{Subject: clientID, Audience: []string{webClientID}, Scopes: scopes}, nil
}

// opSigningKey is the provider's private key, which signs tokens.
type opSigningKey struct{ key *rsa.PrivateKey }

func (k opSigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k opSigningKey) ID() string                                  { return providerKeyID }
func (k opSigningKey) Key() any                                    { return k.key }

// opPublicKey is the provider's public key, as published in its key set.
type opPublicKey struct{ key *rsa.PublicKey }

func (k opPublicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k opPublicKey) ID() string                         { return providerKeyID }
func (k opPublicKey) Use() string                        { return "sig" }
func (k opPublicKey) Key() any                           { return k.key }

// opAuthRequest is an authorization request in progress.
type opAuthRequest struct {
	oidc.AuthRequest
	id       string
	subject  string
	done     bool
	authTime time.Time
}

func (r *opAuthRequest) GetID() string          { return r.id }
func (r *opAuthRequest) GetACR() string         { return "" }
func (r *opAuthRequest) GetAMR() []string       { return []string{"pwd"} }
func (r *opAuthRequest) GetAudience() []string  { return []string{r.ClientID} }
func (r *opAuthRequest) GetAuthTime() time.Time { return r.authTime }
func (r *opAuthRequest) GetClientID() string    { return r.ClientID }
func (r *opAuthRequest) GetNonce() string       { return r.Nonce }
func (r *opAuthRequest) GetScopes() []string    { return r.Scopes }
func (r *opAuthRequest) GetState() string       { return r.State }
func (r *opAuthRequest) GetSubject() string     { return r.subject }
func (r *opAuthRequest) Done() bool             { return r.done }
func (r *opAuthRequest) GetResponseMode() oidc.ResponseMode {
	return r.ResponseMode
}
func (r *opAuthRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
}

// opClient is a registered client. Both test clients are confidential web
// clients; DevMode allows http redirect URIs on 127.0.0.1.
type opClient struct {
	id, secret     string
	redirectURIs   []string
	postLogoutURIs []string
	grantTypes     []oidc.GrantType
}

func (c *opClient) GetID() string                       { return c.id }
func (c *opClient) RedirectURIs() []string              { return c.redirectURIs }
func (c *opClient) PostLogoutRedirectURIs() []string    { return c.postLogoutURIs }
func (c *opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *opClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType { return c.grantTypes }
func (c *opClient) LoginURL(id string) string {
	return providerLoginURL + "?authRequestID=" + url.QueryEscape(id)
}
func (c *opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *opClient) IDTokenLifetime() time.Duration       { return time.Hour }
func (c *opClient) DevMode() bool                        { return true }
func (c *opClient) IsScopeAllowed(string) bool           { return true }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
