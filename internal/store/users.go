package store

import (
	"context"
	"time"
)

// User is a person known to Toolgate. Users are not created by an admin:
// sign-in records them, so the table lists who has used the service.
type User struct {
	ID         string
	Name       string
	Email      string
	Roles      []string
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// UpsertUser records a sign-in: it inserts the user or refreshes name,
// email, roles and LastSeenAt. CreatedAt is kept from the first sign-in.
func (s *Store) UpsertUser(ctx context.Context, u *User) error {
	roles, err := jsonText(u.Roles)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO users (id, name, email, roles, created_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET
			name = excluded.name, email = excluded.email,
			roles = excluded.roles, last_seen_at = excluded.last_seen_at`,
		u.ID, u.Name, u.Email, roles, micros(u.CreatedAt), micros(u.LastSeenAt))
	return s.mapErr("upsert user", err)
}

// GetUser returns the user with id, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*User, error) {
	var u User
	var roles string
	var created, seen int64
	err := s.db.QueryRowContext(ctx, `
		SELECT id, name, email, roles, created_at, last_seen_at FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.Name, &u.Email, &roles, &created, &seen)
	if err != nil {
		return nil, s.mapErr("get user", err)
	}
	if err := parseJSON(roles, &u.Roles); err != nil {
		return nil, s.mapErr("get user", err)
	}
	u.CreatedAt, u.LastSeenAt = fromMicros(created), fromMicros(seen)
	return &u, nil
}
