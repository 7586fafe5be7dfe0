package authn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/store"
)

// APITokenPrefix starts every Toolgate API token. The full token is the
// prefix followed by 32 random bytes in unpadded base64url.
const APITokenPrefix = "tgat_"

// apiTokenTouchInterval is how often a token's last use is recorded. Once a
// minute is precise enough to spot unused tokens and saves a write per
// request.
const apiTokenTouchInterval = time.Minute

// maxAPITokenNameLen is the maximum length of a token name in characters.
const maxAPITokenNameLen = 100

// InvalidFieldError reports an argument of CreateAPIToken that failed
// validation. HTTP handlers can map it to a 400 naming Field.
type InvalidFieldError struct {
	Field  string // "name", "user_id", "roles" or "expires_at"
	Detail string
}

func (e *InvalidFieldError) Error() string {
	return "authn: invalid " + e.Field + ": " + e.Detail
}

// APITokens creates, lists and revokes Toolgate API tokens. It needs only
// the store, so the tokens command can manage tokens without reaching the
// OpenID provider. An Authenticator embeds one. It is safe for concurrent
// use.
type APITokens struct {
	store  *store.Store
	now    func() time.Time
	logger *slog.Logger
}

// NewAPITokens returns an APITokens on st. A nil now means time.Now and a
// nil logger discards.
func NewAPITokens(st *store.Store, now func() time.Time, logger *slog.Logger) *APITokens {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &APITokens{store: st, now: now, logger: logger}
}

// CreateAPIToken creates an API token for userID with roles, and returns the
// token and its stored record. The token is returned only here: the store
// keeps its SHA-256 hash, so it cannot be shown again. The record's Hash is
// cleared.
//
// name must be 1 to 100 printable characters, userID non-empty, each role
// must match ^[A-Za-z0-9_.:-]{1,64}$, and expiresAt must be in the future or
// zero for a token that does not expire. A failed check returns an
// *InvalidFieldError.
func (a *APITokens) CreateAPIToken(ctx context.Context, name, userID string, roles []string, expiresAt time.Time) (string, *store.APIToken, error) {
	now := a.now()
	if err := validateAPIToken(name, userID, roles, expiresAt, now); err != nil {
		return "", nil, err
	}

	token := APITokenPrefix + newSecret()
	meta := &store.APIToken{
		ID:        newAPITokenID(),
		Name:      name,
		Hash:      hashSecret(token),
		UserID:    userID,
		Roles:     append([]string(nil), roles...),
		CreatedAt: now,
		ExpiresAt: expiresAt,
	}
	if err := a.store.CreateAPIToken(ctx, meta); err != nil {
		return "", nil, fmt.Errorf("authn: create api token: %w", err)
	}
	a.logger.InfoContext(ctx, "api token created", "user_id", userID, "token_id", meta.ID)

	meta.Hash = ""
	return token, meta, nil
}

// validateAPIToken checks the arguments of CreateAPIToken.
func validateAPIToken(name, userID string, roles []string, expiresAt, now time.Time) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > maxAPITokenNameLen {
		return &InvalidFieldError{"name", fmt.Sprintf("must be 1 to %d characters, got %d", maxAPITokenNameLen, n)}
	}
	if !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return &InvalidFieldError{"name", "must contain only printable characters"}
	}
	if userID == "" {
		return &InvalidFieldError{"user_id", "must not be empty"}
	}
	for _, role := range roles {
		if !validRole(role) {
			return &InvalidFieldError{"roles", fmt.Sprintf("role %q is invalid: %s", role, roleRule)}
		}
	}
	if !expiresAt.IsZero() && !expiresAt.After(now) {
		return &InvalidFieldError{"expires_at", fmt.Sprintf("must be in the future or unset, got %s", expiresAt.UTC().Format(time.RFC3339))}
	}
	return nil
}

// newAPITokenID returns a random public id for a token, such as
// "tok_5f0c9a7e2b4d1c38". The id names a token in lists and logs and grants
// nothing.
func newAPITokenID() string {
	b := make([]byte, 8)
	rand.Read(b) // Since Go 1.24, rand.Read never returns an error.
	return "tok_" + hex.EncodeToString(b)
}

// ListAPITokens returns every API token, newest first, revoked and expired
// ones included. Hash is cleared in each record.
func (a *APITokens) ListAPITokens(ctx context.Context) ([]store.APIToken, error) {
	tokens, err := a.store.ListAPITokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("authn: list api tokens: %w", err)
	}
	for i := range tokens {
		tokens[i].Hash = ""
	}
	return tokens, nil
}

// RevokeAPIToken revokes the token with id. Requests with the token fail with
// 401 from then on, on every replica. Revoking a revoked token succeeds and
// keeps the first revocation time. An unknown id returns an error that
// wraps store.ErrNotFound.
func (a *APITokens) RevokeAPIToken(ctx context.Context, id string) error {
	if err := a.store.RevokeAPIToken(ctx, id, a.now()); err != nil {
		return fmt.Errorf("authn: revoke api token %q: %w", id, err)
	}
	a.logger.InfoContext(ctx, "api token revoked", "token_id", id)
	return nil
}

// authenticateAPIToken returns the identity of an API token, or the reason it
// is rejected. It records the token's use at most once per
// apiTokenTouchInterval.
func (a *Authenticator) authenticateAPIToken(ctx context.Context, token string) (*Identity, *bearerError) {
	if !isSecretFormat(strings.TrimPrefix(token, APITokenPrefix)) {
		return nil, &bearerError{reason: reasonMalformed, detail: "the API token is malformed: want " + APITokenPrefix + " followed by 43 characters"}
	}
	t, err := a.store.GetAPITokenByHash(ctx, hashSecret(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, &bearerError{reason: reasonUnknown, detail: "the API token is not valid"}
	}
	if err != nil {
		return nil, &bearerError{reason: reasonInternal, cause: fmt.Errorf("authn: look up api token: %w", err)}
	}

	now := a.now()
	if !t.RevokedAt.IsZero() {
		return nil, &bearerError{reason: reasonRevoked, detail: "the API token was revoked at " + t.RevokedAt.UTC().Format(time.RFC3339) + ", so create a new token"}
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return nil, &bearerError{reason: reasonExpired, detail: "the API token expired at " + t.ExpiresAt.UTC().Format(time.RFC3339) + ", so create a new token"}
	}

	if now.Sub(t.LastUsedAt) >= apiTokenTouchInterval {
		if err := a.store.TouchAPIToken(ctx, t.ID, now); err != nil {
			a.logger.WarnContext(ctx, "record api token use failed", "user_id", t.UserID, "token_id", t.ID, "err", err)
		}
	}
	return &Identity{
		UserID:     t.UserID,
		Roles:      t.Roles,
		Method:     MethodAPIToken,
		APITokenID: t.ID,
		adminRole:  a.opts.AdminRole,
	}, nil
}
