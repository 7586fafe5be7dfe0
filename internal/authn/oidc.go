package authn

// # Design note: the OpenID Connect sign-in
//
// Toolgate signs browsers in with the authorization code flow (OpenID Connect
// Core 1.0, section 3.1) with PKCE S256 (RFC 7636), a nonce and a state:
//
//	browser            Toolgate                          OpenID provider
//	   |-- GET /auth/login --->|                                |
//	   |                       | new state, verifier, nonce;    |
//	   |                       | store the flow (state hashed,  |
//	   |                       | verifier sealed), set cookie   |
//	   |<-- 302 authorize -----|                                |
//	   |------------------ sign in at the provider ------------>|
//	   |<------------- 302 /auth/callback?code&state -----------|
//	   |-- GET /auth/callback->| cookie == state? consume flow  |
//	   |                       |-- code + verifier ------------>|
//	   |                       |<-- ID token -------------------|
//	   |                       | verify token and nonce, upsert |
//	   |                       | user, create session           |
//	   |<-- 302 return_to -----|  (session cookie set)          |
//
// The flow row lives in the store, so any replica can serve the callback.
// ConsumeLoginFlow deletes the row as it reads it, so a state works once, and
// rows expire after loginFlowTTL. The store holds the SHA-256 of the state,
// so a database reader cannot complete someone else's sign-in. It holds the
// PKCE verifier sealed with the associated data "login_flows.verifier:" + the
// state hash, so a verifier copied into another row does not open.
//
// The state also goes into a short-lived cookie, which the callback compares
// with the state in the URL. Without it an attacker could start a sign-in,
// sign in at the provider as themselves and send the victim the callback URL,
// which would sign the victim into the attacker's account (login CSRF). The
// cookie is SameSite=Lax, which browsers still send on the provider's
// top-level redirect back to Toolgate. One browser has one such cookie, so
// when two sign-ins are started in two tabs only the later one completes.
//
// Errors at the callback are shown on a small HTML page with a reason in plain
// words and a link to start again. The page never shows a code, token, state
// or verifier, and the log gets the cause without them.

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/toolgate/toolgate/internal/store"
)

// loginFlowTTL is the maximum time between the start of a sign-in and its
// callback.
const loginFlowTTL = 10 * time.Minute

// maxReturnToLen limits the length of a return_to path.
const maxReturnToLen = 2048

// handleOIDCLogin serves GET /auth/login in ModeOIDC: it stores a new flow
// and redirects to the provider's authorization endpoint.
func (a *Authenticator) handleOIDCLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	returnTo := safeReturnTo(r.URL.Query().Get("return_to"))

	state, verifier, nonce := newSecret(), oauth2.GenerateVerifier(), newSecret()
	stateHash := hashSecret(state)
	sealed, err := a.keyring.Seal([]byte(verifier), store.LoginFlowVerifierAAD(stateHash))
	if err != nil {
		a.failSignIn(w, r, ModeOIDC, resultInternalError, http.StatusInternalServerError, reasonServerError,
			fmt.Errorf("authn: seal verifier: %w", err))
		return
	}
	now := a.now()
	flow := &store.LoginFlow{
		StateHash: stateHash,
		Verifier:  sealed,
		Nonce:     nonce,
		ReturnTo:  returnTo,
		CreatedAt: now,
		ExpiresAt: now.Add(loginFlowTTL),
	}
	if err := a.store.CreateLoginFlow(ctx, flow); err != nil {
		a.failSignIn(w, r, ModeOIDC, resultInternalError, http.StatusInternalServerError, reasonServerError,
			fmt.Errorf("authn: create login flow: %w", err))
		return
	}

	http.SetCookie(w, &http.Cookie{
		Name:     a.flowCookie,
		Value:    state,
		Path:     "/",
		MaxAge:   int(loginFlowTTL / time.Second),
		HttpOnly: true,
		Secure:   a.secureCookies,
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	authURL := a.oauth2Config.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	http.Redirect(w, r, authURL, http.StatusFound)
}

// Reasons shown on the sign-in error page.
const (
	reasonServerError   = "Toolgate could not complete the sign-in because of a server error. The server log has the details."
	reasonMissingState  = "The response from the sign-in provider has no state parameter, so Toolgate cannot match it to a sign-in."
	reasonOtherBrowser  = "This sign-in was started in another browser or tab, or more than 10 minutes ago."
	reasonUsedOrExpired = "This sign-in has already been completed or has expired."
	reasonMissingCode   = "The sign-in provider returned no authorization code."
	reasonExchange      = "The sign-in provider did not accept the authorization code."
	reasonIDToken       = "The ID token from the sign-in provider could not be verified."
	reasonClaims        = "The ID token from the sign-in provider has no usable user id or roles."
)

// handleCallback serves GET /auth/callback: it completes the flow named by
// the state, verifies the ID token, records the user and starts a session.
func (a *Authenticator) handleCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")

	// Check the response and the browser binding before touching the store.
	if providerErr := q.Get("error"); providerErr != "" {
		a.consumeQuietly(ctx, state)
		a.failSignIn(w, r, ModeOIDC, resultProviderError, http.StatusBadRequest,
			providerErrorReason(providerErr, q.Get("error_description")),
			fmt.Errorf("authn: provider returned error %q", providerErr))
		return
	}
	if state == "" {
		a.failSignIn(w, r, ModeOIDC, resultInvalidState, http.StatusBadRequest, reasonMissingState, errors.New("authn: callback without state"))
		return
	}
	cookie, err := r.Cookie(a.flowCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(state)) != 1 {
		a.failSignIn(w, r, ModeOIDC, resultInvalidState, http.StatusBadRequest, reasonOtherBrowser,
			errors.New("authn: state does not match the sign-in cookie"))
		return
	}
	a.clearCookie(w, a.flowCookie)

	// Consume the flow: from here on the state cannot be used again.
	stateHash := hashSecret(state)
	flow, err := a.store.ConsumeLoginFlow(ctx, stateHash, a.now())
	if errors.Is(err, store.ErrNotFound) {
		a.failSignIn(w, r, ModeOIDC, resultInvalidState, http.StatusBadRequest, reasonUsedOrExpired,
			errors.New("authn: login flow not found, used or expired"))
		return
	}
	if err != nil {
		a.failSignIn(w, r, ModeOIDC, resultInternalError, http.StatusInternalServerError, reasonServerError, fmt.Errorf("authn: consume login flow: %w", err))
		return
	}
	verifier, err := a.keyring.Open(flow.Verifier, store.LoginFlowVerifierAAD(stateHash))
	if err != nil {
		a.failSignIn(w, r, ModeOIDC, resultInternalError, http.StatusInternalServerError, reasonServerError, fmt.Errorf("authn: open verifier: %w", err))
		return
	}

	// Redeem the code and verify the ID token.
	code := q.Get("code")
	if code == "" {
		a.failSignIn(w, r, ModeOIDC, resultExchangeFailed, http.StatusBadRequest, reasonMissingCode, errors.New("authn: callback without code"))
		return
	}
	token, err := a.oauth2Config.Exchange(oidc.ClientContext(ctx, a.opts.HTTPClient), code, oauth2.VerifierOption(string(verifier)))
	if err != nil {
		a.failSignIn(w, r, ModeOIDC, resultExchangeFailed, http.StatusBadRequest, reasonExchange, fmt.Errorf("authn: exchange code: %w", err))
		return
	}
	rawIDToken, claims, err := a.verifyIDToken(ctx, token, flow.Nonce)
	if err != nil {
		a.failSignIn(w, r, ModeOIDC, resultInvalidIDToken, http.StatusBadRequest, reasonIDToken, err)
		return
	}
	user, err := a.userFromClaims(claims)
	if err != nil {
		a.failSignIn(w, r, ModeOIDC, resultInvalidClaims, http.StatusBadRequest, reasonClaims, err)
		return
	}

	// Record the user and start the session.
	if err := a.signIn(ctx, w, r, user, ModeOIDC, rawIDToken); err != nil {
		a.failSignIn(w, r, ModeOIDC, resultInternalError, http.StatusInternalServerError, reasonServerError, err)
		return
	}
	http.Redirect(w, r, flow.ReturnTo, http.StatusFound)
}

// verifyIDToken checks the ID token of a token response: signature, issuer,
// audience and expiry (by go-oidc), then the nonce of the flow and, when the
// token has an at_hash claim, the access token. It returns the raw token and
// its claims.
func (a *Authenticator) verifyIDToken(ctx context.Context, token *oauth2.Token, nonce string) (string, map[string]any, error) {
	raw, _ := token.Extra("id_token").(string)
	if raw == "" {
		return "", nil, errors.New("authn: token response has no id_token")
	}
	idToken, err := a.idTokenVerifier.Verify(oidc.ClientContext(ctx, a.opts.HTTPClient), raw)
	if err != nil {
		return "", nil, fmt.Errorf("authn: verify id token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(nonce)) != 1 {
		return "", nil, errors.New("authn: id token nonce does not match the sign-in")
	}
	if idToken.AccessTokenHash != "" {
		if err := idToken.VerifyAccessToken(token.AccessToken); err != nil {
			return "", nil, fmt.Errorf("authn: verify at_hash: %w", err)
		}
	}
	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		return "", nil, fmt.Errorf("authn: decode id token claims: %w", err)
	}
	return raw, claims, nil
}

// signIn records user with the configured admin role applied and starts a
// session for them. method is ModeOIDC or ModeDev.
func (a *Authenticator) signIn(ctx context.Context, w http.ResponseWriter, r *http.Request, user *store.User, method, idToken string) error {
	now := a.now()
	user.CreatedAt, user.LastSeenAt = now, now
	if err := a.store.UpsertUser(ctx, user); err != nil {
		return fmt.Errorf("authn: record user: %w", err)
	}
	if err := a.startSession(ctx, w, r, user, method, idToken); err != nil {
		return err
	}
	a.metrics.signIn(method, resultSuccess)
	a.logger.InfoContext(ctx, "signed in", "user_id", user.ID, "method", method)
	return nil
}

// consumeQuietly deletes the flow of state, if any, after the provider
// reported an error, so that the state cannot be used later.
func (a *Authenticator) consumeQuietly(ctx context.Context, state string) {
	if state == "" {
		return
	}
	if _, err := a.store.ConsumeLoginFlow(ctx, hashSecret(state), a.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.logger.WarnContext(ctx, "delete login flow failed", "err", err)
	}
}

// failSignIn counts and logs a failed sign-in and shows the error page with
// reason. cause goes to the log only.
func (a *Authenticator) failSignIn(w http.ResponseWriter, r *http.Request, method, result string, status int, reason string, cause error) {
	a.metrics.signIn(method, result)
	if status >= http.StatusInternalServerError {
		a.logger.ErrorContext(r.Context(), "sign-in failed", "method", method, "result", result, "err", cause)
	} else {
		a.logger.InfoContext(r.Context(), "sign-in rejected", "method", method, "result", result, "err", cause)
	}
	a.renderErrorPage(w, r, status, reason)
}

// providerErrorReason words an error response of the authorization endpoint
// (RFC 6749 section 4.1.2.1) for the error page.
func providerErrorReason(code, description string) string {
	reason := "The sign-in provider returned the error " + truncate(code, 64) + "."
	if code == "access_denied" {
		reason = "The sign-in was cancelled or access was denied at the sign-in provider."
	}
	if description != "" {
		reason += " It said: " + truncate(description, 200)
	}
	return reason
}

// truncate shortens s to at most n bytes at a rune boundary and adds "…"
// when it cut something.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// safeReturnTo returns p when it is a path on Toolgate's own origin, and "/"
// otherwise. A local path starts with one "/" and no "//" or "/\", which
// browsers would read as another host, and has no control characters, which
// browsers strip before parsing ("/\t/evil.example" becomes
// "//evil.example").
func safeReturnTo(p string) string {
	if p == "" || len(p) > maxReturnToLen || p[0] != '/' {
		return "/"
	}
	if strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return "/"
		}
	}
	return p
}
