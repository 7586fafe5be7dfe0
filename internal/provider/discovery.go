package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/problem"
)

// Limits on fetching a discovery document.
const (
	defaultDiscoveryTimeout = 10 * time.Second
	maxDiscoveryBytes       = 1 << 20
	maxDiscoveryRedirects   = 5
)

// The well-known paths of OpenID Connect Discovery 1.0 (section 4) and
// RFC 8414 (section 3).
const (
	openIDConfigurationPath = "/.well-known/openid-configuration"
	oauthServerPath         = "/.well-known/oauth-authorization-server"
)

// impliedIssuer returns the issuer that a discovery URL belongs to, or a
// detail saying why raw is not a discovery URL. The accepted forms are
// {issuer}/.well-known/openid-configuration,
// {issuer}/.well-known/oauth-authorization-server, and RFC 8414's
// path-inserted form {scheme}://{host}/.well-known/oauth-authorization-server/{path}
// for the issuer {scheme}://{host}/{path}.
func impliedIssuer(raw string) (issuer, detail string) {
	if d := checkEndpointURL(raw); d != "" {
		return "", d
	}
	u, _ := url.Parse(raw)
	if u.RawQuery != "" || u.ForceQuery {
		return "", fmt.Sprintf("%q has a query; a discovery URL is the issuer followed by a /.well-known/ path, without query", raw)
	}

	var issuerPath string
	switch path := u.EscapedPath(); {
	case strings.HasSuffix(path, openIDConfigurationPath):
		issuerPath = strings.TrimSuffix(path, openIDConfigurationPath)
	case strings.HasSuffix(path, oauthServerPath):
		issuerPath = strings.TrimSuffix(path, oauthServerPath)
	case strings.HasPrefix(path, oauthServerPath+"/"):
		issuerPath = strings.TrimPrefix(path, oauthServerPath)
	default:
		return "", fmt.Sprintf("%q is not a discovery URL; want {issuer}%s, {issuer}%s or https://host%s/{issuer path}",
			raw, openIDConfigurationPath, oauthServerPath, oauthServerPath)
	}
	return u.Scheme + "://" + u.Host + issuerPath, ""
}

// SameIssuer reports whether two issuer URLs are the same, treating a root
// issuer with and without its trailing slash as one, and scheme and host
// without regard to case. Paths compare exactly otherwise. The consent
// flow uses it for the RFC 9207 iss parameter.
func SameIssuer(a, b string) bool {
	return normalizeIssuer(a) == normalizeIssuer(b)
}

func normalizeIssuer(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return s
	}
	path := u.EscapedPath()
	if path == "/" {
		path = ""
	}
	out := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + path
	if u.RawQuery != "" || u.Fragment != "" {
		// RFC 8414 issuers have neither. Keep them, so that such a value
		// never equals a clean issuer.
		out += "?" + u.RawQuery + "#" + u.Fragment
	}
	return out
}

// discoveryError is a failed fetch or check of a discovery document: the
// detail for the admin and, when there is one, the underlying error for
// the log.
type discoveryError struct {
	detail string
	cause  error
}

func (e *discoveryError) Error() string {
	if e.cause != nil {
		return e.detail + ": " + e.cause.Error()
	}
	return e.detail
}

func (e *discoveryError) Unwrap() error { return e.cause }

// errCrossHostRedirect is the CheckRedirect error that stops a redirect
// to another host than the discovery URL's.
var errCrossHostRedirect = errors.New("redirect to another host")

// newDiscoveryClient returns a copy of base (or of the zero client when
// base is nil) that follows at most maxDiscoveryRedirects redirects, only
// to the same host and port, and only to URLs that checkEndpointURL
// accepts.
func newDiscoveryClient(base *http.Client) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxDiscoveryRedirects {
			return fmt.Errorf("stopped after %d redirects", maxDiscoveryRedirects)
		}
		if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
			return fmt.Errorf("%w: %s", errCrossHostRedirect, req.URL.Host)
		}
		if detail := checkEndpointURL(req.URL.String()); detail != "" {
			return fmt.Errorf("redirect target %s", detail)
		}
		return nil
	}
	return &c
}

// discover fetches the discovery document at rawURL and checks that it
// names wantIssuer. It returns a *ValidationError (422, discovery_url)
// when the document cannot be used, and a plain error only when ctx ends.
// Failures are logged, because the cause (a DNS or TLS error, say) helps
// the operator more than the admin's message does.
func (r *Registry) discover(ctx context.Context, providerID, rawURL, wantIssuer string) (*Metadata, error) {
	md, err := r.fetchMetadata(ctx, rawURL)
	if err == nil && !SameIssuer(md.Issuer, wantIssuer) {
		err = &discoveryError{detail: fmt.Sprintf(
			"issuer mismatch: the document's issuer is %q, but the URL implies %q; use the discovery URL of %q, or correct the server's issuer setting",
			md.Issuer, wantIssuer, md.Issuer)}
	}
	if err == nil {
		return md, nil
	}

	var de *discoveryError
	if !errors.As(err, &de) {
		return nil, fmt.Errorf("provider: discover %s: %w", rawURL, err)
	}
	r.logger.Warn("provider discovery failed", "provider_id", providerID, "discovery_url", rawURL, "err", err)
	return nil, &ValidationError{Status: http.StatusUnprocessableEntity, Fields: []problem.FieldError{{
		Field:  "discovery_url",
		Detail: de.detail,
	}}}
}

// fetchMetadata GETs rawURL and decodes the metadata document. Every error
// is a *discoveryError except ctx's own cancellation.
func (r *Registry) fetchMetadata(ctx context.Context, rawURL string) (*Metadata, error) {
	fetchCtx, cancel := context.WithTimeout(ctx, r.discoveryTimeout)
	defer cancel()
	// failed classifies err: the caller's cancellation passes through, and
	// everything else, the fetch's own deadline included, is the server's.
	failed := func(what string, err error) error {
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(fetchCtx.Err(), context.DeadlineExceeded):
			return &discoveryError{detail: fmt.Sprintf("timed out after %s while %s %s; check that the server responds within that time", r.discoveryTimeout, what, rawURL)}
		case errors.Is(err, errCrossHostRedirect):
			return &discoveryError{detail: fmt.Sprintf("%s redirects to another host; use the final URL as discovery_url", rawURL), cause: err}
		default:
			return &discoveryError{detail: fmt.Sprintf("could not fetch %s: %v", rawURL, unwrapURLError(err)), cause: err}
		}
	}

	req, err := http.NewRequestWithContext(fetchCtx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, &discoveryError{detail: fmt.Sprintf("invalid URL %q", rawURL), cause: err}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, failed("fetching", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return nil, &discoveryError{detail: fmt.Sprintf("%s returned HTTP %d; want 200 with the metadata document", rawURL, resp.StatusCode)}
	}
	contentType := resp.Header.Get("Content-Type")
	if mediaType, _, err := mime.ParseMediaType(contentType); err != nil || (mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json")) {
		return nil, &discoveryError{detail: fmt.Sprintf("%s returned content type %q, not JSON; check that the URL points at the metadata document", rawURL, contentType)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBytes+1))
	if err != nil {
		return nil, failed("reading", err)
	}
	if len(body) > maxDiscoveryBytes {
		return nil, &discoveryError{detail: fmt.Sprintf("%s returned more than %d bytes (1 MiB); a metadata document is far smaller, so check the URL", rawURL, maxDiscoveryBytes)}
	}

	var md Metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, &discoveryError{detail: fmt.Sprintf("%s did not return a valid JSON metadata object: %v", rawURL, err)}
	}
	return &md, nil
}

// unwrapURLError drops the "Get \"url\": " prefix that net/http adds, since
// the message already names the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
