package oauthclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/toolgate/toolgate/internal/provider"
)

// Token type hints of RFC 7009 section 2.1.
const (
	HintAccessToken  = "access_token"
	HintRefreshToken = "refresh_token"
)

// Revoke asks the provider to invalidate token, in the protocol that
// cfg.RevocationStyle names:
//
//   - rfc7009: a form POST of token and token_type_hint (RFC 7009 section
//     2.1), authenticated with cfg.RevocationAuthMethod (the token
//     endpoint's method when that is empty). Any 2xx is success and the
//     body is ignored (section 2.2).
//   - github_grant_api: DELETE with HTTP Basic client credentials and the
//     JSON body {"access_token": token}, which returns 204. It deletes the
//     user's whole grant, refresh tokens included, so pass the access
//     token.
//   - slack_auth_revoke: a POST of token, which authenticates the request
//     itself; success is "ok": true.
//   - none, or an empty style without an endpoint: nothing to call, so
//     Revoke returns nil without sending a request.
//
// An empty tokenTypeHint sends no hint. A failure is an *Error: KindTransient
// for HTTP 5xx, 429 and transport errors (retry later); code
// unsupported_token_type (KindFailure) when the provider cannot revoke
// that kind of token (the caller may retry without a hint, or give up);
// KindReauth for invalid_token and its Slack equivalents, which mean the
// token no longer works anyway.
func (c *Client) Revoke(ctx context.Context, cfg *provider.Config, token, tokenTypeHint string) error {
	if cfg == nil {
		return errors.New("oauthclient: revoke: nil provider configuration")
	}
	if token == "" {
		return errors.New("oauthclient: revoke: empty token")
	}

	style := cfg.RevocationStyle
	if style == "" && cfg.RevocationEndpoint != "" {
		style = provider.RevocationRFC7009
	}
	switch style {
	case "", provider.RevocationNone:
		return nil
	case provider.RevocationRFC7009, provider.RevocationGitHubGrantAPI, provider.RevocationSlackAuthRevoke:
	default:
		return &Error{Kind: KindFailure, Op: opRevoke, Code: "unsupported_revocation_style",
			Description: fmt.Sprintf("revocation style %q is not supported", style)}
	}
	if cfg.RevocationEndpoint == "" {
		return &Error{Kind: KindFailure, Op: opRevoke, Code: "missing_revocation_endpoint",
			Description: "the provider has no revocation endpoint configured"}
	}

	var err error
	switch style {
	case provider.RevocationRFC7009:
		err = c.revokeRFC7009(ctx, cfg, token, tokenTypeHint)
	case provider.RevocationGitHubGrantAPI:
		err = c.revokeGitHubGrant(ctx, cfg, token)
	case provider.RevocationSlackAuthRevoke:
		err = c.revokeSlack(ctx, cfg, token)
	}
	if err != nil {
		return c.fail(cfg, err)
	}
	return nil
}

func (c *Client) revokeRFC7009(ctx context.Context, cfg *provider.Config, token, hint string) error {
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	req, err := newRequest(ctx, http.MethodPost, cfg.RevocationEndpoint)
	if err != nil {
		return fmt.Errorf("oauthclient: revoke: build request: %w", err)
	}
	method := cfg.RevocationAuthMethod
	if method == "" {
		method = cfg.AuthMethod
	}
	if err := authenticate(req, form, method, cfg.ClientID, cfg.ClientSecret); err != nil {
		return &Error{Kind: KindFailure, Op: opRevoke, Code: "unsupported_auth_method", Description: err.Error()}
	}

	res, err := c.do(req, form)
	if err != nil {
		return transportError(opRevoke, err)
	}
	return c.revocationResult(res, provider.Quirks{}, []string{token, string(cfg.ClientSecret)})
}

// revokeGitHubGrant deletes the OAuth app's grant for the user of token.
// GitHub's REST API takes plain HTTP Basic credentials; the form encoding
// that authenticate applies leaves GitHub's client id and secret
// alphabets unchanged.
func (c *Client) revokeGitHubGrant(ctx context.Context, cfg *provider.Config, token string) error {
	body, err := json.Marshal(map[string]string{"access_token": token})
	if err != nil {
		return fmt.Errorf("oauthclient: revoke: encode body: %w", err)
	}
	req, err := newRequest(ctx, http.MethodDelete, cfg.RevocationEndpoint)
	if err != nil {
		return fmt.Errorf("oauthclient: revoke: build request: %w", err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header.Set("Content-Type", "application/json")
	if err := authenticate(req, url.Values{}, provider.AuthClientSecretBasic, cfg.ClientID, cfg.ClientSecret); err != nil {
		return &Error{Kind: KindFailure, Op: opRevoke, Code: "unsupported_auth_method", Description: err.Error()}
	}

	res, err := c.do(req, nil)
	if err != nil {
		return transportError(opRevoke, err)
	}
	return c.revocationResult(res, provider.Quirks{}, []string{token, string(cfg.ClientSecret)})
}

// revokeSlack calls Slack's auth.revoke, which returns HTTP 200 with
// "ok": true or with "ok": false and an error code.
func (c *Client) revokeSlack(ctx context.Context, cfg *provider.Config, token string) error {
	req, err := newRequest(ctx, http.MethodPost, cfg.RevocationEndpoint)
	if err != nil {
		return fmt.Errorf("oauthclient: revoke: build request: %w", err)
	}
	res, err := c.do(req, url.Values{"token": {token}})
	if err != nil {
		return transportError(opRevoke, err)
	}

	sent := []string{token, string(cfg.ClientSecret)}
	doc, fail := c.checkResponse(opRevoke, provider.Quirks{OKField: true}, res, sent)
	if fail != nil {
		return fail
	}
	if ok, present := doc.boolean("ok"); !present || !ok {
		return &Error{Kind: KindFailure, Op: opRevoke, Code: "missing_ok", HTTPStatus: res.status,
			Description: `the response has no "ok": true`}
	}
	return nil
}

// revocationResult returns nil for a 2xx response, whose body RFC 7009
// section 2.2 tells clients to ignore, and classifies any other response.
func (c *Client) revocationResult(res *response, quirks provider.Quirks, sent []string) error {
	if res.status >= 200 && res.status <= 299 {
		return nil
	}
	if _, fail := c.checkResponse(opRevoke, quirks, res, sent); fail != nil {
		return fail
	}
	return &Error{Kind: KindFailure, Op: opRevoke, Code: fmt.Sprintf("http_%d", res.status), HTTPStatus: res.status}
}
