package authn_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

func TestBearerJWT(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), authn.Options{Mode: authn.ModeOIDC})
	e.provider.addUser(&opUser{ID: machineClientID, Claims: map[string]any{"roles": []string{"agent", "toolgate-admin"}}})

	// A token from the provider's token endpoint is accepted with its roles.
	valid := e.provider.clientCredentialsToken(t)
	got := e.whoamiOf(t, http.DefaultClient, headerWith("Authorization", "Bearer "+valid))
	if got.UserID != machineClientID || got.Method != authn.MethodJWT {
		t.Errorf("identity = %+v, want user %s with method jwt", got, machineClientID)
	}
	if !slices.Equal(got.Roles, []string{"agent", "toolgate-admin"}) || !got.IsAdmin {
		t.Errorf("roles = %q, admin %v; want [agent toolgate-admin] and admin", got.Roles, got.IsAdmin)
	}
	if resp, _ := do(t, http.DefaultClient, http.MethodGet, e.URL+"/admin", nil, headerWith("Authorization", "Bearer "+valid)); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /admin with an admin JWT: status %d, want 200", resp.StatusCode)
	}

	providerKey := e.provider.storage.key
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": e.provider.Issuer, "sub": machineClientID, "aud": []string{webClientID},
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "roles": []string{"agent"},
		}
		if change != nil {
			change(c)
		}
		return c
	}
	// The control case proves that a token made this way passes, so each
	// rejection below is due to the one thing changed.
	control := sign(t, providerKey, providerKeyID, claims(nil))
	if got := e.whoamiOf(t, http.DefaultClient, headerWith("Authorization", "Bearer "+control)); got.UserID != machineClientID {
		t.Fatalf("control token: user %q, want %s", got.UserID, machineClientID)
	}

	validParts := strings.Split(valid, ".")
	tests := []struct {
		name       string
		header     string
		wantError  string // error parameter of WWW-Authenticate
		wantDetail string
		token      string // must not appear in the response
	}{
		{name: "forged signature", token: sign(t, otherKey, providerKeyID, claims(nil)), wantError: "invalid_token", wantDetail: "not valid"},
		{name: "expired", token: sign(t, providerKey, providerKeyID, claims(func(c map[string]any) {
			c["exp"] = now.Add(-time.Minute).Unix()
		})), wantError: "invalid_token", wantDetail: "expired"},
		{name: "wrong audience", token: sign(t, providerKey, providerKeyID, claims(func(c map[string]any) {
			c["aud"] = []string{"another-service"}
		})), wantError: "invalid_token", wantDetail: "not valid"},
		{name: "wrong issuer", token: sign(t, providerKey, providerKeyID, claims(func(c map[string]any) {
			c["iss"] = "http://127.0.0.1:1/other"
		})), wantError: "invalid_token", wantDetail: "not valid"},
		{name: "no subject", token: sign(t, providerKey, providerKeyID, claims(func(c map[string]any) {
			delete(c, "sub")
		})), wantError: "invalid_token", wantDetail: "no sub claim"},
		{name: "changed payload", token: validParts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(t, claims(func(c map[string]any) {
			c["roles"] = []string{"toolgate-admin"}
		}))) + "." + validParts[2], wantError: "invalid_token", wantDetail: "not valid"},
		{name: "alg none", token: base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
			base64.RawURLEncoding.EncodeToString(mustJSON(t, claims(nil))) + ".", wantError: "invalid_token", wantDetail: "neither"},
		{name: "opaque token", token: "some-opaque-access-token", wantError: "invalid_token", wantDetail: "neither"},
		{name: "unknown api token", token: authn.APITokenPrefix + strings.Repeat("A", 43), wantError: "invalid_token", wantDetail: "not valid"},
		{name: "malformed api token", token: authn.APITokenPrefix + "short", wantError: "invalid_token", wantDetail: "malformed"},
		{name: "basic scheme", header: "Basic dXNlcjpwYXNz", wantError: "invalid_request", wantDetail: "Bearer"},
		{name: "empty bearer", header: "Bearer ", wantError: "invalid_request", wantDetail: "Bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := tt.header
			if header == "" {
				header = "Bearer " + tt.token
			}
			resp, body := do(t, http.DefaultClient, http.MethodGet, e.URL+"/whoami", nil, headerWith("Authorization", header))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", resp.StatusCode, body)
			}
			if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer error="`+tt.wantError+`"`; got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
			p := decodeProblem(t, resp, body)
			if p.Code != tt.wantError || !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("problem = %+v, want code %q and a detail containing %q", p, tt.wantError, tt.wantDetail)
			}
			if tt.token != "" && strings.Contains(body, tt.token) {
				t.Errorf("response body echoes the token: %s", body)
			}
		})
	}

	secrets := []string{valid, control}
	for _, tt := range tests {
		secrets = append(secrets, tt.token)
	}
	e.checkLogsOmit(t, secrets...)

	rejected := func(reason string) float64 {
		return e.counter(t, "toolgate_authn_bearer_rejections_total", map[string]string{"reason": reason})
	}
	if rejected("expired") != 1 || rejected("invalid_jwt") != 5 || rejected("unsupported") != 2 {
		t.Errorf("rejections counted: expired %v, invalid_jwt %v, unsupported %v; want 1, 5, 2",
			rejected("expired"), rejected("invalid_jwt"), rejected("unsupported"))
	}
}

func TestBearerTakesPrecedenceOverCookie(t *testing.T) {
	e := newOIDCEnv(t, storetest.NewSQLite(t), alice)
	client := browser(t)
	if resp, body := e.signInOIDC(t, client, alice, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: status %d; body %s", resp.StatusCode, body)
	}

	resp, _ := do(t, client, http.MethodGet, e.URL+"/whoami", nil, headerWith("Authorization", "Bearer not-a-token"))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("invalid bearer with a valid session cookie: status %d, want 401", resp.StatusCode)
	}
}

func TestBearerJWTInDevMode(t *testing.T) {
	e := newDevEnv(t, storetest.NewSQLite(t), "alice")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	token := sign(t, key, "k", map[string]any{"sub": "x", "exp": time.Now().Add(time.Hour).Unix()})

	resp, body := do(t, http.DefaultClient, http.MethodGet, e.URL+"/whoami", nil, headerWith("Authorization", "Bearer "+token))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("JWT in dev mode: status %d, want 401", resp.StatusCode)
	}
	if p := decodeProblem(t, resp, body); !strings.Contains(p.Detail, "API token") {
		t.Errorf("detail = %q, want advice to use an API token", p.Detail)
	}
}
