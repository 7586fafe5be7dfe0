package provider

// Design note: 400 or 422
//
// Every rejected input names its JSON field, and the detail states what
// is wrong and how to fix it. The status shows the client which kind of
// fix is needed:
//
//   - 400 Bad Request: a value is malformed, out of range or missing, or a
//     field does not apply to the type. Examples are an id outside
//     ^[a-z0-9-]{1,64}$, an unknown type, an http endpoint on a
//     non-loopback host, an oversized icon, a missing client_id, and
//     discovery_url on a vendor type. The client fixes that value.
//   - 422 Unprocessable Content: every value is well-formed, but the
//     provider rules do not accept the combination. Examples are a custom
//     parameter that OAuth reserves or the vendor forbids, and a
//     credential rotation that sends only one of client_id and
//     client_secret. Others are a discovery document that cannot be
//     fetched or names another issuer, and metadata that advertises no
//     method Toolgate can use.
//
// When a request has problems of both kinds, only the 400s are reported,
// because some 422 checks read values that the 400s will change.
// Nothing is stored when any check fails.
//
// Design note: the vendor baseline wins
//
// A vendor's baseline authorize parameters are what make the flow return
// a refresh token for the right API: Google's access_type=offline and
// prompt=consent, Atlassian's audience=api.atlassian.com and
// prompt=consent. The vault cannot work without that refresh token. An
// admin's custom parameter with the same name is accepted and stored, but
// Resolve applies the baseline after the custom parameters, so a custom
// prompt=none cannot silently stop refresh tokens. Parameters that a
// vendor rejects outright, such as Microsoft's v1.0 "resource", are
// rejected at create and patch time instead, because the flow would fail
// at every consent.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/problem"
)

// Limits on provider fields.
const (
	maxDisplayName      = 100 // characters
	maxClientID         = 512 // bytes
	maxClientSecret     = 4096
	maxListItems        = 100 // scopes, allowed roles
	maxScopeLen         = 256
	maxRoleLen          = 256
	maxCustomParameters = 32
	maxParameterValue   = 1024
	maxIconBytes        = 100 << 10 // the whole icon URL, data: URLs included
	maxIconURL          = 2048      // an https icon URL
)

// reservedParameters are the authorization request parameters that the
// consent flow sets itself (RFC 6749 section 4.1.1, RFC 7636, OpenID
// Connect). client_secret is reserved too, because an authorization URL
// passes through the browser and must never carry it.
var reservedParameters = []string{
	"client_id", "client_secret", "redirect_uri", "response_type", "state",
	"code_challenge", "code_challenge_method", "scope", "nonce",
}

var (
	idPattern        = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	parameterPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// allowedIconTypes are the media types an icon data: URL may declare.
var allowedIconTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"}

// ValidationError reports rejected input. Status is 400 for a malformed
// or missing value and 422 for well-formed values that the provider rules
// do not accept. The design note in validate.go gives the full rule.
// Fields names every rejected field with what is wrong and how to fix it,
// and no detail contains a client secret.
type ValidationError struct {
	Status int
	Fields []problem.FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Detail
	}
	return fmt.Sprintf("provider: invalid input (%d): %s", e.Status, strings.Join(parts, "; "))
}

// checker collects field errors of both statuses.
type checker struct{ problem.FieldErrors }

// err returns the collected errors as a *ValidationError, or nil.
func (c *checker) err() error {
	if status, fields := c.Result(); status != 0 {
		return &ValidationError{Status: status, Fields: fields}
	}
	return nil
}

// spec is a provider's configuration in typed form: what validation checks
// and what is written to the store, apart from the sealed secret.
type spec struct {
	ID               string
	DisplayName      string
	Type             Type
	ClientID         string
	HasSecret        bool
	Scopes           []string
	AllowedRoles     []string
	Enabled          bool
	Icon             string
	CustomParameters map[string]string
	Settings         map[string]string
	DiscoveryURL     string
	// Metadata is a custom provider's authorization server metadata,
	// explicit or fetched from DiscoveryURL. It is nil for vendor types,
	// and for a custom provider whose discovery document is not fetched
	// yet.
	Metadata *Metadata
}

// checkSpec checks every field of s that does not depend on how the
// request arrived (create or patch).
func (c *checker) checkSpec(s *spec) {
	if !idPattern.MatchString(s.ID) {
		c.Invalidf("id", "invalid id %q: want 1 to 64 characters from a-z, 0-9 and '-' (pattern ^[a-z0-9-]{1,64}$)", s.ID)
	}
	preset, known := presets[s.Type]
	if !known {
		c.Invalidf("type", "unknown type %q: want one of %s", s.Type, typeList())
	}
	c.checkDisplayName(s.DisplayName)
	c.checkClientID(s.ClientID)
	if known && s.Type != TypeCustom && !s.HasSecret {
		c.Invalidf("client_secret", "missing: %s providers need the client secret from the app registration", s.Type)
	}
	separator := " "
	if known {
		separator = preset.ScopeSeparator
	}
	c.checkScopes(s.Scopes, separator)
	c.checkRoles(s.AllowedRoles)
	if detail := checkIcon(s.Icon); detail != "" {
		c.Invalidf("icon", "%s", detail)
	}
	if known {
		c.checkCustomParameters(preset, s.CustomParameters)
		c.checkSettings(preset, s.Settings)
	}
}

func (c *checker) checkDisplayName(name string) {
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		c.Invalidf("display_name", "missing: send the name users see, 1 to %d characters", maxDisplayName)
	case n > maxDisplayName:
		c.Invalidf("display_name", "too long: %d characters; the limit is %d", n, maxDisplayName)
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		c.Invalidf("display_name", "contains control characters or invalid UTF-8; send plain text")
	}
}

func (c *checker) checkClientID(id string) {
	switch {
	case id == "":
		c.Invalidf("client_id", "missing: send the client id from the app registration at the provider")
	case len(id) > maxClientID:
		c.Invalidf("client_id", "too long: %d bytes; the limit is %d", len(id), maxClientID)
	case !isVSChars(id):
		c.Invalidf("client_id", "contains characters outside printable ASCII (RFC 6749 appendix A.1); check for pasted line breaks")
	}
}

// checkSecretValue checks a client secret that the request sends. It never
// puts the value in a message.
func (c *checker) checkSecretValue(secret Secret) {
	switch {
	case len(secret) > maxClientSecret:
		c.Invalidf("client_secret", "too long: %d bytes; the limit is %d", len(secret), maxClientSecret)
	case !isVSChars(string(secret)):
		c.Invalidf("client_secret", "contains characters outside printable ASCII (RFC 6749 appendix A.2); check for pasted line breaks")
	}
}

// isVSChars reports whether s contains only %x20-7E, the characters of
// RFC 6749's client_id and client_secret grammar.
func isVSChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func (c *checker) checkScopes(scopes []string, separator string) {
	if len(scopes) > maxListItems {
		c.Invalidf("scopes", "too many scopes: %d; the limit is %d", len(scopes), maxListItems)
		return
	}
	for i, scope := range scopes {
		field := fmt.Sprintf("scopes[%d]", i)
		switch {
		case scope == "":
			c.Invalidf(field, "empty scope; remove it")
		case len(scope) > maxScopeLen:
			c.Invalidf(field, "too long: %d bytes; the limit is %d", len(scope), maxScopeLen)
		case !isScopeToken(scope):
			c.Invalidf(field, "invalid scope %q: a scope is printable ASCII without spaces, '\"' or '\\' (RFC 6749 section 3.3); send each scope as its own list item", scope)
		case separator != " " && strings.Contains(scope, separator):
			c.Invalidf(field, "invalid scope %q: it contains %q, which separates scopes for this provider; send each scope as its own list item", scope, separator)
		}
	}
}

// isScopeToken reports whether s matches RFC 6749's scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return s != ""
}

// checkRoles checks allowed_roles. Roles may come from an identity
// provider's claim, where forms vary (Keycloak group paths contain '/'),
// so only empty values, surrounding spaces and control characters are
// rejected.
func (c *checker) checkRoles(roles []string) {
	if len(roles) > maxListItems {
		c.Invalidf("allowed_roles", "too many roles: %d; the limit is %d", len(roles), maxListItems)
		return
	}
	for i, role := range roles {
		field := fmt.Sprintf("allowed_roles[%d]", i)
		switch {
		case strings.TrimSpace(role) == "":
			c.Invalidf(field, "empty role; remove it")
		case len(role) > maxRoleLen:
			c.Invalidf(field, "too long: %d bytes; the limit is %d", len(role), maxRoleLen)
		case strings.TrimSpace(role) != role:
			c.Invalidf(field, "role %q has spaces around it; remove them", role)
		case !utf8.ValidString(role) || strings.IndexFunc(role, unicode.IsControl) >= 0:
			c.Invalidf(field, "contains control characters or invalid UTF-8")
		}
	}
}

// checkIcon returns "" for a valid icon (empty, an https URL, or a base64
// data: URL of an image type within maxIconBytes), or what is wrong.
func checkIcon(icon string) string {
	if icon == "" {
		return ""
	}
	if len(icon) > maxIconBytes {
		return fmt.Sprintf("too large: %d bytes; the limit is %d bytes (100 KiB) for the whole URL; use a smaller image or an https URL", len(icon), maxIconBytes)
	}
	if rest, ok := strings.CutPrefix(icon, "data:"); ok {
		return checkDataIcon(rest)
	}
	if len(icon) > maxIconURL {
		return fmt.Sprintf("too long: %d bytes; the limit for an https URL is %d", len(icon), maxIconURL)
	}
	u, err := url.Parse(icon)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return "invalid icon: want an https URL or a data:image/(png|jpeg|gif|webp|svg+xml);base64,... URL"
	}
	return ""
}

// checkDataIcon checks the part of a data: URL after "data:".
//
// NOTE: an SVG icon may contain script. Browsers do not run it when the
// icon is shown with an <img> element, which is how the UI must render
// icons.
func checkDataIcon(rest string) string {
	header, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "invalid data: URL: no ',' before the data"
	}
	mediaType, isBase64 := strings.CutSuffix(strings.ToLower(header), ";base64")
	if !slices.Contains(allowedIconTypes, mediaType) {
		return fmt.Sprintf("invalid icon media type %q: want one of %s", mediaType, strings.Join(allowedIconTypes, ", "))
	}
	if !isBase64 {
		return "invalid data: URL: the data must be base64 (data:" + mediaType + ";base64,...)"
	}
	if data == "" {
		return "invalid data: URL: the image data is empty"
	}
	if _, err := base64.StdEncoding.DecodeString(data); err != nil {
		return fmt.Sprintf("invalid data: URL: the data is not valid base64 (%v); encode the image with standard padded base64", err)
	}
	return ""
}

func (c *checker) checkCustomParameters(preset *Preset, params map[string]string) {
	if len(params) > maxCustomParameters {
		c.Invalidf("custom_parameters", "too many parameters: %d; the limit is %d", len(params), maxCustomParameters)
		return
	}
	for _, name := range sortedKeys(params) {
		value := params[name]
		field := "custom_parameters." + name
		lower := strings.ToLower(name)
		switch {
		case !parameterPattern.MatchString(name):
			c.Invalidf(field, "invalid parameter name %q: want 1 to 64 characters from A-Z, a-z, 0-9, '_', '.' and '-'", name)
		case utf8.RuneCountInString(value) > maxParameterValue:
			c.Invalidf(field, "value too long: the limit is %d characters", maxParameterValue)
		case !utf8.ValidString(value) || strings.IndexFunc(value, unicode.IsControl) >= 0:
			c.Invalidf(field, "value contains control characters or invalid UTF-8")
		case slices.Contains(reservedParameters, lower):
			c.Unacceptablef(field, "%q is set by Toolgate's consent flow and cannot be a custom parameter; remove it (scopes go in the scopes field)", name)
		case lower == strings.ToLower(preset.ScopeParameter):
			c.Unacceptablef(field, "%q carries the scopes for %s providers; remove it and list the scopes in the scopes field", name, preset.Type)
		case slices.Contains(preset.ForbiddenParameters, lower):
			c.Unacceptablef(field, "%s rejects the %q parameter; remove it (see %s)", preset.DisplayName, name, preset.Documentation)
		}
	}
}

func (c *checker) checkSettings(preset *Preset, settings map[string]string) {
	for _, name := range sortedKeys(settings) {
		field := "settings." + name
		f, ok := preset.setting(name)
		if !ok {
			if len(preset.Settings) == 0 {
				c.Invalidf(field, "unknown setting: %s providers take no settings; remove it", preset.Type)
			} else {
				c.Invalidf(field, "unknown setting for %s providers; accepted: %s", preset.Type, settingNames(preset))
			}
			continue
		}
		if f.check == nil {
			continue
		}
		if detail := f.check(settings[name]); detail != "" {
			c.Invalidf(field, "%s", detail)
		}
	}
}

// checkSource checks how a request describes a custom provider's
// authorization server: discoveryURL (nil when absent) and explicit
// metadata. When required is true, as at create time, one of them must be
// present. It returns the issuer that discoveryURL
// implies, or "".
func (c *checker) checkSource(t Type, discoveryURL *string, metadata *Metadata, required bool) string {
	if _, known := presets[t]; !known {
		return ""
	}
	if t != TypeCustom {
		if discoveryURL != nil {
			c.Invalidf("discovery_url", "%s providers use built-in endpoints and take no discovery_url; remove it, or use type custom", t)
		}
		if metadata != nil {
			c.Invalidf("authorization_server_metadata", "%s providers use built-in endpoints and take no authorization_server_metadata; remove it, or use type custom", t)
		}
		return ""
	}

	switch {
	case discoveryURL != nil && metadata != nil:
		c.Invalidf("discovery_url", "send either discovery_url or authorization_server_metadata, not both")
		c.Invalidf("authorization_server_metadata", "send either discovery_url or authorization_server_metadata, not both")
		return ""
	case discoveryURL == nil && metadata == nil:
		if required {
			c.Invalidf("discovery_url", "missing: custom providers need discovery_url (the issuer's /.well-known/ URL) or authorization_server_metadata")
		}
		return ""
	case discoveryURL != nil:
		issuer, detail := impliedIssuer(*discoveryURL)
		if detail != "" {
			c.Invalidf("discovery_url", "%s", detail)
		}
		return issuer
	default:
		return ""
	}
}

// checkMetadata checks a custom provider's authorization server metadata.
// For explicit metadata, shape problems are 400s on the member's field and
// capability problems are 422s. For a discovered document, every problem
// is a 422 on discovery_url, because the fix is on the server.
func (c *checker) checkMetadata(md *Metadata, discovered bool, hasSecret bool) {
	report := func(status int, member, detail string) {
		if discovered {
			c.Unacceptablef("discovery_url", "the discovery document's %s %s", member, detail)
			return
		}
		c.Add(status, "authorization_server_metadata."+member, detail)
	}

	if md.Issuer == "" {
		report(http.StatusBadRequest, "issuer", "is missing; send the authorization server's issuer URL")
	} else if detail := checkIssuerURL(md.Issuer); detail != "" {
		report(http.StatusBadRequest, "issuer", detail)
	}
	for _, e := range []struct {
		member, value string
		required      bool
	}{
		{"authorization_endpoint", md.AuthorizationEndpoint, true},
		{"token_endpoint", md.TokenEndpoint, true},
		{"revocation_endpoint", md.RevocationEndpoint, false},
		{"introspection_endpoint", md.IntrospectionEndpoint, false},
		{"userinfo_endpoint", md.UserinfoEndpoint, false},
	} {
		if e.value == "" {
			if e.required {
				report(http.StatusBadRequest, e.member, "is missing; send the endpoint's URL")
			}
			continue
		}
		if detail := checkEndpointURL(e.value); detail != "" {
			report(http.StatusBadRequest, e.member, detail)
		}
	}

	if methods := md.CodeChallengeMethodsSupported; len(methods) > 0 && !slices.Contains(methods, "S256") {
		report(http.StatusUnprocessableEntity, "code_challenge_methods_supported",
			fmt.Sprintf("lists %q without S256; Toolgate always uses PKCE with S256 (RFC 7636), so enable S256 on the server", methods))
	}
	methods := md.TokenEndpointAuthMethodsSupported
	if len(methods) == 0 {
		return // RFC 8414: the default is client_secret_basic.
	}
	if hasSecret && !slices.Contains(methods, string(AuthClientSecretBasic)) && !slices.Contains(methods, string(AuthClientSecretPost)) {
		report(http.StatusUnprocessableEntity, "token_endpoint_auth_methods_supported",
			fmt.Sprintf("lists %q; Toolgate authenticates with client_secret_basic or client_secret_post, so enable one of them on the server", methods))
	}
	if !hasSecret && !slices.Contains(methods, string(AuthNone)) {
		c.Unacceptablef("client_secret", "missing: the authorization server does not accept public clients (token_endpoint_auth_methods_supported lists %q without none); send the client secret", methods)
	}
}

// checkEndpointURL returns "" when raw is an absolute https URL, or an
// http URL whose host is a loopback address (127.0.0.0/8, ::1) or
// "localhost", without user info or fragment. Otherwise it returns what is
// wrong. Endpoints reached over plain http elsewhere would expose codes,
// tokens and client secrets on the network.
func checkEndpointURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("is not a valid URL: %q", raw)
	}
	switch {
	case !u.IsAbs() || u.Host == "":
		return fmt.Sprintf("%q is not an absolute URL; want https://host/path", raw)
	case u.User != nil:
		return fmt.Sprintf("%q contains user info; remove the user:password@ part", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("%q has a fragment; remove the #... part", raw)
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && IsLoopbackHost(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return fmt.Sprintf("%q uses http; use https (http is accepted only for loopback hosts: 127.0.0.0/8, ::1, localhost)", raw)
	default:
		return fmt.Sprintf("%q has scheme %q; want https", raw, u.Scheme)
	}
}

// checkIssuerURL applies checkEndpointURL and RFC 8414's rule that an
// issuer has no query or fragment.
func checkIssuerURL(raw string) string {
	if detail := checkEndpointURL(raw); detail != "" {
		return detail
	}
	if u, _ := url.Parse(raw); u.RawQuery != "" || u.ForceQuery {
		return fmt.Sprintf("%q has a query; an issuer has none (RFC 8414 section 2)", raw)
	}
	return ""
}

// IsLoopbackHost reports whether host (without port) is "localhost" or a
// loopback IP address (127.0.0.0/8, ::1). Endpoints on such hosts may use
// plain http, because their traffic never leaves the machine.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// normalizeSettings returns a copy of settings with each known value
// normalized and each absent or empty one set to its default. Unknown keys
// stay, for checkSettings to report.
func normalizeSettings(t Type, settings map[string]string) map[string]string {
	out := make(map[string]string, len(settings))
	for k, v := range settings {
		out[k] = v
	}
	preset, ok := presets[t]
	if !ok {
		return out
	}
	for _, f := range preset.Settings {
		v := out[f.Name]
		if f.normalize != nil {
			v = f.normalize(v)
		}
		if v == "" {
			v = f.Default
		}
		if v != "" {
			out[f.Name] = v
		}
	}
	return out
}

// dedupe returns items without repeats, in first-seen order, and never
// nil.
func dedupe(items []string) []string {
	out := make([]string, 0, len(items))
	for _, item := range items {
		if !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out
}

func typeList() string {
	names := make([]string, len(presetOrder))
	for i, t := range presetOrder {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

func settingNames(p *Preset) string {
	names := make([]string, len(p.Settings))
	for i, f := range p.Settings {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
