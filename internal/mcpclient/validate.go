package mcpclient

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/provider"
)

// Limits and defaults of MCP server fields.
const (
	maxDisplayName = 100 // characters
	maxURL         = 2048
	maxListItems   = 100 // allowed roles
	maxRoleLen     = 256
	maxHeaders     = 32
	maxHeaderName  = 128
	maxHeaderValue = 8192 // bytes
	minTimeout     = time.Second
	maxTimeout     = 5 * time.Minute
	defaultTimeout = 30 * time.Second
)

var idPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// forbiddenHeaders are header names that static headers may not set:
// hop-by-hop headers (RFC 9110 section 7.6.1), headers that net/http or
// the MCP transports set for each request, and the MCP protocol headers.
// Names starting with "Mcp-" are rejected as well, because the protocol
// reserves them.
var forbiddenHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Host", "Content-Length", "Content-Type", "Accept", "Accept-Encoding", "Expect",
	"Last-Event-Id",
}

// checker collects field errors of both statuses.
type checker struct{ problem.FieldErrors }

// err returns the collected errors as a *ValidationError, or nil. When
// there are both kinds, only the 400s are reported, because the 422 check
// of provider_id reads a value that a 400 may be about.
func (c *checker) err() error {
	if status, fields := c.Result(); status != 0 {
		return &ValidationError{Status: status, Fields: fields}
	}
	return nil
}

// spec is a server's configuration in typed form, apart from the header
// values: what validation checks and what is written to the store.
type spec struct {
	ID           string
	DisplayName  string
	URL          string
	Transport    Transport
	ProviderID   string
	HeaderNames  []string // canonical, sorted
	AllowedRoles []string
	Enabled      bool
	Timeout      time.Duration
}

// checkSpec checks every field of s except the header values, and
// whether the headers and provider_id fit together. headersSent reports
// whether the request carried headers, which decides the field an
// Authorization conflict is reported on.
func (c *checker) checkSpec(s *spec, headersSent bool) {
	if !idPattern.MatchString(s.ID) {
		c.Invalidf("id", "invalid id %q: want 1 to 64 characters from a-z, 0-9 and '-' (pattern ^[a-z0-9-]{1,64}$)", s.ID)
	}
	c.checkDisplayName(s.DisplayName)
	if detail := checkServerURL(s.URL); detail != "" {
		c.Invalidf("url", "%s", detail)
	}
	if s.Transport != TransportStreamableHTTP && s.Transport != TransportSSE {
		c.Invalidf("transport", "unknown transport %q: want %s (the default) or %s for servers that only offer the older HTTP+SSE transport",
			s.Transport, TransportStreamableHTTP, TransportSSE)
	}
	if s.ProviderID != "" && !idPattern.MatchString(s.ProviderID) {
		c.Invalidf("provider_id", "invalid provider id %q: want the id of a registered provider, or \"\" to send no user token", s.ProviderID)
	}
	if s.ProviderID != "" && slices.Contains(s.HeaderNames, "Authorization") {
		if headersSent {
			c.Invalidf("headers.Authorization", "not allowed while provider_id is set: Toolgate sends the user's token from provider %q as Authorization; remove this header, or clear provider_id to send a fixed credential", s.ProviderID)
		} else {
			c.Invalidf("provider_id", "the stored static headers contain Authorization, which the user's token would replace; send headers without Authorization along with provider_id")
		}
	}
	c.checkRoles(s.AllowedRoles)
	if s.Timeout < minTimeout || s.Timeout > maxTimeout {
		c.Invalidf("timeout", "%v is out of range: want a duration from %v to %v, such as \"30s\"", s.Timeout, minTimeout, maxTimeout)
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

// checkServerURL returns "" when raw is an absolute https URL, or an http
// URL whose host is a loopback address (127.0.0.0/8, ::1) or "localhost",
// without user info or fragment. Otherwise it returns what is wrong. Plain
// http elsewhere would expose users' tokens and the static headers on the
// network.
func checkServerURL(raw string) string {
	if raw == "" {
		return "missing: send the server's MCP endpoint, such as https://mcp.example.com/mcp"
	}
	if len(raw) > maxURL {
		return fmt.Sprintf("too long: %d bytes; the limit is %d", len(raw), maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%q is not a valid URL", raw)
	}
	switch {
	case !u.IsAbs() || u.Host == "":
		return fmt.Sprintf("%q is not an absolute URL; want https://host/path", raw)
	case u.User != nil:
		return "the URL contains user info; remove the user:password@ part and send credentials in headers"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("%q has a fragment; remove the #... part", raw)
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && provider.IsLoopbackHost(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return fmt.Sprintf("%q uses http; use https (http is accepted only for loopback hosts: 127.0.0.0/8, ::1, localhost)", raw)
	default:
		return fmt.Sprintf("%q has scheme %q; want https", raw, u.Scheme)
	}
}

// checkRoles checks allowed_roles. Roles may come from an identity
// provider's claim, where forms vary, so only empty values, surrounding
// spaces and control characters are rejected.
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

// checkHeaders checks static headers and returns them keyed by canonical
// name (http.CanonicalHeaderKey). Field errors use the name as sent. No
// message contains a value.
func (c *checker) checkHeaders(headers map[string]Secret) map[string]string {
	if len(headers) > maxHeaders {
		c.Invalidf("headers", "too many headers: %d; the limit is %d", len(headers), maxHeaders)
		return nil
	}
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	slices.Sort(names)

	out := make(map[string]string, len(headers))
	sentAs := map[string]string{}
	for _, name := range names {
		value := string(headers[name])
		field := "headers." + name
		canonical := http.CanonicalHeaderKey(name)
		switch {
		case name == "" || len(name) > maxHeaderName || !isToken(name):
			c.Invalidf(field, "invalid header name: want 1 to %d token characters (RFC 9110 section 5.6.2: letters, digits and !#$%%&'*+-.^_`|~)", maxHeaderName)
		case slices.Contains(forbiddenHeaders, canonical) || strings.HasPrefix(canonical, "Mcp-"):
			c.Invalidf(field, "%s cannot be a static header: it is hop-by-hop, set by HTTP itself, or reserved by the MCP transport; remove it", canonical)
		case sentAs[canonical] != "":
			c.Invalidf(field, "duplicate of %q: header names are case-insensitive; send each header once", sentAs[canonical])
		case value == "":
			c.Invalidf(field, "empty value; send the value, or remove the header")
		case len(value) > maxHeaderValue:
			c.Invalidf(field, "value too long: %d bytes; the limit is %d", len(value), maxHeaderValue)
		case !isFieldValue(value):
			c.Invalidf(field, "value contains control characters, such as a line break, or non-ASCII bytes; send printable ASCII")
		default:
			out[canonical] = value
		}
		sentAs[canonical] = name
	}
	return out
}

// isToken reports whether s is a non-empty token (RFC 9110 section
// 5.6.2), the syntax of a header name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}

// isFieldValue reports whether s is a header value of printable ASCII,
// spaces and tabs, without leading or trailing whitespace. RFC 9110 also
// allows obs-text bytes, which this rejects, because servers read them in
// different charsets.
func isFieldValue(s string) bool {
	if strings.TrimSpace(s) != s {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if (b < 0x20 && b != '\t') || b > 0x7e {
			return false
		}
	}
	return true
}

// parseTimeout parses a timeout field. "" means the default.
func (c *checker) parseTimeout(raw string) time.Duration {
	if raw == "" {
		return defaultTimeout
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		c.Invalidf("timeout", "invalid duration %q: want a number and a unit, such as \"30s\" or \"2m\"", raw)
		return defaultTimeout
	}
	return d
}

// sortedNames returns the keys of headers, sorted, and never nil.
func sortedNames(headers map[string]string) []string {
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
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
