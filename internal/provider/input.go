package provider

import (
	"encoding/json"
	"log/slog"
)

// Secret is a plaintext client secret. Its String, GoString, LogValue and
// MarshalJSON return "[redacted]" when it is set, so that printing, logging
// or encoding a struct that contains one does not reveal it. Convert with
// string(s) where the value itself is needed. Decoding from JSON is not
// affected.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON encodes the redacted form, so that a secret never reaches a
// JSON log line or response by accident.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// CreateInput is the request body that registers a provider. Absent
// optional fields take their zero value, except Enabled, which defaults to
// true.
type CreateInput struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	Type        Type   `json:"type"`
	ClientID    string `json:"client_id"`
	// ClientSecret is required for vendor types. A custom provider without
	// one is a public client (token_endpoint_auth_method "none").
	ClientSecret Secret   `json:"client_secret"`
	Scopes       []string `json:"scopes"`
	// AllowedRoles limits who may connect an account. Empty allows every
	// signed-in user.
	AllowedRoles []string `json:"allowed_roles"`
	Enabled      *bool    `json:"enabled"`
	// Icon is an https URL or a data:image/... base64 URL.
	Icon string `json:"icon"`
	// CustomParameters are added to the authorization request.
	CustomParameters map[string]string `json:"custom_parameters"`
	// Settings are vendor settings, such as Microsoft's tenant.
	Settings map[string]string `json:"settings"`
	// DiscoveryURL and AuthorizationServerMetadata describe a custom
	// provider's authorization server. Send exactly one of them for
	// TypeCustom and neither for vendor types.
	DiscoveryURL                string    `json:"discovery_url"`
	AuthorizationServerMetadata *Metadata `json:"authorization_server_metadata"`
}

// PatchInput is the request body that changes a provider. A nil field (an
// absent or null JSON member) leaves the stored value unchanged. A present
// list, map or metadata object replaces the stored one whole. Credentials
// change only when ClientID and ClientSecret are both present.
type PatchInput struct {
	// ID and Type cannot change. They are accepted only when equal to the
	// stored values, so that a client may send back what it read.
	ID   *string `json:"id"`
	Type *Type   `json:"type"`

	DisplayName      *string            `json:"display_name"`
	ClientID         *string            `json:"client_id"`
	ClientSecret     *Secret            `json:"client_secret"`
	Scopes           *[]string          `json:"scopes"`
	AllowedRoles     *[]string          `json:"allowed_roles"`
	Enabled          *bool              `json:"enabled"`
	Icon             *string            `json:"icon"`
	CustomParameters *map[string]string `json:"custom_parameters"`
	Settings         *map[string]string `json:"settings"`
	// DiscoveryURL, when present, fetches the discovery document again,
	// even when the URL is unchanged.
	DiscoveryURL                *string   `json:"discovery_url"`
	AuthorizationServerMetadata *Metadata `json:"authorization_server_metadata"`
}

// Metadata is OAuth 2.0 authorization server metadata (RFC 8414, section
// 2), the subset Toolgate uses. OpenID Connect discovery documents share
// these names.
type Metadata struct {
	Issuer                                 string   `json:"issuer"`
	AuthorizationEndpoint                  string   `json:"authorization_endpoint"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	RevocationEndpoint                     string   `json:"revocation_endpoint,omitempty"`
	IntrospectionEndpoint                  string   `json:"introspection_endpoint,omitempty"`
	UserinfoEndpoint                       string   `json:"userinfo_endpoint,omitempty"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	RevocationEndpointAuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethodsSupported          []string `json:"code_challenge_methods_supported,omitempty"`
	ScopesSupported                        []string `json:"scopes_supported,omitempty"`
}

func (m *Metadata) clone() *Metadata {
	if m == nil {
		return nil
	}
	c := *m
	c.TokenEndpointAuthMethodsSupported = cloneSlice(m.TokenEndpointAuthMethodsSupported)
	c.RevocationEndpointAuthMethodsSupported = cloneSlice(m.RevocationEndpointAuthMethodsSupported)
	c.CodeChallengeMethodsSupported = cloneSlice(m.CodeChallengeMethodsSupported)
	c.ScopesSupported = cloneSlice(m.ScopesSupported)
	return &c
}
