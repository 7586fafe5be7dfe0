package oidcprovider

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Limits of an authorization.
const (
	// authRequestTTL is how long a user has to sign in and decide.
	authRequestTTL = 10 * time.Minute
	// codeTTL is how long an authorization code can be exchanged. RFC 6749
	// section 4.1.2 recommends at most 10 minutes.
	codeTTL = 2 * time.Minute
	// maxLoginAttempts is the number of wrong passwords after which an
	// auth request is deleted.
	//
	// NOTE: the limit is per auth request, and anyone can start another
	// one, so it slows password guessing down but does not stop it. Real
	// passwords would need a limit per account as well.
	maxLoginAttempts = 5
	// maxPendingRequests bounds the memory that unfinished auth requests
	// take. Beyond it, /authorize fails with temporarily_unavailable.
	maxPendingRequests = 10_000
)

// Errors of the page operations, which the pages turn into messages.
var (
	errRequestGone     = errors.New("oidcprovider: the sign-in request is unknown, finished or expired")
	errOtherBrowser    = errors.New("oidcprovider: the sign-in request belongs to another browser")
	errFormToken       = errors.New("oidcprovider: the form token does not match the sign-in request")
	errWrongPassword   = errors.New("oidcprovider: wrong username or password")
	errTooManyAttempts = errors.New("oidcprovider: too many wrong passwords")
	errNotSignedIn     = errors.New("oidcprovider: the user has not signed in for this request")
)

// authRequest is an authorization request in progress. The embedded
// oidc.AuthRequest contains the parameters as the OP package validated them.
type authRequest struct {
	oidc.AuthRequest
	id        string
	expiresAt time.Time
	// binding is the SHA-256 of the browser cookie of the browser that
	// first opened the login page. Empty until then.
	binding string
	// formToken must come back with every form post.
	formToken    string
	failedLogins int
	subject      string
	authTime     time.Time
	// approved is set when the user approves on the consent page.
	approved bool
	// codeIssued is set when the OP package saved this request's code.
	codeIssued bool
	// grantID names the grant that the code exchange creates. It is set
	// on the copy that AuthRequestByCode returns.
	grantID string
}

var _ op.AuthRequest = (*authRequest)(nil)

func (r *authRequest) GetID() string         { return r.id }
func (r *authRequest) GetACR() string        { return "" }
func (r *authRequest) GetAudience() []string { return []string{r.ClientID} }
func (r *authRequest) GetAuthTime() time.Time {
	return r.authTime
}
func (r *authRequest) GetClientID() string { return r.ClientID }
func (r *authRequest) GetNonce() string    { return r.Nonce }
func (r *authRequest) GetScopes() []string { return slices.Clone(r.Scopes) }
func (r *authRequest) GetSubject() string  { return r.subject }
func (r *authRequest) Done() bool          { return r.approved }
func (r *authRequest) GetResponseMode() oidc.ResponseMode {
	return r.ResponseMode
}

// GetAMR returns pwd once the user signed in with a password (RFC 8176).
func (r *authRequest) GetAMR() []string {
	if r.subject == "" {
		return nil
	}
	return []string{"pwd"}
}

// GetCodeChallenge never returns nil, because CreateAuthRequest rejects
// requests without an S256 challenge.
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
}

// copy returns a copy that the caller may read without s.mu. The slices
// are shared, which is safe because nothing changes them in place.
func (r *authRequest) copy() *authRequest {
	c := *r
	return &c
}

// usedCode is an authorization code that was presented once.
type usedCode struct {
	grantID   string
	expiresAt time.Time
}

// CreateAuthRequest implements op.Storage. It requires PKCE with S256
// and rejects prompt=none, because the provider has no session to sign
// in from. The returned errors are OAuth errors, which the OP package
// sends to the client's redirect URI.
func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256 (RFC 7636)")
	}
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired().WithDescription("this provider keeps no sign-in session, so every authorization needs the login page")
	}

	now := s.now()
	r := &authRequest{
		AuthRequest: *req,
		id:          rand.Text(),
		expiresAt:   now.Add(authRequestTTL),
		formToken:   rand.Text(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	if len(s.requests) >= maxPendingRequests {
		s.lastSweep = time.Time{}
		s.sweepLocked(now)
	}
	if len(s.requests) >= maxPendingRequests {
		if !s.full {
			s.logger.Warn("authorizations rejected until sign-ins in progress finish or expire", "max_pending", maxPendingRequests)
		}
		s.full = true
		// RFC 6749 section 4.1.2.1 defines temporarily_unavailable.
		return nil, &oidc.Error{ErrorType: "temporarily_unavailable", Description: "too many sign-ins are in progress; try again in a few minutes"}
	}
	s.full = false
	s.requests[r.id] = r
	return r.copy(), nil
}

// AuthRequestByID implements op.Storage.
func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.requestLocked(id)
	if err != nil {
		return nil, err
	}
	return r.copy(), nil
}

// SaveAuthCode implements op.Storage. A request gets one code, and only
// after the user approved it.
func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.requestLocked(id)
	if err != nil {
		return err
	}
	if !r.approved {
		return oidc.ErrAccessDenied().WithDescription("the user has not approved this request")
	}
	if r.codeIssued {
		return oidc.ErrInvalidRequest().WithDescription("a code was already issued for this request")
	}
	r.codeIssued = true
	r.expiresAt = s.now().Add(codeTTL)
	s.codes[hashToken(code)] = id
	return nil
}

// AuthRequestByCode implements op.Storage. The code is consumed on its
// first presentation, whether or not the exchange then succeeds, so a
// wrong PKCE verifier also spends it. A second presentation of a consumed
// code fails and revokes the grant made from it (RFC 6749 section 4.1.2).
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	hash := hashToken(code)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()

	id, ok := s.codes[hash]
	if !ok {
		if used, replayed := s.usedCodes[hash]; replayed {
			revoked := s.revokeGrantLocked(used.grantID)
			s.logger.Warn("authorization code presented twice; its grant is revoked", "grant_revoked", revoked)
			return nil, errors.New("oidcprovider: the authorization code was already used")
		}
		return nil, fmt.Errorf("%w: authorization code", errNotFound)
	}
	delete(s.codes, hash)
	r, err := s.requestLocked(id)
	if err != nil {
		return nil, err
	}
	grantID := rand.Text()
	s.usedCodes[hash] = &usedCode{grantID: grantID, expiresAt: now.Add(s.refreshTTL)}
	c := r.copy()
	c.grantID = grantID
	return c, nil
}

// DeleteAuthRequest implements op.Storage. The OP package calls it once
// the tokens are issued.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	return nil
}

// requestLocked returns the unexpired request with id. s.mu must be held.
func (s *storage) requestLocked(id string) (*authRequest, error) {
	r, ok := s.requests[id]
	if !ok {
		return nil, fmt.Errorf("%w: auth request", errNotFound)
	}
	if !s.now().Before(r.expiresAt) {
		delete(s.requests, id)
		return nil, fmt.Errorf("%w: auth request (expired)", errNotFound)
	}
	return r, nil
}

// openPage returns a copy of the request with id for a page that the
// browser with cookie hash binding opens. The first page opened binds the
// request to that browser.
func (s *storage) openPage(id, binding string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.pageRequestLocked(id, binding)
	if err != nil {
		return nil, err
	}
	return r.copy(), nil
}

// pageRequestLocked returns the request with id that a page may act on:
// unexpired, not approved yet, and bound to binding, binding it when it is
// not bound yet. s.mu must be held.
func (s *storage) pageRequestLocked(id, binding string) (*authRequest, error) {
	r, err := s.requestLocked(id)
	if err != nil || r.approved {
		return nil, errRequestGone
	}
	if r.binding == "" {
		r.binding = binding
	}
	if subtle.ConstantTimeCompare([]byte(r.binding), []byte(binding)) != 1 {
		return nil, errOtherBrowser
	}
	return r, nil
}

// signIn checks a login form post for the request with id. It returns the
// request's copy after a correct password, errWrongPassword after a wrong
// one, and errTooManyAttempts (deleting the request) after the last
// allowed one.
func (s *storage) signIn(id, binding, formToken, username, password string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.pageRequestLocked(id, binding)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(r.formToken), []byte(formToken)) != 1 {
		return nil, errFormToken
	}

	if !s.checkPassword(username, password) {
		r.failedLogins++
		if r.failedLogins >= maxLoginAttempts {
			delete(s.requests, id)
			return nil, errTooManyAttempts
		}
		return r.copy(), errWrongPassword
	}
	r.subject, r.authTime = username, s.now()
	return r.copy(), nil
}

// decide records the user's consent decision for the request with id. An
// approval marks the request done, and a denial deletes it. It returns the
// request's copy, which a denial needs for the error redirect.
func (s *storage) decide(id, binding, formToken string, approve bool) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.pageRequestLocked(id, binding)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(r.formToken), []byte(formToken)) != 1 {
		return nil, errFormToken
	}
	if r.subject == "" {
		return nil, errNotSignedIn
	}
	if approve {
		r.approved = true
	} else {
		delete(s.requests, id)
	}
	return r.copy(), nil
}
