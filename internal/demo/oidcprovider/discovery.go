package oidcprovider

import (
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// serveMetadata serves the provider's metadata, both as the OpenID
// discovery document and as OAuth 2.0 authorization server metadata
// (RFC 8414), which MCP clients look for first. It starts from the
// document the OP package builds and removes what this provider does not
// support, because the OP package v3.52.0 always lists the implicit flow,
// the JWT bearer grant, device authorization, public clients and JWT
// client authentication.
func (p *Provider) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	config := op.CreateDiscoveryConfig(r.Context(), p.op, p.storage)
	secretMethods := []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}

	config.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	config.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	config.DeviceAuthorizationEndpoint = ""
	config.RequestParameterSupported = false
	config.RequestObjectSigningAlgValuesSupported = nil
	config.TokenEndpointAuthMethodsSupported = secretMethods
	config.TokenEndpointAuthSigningAlgValuesSupported = nil
	config.RevocationEndpointAuthMethodsSupported = secretMethods
	config.RevocationEndpointAuthSigningAlgValuesSupported = nil
	config.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic}
	config.IntrospectionEndpointAuthSigningAlgValuesSupported = nil

	// Metadata is public, and browser-based clients read it across origins.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	op.Discover(w, config)
}
