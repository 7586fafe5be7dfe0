package store

import (
	"context"
	"database/sql"
	"time"
)

// APIToken is a Toolgate API token. The token itself is shown once at
// creation; only its hash is stored.
type APIToken struct {
	ID        string
	Name      string
	Hash      string
	UserID    string
	Roles     []string
	CreatedAt time.Time
	// ExpiresAt, LastUsedAt and RevokedAt are zero when unset.
	ExpiresAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

const apiTokenColumns = `id, name, token_hash, user_id, roles, created_at, expires_at, last_used_at, revoked_at`

// CreateAPIToken stores a new token. It returns ErrAlreadyExists when the id
// or hash is taken.
func (s *Store) CreateAPIToken(ctx context.Context, t *APIToken) error {
	roles, err := jsonText(t.Roles)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO api_tokens (`+apiTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.ID, t.Name, t.Hash, t.UserID, roles, micros(t.CreatedAt),
		nullMicros(t.ExpiresAt), nullMicros(t.LastUsedAt), nullMicros(t.RevokedAt))
	return s.mapErr("create api token", err)
}

// GetAPITokenByHash returns the token with hash, revoked and expired ones
// included: the caller decides, so it can say why a token was rejected.
func (s *Store) GetAPITokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens WHERE token_hash = $1`, hash)
	t, err := scanAPIToken(row)
	return t, s.mapErr("get api token", err)
}

// GetAPIToken returns the token with id, or ErrNotFound.
func (s *Store) GetAPIToken(ctx context.Context, id string) (*APIToken, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens WHERE id = $1`, id)
	t, err := scanAPIToken(row)
	return t, s.mapErr("get api token", err)
}

// ListAPITokens returns every token, newest first.
func (s *Store) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, s.mapErr("list api tokens", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, s.mapErr("list api tokens", err)
		}
		out = append(out, *t)
	}
	return out, s.mapErr("list api tokens", rows.Err())
}

// RevokeAPIToken marks a token revoked at the given time. Revoking a revoked
// token keeps the first time; an unknown id is ErrNotFound.
func (s *Store) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, micros(at))
	return requireOne("revoke api token", res, err)
}

// TouchAPIToken records a use of the token.
func (s *Store) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, id, micros(at))
	return requireOne("touch api token", res, err)
}

type rowScanner interface{ Scan(dest ...any) error }

func scanAPIToken(row rowScanner) (*APIToken, error) {
	var t APIToken
	var roles string
	var created int64
	var expires, used, revoked sql.NullInt64
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &t.UserID, &roles, &created, &expires, &used, &revoked); err != nil {
		return nil, err
	}
	if err := parseJSON(roles, &t.Roles); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMicros(created)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromNullMicros(expires), fromNullMicros(used), fromNullMicros(revoked)
	return &t, nil
}
