package oauthclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/provider"
)

// Defaults for Options fields left zero.
const (
	// DefaultTimeout limits one request to a provider, from connecting to
	// the end of the response body.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBodyBytes caps the response body read from a provider.
	DefaultMaxBodyBytes = 1 << 20
)

// Options configures a Client. Nil and the zero value are valid.
type Options struct {
	// Now returns the current time, which ExpiresAt counts from. Nil means
	// time.Now.
	Now func() time.Time
	// Logger receives one debug line per failed request, with the
	// provider id, operation, error code and HTTP status. It never
	// receives a token, code, verifier or secret. Nil discards.
	Logger *slog.Logger
	// MaxBodyBytes caps the response body read. A longer body is a
	// transient failure. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Timeout limits one request, from connecting to the end of the body.
	// Zero means DefaultTimeout. The vault sizes its refresh lease from
	// it, so a caller's context deadline does not replace it.
	Timeout time.Duration
}

// Client sends token and revocation requests to OAuth 2 providers. It is
// safe for concurrent use and holds no per-provider state: every call
// takes the provider's configuration.
//
// The client never follows redirects, because a redirected POST would
// resend the client secret or a token to another URL. A 3xx response
// is a failure.
type Client struct {
	http    *http.Client
	now     func() time.Time
	logger  *slog.Logger
	maxBody int64
	timeout time.Duration
}

// New returns a Client that sends requests with a copy of httpClient (nil
// means a client with default settings) whose redirect policy is replaced
// so that no redirect is followed. opts may be nil.
func New(httpClient *http.Client, opts *Options) *Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	hc := &http.Client{}
	if httpClient != nil {
		copied := *httpClient
		hc = &copied
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	c := &Client{http: hc, now: o.Now, logger: o.Logger, maxBody: o.MaxBodyBytes, timeout: o.Timeout}
	if c.now == nil {
		c.now = time.Now
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c
}

// Timeout returns the limit of one request, so that callers can size
// leases and waits around it.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Exchange trades an authorization code for tokens (RFC 6749 section
// 4.1.3) with the PKCE verifier of the flow (RFC 7636 section 4.5). It
// authenticates with cfg.AuthMethod and sends cfg.RedirectURI as
// redirect_uri. A failure is an *Error.
func (c *Client) Exchange(ctx context.Context, cfg *provider.Config, code, verifier string) (*TokenResponse, error) {
	if cfg == nil {
		return nil, errors.New("oauthclient: exchange: nil provider configuration")
	}
	if code == "" {
		return nil, errors.New("oauthclient: exchange: empty authorization code")
	}
	if verifier == "" {
		return nil, errors.New("oauthclient: exchange: empty PKCE verifier; every flow must use PKCE")
	}

	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"code_verifier": {verifier},
	}
	if cfg.RedirectURI != "" {
		form.Set("redirect_uri", cfg.RedirectURI)
	}
	return c.tokenRequest(ctx, opExchange, cfg, form, []string{code, verifier})
}

// Refresh trades a refresh token for new tokens (RFC 6749 section 6),
// authenticating with cfg.AuthMethod, the same way as Exchange. It
// sends no scope, so the provider grants the scopes of the original
// grant. A failure is an *Error; its Kind tells whether the grant is gone
// (KindReauth) or the provider could not serve it now (KindTransient).
func (c *Client) Refresh(ctx context.Context, cfg *provider.Config, refreshToken string) (*TokenResponse, error) {
	if cfg == nil {
		return nil, errors.New("oauthclient: refresh: nil provider configuration")
	}
	if refreshToken == "" {
		return nil, errors.New("oauthclient: refresh: empty refresh token")
	}

	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	}
	return c.tokenRequest(ctx, opRefresh, cfg, form, []string{refreshToken})
}

// Operation names, as Error.Op holds them.
const (
	opExchange = "exchange"
	opRefresh  = "refresh"
	opRevoke   = "revoke"
)

// tokenRequest POSTs form to the token endpoint and parses the response.
// sent lists the secret values in form, which no error may repeat.
func (c *Client) tokenRequest(ctx context.Context, op string, cfg *provider.Config, form url.Values, sent []string) (*TokenResponse, error) {
	if cfg.TokenEndpoint == "" {
		return nil, &Error{Kind: KindFailure, Op: op, Code: "missing_token_endpoint",
			Description: "the provider has no token endpoint configured"}
	}
	secrets := append(sent, string(cfg.ClientSecret))

	req, err := newRequest(ctx, http.MethodPost, cfg.TokenEndpoint)
	if err != nil {
		return nil, fmt.Errorf("oauthclient: %s: build request: %w", op, err)
	}
	if err := authenticate(req, form, cfg.AuthMethod, cfg.ClientID, cfg.ClientSecret); err != nil {
		return nil, &Error{Kind: KindFailure, Op: op, Code: "unsupported_auth_method", Description: err.Error()}
	}

	res, err := c.do(req, form)
	if err != nil {
		return nil, c.fail(cfg, transportError(op, err))
	}
	resp, err := c.parseTokenResponse(op, cfg, res, secrets)
	if err != nil {
		return nil, c.fail(cfg, err)
	}
	return resp, nil
}

// response is a provider's HTTP response with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
	// tooLarge is set when the body was longer than the limit; body then
	// holds only its start.
	tooLarge bool
}

// do sends req with form as its body, within the client's timeout, and
// reads at most maxBody bytes of the response.
func (c *Client) do(req *http.Request, form url.Values) (*response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), c.timeout)
	defer cancel()
	req = req.WithContext(ctx)
	if form != nil {
		setFormBody(req, form)
	}

	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()

	body, err := io.ReadAll(io.LimitReader(res.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	out := &response{status: res.StatusCode, header: res.Header, body: body}
	if int64(len(body)) > c.maxBody {
		out.body, out.tooLarge = body[:c.maxBody], true
	}
	return out, nil
}

// fail logs a failed request and returns err.
func (c *Client) fail(cfg *provider.Config, err error) error {
	var e *Error
	if errors.As(err, &e) {
		c.logger.Debug("provider request failed", "provider_id", cfg.ProviderID, "op", e.Op,
			"code", e.Code, "kind", e.Kind.String(), "http_status", e.HTTPStatus)
	}
	return err
}

// newRequest builds a request that accepts JSON. Client.do adds a form
// body later, after client authentication may have added parameters.
func newRequest(ctx context.Context, method, endpoint string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, endpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

func setFormBody(req *http.Request, form url.Values) {
	encoded := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(encoded))
	req.ContentLength = int64(len(encoded))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(encoded)), nil }
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
}

// authenticate adds the client's credentials to req or form as method
// specifies. For client_secret_basic, RFC 6749 section 2.3.1 has the client id
// and secret form-urlencoded before they are joined and base64-encoded,
// so that a colon or non-ASCII character in either survives; the client
// id then stays out of the body. For client_secret_post both go in the
// body, and for none only the client id does (RFC 6749 section 2.3.1,
// RFC 7009 section 2.1 for public clients).
func authenticate(req *http.Request, form url.Values, method provider.AuthMethod, clientID string, secret provider.Secret) error {
	switch method {
	case provider.AuthClientSecretBasic:
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(string(secret)))
	case provider.AuthClientSecretPost:
		form.Set("client_id", clientID)
		form.Set("client_secret", string(secret))
	case provider.AuthNone:
		form.Set("client_id", clientID)
	default:
		return fmt.Errorf("client authentication method %q is not supported; use client_secret_basic, client_secret_post or none", method)
	}
	return nil
}
