package calendar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// IntrospectionVerifier returns a TokenVerifier that asks the
// authorization server's introspection endpoint (RFC 7662) about each
// token, authenticating with client_secret_basic. An inactive token, or
// one whose audience does not include audience when audience is set, is
// invalid; the token's "sub" names the user.
func IntrospectionVerifier(endpoint, clientID, clientSecret, audience string, client *http.Client) auth.TokenVerifier {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, fmt.Errorf("calendar: introspect: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("calendar: introspect: %w", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("calendar: introspect: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("calendar: introspect: HTTP %d", resp.StatusCode)
		}
		var info struct {
			Active bool            `json:"active"`
			Sub    string          `json:"sub"`
			Scope  string          `json:"scope"`
			Exp    int64           `json:"exp"`
			Aud    json.RawMessage `json:"aud"`
		}
		if err := json.Unmarshal(body, &info); err != nil {
			return nil, fmt.Errorf("calendar: introspect: %w", err)
		}
		if !info.Active || info.Sub == "" {
			return nil, fmt.Errorf("%w: the token is not active", auth.ErrInvalidToken)
		}
		if audience != "" && !hasAudience(info.Aud, audience) {
			return nil, fmt.Errorf("%w: the token is not meant for this server", auth.ErrInvalidToken)
		}
		ti := &auth.TokenInfo{UserID: info.Sub, Scopes: strings.Fields(info.Scope)}
		if info.Exp > 0 {
			ti.Expiration = time.Unix(info.Exp, 0)
		} else {
			ti.Expiration = time.Now().Add(time.Minute)
		}
		return ti, nil
	}
}

// hasAudience reports whether the aud claim (a string or an array of
// strings) contains want.
func hasAudience(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}
