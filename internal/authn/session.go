package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/store"
)

// sessionTouchInterval is how often a session in use is written back to
// extend it. Touching at most once a minute saves a database write per
// request, at the cost of a session ending up to a minute before SessionTTL
// after its last request.
const sessionTouchInterval = time.Minute

// startSession stores a new session for user and sets its cookie on w.
// method is the store's AuthMethod ("oidc" or "dev"). idToken, if not empty,
// is kept sealed for RP-initiated logout. A session that the request's cookie
// already names is deleted, so signing in again never leaves two sessions
// behind one browser.
func (a *Authenticator) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, user *store.User, method, idToken string) error {
	now := a.now()
	token := newSecret()
	idHash := hashSecret(token)

	var sealedHint string
	if idToken != "" {
		var err error
		sealedHint, err = a.keyring.Seal([]byte(idToken), store.SessionIDTokenAAD(idHash))
		if err != nil {
			return fmt.Errorf("authn: seal id token: %w", err)
		}
	}
	sess := &store.Session{
		IDHash:      idHash,
		UserID:      user.ID,
		Name:        user.Name,
		Email:       user.Email,
		Roles:       user.Roles,
		AuthMethod:  method,
		CSRFToken:   newSecret(),
		IDTokenHint: sealedHint,
		CreatedAt:   now,
		LastSeenAt:  now,
		ExpiresAt:   now.Add(a.opts.SessionTTL),
	}
	if err := a.store.CreateSession(ctx, sess); err != nil {
		return fmt.Errorf("authn: create session: %w", err)
	}

	if old, ok := a.sessionCookieValue(r); ok {
		if err := a.store.DeleteSession(ctx, hashSecret(old)); err != nil {
			a.logger.WarnContext(ctx, "delete replaced session failed", "user_id", user.ID, "err", err)
		}
	}
	a.setSessionCookie(w, token)
	return nil
}

// sessionCookieValue returns the request's session cookie if it has the shape
// of a session token.
func (a *Authenticator) sessionCookieValue(r *http.Request) (string, bool) {
	c, err := r.Cookie(a.sessionCookie)
	if err != nil || !isSecretFormat(c.Value) {
		return "", false
	}
	return c.Value, true
}

// loadSession returns the live session named by the request's cookie and
// the hash of the cookie. It returns a nil session, and no error, when the
// request has no cookie or the session has ended.
func (a *Authenticator) loadSession(ctx context.Context, r *http.Request) (*store.Session, string, error) {
	token, ok := a.sessionCookieValue(r)
	if !ok {
		return nil, "", nil
	}
	idHash := hashSecret(token)
	sess, err := a.store.GetSession(ctx, idHash, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("authn: load session: %w", err)
	}
	return sess, idHash, nil
}

// sessionIdentity returns the identity of the request's session, or nil when
// there is none. It extends a session in use at most once per
// sessionTouchInterval and then renews the cookie's lifetime on w.
func (a *Authenticator) sessionIdentity(w http.ResponseWriter, r *http.Request) (*Identity, error) {
	ctx := r.Context()
	sess, idHash, err := a.loadSession(ctx, r)
	if err != nil || sess == nil {
		return nil, err
	}

	now := a.now()
	if now.Sub(sess.LastSeenAt) >= sessionTouchInterval {
		err := a.store.TouchSession(ctx, idHash, now, now.Add(a.opts.SessionTTL))
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Signed out by another request since loadSession.
			return nil, nil
		case err != nil:
			// The session is still valid until its old expiry, so serve
			// the request and try again on the next one.
			a.logger.WarnContext(ctx, "extend session failed", "user_id", sess.UserID, "err", err)
		default:
			token, _ := a.sessionCookieValue(r)
			a.setSessionCookie(w, token)
		}
	}

	return &Identity{
		UserID:    sess.UserID,
		Name:      sess.Name,
		Email:     sess.Email,
		Roles:     sess.Roles,
		Method:    MethodSession,
		CSRFToken: sess.CSRFToken,
		adminRole: a.opts.AdminRole,
	}, nil
}

// handleLogout serves POST /auth/logout. It deletes the session row, so every
// replica rejects the cookie from then on, clears the cookie and redirects to
// "/". When the session came from an OpenID provider that publishes an
// end_session_endpoint, it redirects there instead (OpenID Connect
// RP-Initiated Logout 1.0) with the ID token as id_token_hint and
// ExternalURL + "/" as post_logout_redirect_uri, which must be registered at
// the provider.
func (a *Authenticator) handleLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, idHash, err := a.loadSession(ctx, r)
	if err != nil {
		problem.Write(w, r, a.logger, problem.Internal(err))
		return
	}
	csrfToken := ""
	if sess != nil {
		csrfToken = sess.CSRFToken
	}
	if err := a.checkCSRF(r, csrfToken); err != nil {
		problem.Write(w, r, a.logger, err)
		return
	}

	a.clearCookie(w, a.sessionCookie)
	if sess == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err := a.store.DeleteSession(ctx, idHash); err != nil {
		problem.Write(w, r, a.logger, problem.Internal(fmt.Errorf("authn: delete session: %w", err)))
		return
	}
	a.logger.InfoContext(ctx, "signed out", "user_id", sess.UserID, "method", sess.AuthMethod)

	http.Redirect(w, r, a.postLogoutURL(ctx, sess, idHash), http.StatusSeeOther)
}

// postLogoutURL returns where the browser goes after sign-out: the provider's
// end_session_endpoint when there is one and the session kept an ID token,
// otherwise "/".
func (a *Authenticator) postLogoutURL(ctx context.Context, sess *store.Session, idHash string) string {
	if a.endSessionURL == "" || sess.IDTokenHint == "" {
		return "/"
	}
	idToken, err := a.keyring.Open(sess.IDTokenHint, store.SessionIDTokenAAD(idHash))
	if err != nil {
		a.logger.WarnContext(ctx, "open id token hint failed", "user_id", sess.UserID, "err", err)
		return "/"
	}
	u, err := url.Parse(a.endSessionURL)
	if err != nil {
		a.logger.WarnContext(ctx, "parse end session endpoint failed", "err", err)
		return "/"
	}
	q := u.Query()
	q.Set("id_token_hint", string(idToken))
	q.Set("client_id", a.opts.ClientID)
	q.Set("post_logout_redirect_uri", a.externalURL("/"))
	u.RawQuery = q.Encode()
	return u.String()
}

// setSessionCookie sets the session cookie to token, living as long as an
// idle session.
func (a *Authenticator) setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name:     a.sessionCookie,
		Value:    token,
		Path:     "/",
		MaxAge:   int(a.opts.SessionTTL / time.Second),
		HttpOnly: true,
		Secure:   a.secureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

// clearCookie sets the cookie called name to expire at once, so the browser
// deletes it.
func (a *Authenticator) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   a.secureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}
