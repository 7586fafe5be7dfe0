package consenttest

import (
	"context"
	"slices"
	"sync"

	"github.com/toolgate/toolgate/internal/oauthclient"
)

// Vault is an in-memory stand-in for the token vault with the two methods
// the consent flow calls. It is safe for concurrent use.
type Vault struct {
	mu    sync.Mutex
	saved map[[2]string]Saved
	saves int
}

// Saved is the data that one Save call stored.
type Saved struct {
	Response        oauthclient.TokenResponse
	RequestedScopes []string
}

// NewVault returns an empty Vault.
func NewVault() *Vault { return &Vault{saved: map[[2]string]Saved{}} }

// Save stores resp for the pair, replacing earlier tokens.
func (v *Vault) Save(_ context.Context, userID, providerID string, resp *oauthclient.TokenResponse, requestedScopes []string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.saves++
	v.saved[[2]string{userID, providerID}] = Saved{Response: *resp, RequestedScopes: slices.Clone(requestedScopes)}
	return nil
}

// Usable reports whether the pair has tokens whose scopes cover scopes:
// the granted scopes when the response listed them, else the requested
// ones.
func (v *Vault) Usable(_ context.Context, userID, providerID string, scopes []string) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.saved[[2]string{userID, providerID}]
	if !ok {
		return false, nil
	}
	have := s.Response.Scopes
	if have == nil {
		have = s.RequestedScopes
	}
	for _, scope := range scopes {
		if !slices.Contains(have, scope) {
			return false, nil
		}
	}
	return true, nil
}

// Get returns what the last Save stored for the pair.
func (v *Vault) Get(userID, providerID string) (Saved, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.saved[[2]string{userID, providerID}]
	return s, ok
}

// Saves returns how many times Save was called.
func (v *Vault) Saves() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.saves
}
