package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Token statuses.
const (
	TokenConnected   = "connected"
	TokenNeedsReauth = "needs_reauth"
	// TokenRevoked marks a connection the user ended: its secrets are wiped
	// and the row stays to show when it was connected.
	TokenRevoked = "revoked"
)

// TokenRecord is the vault's row for one (user, provider) pair. The
// secret fields hold values sealed under the matching AAD functions.
type TokenRecord struct {
	UserID       string
	ProviderID   string
	AccessToken  string
	RefreshToken string
	TokenType    string
	// ExpiresAt is when the access token expires; zero when the provider
	// did not say.
	ExpiresAt time.Time
	Scopes    []string
	// Extras is provider data kept beside the tokens (such as Salesforce's
	// instance_url), a sealed JSON object.
	Extras string
	// Generation increases with every write of new tokens. Refreshes and
	// status changes compare-and-swap on it.
	Generation  int64
	Status      string
	Reason      string
	LeaseHolder string
	LeaseUntil  time.Time
	ConnectedAt time.Time
	RefreshedAt time.Time
	UpdatedAt   time.Time
}

// TokenAccessAAD, TokenRefreshAAD and TokenExtrasAAD are the associated
// data that seal a token row's secrets to that row and column.
func TokenAccessAAD(userID, providerID string) string {
	return tokenAccess.aad([]string{userID, providerID})
}

func TokenRefreshAAD(userID, providerID string) string {
	return tokenRefresh.aad([]string{userID, providerID})
}

func TokenExtrasAAD(userID, providerID string) string {
	return tokenExtras.aad([]string{userID, providerID})
}

const tokenColumns = `user_id, provider_id, access_token, refresh_token, token_type, expires_at, scopes, extras,
	generation, status, reason, lease_holder, lease_until, connected_at, refreshed_at, updated_at`

// GetToken returns the vault row of the user for the provider, or
// ErrNotFound.
func (s *Store) GetToken(ctx context.Context, userID, providerID string) (*TokenRecord, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE user_id = $1 AND provider_id = $2`,
		userID, providerID)
	t, err := scanToken(row)
	return t, s.mapErr("get token", err)
}

// ListUserTokens returns every vault row of a user, ordered by provider.
func (s *Store) ListUserTokens(ctx context.Context, userID string) ([]TokenRecord, error) {
	return s.listTokens(ctx, "list user tokens", `WHERE user_id = $1 ORDER BY provider_id`, userID)
}

// ListProviderTokens returns every vault row for a provider, ordered by
// user.
func (s *Store) ListProviderTokens(ctx context.Context, providerID string) ([]TokenRecord, error) {
	return s.listTokens(ctx, "list provider tokens", `WHERE provider_id = $1 ORDER BY user_id`, providerID)
}

func (s *Store) listTokens(ctx context.Context, op, where string, arg string) ([]TokenRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens `+where, arg)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	var out []TokenRecord
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.mapErr(op, err)
		}
		out = append(out, *t)
	}
	return out, s.mapErr(op, rows.Err())
}

// PutToken stores tokens from a completed consent: it inserts the row, or
// replaces the tokens of an existing one, increasing its generation and
// clearing any refresh lease. Status becomes connected. It returns the new
// generation.
func (s *Store) PutToken(ctx context.Context, t *TokenRecord) (int64, error) {
	scopes, err := jsonText(t.Scopes)
	if err != nil {
		return 0, s.mapErr("put token", err)
	}
	var generation int64
	err = s.db.QueryRowContext(ctx, `
		INSERT INTO tokens (`+tokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 'connected', '', NULL, NULL, $9, NULL, $9)
		ON CONFLICT (user_id, provider_id) DO UPDATE SET
			access_token = excluded.access_token, refresh_token = excluded.refresh_token,
			token_type = excluded.token_type, expires_at = excluded.expires_at, scopes = excluded.scopes,
			extras = excluded.extras, generation = tokens.generation + 1, status = 'connected', reason = '',
			lease_holder = NULL, lease_until = NULL, connected_at = excluded.connected_at,
			refreshed_at = NULL, updated_at = excluded.updated_at
		RETURNING generation`,
		t.UserID, t.ProviderID, nullString(t.AccessToken), nullString(t.RefreshToken), t.TokenType,
		nullMicros(t.ExpiresAt), scopes, nullString(t.Extras), micros(t.ConnectedAt)).Scan(&generation)
	if err != nil {
		return 0, s.mapErr("put token", err)
	}
	return generation, nil
}

// AcquireRefreshLease gives holder the right to refresh the row until
// until, if the row is still at generation and no other lease is live at
// now. It reports whether the lease was acquired.
func (s *Store) AcquireRefreshLease(ctx context.Context, userID, providerID string, generation int64, holder string, now, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `
		UPDATE tokens SET lease_holder = $4, lease_until = $6
		WHERE user_id = $1 AND provider_id = $2 AND generation = $3 AND status = 'connected'
			AND (lease_until IS NULL OR lease_until <= $5)`,
		userID, providerID, generation, holder, micros(now), micros(until))
	n, err := affected("acquire refresh lease", res, err)
	return n == 1, err
}

// ReleaseRefreshLease drops holder's lease, if it still has it.
func (s *Store) ReleaseRefreshLease(ctx context.Context, userID, providerID, holder string) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE tokens SET lease_holder = NULL, lease_until = NULL
		WHERE user_id = $1 AND provider_id = $2 AND lease_holder = $3`, userID, providerID, holder)
	return s.mapErr("release refresh lease", err)
}

// CompleteRefresh stores refreshed tokens if the row is still at
// t.Generation, increasing the generation and dropping the lease. It
// returns the new generation, or ErrConflict when another writer got
// there first: the caller must then reread and never overwrite.
func (s *Store) CompleteRefresh(ctx context.Context, t *TokenRecord) (int64, error) {
	scopes, err := jsonText(t.Scopes)
	if err != nil {
		return 0, s.mapErr("complete refresh", err)
	}
	res, err := s.db.ExecContext(ctx, `
		UPDATE tokens SET access_token = $4, refresh_token = $5, token_type = $6, expires_at = $7,
			scopes = $8, extras = $9, generation = generation + 1, status = 'connected', reason = '',
			lease_holder = NULL, lease_until = NULL, refreshed_at = $10, updated_at = $10
		WHERE user_id = $1 AND provider_id = $2 AND generation = $3`,
		t.UserID, t.ProviderID, t.Generation, nullString(t.AccessToken), nullString(t.RefreshToken), t.TokenType,
		nullMicros(t.ExpiresAt), scopes, nullString(t.Extras), micros(t.RefreshedAt))
	n, err := affected("complete refresh", res, err)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, s.conflict("complete refresh")
	}
	return t.Generation + 1, nil
}

// SetTokenStatus changes the status and reason of the row if it is still at
// generation, and drops any lease. It returns ErrConflict when the row has
// moved on (newer tokens must not be marked by a stale caller) and
// ErrNotFound when there is no row.
func (s *Store) SetTokenStatus(ctx context.Context, userID, providerID string, generation int64, status, reason string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE tokens SET status = $4, reason = $5, lease_holder = NULL, lease_until = NULL, updated_at = $6
		WHERE user_id = $1 AND provider_id = $2 AND generation = $3`,
		userID, providerID, generation, status, reason, micros(now))
	n, err := affected("set token status", res, err)
	if err != nil || n == 1 {
		return err
	}
	if _, err := s.GetToken(ctx, userID, providerID); err != nil {
		return err
	}
	return s.conflict("set token status")
}

// RevokeToken wipes the row's secrets, sets status revoked and returns the
// row as it was before, all in one transaction, so the caller can revoke
// the old tokens at the provider. It returns ErrNotFound when there is no
// row.
func (s *Store) RevokeToken(ctx context.Context, userID, providerID string, now time.Time) (*TokenRecord, error) {
	var old *TokenRecord
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE user_id = $1 AND provider_id = $2`+
			s.dialect.ForUpdate(), userID, providerID)
		t, err := scanToken(row)
		if err != nil {
			return s.mapErr("revoke token", err)
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE tokens SET access_token = NULL, refresh_token = NULL, extras = NULL, expires_at = NULL,
				generation = generation + 1, status = 'revoked', reason = 'disconnected',
				lease_holder = NULL, lease_until = NULL, updated_at = $3
			WHERE user_id = $1 AND provider_id = $2`, userID, providerID, micros(now))
		if err != nil {
			return s.mapErr("revoke token", err)
		}
		old = t
		return nil
	})
	return old, err
}

// DeleteProviderTokens removes every vault row for a provider and returns
// how many went.
func (s *Store) DeleteProviderTokens(ctx context.Context, providerID string) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE provider_id = $1`, providerID)
	return affected("delete provider tokens", res, err)
}

func (s *Store) conflict(op string) error {
	return fmt.Errorf("store: %s: %w", op, ErrConflict)
}

func scanToken(row rowScanner) (*TokenRecord, error) {
	var t TokenRecord
	var access, refresh, extras, holder sql.NullString
	var expires, leaseUntil, refreshed sql.NullInt64
	var scopes string
	var connected, updated int64
	err := row.Scan(&t.UserID, &t.ProviderID, &access, &refresh, &t.TokenType, &expires, &scopes, &extras,
		&t.Generation, &t.Status, &t.Reason, &holder, &leaseUntil, &connected, &refreshed, &updated)
	if err != nil {
		return nil, err
	}
	if err := parseJSON(scopes, &t.Scopes); err != nil {
		return nil, err
	}
	t.AccessToken, t.RefreshToken, t.Extras, t.LeaseHolder = access.String, refresh.String, extras.String, holder.String
	t.ExpiresAt, t.LeaseUntil, t.RefreshedAt = fromNullMicros(expires), fromNullMicros(leaseUntil), fromNullMicros(refreshed)
	t.ConnectedAt, t.UpdatedAt = fromMicros(connected), fromMicros(updated)
	return &t, nil
}
