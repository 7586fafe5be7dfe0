package consent

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// maxReturnURLLen limits a return URL, which is stored with the consent
// and ends up in a Location header.
const maxReturnURLLen = 2048

// checkReturnURL validates a Start request's return_url and returns it
// unchanged. Empty is valid and means the browser ends on /oauth-complete.
// A return URL must be absolute http or https, carry neither user info
// nor a fragment, and have the external URL's origin or an allowed origin,
// so that no consent can be turned into an open redirect.
func (s *Service) checkReturnURL(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	if _, err := s.parseReturnURL(raw); err != nil {
		return "", &InputError{Field: "return_url", Detail: err.Error()}
	}
	return raw, nil
}

// parseReturnURL parses raw and applies the rules of checkReturnURL. The
// callback checks a stored return URL again, so that an origin removed
// from the configuration stops receiving redirects at once.
func (s *Service) parseReturnURL(raw string) (*url.URL, error) {
	if len(raw) > maxReturnURLLen {
		return nil, fmt.Errorf("is %d bytes long; the limit is %d", len(raw), maxReturnURLLen)
	}
	if strings.ContainsAny(raw, "\\#") || strings.ContainsFunc(raw, isControl) {
		return nil, fmt.Errorf("must not contain a fragment ('#'), a backslash or control characters; send an absolute URL such as %s/done",
			s.exampleOrigin())
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("is not a valid URL; send an absolute URL such as %s/done", s.exampleOrigin())
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "https" && scheme != "http") || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("must be an absolute http or https URL such as %s/done", s.exampleOrigin())
	}
	if u.User != nil {
		return nil, fmt.Errorf("must not contain user info (user@ or user:password@); remove it")
	}
	if origin := originOf(u); origin != s.externalOrigin && !slices.Contains(s.allowedOrigins, origin) {
		return nil, fmt.Errorf("origin %s is not allowed; use one of %s, or ask an administrator to add the origin to the allowed origins",
			origin, s.describeOrigins())
	}
	return u, nil
}

// exampleOrigin returns an origin for error messages.
func (s *Service) exampleOrigin() string {
	if origins := s.Origins(); len(origins) > 0 {
		return origins[0]
	}
	return "https://app.example.com"
}

// describeOrigins lists the origins a return URL may have, for error
// messages.
func (s *Service) describeOrigins() string {
	origins := s.Origins()
	if len(origins) == 0 {
		return "no origin (none is configured)"
	}
	return strings.Join(origins, ", ")
}

// finishRedirect returns the URL that the callback sends the browser to
// once the consent ended. It is the consent's return URL with consent_id,
// provider_id, status ("success" or "error") and, on failure, error added
// to its query. Without a return URL, or when its origin is no longer
// allowed, it is /oauth-complete with the same parameters.
func (s *Service) finishRedirect(consentID, providerID, returnURL, errCode string) string {
	status := "success"
	if errCode != "" {
		status = "error"
	}
	if returnURL != "" {
		if u, err := s.parseReturnURL(returnURL); err == nil {
			q := u.Query()
			setOutcome(q, consentID, providerID, status, errCode)
			u.RawQuery = q.Encode()
			return u.String()
		}
		s.logger.Warn("stored return url no longer allowed", "consent_id", consentID, "provider_id", providerID)
	}
	q := url.Values{}
	setOutcome(q, consentID, providerID, status, errCode)
	return s.externalPath(CompletePath) + "?" + q.Encode()
}

func setOutcome(q url.Values, consentID, providerID, status, errCode string) {
	q.Set("consent_id", consentID)
	q.Set("provider_id", providerID)
	q.Set("status", status)
	if errCode != "" {
		q.Set("error", errCode)
	} else {
		q.Del("error")
	}
}

// parseOrigin parses an origin "scheme://host[:port]" and returns it
// normalized by originOf.
func parseOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("consent: origin %q is not a URL: %w", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "https" && scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("consent: origin %q must be http(s)://host[:port]", raw)
	}
	return originOf(u), nil
}

// originOf returns u's origin as a browser serializes it: lowercase scheme
// and host, and no port when it is the scheme's default.
func originOf(u *url.URL) string {
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

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
