package oidcprovider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage is the op.Storage behind a Provider: users, clients and resource
// servers, which are fixed at construction, and auth requests, codes,
// grants and tokens, which mu guards. Methods return copies, never records
// that mu guards, so the OP package never reads a record while a page
// changes it.
type storage struct {
	issuer        string
	now           func() time.Time
	logger        *slog.Logger
	accessTTL     time.Duration
	refreshTTL    time.Duration
	idTokenTTL    time.Duration
	showPasswords bool
	signingKey    *rsa.PrivateKey
	keyID         string

	// Fixed at construction and read without mu.
	users     map[string]*userRecord
	userOrder []string
	clients   map[string]*clientRecord
	resources map[string]*resourceRecord
	scopes    map[string]string // scope → description for the consent page

	mu sync.Mutex
	// requests are the auth requests in progress, by id.
	requests map[string]*authRequest
	// codes maps the SHA-256 of each unused authorization code to its auth
	// request id.
	codes map[string]string
	// usedCodes remembers consumed codes by SHA-256, to detect replays.
	usedCodes map[string]*usedCode
	grants    map[string]*grant
	// accessTokens are by token id, which the OP package encrypts into
	// the opaque token it hands out.
	accessTokens map[string]*accessToken
	// refreshTokens are by the SHA-256 of the token, used or not.
	refreshTokens map[string]*refreshToken
	lastSweep     time.Time
	// full is set while auth requests are rejected for maxPendingRequests,
	// so that only the first rejection is logged.
	full bool
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

// errNotFound is returned for unknown ids and tokens. The OP package turns
// it into the OAuth error that fits the endpoint.
var errNotFound = errors.New("oidcprovider: not found")

type userRecord struct {
	User
	passwordHash [sha256.Size]byte
}

type clientRecord struct {
	Client
	secretHash [sha256.Size]byte
}

type resourceRecord struct {
	ResourceServer
	secretHash [sha256.Size]byte
}

// standardScopes describe the OpenID Connect scopes on the consent page.
var standardScopes = map[string]string{
	oidc.ScopeOpenID:        "Confirm who you are (your user id)",
	oidc.ScopeProfile:       "See your name and username",
	oidc.ScopeEmail:         "See your email address",
	oidc.ScopePhone:         "See your phone number",
	oidc.ScopeAddress:       "See your postal address",
	oidc.ScopeOfflineAccess: "Keep this access while you are away (a refresh token)",
}

func newStorage(issuer string, o *Options) (*storage, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("oidcprovider: generate signing key: %w", err)
	}
	s := &storage{
		issuer:        issuer,
		now:           o.Now,
		logger:        o.Logger,
		accessTTL:     o.AccessTokenTTL,
		refreshTTL:    o.RefreshTokenTTL,
		idTokenTTL:    o.IDTokenTTL,
		showPasswords: o.InsecureShowPasswords,
		signingKey:    key,
		keyID:         rand.Text()[:16],
		users:         map[string]*userRecord{},
		clients:       map[string]*clientRecord{},
		resources:     map[string]*resourceRecord{},
		scopes:        map[string]string{},
		requests:      map[string]*authRequest{},
		codes:         map[string]string{},
		usedCodes:     map[string]*usedCode{},
		grants:        map[string]*grant{},
		accessTokens:  map[string]*accessToken{},
		refreshTokens: map[string]*refreshToken{},
	}
	for _, u := range o.Users {
		if u.Name == "" {
			u.Name = u.ID
		}
		s.users[u.ID] = &userRecord{User: u, passwordHash: sha256.Sum256([]byte(u.Password))}
		s.userOrder = append(s.userOrder, u.ID)
	}
	for _, c := range o.Clients {
		if c.Name == "" {
			c.Name = c.ID
		}
		c.RedirectURIs, c.Scopes = slices.Clone(c.RedirectURIs), slices.Clone(c.Scopes)
		s.clients[c.ID] = &clientRecord{Client: c, secretHash: sha256.Sum256([]byte(c.Secret))}
	}
	for _, rs := range o.ResourceServers {
		rs.Scopes = slices.Clone(rs.Scopes)
		s.resources[rs.ID] = &resourceRecord{ResourceServer: rs, secretHash: sha256.Sum256([]byte(rs.Secret))}
	}
	for name, description := range standardScopes {
		s.scopes[name] = description
	}
	for _, scope := range o.Scopes {
		s.scopes[scope.Name] = scope.Description
	}
	return s, nil
}

// supportedScopes returns the scopes for the discovery document: the
// OpenID Connect ones this provider fills, then every client's extra
// scopes.
func (s *storage) supportedScopes() []string {
	scopes := []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess}
	for _, c := range s.clients {
		for _, scope := range c.Scopes {
			if !slices.Contains(scopes, scope) {
				scopes = append(scopes, scope)
			}
		}
	}
	slices.Sort(scopes[4:])
	return scopes
}

// scopeDescription returns how the consent page describes scope.
func (s *storage) scopeDescription(scope string) string {
	if d := s.scopes[scope]; d != "" {
		return d
	}
	return scope
}

// checkPassword reports whether password is the password of the user
// with id. It takes about as long for an unknown user.
func (s *storage) checkPassword(id, password string) bool {
	got := sha256.Sum256([]byte(password))
	u, ok := s.users[id]
	if !ok {
		var none [sha256.Size]byte
		subtle.ConstantTimeCompare(got[:], none[:])
		return false
	}
	return subtle.ConstantTimeCompare(got[:], u.passwordHash[:]) == 1
}

// GetClientByClientID implements op.Storage. Resource servers are not
// clients: they cannot start an authorization.
func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	c, ok := s.clients[clientID]
	if !ok {
		return nil, fmt.Errorf("%w: client %q", errNotFound, clientID)
	}
	return &clientView{record: c, loginURL: s.issuer + loginPath, idTokenTTL: s.idTokenTTL}, nil
}

// AuthorizeClientIDSecret implements op.Storage. It authenticates clients
// and resource servers, comparing secrets in constant time.
func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, clientSecret string) error {
	got := sha256.Sum256([]byte(clientSecret))
	want, ok := [sha256.Size]byte{}, false
	if c, found := s.clients[clientID]; found {
		want, ok = c.secretHash, true
	} else if rs, found := s.resources[clientID]; found {
		want, ok = rs.secretHash, true
	}
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !ok {
		return errors.New("oidcprovider: unknown client or wrong client secret")
	}
	return nil
}

// SigningKey implements op.Storage.
func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{key: s.signingKey, id: s.keyID}, nil
}

// SignatureAlgorithms implements op.Storage.
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.Storage: the public half of the signing key.
func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{key: &s.signingKey.PublicKey, id: s.keyID}}, nil
}

// GetKeyByIDAndClientID implements op.Storage. No client authenticates
// with a JWT (private_key_jwt or the JWT profile grant), so there is no
// key to return.
func (s *storage) GetKeyByIDAndClientID(_ context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	return nil, fmt.Errorf("%w: no JWT key for client %q", errNotFound, clientID)
}

// ValidateJWTProfileScopes implements op.Storage. The JWT profile grant
// is not supported.
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("the JWT profile grant is not supported")
}

// TerminateSession implements op.Storage. The provider keeps no sign-in
// session, so there is nothing to end.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// Health implements op.Storage.
func (s *storage) Health(context.Context) error { return nil }

// signingKey is the private RSA key that signs ID tokens.
type signingKey struct {
	key *rsa.PrivateKey
	id  string
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

// publicKey is the signing key's public half, as the JWKS lists it.
type publicKey struct {
	key *rsa.PublicKey
	id  string
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }

// clientView implements op.Client for a registered Client.
type clientView struct {
	record     *clientRecord
	loginURL   string
	idTokenTTL time.Duration
}

var _ op.Client = (*clientView)(nil)

func (c *clientView) GetID() string                       { return c.record.ID }
func (c *clientView) RedirectURIs() []string              { return slices.Clone(c.record.RedirectURIs) }
func (c *clientView) PostLogoutRedirectURIs() []string    { return nil }
func (c *clientView) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *clientView) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *clientView) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *clientView) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

// LoginURL returns the login page for the auth request with id.
func (c *clientView) LoginURL(id string) string {
	return c.loginURL + "?" + authRequestParam + "=" + id
}

// AccessTokenType makes access tokens opaque: the OP package encrypts the
// token id and subject, and only this provider can read them, through
// introspection or userinfo.
func (c *clientView) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *clientView) IDTokenLifetime() time.Duration      { return c.idTokenTTL }

// DevMode is false. Plain http redirect URIs are still accepted, because
// the OP package allows them for confidential clients of the code flow.
func (c *clientView) DevMode() bool { return false }
func (c *clientView) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *clientView) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *clientView) IsScopeAllowed(scope string) bool {
	return slices.Contains(c.record.Scopes, scope)
}

// IDTokenUserinfoClaimsAssertion puts the profile and email claims into
// the ID token too, so that a client need not call userinfo.
func (c *clientView) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *clientView) ClockSkew() time.Duration             { return 0 }

// hashToken returns the SHA-256 of a code or token as lowercase hex, the
// form the storage keys them by.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
