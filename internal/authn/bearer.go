package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/toolgate/toolgate/internal/problem"
)

// bearerError is the reason a request's credentials are rejected. detail is
// safe to send to the client, and cause, if set, goes only to the log. A
// reasonInternal error becomes a 500, every other one a 401.
type bearerError struct {
	reason string
	detail string
	// invalidRequest marks a malformed Authorization header rather than an
	// invalid token (RFC 6750 section 3.1).
	invalidRequest bool
	cause          error
}

// authenticateBearer resolves the request's Authorization header: a Toolgate
// API token when it starts with APITokenPrefix, a JWT from the OpenID provider
// when it has the shape of a JWS compact serialization, and an error for
// anything else.
func (a *Authenticator) authenticateBearer(r *http.Request) (*Identity, *bearerError) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, &bearerError{reason: reasonMalformed, invalidRequest: true,
			detail: `the Authorization header must be "Bearer " followed by a Toolgate API token or a JWT`}
	}
	switch {
	case strings.HasPrefix(token, APITokenPrefix):
		return a.authenticateAPIToken(r.Context(), token)
	case isJWTShape(token):
		return a.authenticateJWT(r.Context(), token)
	}
	return nil, &bearerError{reason: reasonUnsupported, detail: "the bearer token is neither a Toolgate API token nor a JWT"}
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header
// (RFC 6750 section 2.1). The scheme is case-insensitive.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// isJWTShape reports whether s looks like a JWS compact serialization: three
// non-empty base64url parts separated by dots. It does not verify anything.
func isJWTShape(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.IndexFunc(p, func(r rune) bool { return !isASCIIAlnum(r) && r != '-' && r != '_' }) >= 0 {
			return false
		}
	}
	return true
}

// authenticateJWT verifies a bearer JWT with the provider's key set and
// returns its identity. go-oidc checks the signature, the issuer, that the
// audience contains Options.JWTAudience, and expiry. It does not check the
// token type, so an ID token issued to Toolgate's own client id is accepted
// when JWTAudience is the client id.
//
// NOTE: go-oidc v3.21 fetches the provider's key set again for every token
// whose signature fails with the cached keys, so a stream of forged tokens
// becomes a stream of key set requests to the provider. A provider outage
// also surfaces here as 401 rather than 503. A rate-limited key set would fix
// both.
func (a *Authenticator) authenticateJWT(ctx context.Context, raw string) (*Identity, *bearerError) {
	if a.jwtVerifier == nil {
		return nil, &bearerError{reason: reasonUnsupported, detail: "this server accepts bearer JWTs only in oidc mode, so send a Toolgate API token instead"}
	}
	token, err := a.jwtVerifier.Verify(oidc.ClientContext(ctx, a.opts.HTTPClient), raw)
	var expired *oidc.TokenExpiredError
	if errors.As(err, &expired) {
		return nil, &bearerError{reason: reasonExpired, detail: "the JWT expired at " + expired.Expiry.UTC().Format(time.RFC3339)}
	}
	if err != nil {
		return nil, &bearerError{reason: reasonInvalidJWT, cause: fmt.Errorf("authn: verify jwt: %w", err),
			detail: "the JWT is not valid: it must be signed by " + a.opts.Issuer + " for audience " + a.opts.JWTAudience}
	}

	var claims map[string]any
	if err := token.Claims(&claims); err != nil {
		return nil, &bearerError{reason: reasonInvalidJWT, detail: "the JWT claims could not be decoded", cause: fmt.Errorf("authn: decode jwt claims: %w", err)}
	}
	user, err := a.userFromClaims(claims)
	if err != nil {
		return nil, &bearerError{reason: reasonInvalidJWT, detail: "the JWT has no sub claim or an unreadable roles claim", cause: err}
	}
	return &Identity{
		UserID:    user.ID,
		Name:      user.Name,
		Email:     user.Email,
		Roles:     user.Roles,
		Method:    MethodJWT,
		adminRole: a.opts.AdminRole,
	}, nil
}

// writeBearerError writes the response for rejected bearer credentials:
// 401 with a WWW-Authenticate challenge (RFC 6750 section 3) and a
// problem+json body, or 500 when the check itself failed. The response never
// contains the token.
func (a *Authenticator) writeBearerError(w http.ResponseWriter, r *http.Request, e *bearerError) {
	a.metrics.rejectBearer(e.reason)
	if e.reason == reasonInternal {
		problem.Write(w, r, a.logger, problem.Internal(e.cause))
		return
	}
	if e.cause != nil {
		a.logger.DebugContext(r.Context(), "bearer token rejected", "reason", e.reason, "err", e.cause)
	}

	code, challenge := "invalid_token", `Bearer error="invalid_token"`
	if e.invalidRequest {
		code, challenge = "invalid_request", `Bearer error="invalid_request"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	problem.Write(w, r, nil, problem.New(http.StatusUnauthorized, code, e.detail))
}
