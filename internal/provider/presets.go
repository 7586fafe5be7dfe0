package provider

import (
	"regexp"
	"strings"
)

// Type is a provider kind: a vendor with a preset, or TypeCustom for any
// OAuth 2.0 authorization server described by discovery or explicit
// metadata.
type Type string

// The provider types. Vendor types take their endpoints from a Preset and
// reject discovery_url and authorization_server_metadata.
const (
	TypeGoogle     Type = "google"
	TypeMicrosoft  Type = "microsoft"
	TypeGitHub     Type = "github"
	TypeSlack      Type = "slack"
	TypeSalesforce Type = "salesforce"
	TypeZoom       Type = "zoom"
	TypeAtlassian  Type = "atlassian"
	TypeCustom     Type = "custom"
)

// AuthMethod is a client authentication method at a token or revocation
// endpoint, named as in the IANA "OAuth Token Endpoint Authentication
// Methods" registry (RFC 7591, section 2).
type AuthMethod string

// The client authentication methods Toolgate uses.
const (
	// AuthClientSecretBasic sends client_id and client_secret in an HTTP
	// Basic Authorization header (RFC 6749, section 2.3.1).
	AuthClientSecretBasic AuthMethod = "client_secret_basic"
	// AuthClientSecretPost sends client_id and client_secret as form
	// parameters in the request body.
	AuthClientSecretPost AuthMethod = "client_secret_post"
	// AuthNone sends client_id only: a public client, or a request that the
	// token being revoked authenticates by itself.
	AuthNone AuthMethod = "none"
)

// RevocationStyle is the protocol for revoking a user's grant at the
// provider.
type RevocationStyle string

// The revocation styles.
const (
	// RevocationRFC7009 POSTs token=<token> as a form to the revocation
	// endpoint (RFC 7009), with the client authentication in
	// Config.RevocationAuthMethod.
	RevocationRFC7009 RevocationStyle = "rfc7009"
	// RevocationGitHubGrantAPI sends DELETE to the revocation endpoint
	// (which contains the client id) with HTTP Basic
	// client_id:client_secret and the JSON body
	// {"access_token": "<token>"}. It deletes the whole grant, so every
	// token of that user for the OAuth app stops working.
	RevocationGitHubGrantAPI RevocationStyle = "github_grant_api"
	// RevocationSlackAuthRevoke POSTs to Slack's auth.revoke method,
	// authenticated by the token itself. Success is HTTP 200 with
	// "ok": true and "revoked": true.
	RevocationSlackAuthRevoke RevocationStyle = "slack_auth_revoke"
	// RevocationNone means the provider has no revocation API. The user
	// removes the grant in the provider's account settings.
	RevocationNone RevocationStyle = "none"
)

// Quirks lists where a vendor's token endpoint departs from RFC 6749,
// section 5. The zero value means a standard JSON response.
type Quirks struct {
	// FormUnlessAcceptJSON means the token endpoint returns
	// application/x-www-form-urlencoded unless the request sends
	// "Accept: application/json".
	FormUnlessAcceptJSON bool `json:"form_unless_accept_json,omitempty"`
	// ErrorInSuccessBody means an error can arrive in a body whose HTTP
	// status is 2xx. A body with an "error" member is an error whatever
	// the status.
	ErrorInSuccessBody bool `json:"error_in_success_body,omitempty"`
	// OKField means the body carries "ok": false on failure, with the
	// error code in "error", even when the HTTP status is 200.
	OKField bool `json:"ok_field,omitempty"`
	// UserTokenInAuthedUser means the user's token (access_token,
	// refresh_token, expires_in, scope) is under "authed_user". A
	// top-level access_token, if any, is a bot token.
	UserTokenInAuthedUser bool `json:"user_token_in_authed_user,omitempty"`
	// ExtraTokenFields names token response members to store with the
	// token, such as Salesforce's instance_url, the base URL of the
	// user's API.
	ExtraTokenFields []string `json:"extra_token_fields,omitempty"`
}

// ScopeHint is a scope the UI offers when an admin picks a preset.
type ScopeHint struct {
	Scope       string `json:"scope"`
	Description string `json:"description"`
}

// SettingField describes one vendor setting (a key of a provider's
// settings object) for the UI and for validation.
type SettingField struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Default is stored when the setting is absent or empty.
	Default string `json:"default,omitempty"`
	// Pattern is a regular expression the value must match, for the UI.
	// The server also applies checks that a pattern cannot express.
	Pattern string `json:"pattern,omitempty"`

	// normalize rewrites a value before it is checked and stored; nil
	// keeps it as given.
	normalize func(string) string
	// check returns "" for a valid value, or what is wrong and how to fix
	// it.
	check func(string) string
}

// Preset is the description of one vendor's OAuth 2.0 implementation
// that Toolgate ships. Endpoint fields may contain {name} placeholders, which
// are replaced with the provider's setting of that name, or with its
// client id for {client_id}.
type Preset struct {
	Type        Type   `json:"type"`
	DisplayName string `json:"display_name"`
	// Documentation is the vendor's OAuth guide that the preset follows.
	Documentation string `json:"documentation_url,omitempty"`

	Issuer                string `json:"issuer,omitempty"`
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string `json:"token_endpoint,omitempty"`
	RevocationEndpoint    string `json:"revocation_endpoint,omitempty"`

	RevocationStyle      RevocationStyle `json:"revocation_style,omitempty"`
	AuthMethod           AuthMethod      `json:"token_endpoint_auth_method,omitempty"`
	RevocationAuthMethod AuthMethod      `json:"revocation_endpoint_auth_method,omitempty"`

	// AuthorizeParameters are added to every authorization request. They
	// override a custom parameter of the same name.
	AuthorizeParameters map[string]string `json:"authorize_parameters,omitempty"`
	// RequiredScopes are added to the configured scopes when missing.
	RequiredScopes []string `json:"required_scopes,omitempty"`
	// ForbiddenParameters may not be set as custom parameters, because the
	// vendor rejects them.
	ForbiddenParameters []string `json:"forbidden_parameters,omitempty"`
	// ScopeParameter is the authorize parameter that carries the scopes.
	ScopeParameter string `json:"scope_parameter,omitempty"`
	// ScopeSeparator joins the scopes in ScopeParameter.
	ScopeSeparator string `json:"scope_separator,omitempty"`

	Quirks     Quirks         `json:"quirks"`
	ScopeHints []ScopeHint    `json:"scope_hints,omitempty"`
	Settings   []SettingField `json:"settings,omitempty"`
}

// presetOrder is the order of Presets, as the UI shows it.
var presetOrder = []Type{
	TypeGoogle, TypeMicrosoft, TypeGitHub, TypeSlack, TypeSalesforce, TypeZoom, TypeAtlassian, TypeCustom,
}

// googlePreset follows "Using OAuth 2.0 for Web Server Applications",
// https://developers.google.com/identity/protocols/oauth2/web-server:
// access_type=offline makes Google return a refresh token, and
// prompt=consent shows the consent screen again so that a repeat
// authorization also returns one. The revocation endpoint takes the token as its only
// parameter, without client authentication.
var googlePreset = Preset{
	Type:                  TypeGoogle,
	DisplayName:           "Google",
	Documentation:         "https://developers.google.com/identity/protocols/oauth2/web-server",
	Issuer:                "https://accounts.google.com",
	AuthorizationEndpoint: "https://accounts.google.com/o/oauth2/v2/auth",
	TokenEndpoint:         "https://oauth2.googleapis.com/token",
	RevocationEndpoint:    "https://oauth2.googleapis.com/revoke",
	RevocationStyle:       RevocationRFC7009,
	AuthMethod:            AuthClientSecretPost,
	RevocationAuthMethod:  AuthNone,
	AuthorizeParameters:   map[string]string{"access_type": "offline", "prompt": "consent"},
	ScopeParameter:        "scope",
	ScopeSeparator:        " ",
	ScopeHints: []ScopeHint{
		{"openid", "Sign-in identity (OpenID Connect)"},
		{"email", "Email address"},
		{"profile", "Name and picture"},
		{"https://www.googleapis.com/auth/drive.readonly", "Read Google Drive files"},
		{"https://www.googleapis.com/auth/calendar.readonly", "Read Google Calendar events"},
		{"https://www.googleapis.com/auth/gmail.readonly", "Read Gmail messages"},
	},
}

// microsoftPreset follows "Microsoft identity platform and OAuth 2.0
// authorization code flow",
// https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow:
// the v2.0 endpoints sit under a tenant (common, organizations, consumers,
// a tenant id or a domain). A refresh token needs the offline_access
// scope. The v2.0 endpoint rejects the v1.0 "resource" parameter with
// error AADSTS901002, because scopes name the resource instead. The
// platform has no OAuth revocation endpoint.
//
// NOTE: Issuer is empty because the v2.0 issuer contains the tenant's id,
// which differs from the tenant setting for common, organizations,
// consumers and domain names.
var microsoftPreset = Preset{
	Type:                  TypeMicrosoft,
	DisplayName:           "Microsoft",
	Documentation:         "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow",
	AuthorizationEndpoint: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
	TokenEndpoint:         "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
	RevocationStyle:       RevocationNone,
	AuthMethod:            AuthClientSecretPost,
	RequiredScopes:        []string{"offline_access"},
	ForbiddenParameters:   []string{"resource"},
	ScopeParameter:        "scope",
	ScopeSeparator:        " ",
	ScopeHints: []ScopeHint{
		{"offline_access", "Refresh tokens (always requested)"},
		{"openid", "Sign-in identity (OpenID Connect)"},
		{"User.Read", "Microsoft Graph: read the user's profile"},
		{"Mail.Read", "Microsoft Graph: read the user's mail"},
		{"Calendars.Read", "Microsoft Graph: read the user's calendars"},
		{"Files.Read", "Microsoft Graph: read the user's files"},
	},
	Settings: []SettingField{{
		Name:        "tenant",
		Description: "Directory (tenant) that users sign in to: common, organizations, consumers, a tenant id or a domain name",
		Default:     "common",
		Pattern:     `^[A-Za-z0-9.-]{1,64}$`,
		check:       checkMicrosoftTenant,
	}},
}

// githubPreset follows "Authorizing OAuth apps",
// https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps,
// "Troubleshooting OAuth app access token request errors",
// https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors,
// and "Delete an app authorization",
// https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-authorization.
// The token endpoint returns a form-encoded body unless the request
// accepts JSON, and the format of its errors follows the Accept header
// too. Scopes are space-delimited in the authorization request.
// Revocation deletes the grant with HTTP Basic client credentials.
var githubPreset = Preset{
	Type:                  TypeGitHub,
	DisplayName:           "GitHub",
	Documentation:         "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps",
	AuthorizationEndpoint: "https://github.com/login/oauth/authorize",
	TokenEndpoint:         "https://github.com/login/oauth/access_token",
	RevocationEndpoint:    "https://api.github.com/applications/{client_id}/grant",
	RevocationStyle:       RevocationGitHubGrantAPI,
	AuthMethod:            AuthClientSecretPost,
	RevocationAuthMethod:  AuthClientSecretBasic,
	ScopeParameter:        "scope",
	ScopeSeparator:        " ",
	// NOTE: GitHub's troubleshooting page shows token errors as JSON
	// bodies without stating their HTTP status. ErrorInSuccessBody makes
	// callers check the body for "error" whatever the status.
	Quirks: Quirks{FormUnlessAcceptJSON: true, ErrorInSuccessBody: true},
	ScopeHints: []ScopeHint{
		{"repo", "Full access to public and private repositories"},
		{"read:user", "Read the user's profile"},
		{"user:email", "Read the user's email addresses"},
		{"read:org", "Read organization and team membership"},
		{"gist", "Create gists"},
	},
}

// slackPreset follows "Installing with OAuth",
// https://api.slack.com/authentication/oauth-v2, and the auth.revoke
// method, https://api.slack.com/methods/auth.revoke. Toolgate acts for
// users, so it requests user scopes: they go in the comma-separated
// user_scope parameter, and the user's token comes back under
// authed_user. Web API methods, oauth.v2.access among them, return HTTP
// 200 with "ok": false on failure. Slack's method reference recommends
// HTTP Basic over form parameters for the client credentials.
var slackPreset = Preset{
	Type:                  TypeSlack,
	DisplayName:           "Slack",
	Documentation:         "https://api.slack.com/authentication/oauth-v2",
	AuthorizationEndpoint: "https://slack.com/oauth/v2/authorize",
	TokenEndpoint:         "https://slack.com/api/oauth.v2.access",
	RevocationEndpoint:    "https://slack.com/api/auth.revoke",
	RevocationStyle:       RevocationSlackAuthRevoke,
	AuthMethod:            AuthClientSecretBasic,
	RevocationAuthMethod:  AuthNone,
	ScopeParameter:        "user_scope",
	ScopeSeparator:        ",",
	Quirks:                Quirks{OKField: true, UserTokenInAuthedUser: true},
	ScopeHints: []ScopeHint{
		{"channels:read", "List public channels"},
		{"channels:history", "Read messages in public channels"},
		{"chat:write", "Send messages as the user"},
		{"users:read", "List people in the workspace"},
		{"search:read", "Search the workspace"},
	},
}

// salesforcePreset follows "OAuth 2.0 Web Server Flow for Web App
// Integration",
// https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm,
// and "Revoking OAuth Tokens",
// https://developer.salesforce.com/docs/platform/mobile-sdk/guide/oauth-revoking-tokens.html.
// Endpoints live on login.salesforce.com, test.salesforce.com (sandboxes)
// or the org's My Domain. The token response carries instance_url, the
// base URL for the user's API calls. Revocation takes the token as a
// form parameter without client authentication. A refresh token needs
// the refresh_token scope.
var salesforcePreset = Preset{
	Type:                  TypeSalesforce,
	DisplayName:           "Salesforce",
	Documentation:         "https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm",
	AuthorizationEndpoint: "https://{domain}/services/oauth2/authorize",
	TokenEndpoint:         "https://{domain}/services/oauth2/token",
	RevocationEndpoint:    "https://{domain}/services/oauth2/revoke",
	RevocationStyle:       RevocationRFC7009,
	AuthMethod:            AuthClientSecretPost,
	RevocationAuthMethod:  AuthNone,
	RequiredScopes:        []string{"refresh_token"},
	ScopeParameter:        "scope",
	ScopeSeparator:        " ",
	Quirks:                Quirks{ExtraTokenFields: []string{"instance_url"}},
	ScopeHints: []ScopeHint{
		{"api", "Call Salesforce REST and SOAP APIs"},
		{"refresh_token", "Refresh tokens (always requested)"},
		{"openid", "Sign-in identity (OpenID Connect)"},
	},
	Settings: []SettingField{{
		Name:        "domain",
		Description: "Login host: login.salesforce.com, test.salesforce.com for sandboxes, or the org's My Domain host (name.my.salesforce.com)",
		Default:     "login.salesforce.com",
		Pattern:     `^(login\.salesforce\.com|test\.salesforce\.com|([a-z0-9-]+\.)+my\.salesforce\.com)$`,
		normalize:   strings.ToLower,
		check:       checkSalesforceDomain,
	}},
}

// zoomPreset follows "OAuth for user-managed apps",
// https://developers.zoom.us/docs/integrations/oauth/. The token and
// revocation endpoints take client credentials as HTTP Basic. Scopes are
// set on the app in the Zoom App Marketplace, so the scope list may stay
// empty.
var zoomPreset = Preset{
	Type:                  TypeZoom,
	DisplayName:           "Zoom",
	Documentation:         "https://developers.zoom.us/docs/integrations/oauth/",
	AuthorizationEndpoint: "https://zoom.us/oauth/authorize",
	TokenEndpoint:         "https://zoom.us/oauth/token",
	RevocationEndpoint:    "https://zoom.us/oauth/revoke",
	RevocationStyle:       RevocationRFC7009,
	AuthMethod:            AuthClientSecretBasic,
	RevocationAuthMethod:  AuthClientSecretBasic,
	ScopeParameter:        "scope",
	ScopeSeparator:        " ",
	ScopeHints: []ScopeHint{
		{"meeting:read", "Read the user's meetings (classic scope)"},
		{"meeting:write", "Create and change the user's meetings (classic scope)"},
		{"user:read", "Read the user's profile (classic scope)"},
	},
}

// atlassianPreset follows "OAuth 2.0 (3LO) apps",
// https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/:
// the authorization URL carries audience=api.atlassian.com and
// prompt=consent, and a refresh token needs the offline_access scope.
// Atlassian documents no revocation endpoint. Users remove access under
// their account's connected apps.
var atlassianPreset = Preset{
	Type:                  TypeAtlassian,
	DisplayName:           "Atlassian (Jira, Confluence)",
	Documentation:         "https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/",
	AuthorizationEndpoint: "https://auth.atlassian.com/authorize",
	TokenEndpoint:         "https://auth.atlassian.com/oauth/token",
	RevocationStyle:       RevocationNone,
	AuthMethod:            AuthClientSecretPost,
	AuthorizeParameters:   map[string]string{"audience": "api.atlassian.com", "prompt": "consent"},
	RequiredScopes:        []string{"offline_access"},
	ScopeParameter:        "scope",
	ScopeSeparator:        " ",
	ScopeHints: []ScopeHint{
		{"offline_access", "Refresh tokens (always requested)"},
		{"read:me", "Read the user's Atlassian account profile"},
		{"read:jira-work", "Read Jira issues and projects"},
		{"write:jira-work", "Create and edit Jira issues"},
		{"read:jira-user", "Read Jira users"},
		{"read:confluence-content.all", "Read Confluence content"},
	},
}

// customPreset is the picker's entry for any other authorization server.
// Its endpoints come from discovery (RFC 8414, OpenID Connect Discovery
// 1.0) or explicit metadata, so it has none here.
var customPreset = Preset{
	Type:           TypeCustom,
	DisplayName:    "Custom OAuth 2.0 / OpenID Connect",
	Documentation:  "https://www.rfc-editor.org/rfc/rfc8414",
	ScopeParameter: "scope",
	ScopeSeparator: " ",
}

// presets maps every type to its preset. Treat it as read-only: Presets
// hands out copies.
var presets = map[Type]*Preset{
	TypeGoogle:     &googlePreset,
	TypeMicrosoft:  &microsoftPreset,
	TypeGitHub:     &githubPreset,
	TypeSlack:      &slackPreset,
	TypeSalesforce: &salesforcePreset,
	TypeZoom:       &zoomPreset,
	TypeAtlassian:  &atlassianPreset,
	TypeCustom:     &customPreset,
}

// Presets returns a copy of every preset, vendors first and custom last,
// for the UI's preset picker. Changing the result does not change the
// registry's presets.
func Presets() []Preset {
	out := make([]Preset, 0, len(presetOrder))
	for _, t := range presetOrder {
		out = append(out, presets[t].clone())
	}
	return out
}

// clone returns a deep copy of p.
func (p *Preset) clone() Preset {
	c := *p
	c.AuthorizeParameters = cloneMap(p.AuthorizeParameters)
	c.RequiredScopes = cloneSlice(p.RequiredScopes)
	c.ForbiddenParameters = cloneSlice(p.ForbiddenParameters)
	c.Quirks.ExtraTokenFields = cloneSlice(p.Quirks.ExtraTokenFields)
	c.ScopeHints = cloneSlice(p.ScopeHints)
	c.Settings = cloneSlice(p.Settings)
	return c
}

// setting returns the preset's setting field called name.
func (p *Preset) setting(name string) (SettingField, bool) {
	for _, f := range p.Settings {
		if f.Name == name {
			return f, true
		}
	}
	return SettingField{}, false
}

// expand replaces each {name} in template with the setting of that name.
// The settings were validated, so their values are safe in a URL.
func expand(template string, settings map[string]string) string {
	if !strings.Contains(template, "{") {
		return template
	}
	pairs := make([]string, 0, 2*len(settings))
	for name, value := range settings {
		pairs = append(pairs, "{"+name+"}", value)
	}
	return strings.NewReplacer(pairs...).Replace(template)
}

var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9.-]{1,64}$`)

func checkMicrosoftTenant(v string) string {
	if !tenantPattern.MatchString(v) {
		return "invalid tenant: want 1 to 64 characters from A-Z, a-z, 0-9, '.' and '-', " +
			"such as common, organizations, consumers, a tenant id or contoso.onmicrosoft.com"
	}
	return ""
}

// myDomainLabel is one DNS label of a My Domain host. Sandbox hosts such
// as acme--uat.sandbox.my.salesforce.com contain "--" inside a label.
var myDomainLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func checkSalesforceDomain(v string) string {
	const fix = "want login.salesforce.com, test.salesforce.com or a My Domain host ending in .my.salesforce.com, without scheme or path"
	if v == "login.salesforce.com" || v == "test.salesforce.com" {
		return ""
	}
	prefix, ok := strings.CutSuffix(v, ".my.salesforce.com")
	if !ok || prefix == "" || len(v) > 253 {
		return "invalid domain: " + fix
	}
	for _, label := range strings.Split(prefix, ".") {
		if !myDomainLabel.MatchString(label) {
			return "invalid domain: " + fix
		}
	}
	return ""
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append([]T(nil), s...)
}
