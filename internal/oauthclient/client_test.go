package oauthclient_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
)

func TestExchangeFormEncodedResponse(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = io.WriteString(w, "access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer")
	})

	resp, err := newClient().Exchange(context.Background(), fake.config(), testCode, testVerifier)
	if err != nil {
		t.Fatal(err)
	}
	if resp.AccessToken != "gho_16C7e42F292c6912E7710c838347Ae178B4a" {
		t.Errorf("access token: got %q", resp.AccessToken)
	}
	if want := []string{"repo", "gist"}; !reflect.DeepEqual(resp.Scopes, want) {
		t.Errorf("scopes: got %q, want %q", resp.Scopes, want)
	}
	if resp.TokenType != "Bearer" {
		t.Errorf("token type: got %q, want Bearer", resp.TokenType)
	}
	if resp.ExpiresIn != 0 || !resp.ExpiresAt.IsZero() {
		t.Errorf("expiry: got %v / %v, want unknown", resp.ExpiresIn, resp.ExpiresAt)
	}
}

func TestExchangeFormEncodedError(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		_, _ = io.WriteString(w, "error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired.")
	})

	_, err := newClient().Exchange(context.Background(), fake.config(), testCode, testVerifier)
	e := requireError(t, err, oauthclient.KindFailure, "bad_verification_code")
	if e.Description != "The code passed is incorrect or expired." {
		t.Errorf("description: got %q", e.Description)
	}
}

func TestRefreshHTTP200WithErrorBody(t *testing.T) {
	tests := []struct {
		body string
		kind oauthclient.Kind
		code string
	}{
		{`{"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired."}`, oauthclient.KindFailure, "bad_refresh_token"},
		{`{"error":"invalid_grant"}`, oauthclient.KindReauth, "invalid_grant"},
		{`{"error":"invalid_client","access_token":"` + testAccess + `"}`, oauthclient.KindFailure, "invalid_client"},
		{`{"error":{"code":401,"message":"nested"}}`, oauthclient.KindFailure, "unknown_error"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			fake := newFake(t, func(w http.ResponseWriter, r *recorded) { writeJSON(w, http.StatusOK, tt.body) })
			_, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
			e := requireError(t, err, tt.kind, tt.code)
			if e.HTTPStatus != http.StatusOK {
				t.Errorf("HTTP status: got %d, want 200", e.HTTPStatus)
			}
		})
	}
}

func TestExchangeOKFalse(t *testing.T) {
	tests := []struct {
		name, body string
		kind       oauthclient.Kind
		code       string
	}{
		{"invalid code", `{"ok":false,"error":"invalid_code"}`, oauthclient.KindReauth, "invalid_code"},
		{"bad secret", `{"ok":false,"error":"bad_client_secret"}`, oauthclient.KindFailure, "bad_client_secret"},
		{"rate limited", `{"ok":false,"error":"ratelimited"}`, oauthclient.KindTransient, "ratelimited"},
		{"no code", `{"ok":false}`, oauthclient.KindFailure, "ok_false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t, func(w http.ResponseWriter, r *recorded) { writeJSON(w, http.StatusOK, tt.body) })
			cfg := fake.config()
			cfg.Quirks = provider.Quirks{OKField: true, UserTokenInAuthedUser: true}
			_, err := newClient().Exchange(context.Background(), cfg, testCode, testVerifier)
			requireError(t, err, tt.kind, tt.code)
		})
	}
}

func TestExchangeSlackAuthedUser(t *testing.T) {
	const body = `{"ok":true,"access_token":"xoxb-bot","token_type":"bot","scope":"commands",
		"authed_user":{"id":"U1","scope":"chat:write,channels:read","access_token":"xoxp-user","token_type":"user",
		"refresh_token":"xoxe-1-user","expires_in":43200},"team":{"id":"T1"}}`
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) { writeJSON(w, http.StatusOK, body) })
	cfg := fake.config()
	cfg.Quirks = provider.Quirks{OKField: true, UserTokenInAuthedUser: true}

	resp, err := newClient().Exchange(context.Background(), cfg, testCode, testVerifier)
	if err != nil {
		t.Fatal(err)
	}
	if resp.AccessToken != "xoxp-user" || resp.RefreshToken != "xoxe-1-user" {
		t.Errorf("tokens: got %q / %q, want the user's", resp.AccessToken, resp.RefreshToken)
	}
	if want := []string{"chat:write", "channels:read"}; !reflect.DeepEqual(resp.Scopes, want) {
		t.Errorf("scopes: got %q, want %q", resp.Scopes, want)
	}
	if resp.ExpiresIn != 12*time.Hour {
		t.Errorf("expires in: got %v, want 12h", resp.ExpiresIn)
	}
}

func TestExchangeSlackWithoutUserToken(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		writeJSON(w, http.StatusOK, `{"ok":true,"access_token":"xoxb-bot","token_type":"bot"}`)
	})
	cfg := fake.config()
	cfg.Quirks = provider.Quirks{OKField: true, UserTokenInAuthedUser: true}

	_, err := newClient().Exchange(context.Background(), cfg, testCode, testVerifier)
	requireError(t, err, oauthclient.KindFailure, "missing_access_token")
}

func TestRefreshSlackTopLevelUserToken(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		writeJSON(w, http.StatusOK, `{"ok":true,"access_token":"xoxe.xoxp-new","token_type":"user","refresh_token":"xoxe-1-new","expires_in":43200}`)
	})
	cfg := fake.config()
	cfg.Quirks = provider.Quirks{OKField: true, UserTokenInAuthedUser: true}

	resp, err := newClient().Refresh(context.Background(), cfg, testRefresh)
	if err != nil {
		t.Fatal(err)
	}
	if resp.AccessToken != "xoxe.xoxp-new" || resp.RefreshToken != "xoxe-1-new" {
		t.Errorf("tokens: got %q / %q", resp.AccessToken, resp.RefreshToken)
	}
}

func TestRefreshHTML503(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "<html><body>Service Unavailable</body></html>")
	})

	_, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
	e := requireError(t, err, oauthclient.KindTransient, "http_503")
	if e.RetryAfter != 2*time.Minute {
		t.Errorf("retry after: got %v, want 2m", e.RetryAfter)
	}
}

func TestRefreshHTMLWithStatus200(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<html>maintenance</html>")
	})

	_, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
	requireError(t, err, oauthclient.KindTransient, "non_json_response")
}

func TestRefreshTemporarilyUnavailable(t *testing.T) {
	tests := []struct {
		status int
		code   string
	}{
		{http.StatusBadRequest, "temporarily_unavailable"},
		{http.StatusBadRequest, "server_error"},
		{http.StatusBadRequest, "slow_down"},
		{http.StatusServiceUnavailable, "temporarily_unavailable"},
		// A 5xx is transient whatever code it carries.
		{http.StatusInternalServerError, "invalid_grant"},
		{http.StatusTooManyRequests, "http_429"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.code), func(t *testing.T) {
			fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
				if strings.HasPrefix(tt.code, "http_") {
					w.WriteHeader(tt.status)
					return
				}
				writeJSON(w, tt.status, `{"error":"`+tt.code+`"}`)
			})
			_, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
			requireError(t, err, oauthclient.KindTransient, tt.code)
		})
	}
}

func TestRefreshInvalidGrant(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`)
	})

	_, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
	e := requireError(t, err, oauthclient.KindReauth, "invalid_grant")
	if e.Description != "Token has been expired or revoked." {
		t.Errorf("description: got %q", e.Description)
	}
	if e.Op != "refresh" || e.HTTPStatus != http.StatusBadRequest {
		t.Errorf("op and status: got %q %d, want refresh 400", e.Op, e.HTTPStatus)
	}
}

func TestReauthCodes(t *testing.T) {
	for _, code := range []string{"invalid_grant", "invalid_token", "access_denied"} {
		t.Run(code, func(t *testing.T) {
			fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
				writeJSON(w, http.StatusBadRequest, `{"error":"`+code+`"}`)
			})
			_, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
			requireError(t, err, oauthclient.KindReauth, code)
		})
	}
}

// TestUnauthorizedClientIsFailure pins the decision documented on
// codeKinds: the client registration must change, so a new consent does
// not help.
func TestUnauthorizedClientIsFailure(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		writeJSON(w, http.StatusBadRequest, `{"error":"unauthorized_client"}`)
	})
	_, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
	requireError(t, err, oauthclient.KindFailure, "unauthorized_client")
}

func TestRefreshMissingExpiresIn(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		writeJSON(w, http.StatusOK, `{"access_token":"new","token_type":"Bearer"}`)
	})

	resp, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ExpiresIn != 0 || !resp.ExpiresAt.IsZero() {
		t.Errorf("expiry: got %v / %v, want zero (unknown)", resp.ExpiresIn, resp.ExpiresAt)
	}
	if resp.Scopes != nil {
		t.Errorf("scopes: got %q, want nil for a response without scope", resp.Scopes)
	}
}

func TestRefreshExpiresIn30Seconds(t *testing.T) {
	for _, value := range []string{`30`, `"30"`, `30.0`, `" 30 "`} {
		t.Run(value, func(t *testing.T) {
			fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
				writeJSON(w, http.StatusOK, `{"access_token":"new","expires_in":`+value+`}`)
			})
			resp, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ExpiresIn != 30*time.Second {
				t.Errorf("expires in: got %v, want 30s", resp.ExpiresIn)
			}
			if want := testNow.Add(30 * time.Second); !resp.ExpiresAt.Equal(want) {
				t.Errorf("expires at: got %v, want %v", resp.ExpiresAt, want)
			}
		})
	}
}

func TestRefreshInvalidExpiresIn(t *testing.T) {
	for _, value := range []string{`"soon"`, `-5`, `0`, `null`, `{}`} {
		t.Run(value, func(t *testing.T) {
			fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
				writeJSON(w, http.StatusOK, `{"access_token":"new","expires_in":`+value+`}`)
			})
			resp, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ExpiresIn != 0 || !resp.ExpiresAt.IsZero() {
				t.Errorf("expiry: got %v / %v, want unknown", resp.ExpiresIn, resp.ExpiresAt)
			}
		})
	}
}

func TestRefreshWithoutRefreshToken(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		writeJSON(w, http.StatusOK, `{"access_token":"new","expires_in":3600,"scope":"a b"}`)
	})

	resp, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
	if err != nil {
		t.Fatal(err)
	}
	if resp.RefreshToken != "" {
		t.Errorf("refresh token: got %q, want empty so that the vault keeps the old one", resp.RefreshToken)
	}
	req := fake.only(t)
	if req.Form.Get("grant_type") != "refresh_token" || req.Form.Get("refresh_token") != testRefresh {
		t.Errorf("form: got %v, want grant_type=refresh_token with the refresh token", req.Form)
	}
	if req.Form.Has("scope") {
		t.Errorf("form has scope %q; a refresh keeps the original grant's scopes", req.Form.Get("scope"))
	}
}

func TestRefreshMissingAccessToken(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		writeJSON(w, http.StatusOK, `{"token_type":"Bearer","expires_in":3600}`)
	})
	_, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
	requireError(t, err, oauthclient.KindFailure, "missing_access_token")
}

func TestExtraTokenFieldsKept(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		writeJSON(w, http.StatusOK, `{"access_token":"new","instance_url":"https://acme.my.salesforce.com","issued_at":"1700000000"}`)
	})
	cfg := fake.config()
	cfg.Quirks.ExtraTokenFields = []string{"instance_url", "absent"}

	resp, err := newClient().Refresh(context.Background(), cfg, testRefresh)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"instance_url": "https://acme.my.salesforce.com"}; !reflect.DeepEqual(resp.Extras, want) {
		t.Errorf("extras: got %v, want %v", resp.Extras, want)
	}
}

// pkceFake is an authorization server that was given an S256 challenge
// at the authorization request and accepts the code only with the
// matching verifier (RFC 7636 section 4.6).
func pkceFake(t *testing.T, challenge string) *fakeProvider {
	return newFake(t, func(w http.ResponseWriter, r *recorded) {
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"PKCE verification failed"}`)
			return
		}
		if r.Form.Get("code") != testCode || r.Form.Get("grant_type") != "authorization_code" {
			writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant"}`)
			return
		}
		if r.Form.Get("redirect_uri") != "https://toolgate.example.com/oauth/callback" {
			writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"redirect_uri mismatch"}`)
			return
		}
		writeJSON(w, http.StatusOK, `{"access_token":"`+testAccess+`","refresh_token":"`+testRefresh+`","expires_in":3600,"token_type":"bearer"}`)
	})
}

func TestExchangeRequiresPKCEVerifier(t *testing.T) {
	sum := sha256.Sum256([]byte(testVerifier))
	fake := pkceFake(t, base64.RawURLEncoding.EncodeToString(sum[:]))

	resp, err := newClient().Exchange(context.Background(), fake.config(), testCode, testVerifier)
	if err != nil {
		t.Fatalf("exchange with the right verifier: %v", err)
	}
	if resp.AccessToken != testAccess || resp.RefreshToken != testRefresh {
		t.Errorf("tokens: got %q / %q", resp.AccessToken, resp.RefreshToken)
	}

	_, err = newClient().Exchange(context.Background(), fake.config(), testCode, "another-verifier-0123456789abcdefghijklmnopqrstuvwxyz")
	requireError(t, err, oauthclient.KindReauth, "invalid_grant")

	if _, err := newClient().Exchange(context.Background(), fake.config(), testCode, ""); err == nil {
		t.Error("exchange without a verifier: got nil error, want one")
	}
	if n := len(fake.all()); n != 2 {
		t.Errorf("requests: got %d, want 2 (none for the empty verifier)", n)
	}
}

// authFake accepts only the given client authentication method and
// rejects credentials sent any other way with invalid_client.
func authFake(t *testing.T, method provider.AuthMethod) *fakeProvider {
	return newFake(t, func(w http.ResponseWriter, r *recorded) {
		user, pass, hasBasic := basicAuth(r)
		var ok bool
		switch method {
		case provider.AuthClientSecretBasic:
			ok = hasBasic && user == testClientID && pass == testClientSecret &&
				!r.Form.Has("client_secret") && !r.Form.Has("client_id")
		case provider.AuthClientSecretPost:
			ok = !hasBasic && r.Form.Get("client_id") == testClientID && r.Form.Get("client_secret") == testClientSecret
		case provider.AuthNone:
			ok = !hasBasic && r.Form.Get("client_id") == testClientID && !r.Form.Has("client_secret")
		}
		if !ok {
			writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_client"}`)
			return
		}
		if r.Path == "/revoke" {
			w.WriteHeader(http.StatusOK)
			return
		}
		writeJSON(w, http.StatusOK, `{"access_token":"new"}`)
	})
}

// basicAuth decodes an Authorization header the way RFC 6749 section
// 2.3.1 has a server do it: base64, split at the first colon, then
// form-urldecode each part.
func basicAuth(r *recorded) (user, pass string, ok bool) {
	encoded, found := strings.CutPrefix(r.Header.Get("Authorization"), "Basic ")
	if !found {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return "", "", false
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	user, err1 := url.QueryUnescape(u)
	pass, err2 := url.QueryUnescape(p)
	return user, pass, err1 == nil && err2 == nil
}

func TestClientAuthentication(t *testing.T) {
	methods := []provider.AuthMethod{provider.AuthClientSecretBasic, provider.AuthClientSecretPost, provider.AuthNone}
	for _, server := range methods {
		for _, client := range methods {
			t.Run(fmt.Sprintf("server %s client %s", server, client), func(t *testing.T) {
				fake := authFake(t, server)
				cfg := fake.config()
				cfg.AuthMethod, cfg.RevocationAuthMethod = client, client

				_, exchangeErr := newClient().Exchange(context.Background(), cfg, testCode, testVerifier)
				_, refreshErr := newClient().Refresh(context.Background(), cfg, testRefresh)
				revokeErr := newClient().Revoke(context.Background(), cfg, testAccess, oauthclient.HintAccessToken)
				for name, err := range map[string]error{"exchange": exchangeErr, "refresh": refreshErr, "revoke": revokeErr} {
					if server == client && err != nil {
						t.Errorf("%s: %v", name, err)
					}
					if server != client {
						requireError(t, err, oauthclient.KindFailure, "invalid_client")
					}
				}
			})
		}
	}
}

func TestBasicAuthFormEncodesCredentials(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) { writeJSON(w, http.StatusOK, `{"access_token":"new"}`) })
	cfg := fake.config()
	cfg.AuthMethod = provider.AuthClientSecretBasic
	cfg.ClientSecret = "p@ss:w/rd +%"

	if _, err := newClient().Refresh(context.Background(), cfg, testRefresh); err != nil {
		t.Fatal(err)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("client%3Aid+with+space:p%40ss%3Aw%2Frd+%2B%25"))
	if got := fake.only(t).Header.Get("Authorization"); got != want {
		t.Errorf("authorization: got %q, want %q", got, want)
	}
}

func TestAcceptJSONAlwaysSent(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		switch r.Path {
		case "/token":
			writeJSON(w, http.StatusOK, `{"access_token":"new"}`)
		case "/github":
			w.WriteHeader(http.StatusNoContent)
		case "/slack":
			writeJSON(w, http.StatusOK, `{"ok":true,"revoked":true}`)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	ctx := context.Background()
	client := newClient()
	cfg := fake.config()

	if _, err := client.Exchange(ctx, cfg, testCode, testVerifier); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Refresh(ctx, cfg, testRefresh); err != nil {
		t.Fatal(err)
	}
	if err := client.Revoke(ctx, cfg, testAccess, ""); err != nil {
		t.Fatal(err)
	}
	github := fake.config()
	github.RevocationStyle, github.RevocationEndpoint = provider.RevocationGitHubGrantAPI, fake.srv.URL+"/github"
	if err := client.Revoke(ctx, github, testAccess, ""); err != nil {
		t.Fatal(err)
	}
	slack := fake.config()
	slack.RevocationStyle, slack.RevocationEndpoint = provider.RevocationSlackAuthRevoke, fake.srv.URL+"/slack"
	if err := client.Revoke(ctx, slack, testAccess, ""); err != nil {
		t.Fatal(err)
	}

	reqs := fake.all()
	if len(reqs) != 5 {
		t.Fatalf("requests: got %d, want 5", len(reqs))
	}
	for _, r := range reqs {
		if got := r.Header.Get("Accept"); got != "application/json" {
			t.Errorf("%s %s: Accept is %q, want application/json", r.Method, r.Path, got)
		}
	}
}

func TestErrorsOmitSecrets(t *testing.T) {
	// The fake echoes everything it was sent: the grant or token as the
	// error code, every value in the description (around a NUL byte), and
	// the first 20 bytes of the grant or token again.
	echo := func(w http.ResponseWriter, r *recorded) {
		var sent []string
		for _, values := range r.Form {
			sent = append(sent, values...)
		}
		grant := r.Form.Get("code") + r.Form.Get("refresh_token") + r.Form.Get("token")
		description := "rejected: " + strings.Join(sent, " \x00 ") + " partial " + grant[:20] + " end"
		body, _ := json.Marshal(map[string]string{"error": grant, "error_description": description})
		writeJSON(w, http.StatusBadRequest, string(body))
	}
	fake := newFake(t, echo)
	client := newClient()
	ctx := context.Background()

	_, exchangeErr := client.Exchange(ctx, fake.config(), testCode, testVerifier)
	_, refreshErr := client.Refresh(ctx, fake.config(), testRefresh)
	revokeErr := client.Revoke(ctx, fake.config(), testAccess, oauthclient.HintAccessToken)
	tests := []struct {
		name  string
		err   error
		grant string
	}{
		{"exchange", exchangeErr, testCode},
		{"refresh", refreshErr, testRefresh},
		{"revoke", revokeErr, testAccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := requireError(t, tt.err, oauthclient.KindFailure, "[redacted]")
			requireNoSecrets(t, tt.err.Error(), tt.grant[:20])
			requireNoSecrets(t, e.Description, tt.grant[:20])
			if !strings.HasPrefix(e.Description, "rejected: ") || !strings.HasSuffix(e.Description, " end") {
				t.Errorf("description: got %q, want the provider's text around the redactions", e.Description)
			}
			if len(e.Description) > 200 {
				t.Errorf("description is %d bytes, want at most 200", len(e.Description))
			}
			for _, c := range e.Description {
				if c < 0x20 || c > 0x7e {
					t.Errorf("description contains %q, want printable ASCII only", c)
				}
			}
		})
	}
}

func TestTransportErrorsAreTransient(t *testing.T) {
	slow := newFake(t, func(w http.ResponseWriter, r *recorded) {
		time.Sleep(200 * time.Millisecond)
		writeJSON(w, http.StatusOK, `{"access_token":"late"}`)
	})
	client := oauthclient.New(nil, &oauthclient.Options{Timeout: 50 * time.Millisecond})
	_, err := client.Refresh(context.Background(), slow.config(), testRefresh)
	requireError(t, err, oauthclient.KindTransient, "timeout")

	closed := newFake(t, func(w http.ResponseWriter, r *recorded) {})
	cfg := closed.config()
	closed.srv.Close()
	_, err = newClient().Refresh(context.Background(), cfg, testRefresh)
	requireError(t, err, oauthclient.KindTransient, "transport_error")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = newClient().Refresh(ctx, slow.config(), testRefresh)
	requireError(t, err, oauthclient.KindTransient, "canceled")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want it to wrap context.Canceled", err)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		if r.Path == "/token" {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		writeJSON(w, http.StatusOK, `{"access_token":"stolen"}`)
	})

	_, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
	requireError(t, err, oauthclient.KindFailure, "unexpected_redirect")
	if n := len(fake.all()); n != 1 {
		t.Errorf("requests: got %d, want 1 (the redirect must not be followed)", n)
	}
}

func TestResponseBodyLimit(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		writeJSON(w, http.StatusOK, `{"access_token":"new","padding":"`+strings.Repeat("x", 2<<20)+`"}`)
	})

	_, err := newClient().Refresh(context.Background(), fake.config(), testRefresh)
	requireError(t, err, oauthclient.KindTransient, "response_too_large")
}

func TestRevokeRFC7009(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		// RFC 7009 section 2.2: the body of a 200 is ignored.
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>ok</html>")
	})

	if err := newClient().Revoke(context.Background(), fake.config(), testRefresh, oauthclient.HintRefreshToken); err != nil {
		t.Fatal(err)
	}
	req := fake.only(t)
	if req.Method != http.MethodPost || req.Path != "/revoke" {
		t.Errorf("request: got %s %s, want POST /revoke", req.Method, req.Path)
	}
	if req.Form.Get("token") != testRefresh || req.Form.Get("token_type_hint") != "refresh_token" {
		t.Errorf("form: got %v", req.Form)
	}
}

func TestRevoke503IsTransient(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	})

	err := newClient().Revoke(context.Background(), fake.config(), testAccess, oauthclient.HintAccessToken)
	e := requireError(t, err, oauthclient.KindTransient, "http_503")
	if e.Op != "revoke" || e.RetryAfter != 30*time.Second {
		t.Errorf("op and retry after: got %q %v, want revoke 30s", e.Op, e.RetryAfter)
	}
}

func TestRevokeUnsupportedTokenType(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) {
		writeJSON(w, http.StatusBadRequest, `{"error":"unsupported_token_type"}`)
	})

	err := newClient().Revoke(context.Background(), fake.config(), testAccess, oauthclient.HintAccessToken)
	requireError(t, err, oauthclient.KindFailure, "unsupported_token_type")
}

func TestRevokeGitHubGrant(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) { w.WriteHeader(http.StatusNoContent) })
	cfg := fake.config()
	cfg.ClientID = "Iv1.8a61f9b3a7aba766"
	cfg.RevocationStyle = provider.RevocationGitHubGrantAPI
	cfg.RevocationEndpoint = fake.srv.URL + "/applications/Iv1.8a61f9b3a7aba766/grant"

	if err := newClient().Revoke(context.Background(), cfg, testAccess, oauthclient.HintAccessToken); err != nil {
		t.Fatal(err)
	}
	req := fake.only(t)
	if req.Method != http.MethodDelete {
		t.Errorf("method: got %s, want DELETE", req.Method)
	}
	if want := `{"access_token":"` + testAccess + `"}`; req.Body != want {
		t.Errorf("body: got %s, want %s", req.Body, want)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("Iv1.8a61f9b3a7aba766:"+testClientSecret))
	if got := req.Header.Get("Authorization"); got != want {
		t.Errorf("authorization: got %q, want %q", got, want)
	}
}

func TestRevokeSlack(t *testing.T) {
	tests := []struct {
		body string
		kind oauthclient.Kind
		code string
	}{
		{`{"ok":true,"revoked":true}`, 0, ""},
		{`{"ok":false,"error":"invalid_auth"}`, oauthclient.KindReauth, "invalid_auth"},
		{`{"ok":false,"error":"ratelimited"}`, oauthclient.KindTransient, "ratelimited"},
		{`{"revoked":true}`, oauthclient.KindFailure, "missing_ok"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			fake := newFake(t, func(w http.ResponseWriter, r *recorded) { writeJSON(w, http.StatusOK, tt.body) })
			cfg := fake.config()
			cfg.RevocationStyle = provider.RevocationSlackAuthRevoke
			err := newClient().Revoke(context.Background(), cfg, testAccess, "")
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				req := fake.only(t)
				if req.Form.Get("token") != testAccess || req.Header.Get("Authorization") != "" {
					t.Errorf("request: form %v, authorization %q; want the token alone", req.Form, req.Header.Get("Authorization"))
				}
				return
			}
			requireError(t, err, tt.kind, tt.code)
		})
	}
}

func TestRevokeNoneSendsNothing(t *testing.T) {
	fake := newFake(t, func(w http.ResponseWriter, r *recorded) { w.WriteHeader(http.StatusOK) })
	cfg := fake.config()
	cfg.RevocationStyle, cfg.RevocationEndpoint = provider.RevocationNone, ""

	if err := newClient().Revoke(context.Background(), cfg, testAccess, ""); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.all()); n != 0 {
		t.Errorf("requests: got %d, want 0", n)
	}
}
