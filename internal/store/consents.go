package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Consent statuses as stored. A pending consent past ExpiresAt is reported
// as expired by the consent package; the row keeps "pending".
const (
	ConsentPending   = "pending"
	ConsentCompleted = "completed"
	ConsentFailed    = "failed"
	ConsentCancelled = "cancelled"
)

// ErrStateUsed is returned by ClaimConsentState for a state that was
// already claimed once.
var ErrStateUsed = errors.New("store: state already used")

// Consent is one authorization code flow for a user and a provider.
type Consent struct {
	ID               string
	UserID           string
	ProviderID       string
	Scopes           []string
	ReturnURL        string
	Status           string
	Error            string
	ErrorDescription string
	// StateHash is the SHA-256 of the state sent to the provider, set when
	// the browser is sent there; empty before.
	StateHash   string
	StateUsedAt time.Time
	// Verifier is the PKCE verifier for StateHash, sealed under
	// ConsentVerifierAAD.
	Verifier   string
	Nonce      string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	FinishedAt time.Time
}

// ConsentVerifierAAD is the associated data that seals a consent's PKCE
// verifier to its row.
func ConsentVerifierAAD(id string) string { return consentVerifier.aad([]string{id}) }

const consentColumns = `id, user_id, provider_id, scopes, return_url, status, error, error_description,
	state_hash, state_used_at, verifier, nonce, created_at, expires_at, finished_at`

// CreateConsent stores a new consent.
func (s *Store) CreateConsent(ctx context.Context, c *Consent) error {
	scopes, err := jsonText(c.Scopes)
	if err != nil {
		return s.mapErr("create consent", err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO consents (`+consentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.ID, c.UserID, c.ProviderID, scopes, c.ReturnURL, c.Status, c.Error, c.ErrorDescription,
		nullString(c.StateHash), nullMicros(c.StateUsedAt), nullString(c.Verifier), c.Nonce,
		micros(c.CreatedAt), micros(c.ExpiresAt), nullMicros(c.FinishedAt))
	return s.mapErr("create consent", err)
}

// GetConsent returns the consent with id, or ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, id string) (*Consent, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents WHERE id = $1`, id)
	c, err := scanConsent(row)
	return c, s.mapErr("get consent", err)
}

// FindPendingConsent returns the newest pending consent of the user for the
// provider that has not expired at now, or ErrNotFound.
func (s *Store) FindPendingConsent(ctx context.Context, userID, providerID string, now time.Time) (*Consent, error) {
	row := s.db.QueryRowContext(ctx, `
		SELECT `+consentColumns+` FROM consents
		WHERE user_id = $1 AND provider_id = $2 AND status = 'pending' AND expires_at > $3
		ORDER BY created_at DESC, id DESC LIMIT 1`, userID, providerID, micros(now))
	c, err := scanConsent(row)
	return c, s.mapErr("find pending consent", err)
}

// SetConsentState records the state and sealed verifier of a new trip to
// the provider, replacing any earlier unused one. It returns ErrNotFound
// unless the consent is pending and unexpired at now.
func (s *Store) SetConsentState(ctx context.Context, id, stateHash, sealedVerifier, nonce string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE consents SET state_hash = $2, verifier = $3, nonce = $4, state_used_at = NULL
		WHERE id = $1 AND status = 'pending' AND expires_at > $5`,
		id, stateHash, sealedVerifier, nonce, micros(now))
	if s.dialect.IsUniqueViolation(err) {
		return s.mapErr("set consent state", err)
	}
	return requireOne("set consent state", res, err)
}

// GetConsentByState returns the consent whose current state hash is
// stateHash, used or not, or ErrNotFound.
func (s *Store) GetConsentByState(ctx context.Context, stateHash string) (*Consent, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents WHERE state_hash = $1`, stateHash)
	c, err := scanConsent(row)
	return c, s.mapErr("get consent by state", err)
}

// ClaimConsentState marks the state used and returns its consent, in one
// statement, so that of two concurrent callbacks only one proceeds. It
// returns ErrStateUsed when the state was claimed before and ErrNotFound
// when no consent has it.
func (s *Store) ClaimConsentState(ctx context.Context, stateHash string, now time.Time) (*Consent, error) {
	row := s.db.QueryRowContext(ctx, `
		UPDATE consents SET state_used_at = $2
		WHERE state_hash = $1 AND state_used_at IS NULL
		RETURNING `+consentColumns, stateHash, micros(now))
	c, err := scanConsent(row)
	if errors.Is(err, sql.ErrNoRows) {
		if _, getErr := s.GetConsentByState(ctx, stateHash); getErr == nil {
			return nil, fmt.Errorf("store: claim consent state: %w", ErrStateUsed)
		}
	}
	return c, s.mapErr("claim consent state", err)
}

// FinishConsent moves a pending consent to status (completed, failed or
// cancelled) with an optional error. It returns ErrConflict when the
// consent is no longer pending and ErrNotFound when it does not exist.
func (s *Store) FinishConsent(ctx context.Context, id, status, errCode, errDescription string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE consents SET status = $2, error = $3, error_description = $4, finished_at = $5, verifier = NULL
		WHERE id = $1 AND status = 'pending'`, id, status, errCode, errDescription, micros(now))
	if err := requireOne("finish consent", res, err); err != nil {
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, getErr := s.GetConsent(ctx, id); getErr == nil {
			return fmt.Errorf("store: finish consent: %w", ErrConflict)
		}
		return err
	}
	return nil
}

// CancelPendingConsents cancels every pending consent of the user for the
// provider and returns how many there were.
func (s *Store) CancelPendingConsents(ctx context.Context, userID, providerID string, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `
		UPDATE consents SET status = 'cancelled', finished_at = $3, verifier = NULL
		WHERE user_id = $1 AND provider_id = $2 AND status = 'pending'`, userID, providerID, micros(now))
	return affected("cancel pending consents", res, err)
}

// DeleteFinishedConsents removes consents that finished, or expired while
// pending, before cutoff, and returns how many went.
func (s *Store) DeleteFinishedConsents(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `
		DELETE FROM consents WHERE (finished_at IS NOT NULL AND finished_at < $1) OR expires_at < $1`, micros(cutoff))
	return affected("delete finished consents", res, err)
}

func scanConsent(row rowScanner) (*Consent, error) {
	var c Consent
	var scopes string
	var stateHash, verifier sql.NullString
	var stateUsed, finished sql.NullInt64
	var created, expires int64
	err := row.Scan(&c.ID, &c.UserID, &c.ProviderID, &scopes, &c.ReturnURL, &c.Status, &c.Error, &c.ErrorDescription,
		&stateHash, &stateUsed, &verifier, &c.Nonce, &created, &expires, &finished)
	if err != nil {
		return nil, err
	}
	if err := parseJSON(scopes, &c.Scopes); err != nil {
		return nil, err
	}
	c.StateHash, c.Verifier = stateHash.String, verifier.String
	c.StateUsedAt, c.FinishedAt = fromNullMicros(stateUsed), fromNullMicros(finished)
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &c, nil
}
