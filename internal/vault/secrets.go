package vault

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// Token is a decrypted access token with what a caller needs to use it.
// String, GoString and LogValue redact AccessToken, so printing or
// logging a Token does not reveal it. Scopes and Extras may be shared
// with the vault's cache: read them, never modify them.
type Token struct {
	AccessToken string
	// TokenType is "Bearer" unless the provider named another type.
	TokenType string
	// ExpiresAt is zero when the provider gave no lifetime.
	ExpiresAt time.Time
	// Scopes are the scopes the provider granted, or the requested ones
	// when its response listed none.
	Scopes []string
	// Extras are the provider's extra token fields, such as Salesforce's
	// instance_url. Nil when there are none.
	Extras map[string]string
	// Generation identifies this token's version of the connection. Pass
	// it to MarkNeedsReauth, or as TokenOptions.Generation with
	// ForceRefresh, after the provider rejected the token.
	Generation int64
}

const redacted = "[redacted]"

// String returns the token's metadata with the access token redacted.
func (t Token) String() string {
	return fmt.Sprintf("vault.Token{AccessToken: %s, TokenType: %s, ExpiresAt: %s, Scopes: %q, Extras: %q, Generation: %d}",
		redacted, t.TokenType, t.ExpiresAt.Format(time.RFC3339), t.Scopes, slices.Sorted(maps.Keys(t.Extras)), t.Generation)
}

// GoString keeps %#v from printing the access token.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer without the access token or the
// values of Extras.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token_type", t.TokenType),
		slog.Time("expires_at", t.ExpiresAt),
		slog.Int64("generation", t.Generation),
	)
}

// extrasDocument is the plaintext of a token row's sealed extras column.
// The vault owns this format: the provider's extra token fields, and the
// scopes requested in the consent that made the connection, which decide
// whether an admin has since added scopes.
type extrasDocument struct {
	Fields          map[string]string `json:"fields,omitempty"`
	RequestedScopes []string          `json:"requested_scopes,omitempty"`
}

// opened is a token row with its secrets decrypted.
type opened struct {
	rec          *store.TokenRecord
	accessToken  string
	refreshToken string
	extras       extrasDocument
}

// open decrypts the secrets of rec, each under its row's and column's
// associated data. A column that is empty stays empty.
func (v *Vault) open(rec *store.TokenRecord) (*opened, error) {
	o := &opened{rec: rec}
	var err error
	if o.accessToken, err = v.openString(rec.AccessToken, store.TokenAccessAAD(rec.UserID, rec.ProviderID)); err != nil {
		return nil, fmt.Errorf("vault: open access token: %w", err)
	}
	if o.refreshToken, err = v.openString(rec.RefreshToken, store.TokenRefreshAAD(rec.UserID, rec.ProviderID)); err != nil {
		return nil, fmt.Errorf("vault: open refresh token: %w", err)
	}
	extras, err := v.openString(rec.Extras, store.TokenExtrasAAD(rec.UserID, rec.ProviderID))
	if err != nil {
		return nil, fmt.Errorf("vault: open extras: %w", err)
	}
	if extras != "" {
		if err := json.Unmarshal([]byte(extras), &o.extras); err != nil {
			return nil, fmt.Errorf("vault: decode extras: %w", err)
		}
	}
	return o, nil
}

func (v *Vault) openString(sealed, aad string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	plain, err := v.keyring.Open(sealed, aad)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// sealString seals a non-empty value and returns "" for an empty one, so
// that the column stays NULL.
func (v *Vault) sealString(plain, aad string) (string, error) {
	if plain == "" {
		return "", nil
	}
	return v.keyring.Seal([]byte(plain), aad)
}

// sealExtras seals doc for the row of userID and providerID. An empty
// document leaves the column NULL.
func (v *Vault) sealExtras(userID, providerID string, doc extrasDocument) (string, error) {
	if len(doc.Fields) == 0 && len(doc.RequestedScopes) == 0 {
		return "", nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("vault: encode extras: %w", err)
	}
	return v.keyring.Seal(b, store.TokenExtrasAAD(userID, providerID))
}

// token builds the Token of an opened row.
func (o *opened) token() *Token {
	return &Token{
		AccessToken: o.accessToken,
		TokenType:   o.rec.TokenType,
		ExpiresAt:   o.rec.ExpiresAt,
		Scopes:      o.rec.Scopes,
		Extras:      o.extras.Fields,
		Generation:  o.rec.Generation,
	}
}
