package store

import (
	"context"
	"time"
)

// Revocation is a token that could not be revoked at its provider yet. The
// vault retries it with backoff.
type Revocation struct {
	ID         string
	ProviderID string
	UserID     string
	// Token is sealed under RevocationTokenAAD.
	Token         string
	TokenTypeHint string // "refresh_token" or "access_token"
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
}

// RevocationTokenAAD is the associated data that seals a queued token to
// its row.
func RevocationTokenAAD(id string) string { return revocationToken.aad([]string{id}) }

const revocationColumns = `id, provider_id, user_id, token, token_type_hint, attempts, next_attempt_at, last_error, created_at`

// EnqueueRevocation stores a revocation to retry.
func (s *Store) EnqueueRevocation(ctx context.Context, r *Revocation) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO revocations (`+revocationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.ID, r.ProviderID, r.UserID, r.Token, r.TokenTypeHint, r.Attempts, micros(r.NextAttemptAt), r.LastError, micros(r.CreatedAt))
	return s.mapErr("enqueue revocation", err)
}

// ClaimDueRevocations leases up to limit revocations due at now until
// leaseUntil and returns them, in no particular order. A row leased by one replica is not returned
// to another until the lease ends.
func (s *Store) ClaimDueRevocations(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Revocation, error) {
	// The lease condition is repeated outside the subquery so that
	// PostgreSQL rechecks it after waiting for a row another replica is
	// claiming, and skips that row.
	rows, err := s.db.QueryContext(ctx, `
		UPDATE revocations SET lease_until = $2
		WHERE id IN (
			SELECT id FROM revocations
			WHERE next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY next_attempt_at LIMIT $3)
		AND (lease_until IS NULL OR lease_until <= $1)
		RETURNING `+revocationColumns, micros(now), micros(leaseUntil), limit)
	if err != nil {
		return nil, s.mapErr("claim due revocations", err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var r Revocation
		var next, created int64
		if err := rows.Scan(&r.ID, &r.ProviderID, &r.UserID, &r.Token, &r.TokenTypeHint, &r.Attempts, &next, &r.LastError, &created); err != nil {
			return nil, s.mapErr("claim due revocations", err)
		}
		r.NextAttemptAt, r.CreatedAt = fromMicros(next), fromMicros(created)
		out = append(out, r)
	}
	return out, s.mapErr("claim due revocations", rows.Err())
}

// RetryRevocation records a failed attempt and when to try next, and drops
// the lease.
func (s *Store) RetryRevocation(ctx context.Context, id string, attempts int, next time.Time, lastError string) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE revocations SET attempts = $2, next_attempt_at = $3, last_error = $4, lease_until = NULL WHERE id = $1`,
		id, attempts, micros(next), lastError)
	return requireOne("retry revocation", res, err)
}

// DeleteRevocation removes a revocation that succeeded or was given up.
func (s *Store) DeleteRevocation(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM revocations WHERE id = $1`, id)
	return s.mapErr("delete revocation", err)
}

// CountRevocations returns how many revocations are queued.
func (s *Store) CountRevocations(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM revocations`).Scan(&n)
	return n, s.mapErr("count revocations", err)
}
