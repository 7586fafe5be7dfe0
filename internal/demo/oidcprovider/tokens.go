package oidcprovider

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// sweepEvery is the least time between two sweeps of expired records.
const sweepEvery = time.Minute

// grant is one user's consent to one client, which every token belongs to.
type grant struct {
	id       string
	clientID string
	subject  string
	// scopes are the scopes the user granted. A refresh may narrow an
	// access token's scopes, never the grant's.
	scopes   []string
	authTime time.Time
	amr      []string
	// accessTokens and refreshTokens index the grant's tokens, by id and
	// by SHA-256.
	accessTokens  map[string]bool
	refreshTokens map[string]bool
}

type accessToken struct {
	id        string
	grantID   string
	scopes    []string
	audience  []string
	issuedAt  time.Time
	expiresAt time.Time
}

type refreshToken struct {
	hash      string
	grantID   string
	expiresAt time.Time
	// used is set when the token was exchanged. A used token stays until
	// it expires, so that its reuse is detected.
	used bool
}

// refreshRequest is a grant as a refresh token presents it, for the OP
// package's refresh_token grant.
type refreshRequest struct {
	grantID   string
	tokenHash string
	clientID  string
	subject   string
	scopes    []string
	authTime  time.Time
	amr       []string
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string       { return slices.Clone(r.amr) }
func (r *refreshRequest) GetAudience() []string  { return []string{r.clientID} }
func (r *refreshRequest) GetAuthTime() time.Time { return r.authTime }
func (r *refreshRequest) GetClientID() string    { return r.clientID }
func (r *refreshRequest) GetScopes() []string    { return slices.Clone(r.scopes) }
func (r *refreshRequest) GetSubject() string     { return r.subject }

// SetCurrentScopes narrows the scopes of the access token that the
// refresh issues. The OP package has checked that they are a subset of
// the grant's.
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = slices.Clone(scopes) }

// errInvalidGrant returns the error of a failed refresh. Its description
// does not say which check failed, so that it tells an attacker nothing.
func errInvalidGrant() *oidc.Error {
	return oidc.ErrInvalidGrant().WithDescription("the refresh token is invalid, expired, used or revoked")
}

// CreateAccessToken implements op.Storage: the token of a code exchange
// without offline_access.
func (s *storage) CreateAccessToken(_ context.Context, request op.TokenRequest) (string, time.Time, error) {
	req, ok := request.(*authRequest)
	if !ok {
		return "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("only the authorization code and refresh token grants are supported")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
	g, err := s.newGrantLocked(req)
	if err != nil {
		return "", time.Time{}, err
	}
	at := s.newAccessTokenLocked(g, g.scopes)
	return at.id, at.expiresAt, nil
}

// CreateAccessAndRefreshTokens implements op.Storage. For a code
// exchange it creates the grant. For a refresh it rotates
// currentRefreshToken, which must still be unused.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, request op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())

	switch req := request.(type) {
	case *authRequest:
		g, err := s.newGrantLocked(req)
		if err != nil {
			return "", "", time.Time{}, err
		}
		at := s.newAccessTokenLocked(g, g.scopes)
		return at.id, s.newRefreshTokenLocked(g), at.expiresAt, nil

	case *refreshRequest:
		g, err := s.useRefreshTokenLocked(hashToken(currentRefreshToken))
		if err != nil {
			return "", "", time.Time{}, err
		}
		if g.id != req.grantID {
			return "", "", time.Time{}, errInvalidGrant()
		}
		at := s.newAccessTokenLocked(g, req.scopes)
		return at.id, s.newRefreshTokenLocked(g), at.expiresAt, nil

	default:
		return "", "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("only the authorization code and refresh token grants are supported")
	}
}

// TokenRequestByRefreshToken implements op.Storage. A used token revokes
// its grant: either the client or an attacker holds a copy of a token
// that was rotated (RFC 9700 section 4.14.2).
func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, g, err := s.refreshTokenLocked(hashToken(token))
	if err != nil {
		return nil, err
	}
	if rt.used {
		s.refreshReusedLocked(g)
		return nil, errInvalidGrant()
	}
	return &refreshRequest{
		grantID: g.id, tokenHash: rt.hash, clientID: g.clientID, subject: g.subject,
		scopes: slices.Clone(g.scopes), authTime: g.authTime, amr: slices.Clone(g.amr),
	}, nil
}

// GetRefreshTokenInfo implements op.Storage for revocation. The token id
// is the token's SHA-256.
func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, g, err := s.refreshTokenLocked(hashToken(token))
	if err != nil {
		return "", "", op.ErrInvalidRefreshToken
	}
	return g.subject, rt.hash, nil
}

// RevokeToken implements op.Storage (RFC 7009). tokenOrID is an access
// token's id or a refresh token's SHA-256, as the OP package resolved it,
// and userID is empty when it resolved nothing. An unknown token is not
// an error (RFC 7009 section 2.2). A token of another client is refused.
// Revoking a refresh token revokes its whole grant, revoking an access
// token only that token.
func (s *storage) RevokeToken(_ context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	if userID == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	if at, ok := s.accessTokens[tokenOrID]; ok {
		g := s.grants[at.grantID]
		if g == nil || g.subject != userID {
			return nil
		}
		if g.clientID != clientID {
			return oidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
		}
		delete(s.accessTokens, at.id)
		delete(g.accessTokens, at.id)
		s.logger.Info("access token revoked", "client_id", clientID, "subject", g.subject)
		return nil
	}
	if rt, ok := s.refreshTokens[tokenOrID]; ok {
		g := s.grants[rt.grantID]
		if g == nil || g.subject != userID {
			return nil
		}
		if g.clientID != clientID {
			return oidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
		}
		s.revokeGrantLocked(g.id)
		s.logger.Info("refresh token revoked with its grant", "client_id", clientID, "subject", g.subject)
	}
	return nil
}

// SetIntrospectionFromToken implements op.Storage (RFC 7662). Only the
// client the token was issued to and the resource servers in its
// audience learn that it is active. For every other caller, and for a
// revoked or expired token, it fails and the OP package returns
// {"active": false}.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, g, err := s.accessTokenLocked(tokenID, subject)
	if err != nil {
		return err
	}
	if clientID != g.clientID && !slices.Contains(at.audience, clientID) {
		s.logger.Debug("introspection by a client outside the token's audience", "client_id", clientID)
		return fmt.Errorf("%w: the token is not meant for client %q", errNotFound, clientID)
	}

	resp.Scope = slices.Clone(at.scopes)
	resp.ClientID = g.clientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(at.expiresAt)
	resp.IssuedAt = oidc.FromTime(at.issuedAt)
	resp.AuthTime = oidc.FromTime(g.authTime)
	resp.Subject = g.subject
	resp.Username = g.subject
	resp.Audience = slices.Clone(at.audience)
	resp.Issuer = op.IssuerFromContext(ctx)
	return nil
}

// SetUserinfoFromToken implements op.Storage for the userinfo endpoint,
// which needs an active access token with the openid scope.
func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	at, _, err := s.accessTokenLocked(tokenID, subject)
	s.mu.Unlock()
	if err != nil {
		// RFC 6750 section 3.1 names both errors.
		return &oidc.Error{ErrorType: "invalid_token", Description: "the access token is invalid, expired or revoked"}
	}
	if !slices.Contains(at.scopes, oidc.ScopeOpenID) {
		return &oidc.Error{ErrorType: "insufficient_scope", Description: "userinfo needs a token with the openid scope"}
	}
	return s.fillUserinfo(info, subject, at.scopes)
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest: the
// claims of ID tokens.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, request op.IDTokenRequest, scopes []string) error {
	return s.fillUserinfo(info, request.GetSubject(), scopes)
}

// SetUserinfoFromScopes implements op.Storage. The OP package calls it
// before SetUserinfoFromRequest, which does the work, and documents it as
// deprecated.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// GetPrivateClaimsFromScopes implements op.Storage. The OP package calls
// it only for JWT access tokens, which this provider does not issue.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// fillUserinfo sets the claims of the user subject that scopes allow.
func (s *storage) fillUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	u, ok := s.users[subject]
	if !ok {
		return fmt.Errorf("%w: user %q", errNotFound, subject)
	}
	info.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.Name
		info.PreferredUsername = u.ID
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		info.Email = u.Email
		info.EmailVerified = true
	}
	return nil
}

// newGrantLocked creates the grant that the code exchange of req makes.
// s.mu must be held.
func (s *storage) newGrantLocked(req *authRequest) (*grant, error) {
	if req.grantID == "" || !req.approved || req.subject == "" {
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code is not valid")
	}
	if _, exists := s.grants[req.grantID]; exists {
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code was already used")
	}
	g := &grant{
		id: req.grantID, clientID: req.ClientID, subject: req.subject,
		scopes: slices.Clone(req.Scopes), authTime: req.authTime, amr: req.GetAMR(),
		accessTokens: map[string]bool{}, refreshTokens: map[string]bool{},
	}
	s.grants[g.id] = g
	s.logger.Info("grant created", "client_id", g.clientID, "subject", g.subject, "scopes", g.scopes)
	return g, nil
}

// newAccessTokenLocked issues an access token of g with scopes and
// returns it. s.mu must be held.
func (s *storage) newAccessTokenLocked(g *grant, scopes []string) *accessToken {
	now := s.now()
	at := &accessToken{
		id: rand.Text(), grantID: g.id, scopes: slices.Clone(scopes), audience: s.audience(g.clientID, scopes),
		issuedAt: now, expiresAt: now.Add(s.accessTTL),
	}
	s.accessTokens[at.id] = at
	g.accessTokens[at.id] = true
	return at
}

// newRefreshTokenLocked issues a refresh token of g and returns its
// value. The storage keeps only the value's SHA-256. s.mu must be held.
func (s *storage) newRefreshTokenLocked(g *grant) string {
	token := rand.Text() + rand.Text()
	rt := &refreshToken{hash: hashToken(token), grantID: g.id, expiresAt: s.now().Add(s.refreshTTL)}
	s.refreshTokens[rt.hash] = rt
	g.refreshTokens[rt.hash] = true
	return token
}

// useRefreshTokenLocked marks the refresh token with hash used and returns
// its grant. A token that is already used, for example by a concurrent
// refresh that won, counts as reuse. s.mu must be held.
func (s *storage) useRefreshTokenLocked(hash string) (*grant, error) {
	rt, g, err := s.refreshTokenLocked(hash)
	if err != nil {
		return nil, err
	}
	if rt.used {
		s.refreshReusedLocked(g)
		return nil, errInvalidGrant()
	}
	rt.used = true
	return g, nil
}

// refreshReusedLocked revokes g after one of its used refresh tokens came
// back. s.mu must be held.
func (s *storage) refreshReusedLocked(g *grant) {
	s.revokeGrantLocked(g.id)
	s.logger.Warn("used refresh token presented again; its grant is revoked", "client_id", g.clientID, "subject", g.subject)
}

// refreshTokenLocked returns the unexpired refresh token with hash and its
// grant. s.mu must be held.
func (s *storage) refreshTokenLocked(hash string) (*refreshToken, *grant, error) {
	rt, ok := s.refreshTokens[hash]
	if !ok || !s.now().Before(rt.expiresAt) {
		return nil, nil, errors.Join(op.ErrInvalidRefreshToken, errInvalidGrant())
	}
	g, ok := s.grants[rt.grantID]
	if !ok {
		return nil, nil, errors.Join(op.ErrInvalidRefreshToken, errInvalidGrant())
	}
	return rt, g, nil
}

// accessTokenLocked returns the unexpired access token with id whose
// grant's subject is subject, and that grant. s.mu must be held.
func (s *storage) accessTokenLocked(id, subject string) (*accessToken, *grant, error) {
	at, ok := s.accessTokens[id]
	if !ok || !s.now().Before(at.expiresAt) {
		return nil, nil, fmt.Errorf("%w: access token", errNotFound)
	}
	g, ok := s.grants[at.grantID]
	if !ok || g.subject != subject {
		return nil, nil, fmt.Errorf("%w: access token", errNotFound)
	}
	return at, g, nil
}

// revokeGrantLocked deletes the grant with id and all its tokens, and
// reports whether it existed. s.mu must be held.
func (s *storage) revokeGrantLocked(id string) bool {
	g, ok := s.grants[id]
	if !ok {
		return false
	}
	for tokenID := range g.accessTokens {
		delete(s.accessTokens, tokenID)
	}
	for hash := range g.refreshTokens {
		delete(s.refreshTokens, hash)
	}
	delete(s.grants, id)
	return true
}

// audience returns the audience of an access token of clientID with
// scopes: the client, then every resource server that one of the scopes
// selects, sorted.
func (s *storage) audience(clientID string, scopes []string) []string {
	var servers []string
	for id, rs := range s.resources {
		if containsAny(scopes, rs.Scopes) {
			servers = append(servers, id)
		}
	}
	slices.Sort(servers)
	return append([]string{clientID}, servers...)
}

// sweepLocked deletes expired auth requests, codes and tokens, and grants
// left without tokens, at most once per sweepEvery. s.mu must be held.
func (s *storage) sweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < sweepEvery {
		return
	}
	s.lastSweep = now
	for id, r := range s.requests {
		if !now.Before(r.expiresAt) {
			delete(s.requests, id)
		}
	}
	for hash, id := range s.codes {
		if _, ok := s.requests[id]; !ok {
			delete(s.codes, hash)
		}
	}
	for hash, used := range s.usedCodes {
		if !now.Before(used.expiresAt) {
			delete(s.usedCodes, hash)
		}
	}
	for id, at := range s.accessTokens {
		if !now.Before(at.expiresAt) {
			delete(s.accessTokens, id)
			if g := s.grants[at.grantID]; g != nil {
				delete(g.accessTokens, id)
			}
		}
	}
	for hash, rt := range s.refreshTokens {
		if !now.Before(rt.expiresAt) {
			delete(s.refreshTokens, hash)
			if g := s.grants[rt.grantID]; g != nil {
				delete(g.refreshTokens, hash)
			}
		}
	}
	for id, g := range s.grants {
		if len(g.accessTokens) == 0 && len(g.refreshTokens) == 0 {
			delete(s.grants, id)
		}
	}
}
