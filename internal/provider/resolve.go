package provider

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/toolgate/toolgate/internal/store"
)

// Config is everything the consent flow and the vault need to talk to one
// provider. Resolve builds a new Config for each call, so the caller owns
// it. String, GoString and LogValue redact the client secret, and so does
// the Secret type itself.
type Config struct {
	ProviderID  string
	Type        Type
	DisplayName string
	// Enabled is false for a provider an admin switched off. Resolve
	// returns disabled providers too, so that the vault can still revoke
	// their tokens. The consent flow must not start for them.
	Enabled bool
	// AllowedRoles limits who may connect. Empty allows every user.
	AllowedRoles []string

	// Issuer is the authorization server's issuer identifier, to compare
	// with an "iss" authorization response parameter (RFC 9207) or an ID
	// token's iss claim. It is empty when the provider has no single
	// issuer, as with Microsoft's multi-tenant endpoints, or uses no
	// issuer at all, and callers must then skip issuer checks.
	Issuer                string
	AuthorizationEndpoint string
	TokenEndpoint         string
	// RevocationEndpoint is empty when RevocationStyle is RevocationNone.
	RevocationEndpoint    string
	IntrospectionEndpoint string
	UserinfoEndpoint      string
	RevocationStyle       RevocationStyle
	// RedirectURI is the same for every provider.
	RedirectURI string

	ClientID string
	// ClientSecret is the decrypted secret, empty for a public client.
	ClientSecret Secret
	// AuthMethod is how to authenticate at the token endpoint.
	AuthMethod AuthMethod
	// RevocationAuthMethod is how to authenticate at the revocation
	// endpoint.
	RevocationAuthMethod AuthMethod

	// Scopes are the configured scopes followed by any required scope
	// that was missing. When Scopes is empty, leave ScopeParameter out of
	// the authorization request.
	Scopes []string
	// ScopeParameter is the authorization request parameter that carries
	// Scopes, joined with ScopeSeparator.
	ScopeParameter string
	ScopeSeparator string
	// AuthorizeParameters are the custom parameters with the vendor's
	// baseline parameters applied over them. Add them to the
	// authorization request before the reserved parameters, which the
	// consent flow sets itself.
	AuthorizeParameters map[string]string
	// ForbiddenParameters are parameters the vendor rejects. Validation
	// keeps them out of AuthorizeParameters.
	ForbiddenParameters []string
	Quirks              Quirks
}

// configFields has Config's fields without its methods, for formatting.
type configFields Config

// String returns the fields of c with the client secret redacted.
func (c Config) String() string { return fmt.Sprintf("%+v", configFields(c)) }

// GoString keeps %#v from printing the client secret.
func (c Config) GoString() string { return fmt.Sprintf("%#v", configFields(c)) }

// LogValue implements slog.LogValuer. It logs what identifies the
// configuration and never the client secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("provider_id", c.ProviderID),
		slog.String("type", string(c.Type)),
		slog.String("client_id", c.ClientID),
		slog.Bool("client_secret_set", c.ClientSecret != ""),
		slog.String("token_endpoint", c.TokenEndpoint),
		slog.String("auth_method", string(c.AuthMethod)),
	)
}

// Resolve returns the configuration of the provider with id, with its
// client secret decrypted. It returns an error wrapping ErrNotFound for an
// unknown id, and an error wrapping a keyring error when the secret
// cannot be opened (a key missing from the keyring, or a row tampered
// with).
func (r *Registry) Resolve(ctx context.Context, id string) (*Config, error) {
	p, err := r.load(ctx, id)
	if err != nil {
		return nil, err
	}
	s, err := specFromStored(p)
	if err != nil {
		return nil, fmt.Errorf("provider: resolve %q: %w", id, err)
	}
	var secret Secret
	if p.ClientSecret != "" {
		plaintext, err := r.keyring.Open(p.ClientSecret, store.ProviderSecretAAD(id))
		if err != nil {
			return nil, fmt.Errorf("provider: resolve %q: open client secret: %w", id, err)
		}
		secret = Secret(plaintext)
	}

	endpoints := s.endpoints()
	c := &Config{
		ProviderID:            s.ID,
		Type:                  s.Type,
		DisplayName:           s.DisplayName,
		Enabled:               s.Enabled,
		AllowedRoles:          slices.Clone(s.AllowedRoles),
		Issuer:                endpoints.Issuer,
		AuthorizationEndpoint: endpoints.AuthorizationEndpoint,
		TokenEndpoint:         endpoints.TokenEndpoint,
		RevocationEndpoint:    endpoints.RevocationEndpoint,
		RevocationStyle:       endpoints.RevocationStyle,
		RedirectURI:           r.redirectURI,
		ClientID:              s.ClientID,
		ClientSecret:          secret,
		AuthorizeParameters:   cloneMap(s.CustomParameters),
	}
	if c.AuthorizeParameters == nil {
		c.AuthorizeParameters = map[string]string{}
	}

	if s.Type == TypeCustom {
		md := s.Metadata
		c.IntrospectionEndpoint = md.IntrospectionEndpoint
		c.UserinfoEndpoint = md.UserinfoEndpoint
		c.AuthMethod = chooseAuthMethod(md.TokenEndpointAuthMethodsSupported, s.HasSecret)
		c.RevocationAuthMethod = chooseAuthMethod(md.RevocationEndpointAuthMethodsSupported, s.HasSecret)
		c.Scopes = slices.Clone(s.Scopes)
		c.ScopeParameter, c.ScopeSeparator = customPreset.ScopeParameter, customPreset.ScopeSeparator
		return c, nil
	}

	preset := presets[s.Type]
	c.AuthMethod = preset.AuthMethod
	c.RevocationAuthMethod = preset.RevocationAuthMethod
	c.Scopes = withRequired(s.Scopes, preset.RequiredScopes)
	c.ScopeParameter, c.ScopeSeparator = preset.ScopeParameter, preset.ScopeSeparator
	// The baseline goes last so that it overrides a custom parameter of
	// the same name. The design note in validate.go gives the reason.
	for name, value := range preset.AuthorizeParameters {
		c.AuthorizeParameters[name] = value
	}
	c.ForbiddenParameters = slices.Clone(preset.ForbiddenParameters)
	c.Quirks = preset.Quirks
	c.Quirks.ExtraTokenFields = slices.Clone(preset.Quirks.ExtraTokenFields)
	return c, nil
}

// chooseAuthMethod picks the client authentication for an endpoint whose
// metadata lists supported. A client without a secret uses none. An empty
// list means client_secret_basic, the default of RFC 8414 section 2.
func chooseAuthMethod(supported []string, hasSecret bool) AuthMethod {
	switch {
	case !hasSecret:
		return AuthNone
	case len(supported) == 0 || slices.Contains(supported, string(AuthClientSecretBasic)):
		return AuthClientSecretBasic
	case slices.Contains(supported, string(AuthClientSecretPost)):
		return AuthClientSecretPost
	case slices.Contains(supported, string(AuthNone)):
		return AuthNone
	default:
		// Validation rejects such token endpoint metadata. A revocation
		// endpoint may still list only methods Toolgate lacks, and then
		// revocation fails at the server.
		return AuthClientSecretBasic
	}
}

// withRequired returns scopes followed by each required scope it lacks.
func withRequired(scopes, required []string) []string {
	out := slices.Clone(scopes)
	if out == nil {
		out = []string{}
	}
	for _, scope := range required {
		if !slices.Contains(out, scope) {
			out = append(out, scope)
		}
	}
	return out
}
