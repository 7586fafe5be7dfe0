package authn

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/toolgate/toolgate/internal/problem"
)

// CSRFHeader is the request header that carries a session's CSRF token.
const CSRFHeader = "X-CSRF-Token"

// checkCSRF protects a cookie-authenticated request against cross-site request
// forgery. Safe methods (GET, HEAD, OPTIONS) pass. Any other method passes
// when the request is same-origin (see sameOrigin) or when its X-CSRF-Token
// header equals sessionToken. An empty sessionToken never matches. The
// returned error is a 403 problem with code "csrf_failed".
//
// http.CrossOriginProtection (Go 1.25) is not used, because it lets a request
// with neither Sec-Fetch-Site nor Origin through and compares Origin with the
// Host header. Behind a reverse proxy the Host header need not be the external
// host, and this package rejects header-less requests unless they carry the
// token.
func (a *Authenticator) checkCSRF(r *http.Request, sessionToken string) error {
	if isSafeMethod(r.Method) {
		return nil
	}
	if a.sameOrigin(r) {
		return nil
	}
	if presented := r.Header.Get(CSRFHeader); presented != "" && sessionToken != "" &&
		subtle.ConstantTimeCompare([]byte(presented), []byte(sessionToken)) == 1 {
		return nil
	}
	return problem.New(http.StatusForbidden, "csrf_failed",
		"cross-site request rejected: send the session's CSRF token from GET /api/v1/me in the X-CSRF-Token header, or send the request from "+a.origin)
}

// isSafeMethod reports whether method is safe in the sense of RFC 9110
// section 9.2.1, apart from TRACE, which Toolgate does not serve.
func isSafeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// sameOrigin reports whether a browser sent r from Toolgate's own origin or
// from one of the allowed origins. It trusts Sec-Fetch-Site "same-origin" and
// "none" (a navigation the user typed or bookmarked), and otherwise an Origin
// header that names a trusted origin. A request with neither header is not
// same-origin, because nothing shows where it came from.
func (a *Authenticator) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return false
	}
	normalized, err := parseOrigin(origin)
	return err == nil && a.trustedOrigins[normalized]
}

// parseOrigin parses an origin ("scheme://host[:port]") and returns it
// normalised by normalizeOrigin.
func parseOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("origin %q is not a URL: %w", raw, err)
	}
	if u.Scheme == "" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("origin %q must be scheme://host[:port]", raw)
	}
	return normalizeOrigin(u), nil
}

// normalizeOrigin returns u's origin as browsers send it in the Origin header:
// lowercase scheme and host, and no port when it is the scheme's default.
func normalizeOrigin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Host)
	switch {
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host
}
