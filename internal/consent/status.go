package consent

import (
	"context"
	"errors"
	"fmt"

	"github.com/toolgate/toolgate/internal/store"
)

// Statuses that Status reports.
const (
	StatusPending   = "pending"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusExpired   = "expired"
)

// cancelledDescription explains the "cancelled" error of a cancelled
// consent.
const cancelledDescription = "a newer consent request for this provider replaced this one; start again to get the current one"

// StatusResult is a consent's state as a waiting client sees it.
type StatusResult struct {
	ConsentID string `json:"consent_id"`
	// Status is StatusPending, StatusCompleted, StatusFailed or
	// StatusExpired.
	Status     string `json:"status"`
	ProviderID string `json:"provider_id"`
	// Error is the failure's code: the provider's (such as
	// "access_denied"), "cancelled" for a consent that a newer one
	// replaced, or a Toolgate code such as "issuer_mismatch". It is
	// "expired" for an expired consent and empty otherwise.
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// Status returns the state of consentID for userID, so that a client
// waiting for the user learns the outcome from the server, not from a
// popup. It returns ErrNotFound for an unknown consent and for another
// user's.
func (s *Service) Status(ctx context.Context, consentID, userID string) (*StatusResult, error) {
	if userID == "" {
		return nil, ErrSignInRequired
	}
	c, err := s.store.GetConsent(ctx, consentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("consent: status: get consent: %w", err)
	}
	if c.UserID != userID {
		return nil, ErrNotFound
	}

	r := &StatusResult{ConsentID: c.ID, ProviderID: c.ProviderID}
	switch c.Status {
	case store.ConsentCompleted:
		r.Status = StatusCompleted
	case store.ConsentFailed:
		r.Status, r.Error, r.ErrorDescription = StatusFailed, c.Error, c.ErrorDescription
	case store.ConsentCancelled:
		r.Status, r.Error, r.ErrorDescription = StatusFailed, codeCancelled, cancelledDescription
	case store.ConsentPending:
		r.Status = StatusPending
		if !s.now().Before(c.ExpiresAt) {
			r.Status, r.Error = StatusExpired, codeExpired
		}
	default:
		return nil, fmt.Errorf("consent: status: consent %s has unknown status %q", c.ID, c.Status)
	}
	return r, nil
}
