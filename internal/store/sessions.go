package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Session is a signed-in browser. The cookie carries a random token; only
// its hash is stored, so a database reader cannot hijack sessions.
type Session struct {
	IDHash     string
	UserID     string
	Name       string
	Email      string
	Roles      []string
	AuthMethod string // "oidc" or "dev"
	CSRFToken  string
	// IDTokenHint is the OpenID provider's ID token, kept sealed for
	// RP-initiated logout. Empty for dev sessions.
	IDTokenHint string
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ExpiresAt   time.Time
}

// SessionIDTokenAAD is the associated data that seals a session's ID token
// hint to its row.
func SessionIDTokenAAD(idHash string) string { return sessionIDTokenHint.aad([]string{idHash}) }

// LoginFlowVerifierAAD is the associated data that seals a sign-in flow's
// PKCE verifier to its row.
func LoginFlowVerifierAAD(stateHash string) string { return loginFlowVerifier.aad([]string{stateHash}) }

// CreateSession stores a new session. It returns ErrAlreadyExists when the
// hash is taken.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	roles, err := jsonText(sess.Roles)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO browser_sessions (id_hash, user_id, name, email, roles, auth_method,
			csrf_token, id_token_hint, created_at, last_seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		sess.IDHash, sess.UserID, sess.Name, sess.Email, roles, sess.AuthMethod,
		sess.CSRFToken, sess.IDTokenHint, micros(sess.CreatedAt), micros(sess.LastSeenAt), micros(sess.ExpiresAt))
	return s.mapErr("create session", err)
}

// GetSession returns the session whose hash is idHash and that has not
// expired at now, or ErrNotFound.
func (s *Store) GetSession(ctx context.Context, idHash string, now time.Time) (*Session, error) {
	var sess Session
	var roles string
	var created, seen, expires int64
	err := s.db.QueryRowContext(ctx, `
		SELECT id_hash, user_id, name, email, roles, auth_method, csrf_token, id_token_hint,
			created_at, last_seen_at, expires_at
		FROM browser_sessions WHERE id_hash = $1 AND expires_at > $2`, idHash, micros(now)).
		Scan(&sess.IDHash, &sess.UserID, &sess.Name, &sess.Email, &roles, &sess.AuthMethod,
			&sess.CSRFToken, &sess.IDTokenHint, &created, &seen, &expires)
	if err != nil {
		return nil, s.mapErr("get session", err)
	}
	if err := parseJSON(roles, &sess.Roles); err != nil {
		return nil, s.mapErr("get session", err)
	}
	sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	return &sess, nil
}

// TouchSession extends a live session: it sets LastSeenAt and ExpiresAt.
func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen, expiresAt time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE browser_sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1`,
		idHash, micros(lastSeen), micros(expiresAt))
	return requireOne("touch session", res, err)
}

// DeleteSession ends a session. Deleting a missing session is not an error,
// so logout is idempotent.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM browser_sessions WHERE id_hash = $1`, idHash)
	return s.mapErr("delete session", err)
}

// DeleteUserSessions ends every session of a user and returns how many
// there were.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM browser_sessions WHERE user_id = $1`, userID)
	return affected("delete user sessions", res, err)
}

// DeleteExpiredSessions removes sessions and sign-in flows that expired
// before now, and returns how many rows went.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM browser_sessions WHERE expires_at <= $1`, micros(now))
	n, err := affected("delete expired sessions", res, err)
	if err != nil {
		return n, err
	}
	res, err = s.db.ExecContext(ctx, `DELETE FROM login_flows WHERE expires_at <= $1`, micros(now))
	m, err := affected("delete expired login flows", res, err)
	return n + m, err
}

// LoginFlow is the state of one OpenID Connect sign-in between the redirect
// to the provider and the callback. Verifier is sealed by the caller.
type LoginFlow struct {
	StateHash string
	Verifier  string
	Nonce     string
	ReturnTo  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateLoginFlow stores a sign-in flow.
func (s *Store) CreateLoginFlow(ctx context.Context, f *LoginFlow) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO login_flows (state_hash, verifier, nonce, return_to, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		f.StateHash, f.Verifier, f.Nonce, f.ReturnTo, micros(f.CreatedAt), micros(f.ExpiresAt))
	return s.mapErr("create login flow", err)
}

// ConsumeLoginFlow deletes and returns the flow for stateHash in one
// statement, so that of two concurrent callbacks with the same state only one
// gets it. It returns ErrNotFound for an unknown, used or expired state.
func (s *Store) ConsumeLoginFlow(ctx context.Context, stateHash string, now time.Time) (*LoginFlow, error) {
	var f LoginFlow
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `
		DELETE FROM login_flows WHERE state_hash = $1
		RETURNING state_hash, verifier, nonce, return_to, created_at, expires_at`, stateHash).
		Scan(&f.StateHash, &f.Verifier, &f.Nonce, &f.ReturnTo, &created, &expires)
	if err != nil {
		return nil, s.mapErr("consume login flow", err)
	}
	f.CreatedAt, f.ExpiresAt = fromMicros(created), fromMicros(expires)
	if !f.ExpiresAt.After(now) {
		return nil, s.mapErr("consume login flow", sql.ErrNoRows)
	}
	return &f, nil
}

func affected(op string, res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", op, err)
	}
	return n, nil
}
