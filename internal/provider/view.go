package provider

import (
	"fmt"
	"net/url"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// View is a provider as the admin API returns it: every field except the
// client secret, which only ClientSecretSet reveals the presence of.
// Lists and maps are never nil, so they encode as [] and {}.
type View struct {
	ID               string            `json:"id"`
	DisplayName      string            `json:"display_name"`
	Type             Type              `json:"type"`
	ClientID         string            `json:"client_id"`
	ClientSecretSet  bool              `json:"client_secret_set"`
	Scopes           []string          `json:"scopes"`
	AllowedRoles     []string          `json:"allowed_roles"`
	Enabled          bool              `json:"enabled"`
	Icon             string            `json:"icon"`
	CustomParameters map[string]string `json:"custom_parameters"`
	Settings         map[string]string `json:"settings"`
	// DiscoveryURL and AuthorizationServerMetadata are set for custom
	// providers. The metadata is the document fetched from DiscoveryURL
	// when that is set.
	DiscoveryURL                string    `json:"discovery_url,omitempty"`
	AuthorizationServerMetadata *Metadata `json:"authorization_server_metadata,omitempty"`
	// Endpoints are the effective endpoints, with vendor settings applied.
	Endpoints Endpoints `json:"endpoints"`
	// RedirectURI is the URI to register at the provider.
	RedirectURI string    `json:"redirect_uri"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Endpoints are a provider's effective endpoints.
type Endpoints struct {
	// Issuer is empty when the provider has no single issuer (see
	// Config.Issuer).
	Issuer                string          `json:"issuer,omitempty"`
	AuthorizationEndpoint string          `json:"authorization_endpoint"`
	TokenEndpoint         string          `json:"token_endpoint"`
	RevocationEndpoint    string          `json:"revocation_endpoint,omitempty"`
	RevocationStyle       RevocationStyle `json:"revocation_style"`
}

// view builds the View of a stored provider.
func (r *Registry) view(p *store.Provider) (*View, error) {
	s, err := specFromStored(p)
	if err != nil {
		return nil, fmt.Errorf("provider: read stored provider %q: %w", p.ID, err)
	}
	v := &View{
		ID:               s.ID,
		DisplayName:      s.DisplayName,
		Type:             s.Type,
		ClientID:         s.ClientID,
		ClientSecretSet:  s.HasSecret,
		Scopes:           s.Scopes,
		AllowedRoles:     s.AllowedRoles,
		Enabled:          s.Enabled,
		Icon:             s.Icon,
		CustomParameters: s.CustomParameters,
		Settings:         s.Settings,
		DiscoveryURL:     s.DiscoveryURL,
		Endpoints:        s.endpoints(),
		RedirectURI:      r.redirectURI,
		CreatedAt:        p.CreatedAt,
		UpdatedAt:        p.UpdatedAt,
	}
	if s.Type == TypeCustom {
		v.AuthorizationServerMetadata = s.Metadata
	}
	return v, nil
}

// endpoints returns the effective endpoints: the preset's, with settings
// and the client id filled in, or those of a custom provider's metadata.
func (s *spec) endpoints() Endpoints {
	if s.Type == TypeCustom {
		if s.Metadata == nil {
			return Endpoints{RevocationStyle: RevocationNone}
		}
		style := RevocationNone
		if s.Metadata.RevocationEndpoint != "" {
			style = RevocationRFC7009
		}
		return Endpoints{
			Issuer:                s.Metadata.Issuer,
			AuthorizationEndpoint: s.Metadata.AuthorizationEndpoint,
			TokenEndpoint:         s.Metadata.TokenEndpoint,
			RevocationEndpoint:    s.Metadata.RevocationEndpoint,
			RevocationStyle:       style,
		}
	}

	preset, ok := presets[s.Type]
	if !ok {
		return Endpoints{RevocationStyle: RevocationNone}
	}
	vars := cloneMap(s.Settings)
	if vars == nil {
		vars = map[string]string{}
	}
	vars["client_id"] = url.PathEscape(s.ClientID)
	return Endpoints{
		Issuer:                expand(preset.Issuer, vars),
		AuthorizationEndpoint: expand(preset.AuthorizationEndpoint, vars),
		TokenEndpoint:         expand(preset.TokenEndpoint, vars),
		RevocationEndpoint:    expand(preset.RevocationEndpoint, vars),
		RevocationStyle:       preset.RevocationStyle,
	}
}
