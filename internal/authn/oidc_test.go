package authn_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

// Provider users shared by the OIDC tests.
var (
	alice = &opUser{ID: "alice-sub", Name: "Alice Admin", PreferredUsername: "alice", Email: "alice@example.test",
		Claims: map[string]any{"roles": []string{"toolgate-admin", "ops"}}}
	bob = &opUser{ID: "bob-sub", PreferredUsername: "bob", Email: "bob@example.test",
		Claims: map[string]any{"roles": []string{"ops"}}}
)

func newOIDCEnv(t *testing.T, st *store.Store, users ...*opUser) *env {
	t.Helper()
	e := newEnv(t, st, authn.Options{Mode: authn.ModeOIDC})
	for _, u := range users {
		e.provider.addUser(u)
	}
	return e
}

// signInOIDC signs user in with client through the provider and returns the
// final response after all redirects.
func (e *env) signInOIDC(t *testing.T, client *http.Client, user *opUser, returnTo string) (*http.Response, string) {
	t.Helper()
	e.provider.setNextUser(user.ID)
	return do(t, client, http.MethodGet, e.URL+"/auth/login?return_to="+url.QueryEscape(returnTo), nil, nil)
}

// startOIDC runs a sign-in for user up to the redirect back to Toolgate and
// returns the callback URL without requesting it.
func (e *env) startOIDC(t *testing.T, client *http.Client, user *opUser) string {
	t.Helper()
	e.provider.setNextUser(user.ID)
	stopAtCallback := &http.Client{
		Jar: client.Jar,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Path == "/auth/callback" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, body := do(t, stopAtCallback, http.MethodGet, e.URL+"/auth/login", nil, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, e.URL+"/auth/callback?") {
		t.Fatalf("sign-in stopped with status %d, Location %q, want a redirect to %s/auth/callback; body %s", resp.StatusCode, loc, e.URL, body)
	}
	return loc
}

func TestOIDCSignInAndLogout(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newOIDCEnv(t, st, alice, bob)

		// Anonymous requests pass the middleware but not RequireUser.
		resp, body := do(t, http.DefaultClient, http.MethodGet, e.URL+"/whoami", nil, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("anonymous GET /whoami: status %d, want 401", resp.StatusCode)
		}
		if got := resp.Header.Get("WWW-Authenticate"); got != "Bearer" {
			t.Errorf("anonymous WWW-Authenticate = %q, want Bearer", got)
		}
		if p := decodeProblem(t, resp, body); p.Code != "authentication_required" {
			t.Errorf("anonymous problem code = %q, want authentication_required", p.Code)
		}

		// Alice is an admin and lands on return_to.
		aliceBrowser := browser(t)
		resp, body = e.signInOIDC(t, aliceBrowser, alice, "/admin")
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/admin" || body != "admin page" {
			t.Fatalf("alice sign-in ended at %s with status %d, body %q; want /admin, 200, admin page", resp.Request.URL, resp.StatusCode, body)
		}
		got := e.whoamiOf(t, aliceBrowser, nil)
		if got.UserID != alice.ID || got.Name != alice.Name || got.Email != alice.Email {
			t.Errorf("alice identity = %+v, want user %q, name %q, email %q", got, alice.ID, alice.Name, alice.Email)
		}
		if !slices.Equal(got.Roles, []string{"toolgate-admin", "ops"}) {
			t.Errorf("alice roles = %q, want [toolgate-admin ops]", got.Roles)
		}
		if got.Method != authn.MethodSession || got.CSRFToken == "" || !got.IsAdmin {
			t.Errorf("alice identity = %+v, want method session, a CSRF token and admin", got)
		}

		// Bob is not an admin. His name falls back to preferred_username.
		bobBrowser := browser(t)
		if resp, body := e.signInOIDC(t, bobBrowser, bob, "/whoami"); resp.StatusCode != http.StatusOK {
			t.Fatalf("bob sign-in: status %d, want 200; body %s", resp.StatusCode, body)
		}
		if got := e.whoamiOf(t, bobBrowser, nil); got.Name != "bob" || got.IsAdmin {
			t.Errorf("bob identity = %+v, want name bob and not admin", got)
		}
		resp, body = do(t, bobBrowser, http.MethodGet, e.URL+"/admin", nil, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("bob GET /admin: status %d, want 403", resp.StatusCode)
		}
		if p := decodeProblem(t, resp, body); p.Code != "admin_required" {
			t.Errorf("bob GET /admin problem code = %q, want admin_required", p.Code)
		}

		// The store holds hashes of the cookies and no flows.
		aliceCookie := e.sessionCookie(aliceBrowser)
		sum := sha256.Sum256([]byte(aliceCookie))
		var n int
		if err := st.DB().QueryRow(`SELECT COUNT(*) FROM browser_sessions WHERE id_hash = $1`, hex.EncodeToString(sum[:])).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("sessions with alice's cookie hash = %d, want 1", n)
		}
		if err := st.DB().QueryRow(`SELECT COUNT(*) FROM browser_sessions WHERE id_hash = $1`, aliceCookie).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("sessions stored under the plain cookie value = %d, want 0", n)
		}
		if n := countRows(t, st, "login_flows"); n != 0 {
			t.Errorf("login flows left after two sign-ins = %d, want 0", n)
		}
		if u, err := st.GetUser(t.Context(), alice.ID); err != nil || !slices.Contains(u.Roles, "toolgate-admin") {
			t.Errorf("stored user alice = %+v, %v; want roles with toolgate-admin", u, err)
		}
		if got := e.signIns(t, "oidc", "success"); got != 2 {
			t.Errorf("successful oidc sign-ins counted = %v, want 2", got)
		}

		// The session keeps the ID token sealed for the logout below.
		var sealedHint string
		if err := st.DB().QueryRow(`SELECT id_token_hint FROM browser_sessions WHERE id_hash = $1`, hex.EncodeToString(sum[:])).Scan(&sealedHint); err != nil {
			t.Fatal(err)
		}
		idToken, err := e.keyring.Open(sealedHint, "browser_sessions.id_token_hint:"+hex.EncodeToString(sum[:]))
		if err != nil || strings.Count(string(idToken), ".") != 2 {
			t.Fatalf("open the sealed ID token: %q, %v; want a JWT", idToken, err)
		}

		// Logout goes through the provider's end_session_endpoint and back.
		resp, body = do(t, aliceBrowser, http.MethodPost, e.URL+"/auth/logout", nil, sameOrigin)
		if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != e.URL+"/" || body != "home page" {
			t.Fatalf("logout ended at %s with status %d, body %q; want %s/, 200, home page", resp.Request.URL, resp.StatusCode, body, e.URL)
		}
		if ended := e.provider.terminated(); !slices.Equal(ended, []string{alice.ID}) {
			t.Errorf("provider sessions ended = %q, want [%s]", ended, alice.ID)
		}
		if c := e.sessionCookie(aliceBrowser); c != "" {
			t.Errorf("session cookie after logout = %q, want it cleared", c)
		}
		resp, _ = do(t, http.DefaultClient, http.MethodGet, e.URL+"/whoami", nil, headerWith("Cookie", "toolgate_session="+aliceCookie))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /whoami with the signed-out cookie: status %d, want 401", resp.StatusCode)
		}
		if n := countRows(t, st, "browser_sessions"); n != 1 {
			t.Errorf("sessions after alice's logout = %d, want 1 (bob's)", n)
		}

		logs := e.logs.String()
		if !strings.Contains(logs, `msg="signed in" user_id=alice-sub method=oidc`) || !strings.Contains(logs, `msg="signed out" user_id=alice-sub`) {
			t.Errorf("log lacks the sign-in and sign-out of alice: %s", logs)
		}
		e.checkLogsOmit(t, aliceCookie, e.sessionCookie(bobBrowser), webClientSecret, string(idToken))
	})
}

func TestOIDCLoginRedirect(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newOIDCEnv(t, st, alice)
		noRedirects := browser(t)
		noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

		resp, _ := do(t, noRedirects, http.MethodGet, e.URL+"/auth/login?return_to=/sessions/7", nil, nil)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("GET /auth/login: status %d, want 302", resp.StatusCode)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		q := loc.Query()
		if !strings.HasPrefix(loc.String(), e.provider.Issuer+"/authorize?") {
			t.Errorf("redirect to %s, want the provider's authorization endpoint", loc)
		}
		for param, want := range map[string]string{
			"client_id": webClientID, "response_type": "code", "code_challenge_method": "S256",
			"redirect_uri": e.URL + "/auth/callback", "scope": "openid profile email",
		} {
			if got := q.Get(param); got != want {
				t.Errorf("authorization request %s = %q, want %q", param, got, want)
			}
		}
		state, nonce, challenge := q.Get("state"), q.Get("nonce"), q.Get("code_challenge")
		if len(state) != 43 || len(nonce) != 43 || challenge == "" {
			t.Fatalf("state %q, nonce %q, challenge %q; want 43-character state and nonce and a challenge", state, nonce, challenge)
		}

		// The flow row has the state's hash, the sealed verifier that
		// matches the challenge, the nonce and return_to.
		stateSum := sha256.Sum256([]byte(state))
		stateHash := hex.EncodeToString(stateSum[:])
		var sealed, storedNonce, returnTo string
		err = st.DB().QueryRow(`SELECT verifier, nonce, return_to FROM login_flows WHERE state_hash = $1`, stateHash).
			Scan(&sealed, &storedNonce, &returnTo)
		if err != nil {
			t.Fatalf("read login flow by state hash: %v", err)
		}
		if storedNonce != nonce || returnTo != "/sessions/7" {
			t.Errorf("flow nonce %q, return_to %q; want %q, /sessions/7", storedNonce, returnTo, nonce)
		}
		verifier, err := e.keyring.Open(sealed, "login_flows.verifier:"+stateHash)
		if err != nil {
			t.Fatalf("open sealed verifier: %v", err)
		}
		verifierSum := sha256.Sum256(verifier)
		if got := base64.RawURLEncoding.EncodeToString(verifierSum[:]); got != challenge {
			t.Errorf("S256 of the stored verifier = %q, want the challenge %q", got, challenge)
		}
		if strings.Contains(sealed, string(verifier)) {
			t.Error("login_flows.verifier holds the verifier in plain text")
		}

		var flowCookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "toolgate_login_state" {
				flowCookie = c
			}
		}
		if flowCookie == nil || flowCookie.Value != state || !flowCookie.HttpOnly || flowCookie.SameSite != http.SameSiteLaxMode || flowCookie.MaxAge != 600 {
			t.Errorf("state cookie = %+v, want the state, HttpOnly, SameSite=Lax, 10 minutes", flowCookie)
		}
	})
}

func TestOIDCScopesAlwaysIncludeOpenID(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), authn.Options{Mode: authn.ModeOIDC, Scopes: []string{"groups", "email"}})
	noRedirects := browser(t)
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	resp, _ := do(t, noRedirects, http.MethodGet, e.URL+"/auth/login", nil, nil)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Query().Get("scope"); got != "openid groups email" {
		t.Errorf("scope = %q, want openid groups email", got)
	}
}

func TestOIDCRolesClaim(t *testing.T) {
	tests := []struct {
		name      string
		opts      authn.Options
		claims    map[string]any
		wantRoles []string
		wantAdmin bool
	}{
		{"roles array", authn.Options{}, map[string]any{"roles": []string{"toolgate-admin"}}, []string{"toolgate-admin"}, true},
		{"groups claim", authn.Options{RolesClaim: "groups"}, map[string]any{"groups": []string{"dev", "toolgate-admin"}, "roles": []string{"ignored"}}, []string{"dev", "toolgate-admin"}, true},
		{"dotted path", authn.Options{RolesClaim: "realm_access.roles"}, map[string]any{"realm_access": map[string]any{"roles": []string{"ops"}}}, []string{"ops"}, false},
		{"namespaced name", authn.Options{RolesClaim: "https://toolgate.example/roles"}, map[string]any{"https://toolgate.example/roles": []string{"ops"}}, []string{"ops"}, false},
		{"space separated", authn.Options{}, map[string]any{"roles": "ops toolgate-admin"}, []string{"ops", "toolgate-admin"}, true},
		{"comma separated", authn.Options{}, map[string]any{"roles": "ops, audit"}, []string{"ops", "audit"}, false},
		{"custom admin role", authn.Options{AdminRole: "platform-admins", RolesClaim: "groups"}, map[string]any{"groups": []string{"platform-admins"}}, []string{"platform-admins"}, true},
		{"default admin role not admin", authn.Options{AdminRole: "platform-admins"}, map[string]any{"roles": []string{"toolgate-admin"}}, []string{"toolgate-admin"}, false},
		{"missing claim", authn.Options{RolesClaim: "groups"}, map[string]any{}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Mode = authn.ModeOIDC
			e := newEnv(t, storetest.NewSQLite(t), opts)
			user := &opUser{ID: "carol-sub", Name: "Carol", Claims: tt.claims}
			e.provider.addUser(user)

			client := browser(t)
			if resp, body := e.signInOIDC(t, client, user, "/"); resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in: status %d, want 200; body %s", resp.StatusCode, body)
			}
			got := e.whoamiOf(t, client, nil)
			if !slices.Equal(got.Roles, tt.wantRoles) {
				t.Errorf("roles = %q, want %q", got.Roles, tt.wantRoles)
			}
			if got.IsAdmin != tt.wantAdmin {
				t.Errorf("IsAdmin = %v, want %v", got.IsAdmin, tt.wantAdmin)
			}
			resp, _ := do(t, client, http.MethodGet, e.URL+"/admin", nil, nil)
			if want := map[bool]int{true: 200, false: 403}[tt.wantAdmin]; resp.StatusCode != want {
				t.Errorf("GET /admin: status %d, want %d", resp.StatusCode, want)
			}
		})
	}
}

func TestOIDCRolesClaimWrongType(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), authn.Options{Mode: authn.ModeOIDC})
	user := &opUser{ID: "dave-sub", Claims: map[string]any{"roles": []any{"ops", 7}}}
	e.provider.addUser(user)

	resp, body := e.signInOIDC(t, browser(t), user, "/")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("sign-in with a number in the roles claim: status %d, want 400", resp.StatusCode)
	}
	if !strings.Contains(body, "no usable user id or roles") {
		t.Errorf("error page = %q, want the roles reason", body)
	}
	if n := countRows(t, e.st, "browser_sessions"); n != 0 {
		t.Errorf("sessions = %d, want 0", n)
	}
}

func TestOIDCCallbackReplay(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newOIDCEnv(t, st, alice)
		client := browser(t)
		callback := e.startOIDC(t, client, alice)

		resp, body := do(t, client, http.MethodGet, callback, nil, nil)
		if resp.StatusCode != http.StatusOK || body != "home page" {
			t.Fatalf("first callback: status %d, body %q; want 200 and the home page", resp.StatusCode, body)
		}
		if n := countRows(t, st, "browser_sessions"); n != 1 {
			t.Fatalf("sessions after the first callback = %d, want 1", n)
		}
		toolgateURL, _ := url.Parse(e.URL)
		for _, c := range client.Jar.Cookies(toolgateURL) {
			if c.Name == "toolgate_login_state" {
				t.Errorf("state cookie still set after the callback")
			}
		}

		// Replay with the state cookie restored, as an attacker holding both
		// would, so that the store's single-use check is what rejects it.
		u, _ := url.Parse(callback)
		state, code := u.Query().Get("state"), u.Query().Get("code")
		resp, body = do(t, http.DefaultClient, http.MethodGet, callback, nil, headerWith("Cookie", "toolgate_login_state="+state))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("replayed callback: status %d, want 400", resp.StatusCode)
		}
		if !strings.Contains(body, "already been completed or has expired") {
			t.Errorf("replayed callback page = %q, want the used-or-expired reason", body)
		}
		if !strings.Contains(body, `<a href="/auth/login">Try again</a>`) {
			t.Errorf("replayed callback page = %q, want a Try again link", body)
		}
		if strings.Contains(body, state) || strings.Contains(body, code) {
			t.Errorf("replayed callback page shows the state or code: %q", body)
		}
		if n := countRows(t, st, "browser_sessions"); n != 1 {
			t.Errorf("sessions after the replay = %d, want 1", n)
		}
		e.checkLogsOmit(t, state, code)
	})
}

func TestOIDCCallbackExpiredFlow(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newOIDCEnv(t, st, alice)
		client := browser(t)
		callback := e.startOIDC(t, client, alice)

		e.clock.Advance(10*time.Minute + time.Second)
		resp, body := do(t, client, http.MethodGet, callback, nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback after 10 minutes: status %d, want 400", resp.StatusCode)
		}
		if !strings.Contains(body, "has expired") {
			t.Errorf("expired callback page = %q, want the expired reason", body)
		}
		if n := countRows(t, st, "browser_sessions"); n != 0 {
			t.Errorf("sessions = %d, want 0", n)
		}
	})
}

func TestOIDCCallbackErrors(t *testing.T) {
	e := newOIDCEnv(t, storetest.NewSQLite(t), alice)

	t.Run("provider error", func(t *testing.T) {
		resp, body := do(t, browser(t), http.MethodGet, e.URL+"/auth/callback?error=access_denied&error_description=User+said+no&state=abc", nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
		if !strings.Contains(body, "access was denied") || !strings.Contains(body, "User said no") {
			t.Errorf("page = %q, want the denial and the provider's description", body)
		}
	})

	t.Run("provider error ends the flow", func(t *testing.T) {
		client := browser(t)
		callback := e.startOIDC(t, client, alice)
		u, _ := url.Parse(callback)
		state := u.Query().Get("state")

		resp, _ := do(t, client, http.MethodGet, e.URL+"/auth/callback?error=server_error&state="+url.QueryEscape(state), nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
		if n := countRows(t, e.st, "login_flows"); n != 0 {
			t.Errorf("login flows after a provider error = %d, want 0", n)
		}
	})

	t.Run("missing state", func(t *testing.T) {
		resp, body := do(t, browser(t), http.MethodGet, e.URL+"/auth/callback?code=abc", nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no state parameter") {
			t.Errorf("status %d, page %q; want 400 with the missing-state reason", resp.StatusCode, body)
		}
	})

	t.Run("other browser", func(t *testing.T) {
		started := browser(t)
		callback := e.startOIDC(t, started, alice)

		resp, body := do(t, browser(t), http.MethodGet, callback, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "started in another browser") {
			t.Fatalf("callback in another browser: status %d, page %q; want 400 with the other-browser reason", resp.StatusCode, body)
		}
		if n := countRows(t, e.st, "browser_sessions"); n != 0 {
			t.Fatalf("sessions = %d, want 0", n)
		}

		// The rejected attempt did not use up the flow of the right browser.
		resp, body = do(t, started, http.MethodGet, callback, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("callback in the starting browser: status %d, want 200; body %s", resp.StatusCode, body)
		}
	})

	if got := e.signIns(t, "oidc", "invalid_state"); got != 2 {
		t.Errorf("invalid_state sign-ins counted = %v, want 2", got)
	}
}

func TestOIDCCallbackRejectsProviderResponse(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(*testProvider)
		wantReason string
		wantResult string
	}{
		{"nonce mismatch", func(p *testProvider) { p.setNonce("another-sign-in") }, "could not be verified", "invalid_id_token"},
		{"failed exchange", func(p *testProvider) { p.setClientSecret("rotated") }, "did not accept the authorization code", "exchange_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newOIDCEnv(t, storetest.NewSQLite(t), alice)
			tt.setup(e.provider)

			resp, body := e.signInOIDC(t, browser(t), alice, "/")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.wantReason) {
				t.Fatalf("status %d, page %q; want 400 with %q", resp.StatusCode, body, tt.wantReason)
			}
			if n := countRows(t, e.st, "browser_sessions"); n != 0 {
				t.Errorf("sessions = %d, want 0", n)
			}
			if got := e.signIns(t, "oidc", tt.wantResult); got != 1 {
				t.Errorf("%s sign-ins counted = %v, want 1", tt.wantResult, got)
			}
		})
	}
}

func TestNewFailsForUnreachableIssuer(t *testing.T) {
	ext, _ := url.Parse("http://127.0.0.1:8080")
	issuer := "http://127.0.0.1:1/realms/none"
	_, err := authn.New(t.Context(), storetest.NewSQLite(t), newKeyring(t), &authn.Options{
		Mode: authn.ModeOIDC, ExternalURL: ext, Issuer: issuer, ClientID: "toolgate",
	})
	if err == nil || !strings.Contains(err.Error(), issuer) {
		t.Fatalf("New with an unreachable issuer: err = %v, want an error naming %s", err, issuer)
	}
}
