package provider

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/toolgate/toolgate/internal/store"
)

// specFromCreate normalizes a create request: it trims the display name
// and client id, removes repeated scopes and roles, fills setting defaults
// and defaults Enabled to true.
func specFromCreate(in CreateInput) *spec {
	enabled := true
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	params := cloneMap(in.CustomParameters)
	if params == nil {
		params = map[string]string{}
	}
	return &spec{
		ID:               in.ID,
		DisplayName:      strings.TrimSpace(in.DisplayName),
		Type:             in.Type,
		ClientID:         strings.TrimSpace(in.ClientID),
		HasSecret:        in.ClientSecret != "",
		Scopes:           dedupe(in.Scopes),
		AllowedRoles:     dedupe(in.AllowedRoles),
		Enabled:          enabled,
		Icon:             in.Icon,
		CustomParameters: params,
		Settings:         normalizeSettings(in.Type, in.Settings),
	}
}

// specFromStored decodes a stored provider. An error means the row is
// corrupt, not that the input was bad.
func specFromStored(p *store.Provider) (*spec, error) {
	s := &spec{
		ID:               p.ID,
		DisplayName:      p.DisplayName,
		Type:             Type(p.Type),
		ClientID:         p.ClientID,
		HasSecret:        p.ClientSecret != "",
		Scopes:           dedupe(p.Scopes),
		AllowedRoles:     dedupe(p.AllowedRoles),
		Enabled:          p.Enabled,
		Icon:             p.Icon,
		CustomParameters: cloneMap(p.CustomParameters),
		Settings:         map[string]string{},
		DiscoveryURL:     p.DiscoveryURL,
	}
	if s.CustomParameters == nil {
		s.CustomParameters = map[string]string{}
	}
	if len(p.Settings) > 0 {
		if err := json.Unmarshal(p.Settings, &s.Settings); err != nil {
			return nil, fmt.Errorf("decode stored settings: %w", err)
		}
	}
	if s.Type == TypeCustom {
		var md Metadata
		if err := json.Unmarshal(p.Metadata, &md); err != nil {
			return nil, fmt.Errorf("decode stored metadata: %w", err)
		}
		s.Metadata = &md
	}
	return s, nil
}

// mergePatch applies in to the stored provider p and validates the
// result as a whole. discovered is the document fetched from
// in.DiscoveryURL, or nil before the fetch, when the document's checks are
// skipped. It returns the merged spec, the issuer that in.DiscoveryURL
// implies, and a *ValidationError for rejected input.
func mergePatch(p *store.Provider, in PatchInput, discovered *Metadata) (*spec, string, error) {
	s, err := specFromStored(p)
	if err != nil {
		return nil, "", fmt.Errorf("provider: read stored provider %q: %w", p.ID, err)
	}
	var c checker

	if in.ID != nil && *in.ID != s.ID {
		c.Invalidf("id", "cannot change from %q to %q; create a provider with the new id and delete this one", s.ID, *in.ID)
	}
	if in.Type != nil && *in.Type != s.Type {
		c.Invalidf("type", "cannot change from %q to %q; create a provider of the new type and delete this one", s.Type, *in.Type)
	}

	switch {
	case in.ClientID != nil && in.ClientSecret == nil:
		c.Unacceptablef("client_secret", "missing: rotating credentials needs client_id and client_secret together; send both")
	case in.ClientID == nil && in.ClientSecret != nil:
		c.Unacceptablef("client_id", "missing: rotating credentials needs client_id and client_secret together; send both")
	case in.ClientID != nil:
		s.ClientID = strings.TrimSpace(*in.ClientID)
		s.HasSecret = *in.ClientSecret != ""
		c.checkSecretValue(*in.ClientSecret)
	}

	if in.DisplayName != nil {
		s.DisplayName = strings.TrimSpace(*in.DisplayName)
	}
	if in.Scopes != nil {
		s.Scopes = dedupe(*in.Scopes)
	}
	if in.AllowedRoles != nil {
		s.AllowedRoles = dedupe(*in.AllowedRoles)
	}
	if in.Enabled != nil {
		s.Enabled = *in.Enabled
	}
	if in.Icon != nil {
		s.Icon = *in.Icon
	}
	if in.CustomParameters != nil {
		s.CustomParameters = cloneMap(*in.CustomParameters)
		if s.CustomParameters == nil {
			s.CustomParameters = map[string]string{}
		}
	}
	if in.Settings != nil {
		s.Settings = normalizeSettings(s.Type, *in.Settings)
	}
	c.checkSpec(s)

	wantIssuer := c.checkSource(s.Type, in.DiscoveryURL, in.AuthorizationServerMetadata, false)
	if s.Type == TypeCustom {
		switch {
		case in.AuthorizationServerMetadata != nil:
			s.DiscoveryURL, s.Metadata = "", in.AuthorizationServerMetadata.clone()
			c.checkMetadata(s.Metadata, false, s.HasSecret)
		case in.DiscoveryURL != nil:
			s.DiscoveryURL, s.Metadata = *in.DiscoveryURL, discovered
			if discovered != nil {
				c.checkMetadata(discovered, true, s.HasSecret)
			}
		default:
			// The stored metadata passed these checks when it was saved;
			// a rotation to or from a public client can still fail them.
			c.checkMetadata(s.Metadata, s.DiscoveryURL != "", s.HasSecret)
		}
	}

	if err := c.err(); err != nil {
		return nil, "", err
	}
	return s, wantIssuer, nil
}

// writeTo copies s into the store row, leaving the id, type, sealed
// secret and timestamps to the caller.
func (s *spec) writeTo(p *store.Provider) error {
	settings, err := json.Marshal(s.Settings)
	if err != nil {
		return fmt.Errorf("encode settings: %w", err)
	}
	var metadata json.RawMessage
	if s.Metadata != nil {
		if metadata, err = json.Marshal(s.Metadata); err != nil {
			return fmt.Errorf("encode metadata: %w", err)
		}
	}
	p.DisplayName = s.DisplayName
	p.ClientID = s.ClientID
	p.Scopes = s.Scopes
	p.AllowedRoles = s.AllowedRoles
	p.Enabled = s.Enabled
	p.Icon = s.Icon
	p.CustomParameters = s.CustomParameters
	p.DiscoveryURL = s.DiscoveryURL
	p.Metadata = metadata
	p.Settings = settings
	return nil
}
